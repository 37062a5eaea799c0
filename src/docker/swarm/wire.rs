//! Docker's JSON as moby's api/types/swarm defines it: the fields we use,
//! required where Docker always writes them, optional where its Go types
//! say `omitempty`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Mount, UpdateState, UpdateStatus};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Info {
    pub local_node_state: String,
    pub control_available: bool,
    /// Absent when the node is in no swarm.
    #[serde(default)]
    pub cluster: Option<Cluster>,
}

#[derive(Deserialize)]
pub struct Cluster {
    #[serde(rename = "ID")]
    pub id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Secret {
    #[serde(rename = "ID")]
    id: String,
    spec: SecretSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecretSpec {
    name: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

impl Secret {
    pub fn into_secret(self) -> super::Secret {
        super::Secret {
            id: self.id,
            name: self.spec.name,
            labels: self.spec.labels.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Service {
    #[serde(rename = "ID")]
    id: String,
    spec: ServiceSpec,
    #[serde(default)]
    previous_spec: Option<ServiceSpec>,
    #[serde(default)]
    update_status: Option<Status>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceSpec {
    name: String,
    #[serde(default)]
    mode: Option<Mode>,
    task_template: TaskTemplate,
    #[serde(default)]
    update_config: Option<UpdateConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Mode {
    #[serde(default)]
    replicated: Option<Replicated>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Replicated {
    #[serde(default)]
    replicas: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TaskTemplate {
    /// Absent for plugin services (PluginSpec).
    #[serde(default)]
    container_spec: Option<ContainerSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerSpec {
    #[serde(default)]
    secrets: Option<Vec<SecretRef>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecretRef {
    secret_name: String,
    file: SecretFile,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecretFile {
    name: String,
    #[serde(rename = "UID")]
    uid: String,
    #[serde(rename = "GID")]
    gid: String,
    /// os.FileMode, a number.
    mode: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateConfig {
    #[serde(default)]
    parallelism: Option<u64>,
    #[serde(default)]
    order: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Status {
    #[serde(default)]
    state: Option<UpdateState>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

fn mounts(spec: &ServiceSpec) -> Vec<Mount> {
    let Some(secrets) = spec
        .task_template
        .container_spec
        .as_ref()
        .and_then(|c| c.secrets.as_ref())
    else {
        return Vec::new();
    };
    secrets
        .iter()
        .map(|s| Mount {
            secret_name: s.secret_name.clone(),
            target: s.file.name.clone(),
            uid: s.file.uid.clone(),
            gid: s.file.gid.clone(),
            mode: s.file.mode,
        })
        .collect()
}

impl Service {
    pub fn into_service(self) -> super::Service {
        let update = self.spec.update_config.as_ref();
        super::Service {
            id: self.id,
            replicas: self
                .spec
                .mode
                .as_ref()
                .and_then(|m| m.replicated.as_ref())
                .and_then(|r| r.replicas),
            mounts: mounts(&self.spec),
            previous_mounts: self.previous_spec.as_ref().map(mounts).unwrap_or_default(),
            // Docker's defaults when the spec leaves them out
            // (api/types/swarm: stop-first, parallelism 1).
            update_order: update
                .and_then(|u| u.order.clone())
                .unwrap_or_else(|| "stop-first".into()),
            update_parallelism: update.and_then(|u| u.parallelism).unwrap_or(1),
            // A status without a state (none yet) is no status.
            update: self.update_status.and_then(|u| {
                Some(UpdateStatus {
                    state: u.state?,
                    started_at: u.started_at.unwrap_or_default(),
                    message: u.message.unwrap_or_default(),
                })
            }),
            name: self.spec.name,
        }
    }
}
