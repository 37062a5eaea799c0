//! Over 600 lines: the primitives that refuse a link, a stranger's folder or a partial write
//! compose each other; a fifth of the file is their unit tests.
//!
//! File-system primitives: atomic writes with explicit modes, private folders,
//! and where Docker's configuration lives.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Secret files: private keys, the TLS files of a context (docker/cli
/// cli/context/store/tlsstore.go writes them 0600).
pub const SECRET_FILE: u32 = 0o600;
/// Folders holding secrets (tlsstore.go creates them 0700).
pub const SECRET_DIR: u32 = 0o700;
/// Public files: certificates, meta.json (metadatastore.go writes 0644).
pub const PUBLIC_FILE: u32 = 0o644;
/// Public folders (metadatastore.go creates them 0755).
pub const PUBLIC_DIR: u32 = 0o755;

/// `--config` > `$DOCKER_CONFIG` > `~/.docker`, the order docker/cli
/// cli/config/config.go uses.
pub fn docker_config_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match crate::environment::var_os(crate::environment::Var::DockerConfig) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => dirs::home_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".docker"),
    }
}

/// Creates `dir` and missing parents. Each folder is created with its mode
/// from the start (`DirBuilder::mode`: never wider, not even for an instant
/// under umask 000), then set exactly; missing parents get 0755, as Docker's
/// MkdirAll under the usual umask. A private folder (`SECRET_DIR`) that
/// exists is never a symlink (keys would go wherever it points: refused) and
/// never wider than 0700 (narrowed).
pub fn create_dir_all(dir: &Path, mode: u32) -> Result<()> {
    if let Ok(meta) = fs::symlink_metadata(dir) {
        if meta.file_type().is_symlink() && mode == SECRET_DIR {
            return Err(Error::SymlinkRefused(dir.to_path_buf()));
        }
    }
    if dir.is_dir() {
        if mode == SECRET_DIR {
            narrow_private_dir(dir)?;
        }
        return Ok(());
    }
    if dir.exists() {
        return Err(Error::NotADirectory(dir.to_path_buf()));
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            create_dir_all(parent, PUBLIC_DIR)?;
        }
    }
    step("create folder").map_err(Error::io("create folder", dir))?;
    #[cfg(unix)]
    let builder = {
        let mut b = fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut b, mode);
        b
    };
    #[cfg(not(unix))]
    let builder = fs::DirBuilder::new();
    match builder.create(dir) {
        Ok(()) => set_dir_mode(dir, mode, false),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(Error::io("create folder", dir)(e)),
    }
}

/// A private folder that others can read or enter is made 0700 again.
#[cfg(unix)]
fn narrow_private_dir(dir: &Path) -> Result<()> {
    set_dir_mode(dir, SECRET_DIR, true)
}

/// Sets a folder's mode through a descriptor opened without following a
/// link (O_NOFOLLOW | O_DIRECTORY, then fchmod): a chmod by path follows a
/// link someone swapped in between our look and the call, and would open
/// up (or narrow) whatever it points at (issue 30). A link there is
/// refused. `only_narrow`: change nothing unless others have access.
#[cfg(unix)]
fn set_dir_mode(dir: &Path, mode: u32, only_narrow: bool) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut open = fs::OpenOptions::new();
    open.read(true).custom_flags(no_follow_dir_flags());
    let d = match open.open(dir) {
        Ok(d) => d,
        // ELOOP (O_NOFOLLOW on a link), ENOTDIR (O_DIRECTORY on a file).
        Err(_) if fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) => {
            return Err(Error::SymlinkRefused(dir.to_path_buf()));
        }
        Err(e) => return Err(Error::io("open folder", dir)(e)),
    };
    let meta = d.metadata().map_err(Error::io("read", dir))?;
    if !meta.is_dir() {
        return Err(Error::NotADirectory(dir.to_path_buf()));
    }
    if only_narrow && meta.permissions().mode() & 0o077 == 0 {
        return Ok(());
    }
    d.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(Error::io("set the mode of", dir))
}

/// O_NONBLOCK for this OS (rustix's value on Linux; 0x4 in macOS's and
/// the BSDs' sys/fcntl.h).
#[cfg(target_os = "linux")]
fn nonblock_flag() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

#[cfg(all(unix, not(target_os = "linux")))]
fn nonblock_flag() -> i32 {
    0x4
}

/// O_NOFOLLOW | O_DIRECTORY for this OS (rustix's values on Linux; the
/// BSDs' and macOS's from their <fcntl.h>).
#[cfg(target_os = "linux")]
fn no_follow_dir_flags() -> i32 {
    (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::DIRECTORY).bits() as i32
}

#[cfg(all(unix, not(target_os = "linux")))]
fn no_follow_dir_flags() -> i32 {
    // macOS and FreeBSD: O_NOFOLLOW 0x100, O_DIRECTORY 0x100000 (macOS
    // sys/fcntl.h) / 0x20000 (FreeBSD sys/fcntl.h).
    if cfg!(target_os = "macos") {
        0x100 | 0x100000
    } else {
        0x100 | 0x20000
    }
}

#[cfg(not(unix))]
fn set_dir_mode(dir: &Path, mode: u32, _only_narrow: bool) -> Result<()> {
    set_mode(dir, mode)
}

#[cfg(not(unix))]
fn narrow_private_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

/// Refuses a symlink where a key is read or written.
pub fn refuse_symlink(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::SymlinkRefused(path.to_path_buf())),
        _ => Ok(()),
    }
}

/// Renames with a failpoint before it (see `step`).
pub fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    step("rename")?;
    rename_retrying(from, to)
}

#[cfg(not(windows))]
fn rename_retrying(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::rename(from, to)
}

/// On Windows a rename over a file another process has open can fail for a
/// moment: classic MoveFileEx semantics, network shares, and Wine (whose
/// server refuses to replace any opened file) answer ERROR_ACCESS_DENIED
/// (5) or ERROR_SHARING_VIOLATION (32) while, say, the docker CLI or a
/// second agent reads meta.json. Retry for up to 2 s, the bound Go's own
/// tool uses for the same errors (cmd/go/internal/robustio,
/// robustio_windows.go: arbitraryTimeout), then give the last error.
#[cfg(windows)]
fn rename_retrying(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::time::{Duration, Instant};
    const ERROR_ACCESS_DENIED: i32 = 5;
    const ERROR_SHARING_VIOLATION: i32 = 32;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut pause = Duration::from_millis(1);
    loop {
        match fs::rename(from, to) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(ERROR_ACCESS_DENIED | ERROR_SHARING_VIOLATION)
                ) && Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// Removes a file; a missing one is not an error.
pub fn remove_file(path: &Path) -> Result<()> {
    step("remove").map_err(Error::io("remove", path))?;
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path)(e)),
    }
}

/// Removes a folder and what it holds; a missing one is not an error.
pub fn remove_dir_all(path: &Path) -> Result<()> {
    step("remove").map_err(Error::io("remove", path))?;
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path)(e)),
    }
}

/// Swaps two existing paths in one step (Linux renameat2 RENAME_EXCHANGE):
/// a reader sees one or the other at each name, never neither. Elsewhere,
/// or on a file system without it, `Unsupported`, and the caller falls back.
#[cfg(target_os = "linux")]
pub fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    step("rename")?;
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|e| {
        if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS {
            std::io::Error::new(std::io::ErrorKind::Unsupported, e)
        } else {
            std::io::Error::from(e)
        }
    })
}

#[cfg(not(target_os = "linux"))]
pub fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "no atomic exchange on this platform",
    ))
}

/// Failpoints for the fault-injection tests (tests/it/faults.rs), in debug
/// builds only: every write step of every command calls `step`, and
/// `DOCKER_TLSCTX_FAILPOINT=kill:N` aborts the process at the Nth step (as
/// kill -9 would: no destructor runs), `enospc:N` fails it as a full disk
/// does. Release builds compile `step` to nothing.
#[cfg(debug_assertions)]
pub fn step(what: &str) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;
    static PLAN: OnceLock<Option<(bool, usize)>> = OnceLock::new();
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let plan = PLAN.get_or_init(|| {
        let v = crate::environment::var(crate::environment::Var::Failpoint).ok()?;
        let (kind, n) = v.split_once(':')?;
        Some((kind == "kill", n.parse().ok()?))
    });
    let Some((kill, at)) = *plan else {
        return Ok(());
    };
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if n == at {
        eprintln!("failpoint: injected at step {n} ({what})");
        if kill {
            std::process::abort();
        }
        return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
    }
    Ok(())
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn step(_what: &str) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(Error::io("set permissions of", path))
}

#[cfg(not(unix))]
pub fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

/// A unique name beside `path` for a temporary file or folder.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        crate::text::random_hex(6)
    ))
}

/// Writes `data` to `path` atomically: a new temporary file in the same folder
/// created with `mode` from the start (never readable by others, not even
/// briefly), fsync, rename over `path`, fsync the folder. A reader sees the
/// old file or the new one, never half of one.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    write_replacing(path, data, mode, true)
}

/// The one durability rule for public files (0644: certificates, records,
/// indexes, daemon.json): they can be written again from what the keystore
/// and records hold, so they are renamed into place without fsync. A reader
/// still sees old or new, never half; after a power cut the newest version
/// may be missing. Twelve fsyncs were half the time of issuing a client
/// identity (bench/run.sh, row 3). Everything else (keys, a context's TLS
/// files, config.json) goes through `write_atomic`.
pub fn write_public(path: &Path, data: &[u8]) -> Result<()> {
    write_replacing(path, data, PUBLIC_FILE, false)
}

fn write_replacing(path: &Path, data: &[u8], mode: u32, durable: bool) -> Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| {
        step("create").map_err(Error::io("create", &tmp))?;
        let mut opts = OpenOptions::new();
        // create_new: never through a planted file or symlink at the temp name.
        opts.write(true).create_new(true);
        #[cfg(unix)]
        opts.mode(mode);
        let mut f = opts.open(&tmp).map_err(Error::io("create", &tmp))?;
        // The umask may have cleared bits of `mode` (0644 under umask 077):
        // set it exactly, as Docker's AtomicWriteFile does with Chmod.
        set_mode(&tmp, mode)?;
        step("write").map_err(Error::io("write", &tmp))?;
        f.write_all(data).map_err(Error::io("write", &tmp))?;
        if durable {
            f.sync_all().map_err(Error::io("sync", &tmp))?;
        }
        // rename replaces a symlink at `path` itself, never what it points to.
        rename(&tmp, path).map_err(Error::io("write", path))?;
        if durable {
            sync_dir(path.parent().unwrap_or(Path::new(".")));
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Whether a file name is one of our temporary siblings (`temp_sibling`),
/// and the process that made it.
pub fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp-")?;
    let (pid, _) = tail.split_once('-')?;
    pid.parse().ok()
}

/// Best effort: makes a rename durable on file systems that need it.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A folder removed on drop: staging areas that a
/// failure or a cancellation must not leave behind.
pub struct TempDir {
    path: Option<PathBuf>,
}

impl TempDir {
    pub fn new_in(parent: &Path) -> Result<TempDir> {
        create_dir_all(parent, SECRET_DIR)?;
        let path = parent.join(format!(
            "stage-{}-{}",
            std::process::id(),
            crate::text::random_hex(6)
        ));
        if let Err(e) = create_dir_all(&path, SECRET_DIR) {
            // The staging parent goes too once empty (fails harmlessly if not).
            let _ = fs::remove_dir(parent);
            return Err(e);
        }
        Ok(TempDir { path: Some(path) })
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("TempDir path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_dir_all(&p);
            // The staging parent goes too once empty (fails harmlessly if not).
            if let Some(parent) = p.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
    }
}

pub fn read_to_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(Error::io("read", path))
}

/// A small file in one `read`, for the records and the cert.pem and key.pem
/// of a thousand contexts that `ls` reads: `fs::read` costs a `statx` and a second `read`
/// to see the end, three system calls where one does (ARCHITECTURE.md,
/// "Numbers"). A regular file on a local filesystem returns everything up
/// to its end in one read, so a short read is taken as the end; a file
/// that fills `hint` is read on. A filesystem that returned less would make
/// the check fail (shown as broken), never pass.
pub fn read_small(path: &Path, hint: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; hint];
    let mut n = 0;
    loop {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if n < buf.len() {
            // A short read of a regular file: its end.
            break;
        }
        buf.resize(buf.len() * 2, 0);
    }
    buf.truncate(n);
    Ok(buf)
}

/// A file someone handed over (a request, a response): a regular file of
/// at most `max` bytes, read once. Larger or stranger inputs are refused
/// before they are parsed.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    // Before opening: opening a FIFO blocks until someone writes to it.
    if !fs::metadata(path)
        .map_err(Error::io("read", path))?
        .is_file()
    {
        return Err(Error::Corrupt {
            path: path.into(),
            why: "it is not a regular file".into(),
        });
    }
    // Opened without blocking, too: a FIFO swapped in between the check
    // above and this open must not hang us (a plugin holding a request);
    // a regular file reads the same with O_NONBLOCK.
    let mut open = fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(nonblock_flag());
    }
    let f = open.open(path).map_err(Error::io("read", path))?;
    let meta = f.metadata().map_err(Error::io("read", path))?;
    if !meta.is_file() {
        return Err(Error::Corrupt {
            path: path.into(),
            why: "it is not a regular file".into(),
        });
    }
    let mut buf = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(Error::io("read", path))?;
    if buf.len() as u64 > max {
        return Err(Error::Corrupt {
            path: path.into(),
            why: format!("it is larger than {max} bytes"),
        });
    }
    Ok(buf)
}

/// Every folder from `start` up to `/`, each given to `visit` with its own
/// metadata (lstat): a symbolic link among them is given too, then where
/// it leads and every folder on the way there, one link at a time
/// (canonicalize would cross further links unseen, which their owner could
/// re-point later; a link cannot be changed in place, and the folder that
/// holds it is one of those visited). `too_many` is the error for a path
/// with more than 256 steps (a loop of links).
#[cfg(unix)]
pub fn walk_up(
    start: &Path,
    too_many: impl Fn() -> Error,
    mut visit: impl FnMut(&Path, &fs::Metadata) -> Result<()>,
) -> Result<()> {
    let mut seen = 0;
    let mut todo: Vec<PathBuf> = start
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .collect();
    while let Some(a) = todo.pop() {
        seen += 1;
        if seen > 256 {
            return Err(too_many());
        }
        let m = fs::symlink_metadata(&a).map_err(Error::io("look at", &a))?;
        visit(&a, &m)?;
        if m.file_type().is_symlink() {
            let target = fs::read_link(&a).map_err(Error::io("follow", &a))?;
            let target = match a.parent() {
                Some(p) if target.is_relative() => p.join(target),
                _ => target,
            };
            todo.extend(
                target
                    .ancestors()
                    .filter(|t| !t.as_os_str().is_empty())
                    .map(Path::to_path_buf),
            );
        }
    }
    Ok(())
}

/// Refuses `path` (a folder a scheduler or service manager reads our units
/// from, or the program it will run) when someone else could change what
/// it holds: it, every folder above it, and every folder a link on the way
/// leads through ([`walk_up`]: an attacker's review found a link to a
/// folder inside a world-writable one taken as safe) must be owned by us
/// or root and writable by no one else (a root-owned sticky folder such as
/// /tmp is allowed above, as OpenSSH's secure-path rule allows it), and
/// the path itself must not be a link. Windows: its ACLs are inherited
/// from the user's profile; nothing to check here.
#[cfg(unix)]
pub fn check_owned(what: &str, path: &Path) -> Result<()> {
    check_as(what, path, true)
}

/// [`check_owned`], with or without the sticky-folder allowance.
#[cfg(unix)]
fn check_as(what: &str, path: &Path, sticky_ok: bool) -> Result<()> {
    plain_absolute(what, path)?;
    let own = fs::symlink_metadata(path).map_err(Error::io("read", path))?;
    if own.file_type().is_symlink() {
        return Err(Error::NotOwned {
            what: what.to_string(),
            path: path.to_path_buf(),
            why: "it is a symbolic link".into(),
        });
    }
    check_tree(what, path, sticky_ok)
}

/// An absolute path without `..`: a relative one (a relative HOME, which
/// the dirs crate accepts) leaves the folders above the current one
/// unchecked, and `..` is resolved after the link it follows, past what a
/// lexical walk sees (an attacker's review).
#[cfg(unix)]
fn plain_absolute(what: &str, path: &Path) -> Result<()> {
    let why = if !path.is_absolute() {
        "it is not an absolute path (is HOME or XDG_CONFIG_HOME relative?)"
    } else if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        "it has a .. in it"
    } else {
        return Ok(());
    };
    Err(Error::NotOwned {
        what: what.to_string(),
        path: path.to_path_buf(),
        why: why.to_string(),
    })
}

/// [`check_owned`]'s rule for `path` and everything above it, a link at
/// `path` itself followed and checked like any other. `sticky_ok`: a
/// root-owned sticky folder (/tmp) may be above (the program we run from
/// wherever it was unpacked); not for the folders we make, which another
/// user could make again once a cleaner removed them, as the agent's
/// socket folder rule says (endpoint::check_ancestors).
#[cfg(unix)]
fn check_tree(what: &str, path: &Path, sticky_ok: bool) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    let bad = |p: &Path, why: &str| Error::NotOwned {
        what: what.to_string(),
        path: p.to_path_buf(),
        why: why.to_string(),
    };
    walk_up(
        path,
        || bad(path, "its path has too many links to follow"),
        |p, m| {
            if m.uid() != me && m.uid() != 0 {
                return Err(bad(p, &format!("it belongs to uid {}", m.uid())));
            }
            // A link's own mode means nothing (lrwxrwxrwx); its folder
            // and where it leads are visited.
            if m.file_type().is_symlink() {
                return Ok(());
            }
            let writable_by_others = m.mode() & 0o022 != 0;
            let sticky_root = m.uid() == 0 && m.mode() & 0o1000 != 0 && m.is_dir();
            if writable_by_others && !(sticky_ok && sticky_root && p != path) {
                return Err(bad(
                    p,
                    &format!("others may write to it (mode {:o})", m.mode() & 0o7777),
                ));
            }
            Ok(())
        },
    )
}

#[cfg(not(unix))]
pub fn check_owned(_what: &str, _path: &Path) -> Result<()> {
    Ok(())
}

/// `create_dir_all` for a folder that must pass [`check_owned`]: what
/// exists of its path is checked first, so nothing is made inside a folder
/// someone else could change (an attacker's review found our folders left
/// in a world-writable one after the refusal), then the folder itself.
/// No sticky folder may be above it (see [`check_tree`]).
pub fn create_dir_all_owned(what: &str, dir: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        plain_absolute(what, dir)?;
        match dir.ancestors().find(|a| fs::symlink_metadata(a).is_ok()) {
            // Already there: checked as it is, its mode left alone (it may
            // be someone else's, which is refused).
            Some(existing) if existing == dir => return check_as(what, dir, false),
            Some(existing) => check_tree(what, existing, false)?,
            None => {}
        }
        create_dir_all(dir, mode)?;
        check_as(what, dir, false)
    }
    #[cfg(not(unix))]
    {
        let _ = what;
        create_dir_all(dir, mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Wine end-to-end run failed once with "cannot use …meta.json:
    /// Access denied" when an agent recorded its pipe while another process
    /// had the context's meta.json open: Wine refuses to replace an opened
    /// file. A reader that lets go within the retry window no longer fails
    /// the write.
    #[cfg(windows)]
    #[test]
    fn a_replace_waits_for_a_reader_that_lets_go() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("meta.json");
        fs::write(&path, b"old").unwrap();
        let reader = fs::File::open(&path).unwrap();
        let held = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(reader);
        });
        write_public(&path, b"new").unwrap();
        held.join().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    /// Issue 30: narrowing a private folder by path followed a link swapped
    /// in between the look and the chmod. Through a descriptor opened with
    /// O_NOFOLLOW, the link is refused and what it points at is untouched.
    #[cfg(unix)]
    #[test]
    fn a_private_folder_is_narrowed_through_a_descriptor_never_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let theirs = t.path().join("theirs");
        fs::create_dir(&theirs).unwrap();
        fs::set_permissions(&theirs, fs::Permissions::from_mode(0o755)).unwrap();
        let link = t.path().join("keys");
        std::os::unix::fs::symlink(&theirs, &link).unwrap();
        // The moment of the swap: the folder we looked at is now a link.
        assert!(matches!(
            narrow_private_dir(&link),
            Err(Error::SymlinkRefused(_))
        ));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&theirs), 0o755);
        assert!(create_dir_all(&link, SECRET_DIR).is_err());
        assert_eq!(mode(&theirs), 0o755);
        // A real folder of ours, too wide: narrowed.
        let ours = t.path().join("ours");
        fs::create_dir(&ours).unwrap();
        fs::set_permissions(&ours, fs::Permissions::from_mode(0o755)).unwrap();
        create_dir_all(&ours, SECRET_DIR).unwrap();
        assert_eq!(mode(&ours), 0o700);
        // And one made new gets its mode exactly, also under umask 0.
        let new = t.path().join("new");
        create_dir_all(&new, SECRET_DIR).unwrap();
        assert_eq!(mode(&new), 0o700);
    }

    #[test]
    fn read_small_reads_whole_files_of_any_size() {
        let dir = std::env::temp_dir().join(format!("tlsctx-read-small-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for len in [0usize, 1, 15, 16, 17, 100, 10_000] {
            let p = dir.join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            fs::write(&p, &data).unwrap();
            assert_eq!(read_small(&p, 16).unwrap(), data, "{len} bytes");
        }
        let missing = read_small(&dir.join("none"), 16).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        fs::remove_dir_all(&dir).unwrap();
    }
}
