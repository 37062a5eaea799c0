//! Swarm through the docker CLI found on PATH (ARCHITECTURE.md, "Swarm").
//!
//! Why the CLI and not the Engine API: it already reaches every kind of
//! context the user has (ours, ssh://, npipe://, DOCKER_HOST), with the
//! user's config (proxies, headers) and API version negotiation, and it is
//! always there when we run as its plugin. Secret data goes to
//! `docker secret create NAME -` on a pipe: never on argv, never in a file.
//!
//! This module only runs commands and reads their JSON; what to do with
//! secrets and services is issuance/swarm/publish.rs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::interrupt::Cancel;

/// Swarm's limit on a secret's data: 500 KiB (moby api/validation
/// `MaxSecretSize`, swarmkit manager/controlapi/secret.go).
pub const MAX_SECRET_SIZE: usize = 500 * 1024;

/// What `docker info` says of the swarm.
#[derive(Debug, Clone)]
pub struct SwarmInfo {
    /// "inactive", "pending", "active", "error", "locked".
    pub local_state: String,
    /// This node is a manager (it can create secrets and update services).
    pub control_available: bool,
    pub cluster_id: String,
}

/// A secret as `docker secret inspect` shows it (never its data: swarm
/// does not give it back).
#[derive(Debug, Clone, PartialEq)]
pub struct Secret {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// One secret a service mounts, as in its spec
/// (`Spec.TaskTemplate.ContainerSpec.Secrets[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub secret_name: String,
    /// File name under /run/secrets/ (or an absolute path on Windows).
    pub target: String,
    pub uid: String,
    pub gid: String,
    pub mode: u32,
}

impl Mount {
    /// `--secret-add` syntax (docker/cli opts/secret.go): mode in octal,
    /// which the CLI parses with base prefix (`0400`).
    pub fn add_arg(&self) -> String {
        format!(
            "source={},target={},uid={},gid={},mode=0{:o}",
            self.secret_name, self.target, self.uid, self.gid, self.mode
        )
    }
}

/// `UpdateStatus.State` (moby api/types/swarm/service.go).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    Updating,
    Paused,
    Completed,
    RollbackStarted,
    RollbackPaused,
    RollbackCompleted,
    /// A state a later Docker adds: never taken for a finished one.
    #[serde(other)]
    Unknown,
}

impl UpdateState {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateState::Updating => "updating",
            UpdateState::Paused => "paused",
            UpdateState::Completed => "completed",
            UpdateState::RollbackStarted => "rollback_started",
            UpdateState::RollbackPaused => "rollback_paused",
            UpdateState::RollbackCompleted => "rollback_completed",
            UpdateState::Unknown => "unknown",
        }
    }

    /// Swarm is still moving the service's tasks: an update made now would
    /// start from a half-moved service (a stop-first one can reach zero
    /// running tasks).
    pub fn in_progress(self) -> bool {
        matches!(
            self,
            UpdateState::Updating | UpdateState::RollbackStarted | UpdateState::Unknown
        )
    }
}

/// Swarm's `UpdateStatus` of a service (swarmkit api/types.proto).
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateStatus {
    pub state: UpdateState,
    pub started_at: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub replicas: Option<u64>,
    /// What the service's spec mounts now.
    pub mounts: Vec<Mount>,
    /// What a `docker service rollback` would go back to.
    pub previous_mounts: Vec<Mount>,
    pub update: Option<UpdateStatus>,
    /// `Spec.UpdateConfig.Order`: "stop-first" (Docker's default) or "start-first".
    pub update_order: String,
    /// `Spec.UpdateConfig.Parallelism`: tasks updated at once; 0 is all.
    pub update_parallelism: u64,
}

impl Service {
    /// Whether an update stops every task before new ones run: stop-first,
    /// and as many tasks at once as there are (a global service counts as
    /// one task a node, so it may).
    pub fn update_has_downtime(&self) -> bool {
        if self.update_order == "start-first" {
            return false;
        }
        match self.replicas {
            Some(n) => self.update_parallelism == 0 || n <= self.update_parallelism,
            None => true,
        }
    }
}

/// The docker CLI, pointed at one configuration folder and, when given,
/// one context.
#[derive(Clone)]
pub struct Docker {
    program: PathBuf,
    config_dir: PathBuf,
    context: Option<String>,
    /// How long one docker command may take (`swarm rotate --timeout`):
    /// a hung dockerd must not hold the command, and our lock, forever.
    timeout: Option<std::time::Duration>,
    /// What stops a command (None for the cleanup that the cancellation
    /// itself asks for).
    cancel: Option<Cancel>,
}

impl Docker {
    /// The `docker` on PATH; `context` None means docker's own choice
    /// (DOCKER_HOST, DOCKER_CONTEXT, currentContext).
    pub fn find(config_dir: &Path, context: Option<&str>, cancel: &Cancel) -> Result<Docker> {
        let program = which::which("docker").map_err(|_| Error::DockerNotFound)?;
        Ok(Docker {
            program,
            config_dir: config_dir.to_path_buf(),
            context: context.map(str::to_string),
            timeout: None,
            cancel: Some(cancel.clone()),
        })
    }

    /// The same CLI for cleaning up after an interruption: not stopped by
    /// the cancellation that caused it, and bounded by `timeout`.
    pub fn for_cleanup(&self, timeout: std::time::Duration) -> Docker {
        Docker {
            timeout: Some(self.timeout.map_or(timeout, |t| t.min(timeout))),
            cancel: None,
            ..self.clone()
        }
    }

    /// Every docker command from here on is killed after `timeout`.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Docker {
        self.timeout = Some(timeout);
        self
    }

    /// The context as messages name it.
    pub fn context_label(&self) -> String {
        match &self.context {
            Some(c) => format!("{c:?}"),
            None => "in use (DOCKER_HOST, DOCKER_CONTEXT or docker context use)".into(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.program);
        c.arg("--config").arg(&self.config_dir);
        if let Some(ctx) = &self.context {
            c.args(["--context", ctx]);
        }
        c.args(args)
            // No "What's next" hints or other chatter in what we parse.
            .env("DOCKER_CLI_HINTS", "false");
        c
    }

    /// Runs docker with `stdin` (secret data) on a pipe; returns stdout.
    /// Waits at most the timeout, and stops at a cancellation (Ctrl-C, or
    /// Docker's plugin socket closing): the child is killed either way.
    fn run_with(&self, what: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<String> {
        let failed = |e: std::io::Error| Error::DockerFailed {
            what: what.into(),
            message: e.to_string(),
        };
        let mut spec = crate::proc::Spec::new(self.command(args));
        if let Some(data) = stdin {
            spec = spec.stdin(data);
        }
        if let Some(t) = self.timeout {
            spec = spec.limit(t);
        }
        if let Some(cancel) = &self.cancel {
            spec = spec.cancel_on(cancel);
        }
        let ran = match spec.run() {
            Ok(r) => r,
            Err(crate::proc::Stopped::NotStarted(e) | crate::proc::Stopped::Wait(e)) => {
                return Err(failed(e))
            }
            Err(crate::proc::Stopped::Cancelled) => return Err(Error::Cancelled),
            Err(crate::proc::Stopped::TimedOut) => {
                return Err(Error::DockerFailed {
                    what: what.into(),
                    message: format!(
                        "docker did not finish within {} s (--timeout); is the daemon hung?",
                        self.timeout.unwrap_or_default().as_secs()
                    ),
                })
            }
        };
        let (status, stdout, stderr) = (ran.status, ran.stdout, ran.stderr);
        if status.success() {
            return Ok(String::from_utf8_lossy(&stdout).into_owned());
        }
        Err(Error::DockerFailed {
            what: what.into(),
            message: docker_message(&stderr),
        })
    }

    fn run(&self, what: &str, args: &[&str]) -> Result<String> {
        self.run_with(what, args, None)
    }

    pub fn swarm_info(&self) -> Result<SwarmInfo> {
        let out = self.run("reach the daemon", &["info", "--format", "{{json .Swarm}}"])?;
        let v: wire::Info = json_of("describe the swarm", out.trim())?;
        Ok(SwarmInfo {
            local_state: v.local_node_state,
            control_available: v.control_available,
            cluster_id: v.cluster.map(|c| c.id).unwrap_or_default(),
        })
    }

    /// Fails unless the daemon is an active swarm manager; returns the
    /// cluster's ID.
    pub fn require_manager(&self) -> Result<String> {
        let info = self.swarm_info()?;
        if info.local_state != "active" || !info.control_available {
            let state = if info.local_state == "active" {
                "active, but a worker".to_string()
            } else {
                info.local_state
            };
            return Err(Error::NotASwarmManager {
                context: self.context_label(),
                state,
            });
        }
        Ok(info.cluster_id)
    }

    /// Every secret of the swarm, with its labels.
    pub fn secrets(&self) -> Result<Vec<Secret>> {
        let ids = self.run("list secrets", &["secret", "ls", "-q"])?;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["secret", "inspect"];
        args.extend(&ids);
        let v: Vec<wire::Secret> =
            json_of("inspect secrets", &self.run("inspect secrets", &args)?)?;
        Ok(v.into_iter().map(wire::Secret::into_secret).collect())
    }

    /// `docker secret create --label K=V … NAME -`, the data on stdin.
    pub fn create_secret(
        &self,
        name: &str,
        labels: &[(String, String)],
        data: &[u8],
    ) -> Result<()> {
        if data.len() > MAX_SECRET_SIZE {
            return Err(Error::SecretTooLarge {
                name: name.into(),
                size: data.len(),
            });
        }
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["secret", "create"];
        for l in &labels {
            args.extend(["--label", l.as_str()]);
        }
        args.extend([name, "-"]);
        self.run_with(&format!("create secret {name}"), &args, Some(data))?;
        Ok(())
    }

    /// `docker secret rm NAME`; swarm's refusal of a secret in use becomes
    /// `SecretInUse` with the services it names.
    pub fn remove_secret(&self, name: &str) -> Result<()> {
        match self.run(&format!("remove secret {name}"), &["secret", "rm", name]) {
            Err(Error::DockerFailed { message, .. }) if message.contains(IN_USE) => {
                Err(Error::SecretInUse {
                    secret: name.into(),
                    services: in_use_by(&message),
                })
            }
            r => r.map(|_| ()),
        }
    }

    /// Every service of the swarm.
    pub fn services(&self) -> Result<Vec<Service>> {
        let ids = self.run("list services", &["service", "ls", "-q"])?;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["service", "inspect"];
        args.extend(&ids);
        let v: Vec<wire::Service> =
            json_of("inspect services", &self.run("inspect services", &args)?)?;
        Ok(v.into_iter().map(wire::Service::into_service).collect())
    }

    /// One service by name or ID; None when swarm has no such service.
    pub fn service(&self, name: &str) -> Result<Option<Service>> {
        match self.run(
            &format!("inspect service {name}"),
            &["service", "inspect", name],
        ) {
            Ok(out) => Ok(json_of::<Vec<wire::Service>>("inspect services", &out)?
                .into_iter()
                .next()
                .map(wire::Service::into_service)),
            Err(Error::DockerFailed { message, .. }) if message.contains("no such service") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// One `docker service update --detach` that swaps secrets: every
    /// `remove` (by name) out, every `add` in.
    pub fn update_secrets(&self, service: &str, remove: &[String], add: &[Mount]) -> Result<()> {
        let adds: Vec<String> = add.iter().map(Mount::add_arg).collect();
        let mut args = vec!["service", "update", "--detach", "--quiet"];
        for r in remove {
            args.extend(["--secret-rm", r.as_str()]);
        }
        for a in &adds {
            args.extend(["--secret-add", a.as_str()]);
        }
        args.push(service);
        self.run(&format!("update service {service}"), &args)?;
        Ok(())
    }

    /// `docker service rollback --detach`: back to the previous spec.
    pub fn rollback(&self, service: &str) -> Result<()> {
        self.run(
            &format!("roll back service {service}"),
            &["service", "rollback", "--detach", "--quiet", service],
        )?;
        Ok(())
    }
}

/// What swarm answers when a secret in use is removed (swarmkit
/// manager/controlapi/secret.go): "secret 'X' is in use by the following
/// service: A, B" (or "services").
const IN_USE: &str = "is in use by the following service";

fn in_use_by(message: &str) -> Vec<String> {
    message
        .split_once(IN_USE)
        .map(|(_, rest)| {
            rest.trim_start_matches('s')
                .trim_start_matches(':')
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// docker's stderr, without its "Error response from daemon: rpc error:
/// code = … desc =" wrapping, on one line.
fn docker_message(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    let text = text.rsplit_once("desc = ").map_or(text, |(_, d)| d);
    let text = text
        .strip_prefix("Error response from daemon: ")
        .or_else(|| text.strip_prefix("Error: "))
        .unwrap_or(text);
    let one: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if one.is_empty() {
        "it failed without saying why".into()
    } else {
        // A daemon's words, or whatever a docker on PATH printed: shown
        // only with control, bidi and escape characters made harmless
        // (attacker review: raw escapes reached the terminal).
        crate::text::one_line(&one.join(" "))
    }
}

/// Docker's JSON read into `T`: a field we need that is missing, or of
/// another type, is an error that names it, never an empty string.
fn json_of<T: serde::de::DeserializeOwned>(what: &str, out: &str) -> Result<T> {
    serde_json::from_str(out).map_err(|e| Error::DockerFailed {
        what: what.into(),
        message: format!("docker printed JSON we cannot read ({e})"),
    })
}

mod wire;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_add_argument_keeps_uid_gid_and_octal_mode() {
        let m = Mount {
            secret_name: "web-key.pem-v2".into(),
            target: "key.pem".into(),
            uid: "101".into(),
            gid: "0".into(),
            mode: 0o400,
        };
        assert_eq!(
            m.add_arg(),
            "source=web-key.pem-v2,target=key.pem,uid=101,gid=0,mode=0400"
        );
    }

    #[test]
    fn a_service_spec_reads_back() {
        // As dockerd 20.10 prints it (observed), trimmed.
        let parse = |text: &str| -> Result<Service> {
            Ok(json_of::<Vec<wire::Service>>("inspect", text)?
                .remove(0)
                .into_service())
        };
        let text = r#"{"ID":"amob","Spec":{"Name":"web","Mode":{"Replicated":{"Replicas":2}},
            "TaskTemplate":{"ContainerSpec":{"Secrets":[{"File":{"Name":"cert.pem","UID":"0","GID":"0","Mode":256},
            "SecretID":"ogwu","SecretName":"s1"}]}}},
            "UpdateStatus":{"State":"completed","StartedAt":"2026-12-01T08:15:40Z","Message":"update completed"}}"#;
        let text = format!("[{text}]");
        let s = parse(&text).unwrap();
        assert_eq!(s.name, "web");
        assert_eq!(s.replicas, Some(2));
        assert_eq!(s.mounts[0].target, "cert.pem");
        assert_eq!(s.mounts[0].mode, 0o400);
        assert!(s.previous_mounts.is_empty());
        assert_eq!(s.update.as_ref().unwrap().state, UpdateState::Completed);
        // A field Docker always writes, missing or of another type: an
        // error naming it, not "".
        let err = parse(&text.replace(r#""SecretName":"s1""#, r#""SecretName":7"#)).unwrap_err();
        assert!(
            err.to_string().contains("SecretName") || err.to_string().contains("string"),
            "{err}"
        );
        let err = parse(&text.replace(r#""Name":"web","#, "")).unwrap_err();
        assert!(err.to_string().contains("Name"), "{err}");
        let later = parse(&text.replace("\"completed\"", "\"reticulating\"")).unwrap();
        assert!(later.update.unwrap().state.in_progress());
        // Docker's defaults (stop-first, one at a time) with 2 replicas:
        // one keeps serving while the other is replaced.
        assert_eq!(s.update_order, "stop-first");
        assert!(!s.update_has_downtime());
        let one = Service {
            replicas: Some(1),
            ..parse(&text).unwrap()
        };
        assert!(one.update_has_downtime());
        let first = Service {
            update_order: "start-first".into(),
            ..one
        };
        assert!(!first.update_has_downtime());
    }

    #[test]
    fn docker_errors_lose_their_wrapping() {
        let e = b"Error response from daemon: rpc error: code = InvalidArgument desc = secret 'web-ca.pem-v1' is in use by the following service: web, api\n";
        let m = docker_message(e);
        assert_eq!(
            m,
            "secret 'web-ca.pem-v1' is in use by the following service: web, api"
        );
        assert_eq!(in_use_by(&m), ["web", "api"]);
        assert_eq!(
            docker_message(b"Error: no such service: x\n"),
            "no such service: x"
        );
    }

    /// What docker prints on failure reaches the terminal made harmless
    /// (attacker review: a docker first on PATH printed raw escapes).
    #[test]
    fn docker_messages_are_printable() {
        let m = docker_message(
            b"Error response from daemon: \x1b]0;title\x07no such secret\x1b[2J \xe2\x80\xae",
        );
        assert!(
            !m.contains('\u{1b}') && !m.contains('\u{7}') && !m.contains('\u{202e}'),
            "{m:?}"
        );
        assert!(m.contains("no such secret"), "{m:?}");
    }
}
