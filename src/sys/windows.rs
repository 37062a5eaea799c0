//! Who is at the other end of the agent's named pipe, and stopping a read
//! that waits on it: the calls interprocess (which makes the pipe) does not
//! make.

use std::io;
use std::os::windows::io::{
    AsHandle, AsRawHandle, AsRawSocket, BorrowedHandle, BorrowedSocket, FromRawHandle, OwnedHandle,
};

use windows_sys::Win32::Foundation::{LocalFree, HANDLE};
use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
use windows_sys::Win32::Security::{GetTokenInformation, TokenUser, TOKEN_QUERY, TOKEN_USER};
use windows_sys::Win32::System::Pipes::{GetNamedPipeServerProcessId, PeekNamedPipe};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};
use windows_sys::Win32::System::IO::CancelIoEx;

/// The SID of the user this process runs as, as a string (`S-1-5-21-…`).
/// Read once: a process's user never changes, and the agent asks at every
/// connection (the client's check) and every endpoint it names.
pub fn current_user_sid() -> io::Result<String> {
    static SID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(sid) = SID.get() {
        return Ok(sid.clone());
    }
    // SAFETY: GetCurrentProcess returns a pseudo handle that needs no
    // closing and is valid for this whole call.
    let me = unsafe { BorrowedHandle::borrow_raw(GetCurrentProcess() as _) };
    let sid = user_sid_of(me)?;
    Ok(SID.get_or_init(|| sid).clone())
}

/// The SID of the user the process `pid` runs as (the pipe's client, from
/// GetNamedPipeClientProcessId).
pub fn process_user_sid(pid: u32) -> io::Result<String> {
    // SAFETY: a plain call; the result is checked before use.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: OpenProcess returned a new handle that nothing else owns.
    let process = unsafe { OwnedHandle::from_raw_handle(h as _) };
    user_sid_of(process.as_handle())
}

fn user_sid_of(process: BorrowedHandle<'_>) -> io::Result<String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: `process` is a live process handle for the duration of the
    // call; `token` is written only on success.
    if unsafe { OpenProcessToken(process.as_raw_handle() as HANDLE, TOKEN_QUERY, &mut token) } == 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: OpenProcessToken returned a new handle that nothing else owns.
    let token = unsafe { OwnedHandle::from_raw_handle(token as _) };
    let raw = token.as_raw_handle() as HANDLE;
    let mut len = 0u32;
    // SAFETY: a size query: no buffer, the needed length written to `len`.
    unsafe { GetTokenInformation(raw, TokenUser, std::ptr::null_mut(), 0, &mut len) };
    // A TOKEN_USER is a pointer and the SID it points at (at most 68 bytes).
    if (len as usize) < std::mem::size_of::<TOKEN_USER>() || len > 1024 {
        return Err(io::Error::other("the process token's user did not fit"));
    }
    // u64s: aligned for TOKEN_USER, which holds pointers.
    let mut buf = vec![0u64; (len as usize).div_ceil(8)];
    // SAFETY: `buf` holds `len` writable bytes.
    if unsafe { GetTokenInformation(raw, TokenUser, buf.as_mut_ptr().cast(), len, &mut len) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: GetTokenInformation(TokenUser) filled `buf` with a TOKEN_USER
    // (aligned: `buf` is u64s) whose SID pointer points into `buf`, which
    // lives until the end of this function.
    let user = unsafe { &*(buf.as_ptr() as *const TOKEN_USER) };
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: the SID is valid (above); `text` is written only on success.
    if unsafe { ConvertSidToStringSidW(user.User.Sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ConvertSidToStringSidW returned a NUL-terminated UTF-16
    // string that we own and free with LocalFree once copied.
    let sid = unsafe {
        let n = (0..).take_while(|&i| *text.add(i) != 0).count();
        let s = String::from_utf16_lossy(std::slice::from_raw_parts(text, n));
        LocalFree(text as _);
        s
    };
    Ok(sid)
}

/// Ends every read or write waiting on `handle`, from any thread (the
/// agent's relay when the daemon is done, a refusal's deadline). Whatever
/// waits gets ERROR_OPERATION_ABORTED.
pub fn cancel_io(handle: BorrowedHandle<'_>) {
    // SAFETY: `handle` is open for the duration of the call (borrowed);
    // a null OVERLAPPED pointer means every operation on it.
    unsafe { CancelIoEx(handle.as_raw_handle() as HANDLE, std::ptr::null()) };
}

/// The process serving the named pipe `client` is connected to.
pub fn pipe_server_process_id(client: BorrowedHandle<'_>) -> io::Result<u32> {
    let mut pid = 0u32;
    // SAFETY: `client` is an open pipe handle for the duration of the call;
    // `pid` is a valid place for the answer.
    if unsafe { GetNamedPipeServerProcessId(client.as_raw_handle() as HANDLE, &mut pid) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// Whether the client of our end of a pipe has hung up: PeekNamedPipe
/// consumes nothing, and fails with ERROR_BROKEN_PIPE (109) or
/// ERROR_PIPE_NOT_CONNECTED (233) once the other end is closed.
pub fn pipe_peer_gone(pipe: BorrowedHandle<'_>) -> bool {
    let mut avail = 0u32;
    // SAFETY: `pipe` is open for the duration of the call; no buffer is
    // passed (size 0), and `avail` is a valid place for the count.
    let ok = unsafe {
        PeekNamedPipe(
            pipe.as_raw_handle() as HANDLE,
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
            &mut avail,
            std::ptr::null_mut(),
        )
    };
    ok == 0 && matches!(io::Error::last_os_error().raw_os_error(), Some(109 | 233))
}

/// Ends a send or receive waiting on `socket` in another thread: a
/// shutdown alone does not end a send blocked on a peer that stopped
/// reading (the agent's relay, when the CLI has gone).
pub fn cancel_socket_io(socket: BorrowedSocket<'_>) {
    // SAFETY: `socket` is open for the duration of the call (borrowed); a
    // Winsock SOCKET is a kernel handle CancelIoEx accepts, and a null
    // OVERLAPPED pointer means every operation on it.
    unsafe { CancelIoEx(socket.as_raw_socket() as HANDLE, std::ptr::null()) };
}
