//! HTTP/1.1, written once (issue 30) for the three places that speak it:
//! the authorization plugin reads dockerd's requests (moby
//! pkg/plugins/client.go: POST, a JSON body with Content-Length) and answers
//! them; the agent reads a request's head before it answers with a refusal;
//! `check` reads the daemon's answer to `GET /version`. Messages are read
//! with httparse (hyper's parser), within bounds.
//!
//! Bounds: a head of at most [`MAX_HEAD`] bytes and [`MAX_HEADERS`]
//! fields; a body of at most the reader's limit ([`MAX_BODY`] unless
//! told); [`IDLE`] between requests of a keep-alive connection, and
//! [`REQUEST`] for a whole request once its first byte came (a deadline per
//! read alone let one byte every few seconds hold a connection and its
//! thread for ever: issue 30). Anything outside them, both Content-Length
//! and chunked, two Content-Lengths: an error, and the connection is
//! closed.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// dockerd sends small heads (Host, User-Agent, Content-Type, length), and
/// so does a daemon answering `GET /version`.
pub const MAX_HEAD: usize = 16 * 1024;
pub const MAX_HEADERS: usize = 32;
/// dockerd passes request and response bodies only up to 1 MiB
/// (maxBodySize, moby pkg/authorization/authz.go), base64 in the JSON:
/// 4 MiB holds either with room.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// dockerd keeps plugin connections open between requests; an idle one is
/// closed after this, and the client opens a new one.
pub const IDLE: Duration = Duration::from_secs(600);
/// Once a request has begun, all of it must arrive within this. dockerd
/// writes a request (at most [`MAX_BODY`]) in one go over a local socket,
/// which takes milliseconds.
pub const REQUEST: Duration = Duration::from_secs(15);

/// The plugin protocol's Content-Type (pkg/plugins/client.go).
pub const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.2+json";

#[derive(Debug, PartialEq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

#[derive(Debug, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Reads requests from one connection; holds what was read past a request.
pub struct Reader<R> {
    inner: R,
    buf: Vec<u8>,
    /// When the request being read must be complete (None between
    /// requests).
    deadline: Option<Instant>,
    max_body: usize,
}

/// A socket whose read timeout can be set (a UnixStream; anything in tests).
pub trait Timed {
    fn set_timeout(&self, t: Duration);
}

#[cfg(unix)]
impl Timed for std::os::unix::net::UnixStream {
    fn set_timeout(&self, t: Duration) {
        let _ = self.set_read_timeout(Some(t));
    }
}

impl Timed for &[u8] {
    fn set_timeout(&self, _t: Duration) {}
}

/// A stream whose deadline is kept by the stream itself (`check`'s TLS
/// connection, under tls_client::Deadline).
pub struct SelfTimed<R>(pub R);

impl<R> Timed for SelfTimed<R> {
    fn set_timeout(&self, _t: Duration) {}
}

impl<R: Read> Read for SelfTimed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

fn bad(why: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.into())
}

impl<R: Read + Timed> Reader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, MAX_BODY)
    }

    /// A reader that takes bodies of at most `max_body` bytes.
    pub fn with_limit(inner: R, max_body: usize) -> Self {
        Reader {
            inner,
            buf: Vec::new(),
            deadline: None,
            max_body,
        }
    }

    /// Reads more bytes; false at end of stream. Between requests it waits
    /// up to [`IDLE`]; inside one, only until the request's deadline.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.deadline.is_none() && !self.buf.is_empty() {
            self.deadline = Some(Instant::now() + REQUEST);
        }
        let wait = match self.deadline {
            None => IDLE,
            Some(d) => d
                .checked_duration_since(Instant::now())
                .filter(|left| !left.is_zero())
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("a request took longer than {} s", REQUEST.as_secs()),
                    )
                })?,
        };
        self.inner.set_timeout(wait);
        let mut chunk = [0u8; 16 * 1024];
        let n = self.inner.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        if n > 0 && self.deadline.is_none() {
            self.deadline = Some(Instant::now() + REQUEST);
        }
        Ok(n > 0)
    }

    /// The next request, or `None` when the peer closed between requests.
    pub fn next_request(&mut self) -> std::io::Result<Option<Request>> {
        self.next_request_noting(|| {})
    }

    /// [`Reader::next_request`], calling `started` once the request's first
    /// byte is in (the connection is no longer idle).
    pub fn next_request_noting(
        &mut self,
        mut started: impl FnMut(),
    ) -> std::io::Result<Option<Request>> {
        self.deadline = None;
        if !self.buf.is_empty() {
            started();
        }
        let (head_len, method, path, length, chunked) = loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let (length, chunked) = framing(req.headers)?;
                    break (
                        n,
                        req.method.unwrap_or("").to_string(),
                        req.path.unwrap_or("").to_string(),
                        length.unwrap_or(0),
                        chunked,
                    );
                }
                Ok(httparse::Status::Partial) if self.buf.len() > MAX_HEAD => {
                    return Err(bad("request head too large"))
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(bad(format!("bad request head: {e}"))),
            }
            let was_empty = self.buf.is_empty();
            if !self.fill()? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(bad("connection closed inside a request head"))
                };
            }
            if was_empty {
                started();
            }
        };
        self.buf.drain(..head_len);
        let body = self.body(Some(length), chunked)?;
        Ok(Some(Request { method, path, body }))
    }

    /// A response (the whole of it: a body without a length ends with the
    /// connection). Interim 1xx answers are skipped.
    pub fn response(&mut self) -> std::io::Result<Response> {
        loop {
            let (head_len, status, length, chunked) = loop {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut headers);
                match resp.parse(&self.buf) {
                    Ok(httparse::Status::Complete(n)) => {
                        let (length, chunked) = framing(resp.headers)?;
                        break (n, resp.code.unwrap_or(0), length, chunked);
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() > MAX_HEAD => {
                        return Err(bad("response head too large"))
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(e) => return Err(bad(format!("bad response head: {e}"))),
                }
                if !self.fill()? {
                    return Err(bad(if self.buf.is_empty() {
                        "the connection closed without an answer"
                    } else {
                        "the connection closed inside the answer's head"
                    }));
                }
            };
            self.buf.drain(..head_len);
            if (100..200).contains(&status) {
                continue;
            }
            // RFC 9112 §6.3: 204 and 304 have no body; otherwise without a
            // length or chunks the body runs to the end of the connection.
            let body = if status == 204 || status == 304 {
                Vec::new()
            } else {
                self.body(length, chunked)?
            };
            return Ok(Response { status, body });
        }
    }

    /// The body as the head framed it: chunked, `length` bytes, or (a
    /// response without either) up to the end of the stream.
    fn body(&mut self, length: Option<usize>, chunked: bool) -> std::io::Result<Vec<u8>> {
        if chunked {
            return self.chunked_body();
        }
        let Some(length) = length else {
            while self.buf.len() <= self.max_body && self.fill()? {}
            if self.buf.len() > self.max_body {
                return Err(bad("body too large"));
            }
            return Ok(std::mem::take(&mut self.buf));
        };
        if length > self.max_body {
            return Err(bad("body too large"));
        }
        while self.buf.len() < length {
            if !self.fill()? {
                return Err(bad("connection closed inside a body"));
            }
        }
        Ok(self.buf.drain(..length).collect())
    }

    fn chunked_body(&mut self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let (used, size) = loop {
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete((used, size))) => break (used, size),
                    Ok(httparse::Status::Partial) if self.buf.len() > 1024 => {
                        return Err(bad("chunk size line too long"))
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(_) => return Err(bad("bad chunk size")),
                }
                if !self.fill()? {
                    return Err(bad("connection closed inside a chunk"));
                }
            };
            // Checked: a chunk size near 2^64 must not wrap past the bound.
            let size = usize::try_from(size)
                .ok()
                .filter(|s| {
                    body.len()
                        .checked_add(*s)
                        .is_some_and(|t| t <= self.max_body)
                })
                .ok_or_else(|| bad("body too large"))?;
            self.buf.drain(..used);
            // The chunk, then CRLF; the last chunk (0) is followed by an
            // empty trailer section (no trailers from Go's client).
            while self.buf.len() < size + 2 {
                if !self.fill()? {
                    return Err(bad("connection closed inside a chunk"));
                }
            }
            if &self.buf[size..size + 2] != b"\r\n" {
                return Err(bad("a chunk does not end with CRLF"));
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
            if size == 0 {
                return Ok(body);
            }
        }
    }
}

/// Content-Length or chunked, never both, never two lengths (RFC 9112
/// §6.3: the ambiguity request smuggling uses).
fn framing(headers: &[httparse::Header]) -> std::io::Result<(Option<usize>, bool)> {
    let (mut length, mut chunked) = (None, false);
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| bad("bad Content-Length"))?;
            if length.replace(v).is_some() {
                return Err(bad("two Content-Length fields"));
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !h.value.eq_ignore_ascii_case(b"chunked") || chunked {
                return Err(bad("unsupported Transfer-Encoding"));
            }
            chunked = true;
        }
    }
    if chunked && length.is_some() {
        return Err(bad("both Content-Length and chunked"));
    }
    Ok((length, chunked))
}

/// Whether `buf` holds a whole request head, or something that will never
/// be one (the agent then stops reading and answers).
pub fn head_done(buf: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    !matches!(
        httparse::Request::new(&mut headers).parse(buf),
        Ok(httparse::Status::Partial)
    ) || buf.len() > MAX_HEAD
}

/// An answer with a JSON body; `close` says the connection ends after it.
pub fn write_answer(
    w: &mut impl Write,
    status: u16,
    content_type: &str,
    json: &str,
    close: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    };
    write!(
        w,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}\r\n{json}",
        json.len(),
        if close { "Connection: close\r\n" } else { "" }
    )?;
    w.flush()
}

/// A plugin's 200 answer with a JSON body.
pub fn write_json(w: &mut impl Write, json: &str) -> std::io::Result<()> {
    write_answer(w, 200, CONTENT_TYPE, json, false)
}

/// A plugin's 400 answer before the connection is closed.
pub fn write_bad_request(w: &mut impl Write, why: &str) -> std::io::Result<()> {
    let body = serde_json::json!({ "Err": format!("tlsctx: {why}") }).to_string();
    write_answer(w, 400, CONTENT_TYPE, &body, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(raw: &[u8]) -> Vec<std::io::Result<Option<Request>>> {
        let mut r = Reader::new(raw);
        let mut out = Vec::new();
        loop {
            let next = r.next_request();
            let stop = !matches!(next, Ok(Some(_)));
            out.push(next);
            if stop {
                return out;
            }
        }
    }

    #[test]
    fn requests_with_length_and_chunks() {
        let raw = b"POST /Plugin.Activate HTTP/1.1\r\nHost: plugin\r\nContent-Length: 2\r\n\r\n{}POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let got = all(raw);
        assert_eq!(got.len(), 3);
        let r0 = got[0].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(
            (r0.path.as_str(), r0.body.as_slice()),
            ("/Plugin.Activate", &b"{}"[..])
        );
        let r1 = got[1].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(
            (r1.path.as_str(), r1.body.as_slice()),
            ("/AuthZPlugin.AuthZReq", &b"abc"[..])
        );
        assert!(matches!(got[2], Ok(None)));
    }

    #[test]
    fn ambiguous_or_oversized_requests_are_errors() {
        for raw in [
            &b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"[..],
            b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
            b"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST /x HTTP/1.1\r\nContent-Length: +2\r\n\r\n{}",
            b"POST /x HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
            b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}",
            // Found by review: a chunk size that overflowed the bound check.
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nffffffffffffffff\r\nxyz\r\n",
            b"POST /x HTT",
            b"\x00\x01garbage\r\n\r\n",
        ] {
            let got = all(raw);
            assert!(
                got.last().unwrap().is_err(),
                "{:?} gave {:?}",
                String::from_utf8_lossy(raw),
                got
            );
        }
        let mut big = b"POST /x HTTP/1.1\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert!(all(&big).last().unwrap().is_err());
    }
    fn response(raw: &[u8]) -> std::io::Result<Response> {
        Reader::with_limit(raw, 1024).response()
    }

    /// Issue 30: `check` parsed the daemon's answer by hand (a status line
    /// that merely contained " 200 ", chunks cut at the first bad size). It
    /// reads it as the plugin reads requests now.
    #[test]
    fn responses_by_length_chunks_or_the_end_of_the_stream() {
        let by_length = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}trailing";
        assert_eq!(
            response(by_length).unwrap(),
            Response {
                status: 200,
                body: b"{}".to_vec()
            }
        );
        let chunked = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n3\r\na\":\r\n2\r\n1}\r\n0\r\n\r\n";
        assert_eq!(response(chunked).unwrap().body, b"{\"a\":1}".to_vec());
        let to_the_end = b"HTTP/1.0 500 Internal Server Error\r\n\r\noops";
        assert_eq!(
            response(to_the_end).unwrap(),
            Response {
                status: 500,
                body: b"oops".to_vec()
            }
        );
        assert!(response(b"HTTP/1.1 204 No Content\r\n\r\n")
            .unwrap()
            .body
            .is_empty());
        for bad in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n",
            b"SSH-2.0-OpenSSH_9.2\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Type: a\r\n",
        ] {
            assert!(response(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let mut endless = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        endless.extend(std::iter::repeat_n(b'a', 2048));
        assert!(response(&endless).is_err());
    }

    #[test]
    fn a_head_is_done_when_whole_or_never_one() {
        assert!(!head_done(b""));
        assert!(!head_done(b"GET /_ping HTTP/1.1\r\nHost: x\r\n"));
        assert!(head_done(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(head_done(b"\x16\x03\x01 a TLS hello"));
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_HEAD + 1));
        assert!(head_done(&long));
    }
}
