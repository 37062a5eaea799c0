//! The only unsafe code of this crate (ARCHITECTURE.md, "Unsafe code"): the
//! operating system calls that std and our crates do not make safely, one
//! small module per OS. Every other module is built with `unsafe_code`
//! denied (lib.rs), and each block here says why it is sound.

#[cfg(target_os = "macos")]
#[allow(unsafe_code)]
pub mod macos;
#[cfg(windows)]
#[allow(unsafe_code)]
pub mod windows;
