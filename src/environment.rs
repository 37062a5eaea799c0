//! Every environment variable docker-tlsctx reads, named once (issue 32).
//! README.md's "Environment" table lists the same names, and
//! tests/it/layers.rs keeps the two equal and finds a read anywhere else.
//! A value is read when it is asked for, not cached, so a variable means
//! what it says at that moment; what it means, and how a bad value is
//! told, stays with the code that uses it.

use std::ffi::OsString;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    /// Docker's configuration folder (cli/config/config.go).
    DockerConfig,
    /// The context the docker CLI was told to use.
    DockerContext,
    /// Set by Docker to the socket whose EOF means "the CLI is going away"
    /// (cli-plugins/socket/socket.go `EnvKey`).
    CliPluginSocket,
    /// auto, os or file: where keys go.
    Keystore,
    /// Seconds one keychain call may take.
    KeychainTimeout,
    /// Seconds to wait for another command's lock.
    LockTimeout,
    /// An RFC 3339 time used instead of the clock.
    Now,
    /// The macOS keychain `export --keychain` imports into.
    MacosKeychain,
    /// No colour when set and not empty (no-color.org).
    NoColor,
    /// Where systemctl --user finds the user's manager.
    XdgRuntimeDir,
    /// The session bus, the other way to the user's manager.
    DbusSessionBusAddress,
    /// An OpenBao or Vault token for `issuer add`.
    BaoToken,
    VaultToken,
    /// The login name `request` puts in the CN unless told.
    User,
    Username,
    Logname,
    /// Debug builds only: a write step that fails (tests/it/faults.rs).
    Failpoint,
    /// Debug builds only: a keychain call that fails, hangs or is interrupted.
    KeychainFailpoint,
    /// Debug builds only: how long a host waits for the install's confirmation.
    ConfirmSecs,
}

impl Var {
    pub const ALL: [Var; 19] = [
        Var::DockerConfig,
        Var::DockerContext,
        Var::CliPluginSocket,
        Var::Keystore,
        Var::KeychainTimeout,
        Var::LockTimeout,
        Var::Now,
        Var::MacosKeychain,
        Var::NoColor,
        Var::XdgRuntimeDir,
        Var::DbusSessionBusAddress,
        Var::BaoToken,
        Var::VaultToken,
        Var::User,
        Var::Username,
        Var::Logname,
        Var::Failpoint,
        Var::KeychainFailpoint,
        Var::ConfirmSecs,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Var::DockerConfig => "DOCKER_CONFIG",
            Var::DockerContext => "DOCKER_CONTEXT",
            Var::CliPluginSocket => "DOCKER_CLI_PLUGIN_SOCKET",
            Var::Keystore => "DOCKER_TLSCTX_KEYSTORE",
            Var::KeychainTimeout => "DOCKER_TLSCTX_KEYCHAIN_TIMEOUT",
            Var::LockTimeout => "DOCKER_TLSCTX_LOCK_TIMEOUT",
            Var::Now => "DOCKER_TLSCTX_NOW",
            Var::MacosKeychain => "DOCKER_TLSCTX_MACOS_KEYCHAIN",
            Var::NoColor => "NO_COLOR",
            Var::XdgRuntimeDir => "XDG_RUNTIME_DIR",
            Var::DbusSessionBusAddress => "DBUS_SESSION_BUS_ADDRESS",
            Var::BaoToken => "BAO_TOKEN",
            Var::VaultToken => "VAULT_TOKEN",
            Var::User => "USER",
            Var::Username => "USERNAME",
            Var::Logname => "LOGNAME",
            Var::Failpoint => "DOCKER_TLSCTX_FAILPOINT",
            Var::KeychainFailpoint => "DOCKER_TLSCTX_KEYCHAIN_FAILPOINT",
            Var::ConfirmSecs => "DOCKER_TLSCTX_CONFIRM_SECS",
        }
    }
}

/// The variable as text (`std::env::var`: an error when unset or not
/// Unicode).
pub fn var(v: Var) -> Result<String, std::env::VarError> {
    std::env::var(v.name())
}

/// The variable as the OS gave it.
pub fn var_os(v: Var) -> Option<OsString> {
    std::env::var_os(v.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_is_listed_once() {
        let mut names: Vec<&str> = Var::ALL.iter().map(|v| v.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Var::ALL.len());
    }
}
