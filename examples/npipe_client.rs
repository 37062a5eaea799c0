//! A Windows test client for the agent's named pipe (scripts/wine/e2e.sh):
//! what the docker CLI does through an `npipe://` context, one request at
//! a time, built with the same toolchain as docker-tlsctx.exe.
//!
//!   npipe_client NPIPE_URL PATH     GET PATH through the pipe, the whole
//!                                   HTTP answer on stdout
//!   npipe_client --squat NPIPE_URL  makes the pipe first, with Windows'
//!                                   default security, and waits: what a
//!                                   process lying in wait would do
//!   npipe_client --upload NPIPE_URL sends a request body that never ends
//!                                   and reads nothing, until killed
//!
//! NPIPE_URL is a context's endpoint, `npipe:////./pipe/NAME`.

#[cfg(windows)]
fn main() {
    use std::io::{Read, Write};
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pipe = |url: &str| url.trim_start_matches("npipe://").replace('/', "\\");
    let open = |pipe: &str| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(pipe)
            .unwrap_or_else(|e| panic!("cannot open {pipe}: {e}"))
    };
    match args.as_slice() {
        [flag, url] if flag == "--squat" => {
            use interprocess::os::windows::named_pipe::{pipe_mode, PipeListenerOptions};
            let path = pipe(url);
            let listener = PipeListenerOptions::new()
                .path(path.as_str())
                .create_duplex::<pipe_mode::Bytes>()
                .unwrap_or_else(|e| panic!("cannot make {path}: {e}"));
            println!("listening on {path}");
            std::io::stdout().flush().unwrap();
            // What each client sends: a probe that only looks who serves
            // the pipe (anonymously, as `ls` and the agent do) sends
            // nothing; a docker CLI sends its request.
            for c in listener.incoming() {
                let sent = c.map(|c| {
                    let mut buf = [0u8; 4096];
                    (&c).read(&mut buf).unwrap_or(0)
                });
                match sent {
                    Ok(n) => println!("a client sent {n} bytes"),
                    Err(e) => println!("accept failed: {e}"),
                }
                std::io::stdout().flush().unwrap();
            }
        }
        [flag, url] if flag == "--upload" => {
            // What `docker load` of a huge file does, and then is killed:
            // a body that never ends, and no answer read.
            let mut f = open(&pipe(url));
            write!(
                f,
                "POST /images/load HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\nContent-Length: 1073741824\r\n\r\n"
            )
            .unwrap();
            let zeros = vec![0u8; 64 * 1024];
            let mut sent = 0u64;
            while f.write_all(&zeros).is_ok() {
                sent += zeros.len() as u64;
                if sent % (16 << 20) == 0 {
                    println!("sent {sent}");
                    std::io::stdout().flush().unwrap();
                }
            }
        }
        [url, path] => {
            let mut f = open(&pipe(url));
            write!(
                f,
                "GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: npipe_client\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut answer = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                    // The agent disconnects when the daemon is done.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
                    Err(e) if e.raw_os_error() == Some(109) => break,
                    Err(e) => panic!("reading the answer: {e}"),
                }
            }
            std::io::stdout().write_all(&answer).unwrap();
        }
        _ => {
            eprintln!(
                "usage: npipe_client NPIPE_URL PATH | npipe_client --squat|--upload NPIPE_URL"
            );
            std::process::exit(2);
        }
    }
}

#[cfg(not(windows))]
fn main() {
    eprintln!("npipe_client is a Windows program (scripts/wine/e2e.sh builds it)");
    std::process::exit(2);
}
