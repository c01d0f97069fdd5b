//! The container record (`container.json`) and the typed values in it. The
//! JSON stays what docker users and older berth versions wrote: enums are
//! stored as their docker strings.

use crate::network::NetRequest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

const NET_REQUEST: &str = "net_request";

/// `--network`: docker's modes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum NetworkMode {
    None,
    Host,
    /// `container:NAME`: the network namespace of another container.
    Container(String),
    /// The default bridge or a user network: the network module's.
    Network(String),
}

impl NetworkMode {
    /// A network of the network module (the default bridge or a user network).
    pub fn is_bridged(&self) -> bool {
        matches!(self, NetworkMode::Network(_))
    }

    /// The network's name, if it is one of the network module's.
    pub fn network(&self) -> Option<&str> {
        match self {
            NetworkMode::Network(n) => Some(n),
            _ => None,
        }
    }
}

impl Default for NetworkMode {
    fn default() -> Self {
        NetworkMode::Network(String::new())
    }
}

impl From<String> for NetworkMode {
    fn from(s: String) -> Self {
        match s.as_str() {
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            _ => match s.strip_prefix("container:") {
                Some(peer) => NetworkMode::Container(peer.to_string()),
                None => NetworkMode::Network(s),
            },
        }
    }
}

impl From<&str> for NetworkMode {
    fn from(s: &str) -> Self {
        NetworkMode::from(s.to_string())
    }
}

impl From<NetworkMode> for String {
    fn from(m: NetworkMode) -> String {
        m.to_string()
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::Container(p) => write!(f, "container:{p}"),
            NetworkMode::Network(n) => f.write_str(n),
        }
    }
}

/// `--restart`, without on-failure's bound (`Container::restart_max`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    OnFailure,
}

impl RestartPolicy {
    pub fn as_str(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
            RestartPolicy::OnFailure => "on-failure",
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mount's `Type` in inspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

/// A mount of the container as recorded for inspect and volume bookkeeping.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct MountRecord {
    #[serde(rename = "Type")]
    pub kind: MountKind,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(rename = "RW")]
    pub rw: bool,
}

/// docker's HealthConfig, durations in nanoseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// ["CMD-SHELL", "cmd"] or ["CMD", arg...]
    pub test: Vec<String>,
    pub interval: u64,
    pub timeout: u64,
    pub start_period: u64,
    pub retries: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// docker's State.Health.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// starting, healthy or unhealthy
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<Probe>,
    /// The run of the container this is about (its StartedAt).
    #[serde(default)]
    pub run: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: String,
    pub created: String,
    /// Path and args of the process (COMMAND).
    pub args: Vec<String>,
    pub tty: bool,
    pub open_stdin: bool,
    /// docker's StdinOnce: the end of an attached client's input closes the
    /// process's stdin (`run -i`); otherwise stdin stays open for the next
    /// attach (`run -dit` then `attach`).
    #[serde(default)]
    pub stdin_once: bool,
    pub auto_remove: bool,
    pub stop_signal: String,
    pub stop_timeout: u32,
    pub runtime: String,
    pub network_mode: NetworkMode,
    #[serde(default)]
    pub ports: Vec<String>,
    pub hostname: String,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub working_dir: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub mounts: Vec<MountRecord>,
    /// Set on every start.
    #[serde(default)]
    pub started_at: Option<String>,
    /// The init's start time (clock ticks after boot), so that a reused pid
    /// is never taken for it when the shim is gone.
    #[serde(default)]
    pub init_start: Option<u64>,
    /// `--restart`.
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// on-failure's bound on restarts (0: none).
    #[serde(default)]
    pub restart_max: u32,
    /// Restarts by the policy since the last start by hand.
    #[serde(default)]
    pub restart_count: u32,
    /// The wait before the next restart by the policy: 100 ms, doubled at
    /// each restart of a container that ran less than 10 s, at most 1 min.
    #[serde(default)]
    pub restart_delay_ms: u64,
    /// Stopped or killed by a user: the policy does not restart it.
    #[serde(default)]
    pub manually_stopped: bool,
    /// `--health-cmd` and friends.
    #[serde(default)]
    pub health: Option<HealthConfig>,
    /// The shim rotates the log past this many bytes (0: never).
    #[serde(default)]
    pub log_max_size: u64,
    /// docker's inspect `HostConfig` as built from the flags.
    #[serde(default)]
    pub host_config: serde_json::Value,
    /// What to attach at every start when `network_mode` is a network of
    /// the network module. Stored as `extra.net_request`, where berth has
    /// always kept it: see `from_json` and `to_json`.
    #[serde(skip)]
    pub net_request: Option<NetRequest>,
    /// Anything else a verb wants to remember (networks joined later...).
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Container {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// Whether a restart policy is to bring the container back when it exits.
    pub fn restarts(&self) -> bool {
        self.restart_policy != RestartPolicy::No
    }

    /// Reads `container.json`.
    pub fn from_json(b: &[u8]) -> serde_json::Result<Container> {
        let mut c: Container = serde_json::from_slice(b)?;
        // One that does not parse stays where it was, as before it was typed.
        if let Some(r) = c
            .extra
            .get(NET_REQUEST)
            .and_then(|v| NetRequest::deserialize(v).ok())
        {
            c.extra.remove(NET_REQUEST);
            c.net_request = Some(r);
        }
        Ok(c)
    }

    /// Writes `container.json`, in the layout every berth version reads.
    pub fn to_json(&self) -> Vec<u8> {
        let mut c = std::borrow::Cow::Borrowed(self);
        if let Some(r) = &self.net_request {
            let v = serde_json::to_value(r).expect("request");
            c.to_mut().extra.insert(NET_REQUEST.into(), v);
        }
        serde_json::to_vec_pretty(&*c).expect("container json")
    }

    /// `extra` as inspect shows it: with the network request, as stored.
    pub fn extra_on_disk(&self) -> BTreeMap<String, serde_json::Value> {
        let mut e = self.extra.clone();
        if let Some(r) = &self.net_request {
            e.insert(
                NET_REQUEST.into(),
                serde_json::to_value(r).expect("request"),
            );
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as berth wrote it before its fields were typed.
    const TODAYS: &str = r#"{"id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "name":"web","image":"busybox","image_id":"sha256:00","created":"2026-12-01T10:00:00Z",
        "args":["sh"],"tty":false,"open_stdin":false,"auto_remove":false,"stop_signal":"SIGTERM",
        "stop_timeout":10,"runtime":"/usr/bin/crun","network_mode":"mynet","hostname":"0123456789ab",
        "mounts":[{"Type":"volume","Name":"data","Source":"/v/data","Destination":"/data","RW":true},
                  {"Type":"bind","Source":"/etc","Destination":"/h","RW":false},
                  {"Type":"tmpfs","Source":"","Destination":"/t","RW":true}],
        "restart_policy":"unless-stopped","restart_max":0,
        "extra":{"net_request":{"container_id":"0123","name":"web","network":"mynet","ports":[],
                 "hostname":"0123456789ab","dns":[],"dns_search":[],"dns_options":[],"add_hosts":[],
                 "ip":null,"aliases":["w"]},
                 "net_connect":["other"]}}"#;

    #[test]
    fn reads_todays_records() {
        let c = Container::from_json(TODAYS.as_bytes()).unwrap();
        assert_eq!(c.network_mode, NetworkMode::Network("mynet".into()));
        assert_eq!(c.restart_policy, RestartPolicy::UnlessStopped);
        let kinds: Vec<MountKind> = c.mounts.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [MountKind::Volume, MountKind::Bind, MountKind::Tmpfs]
        );
        let req = c.net_request.as_ref().unwrap();
        assert_eq!(
            (req.network.as_str(), req.aliases.as_slice()),
            ("mynet", &["w".to_string()][..])
        );
        assert!(!c.extra.contains_key("net_request") && c.extra.contains_key("net_connect"));
        // Written back where today's stores look.
        let again: serde_json::Value = serde_json::from_slice(&c.to_json()).unwrap();
        let today: serde_json::Value = serde_json::from_str(TODAYS).unwrap();
        assert_eq!(again["extra"], today["extra"]);
        for k in ["network_mode", "restart_policy", "mounts"] {
            assert_eq!(again[k], today[k], "{k}");
        }
        assert_eq!(
            c.extra_on_disk(),
            Container::from_json(&c.to_json()).unwrap().extra_on_disk()
        );
    }

    #[test]
    fn network_modes_round_trip() {
        for s in ["none", "host", "container:web", "bridge", "mynet", ""] {
            let m = NetworkMode::from(s);
            assert_eq!(m.to_string(), s);
            assert_eq!(
                m.is_bridged(),
                !["none", "host", "container:web"].contains(&s)
            );
        }
        let c: Container = serde_json::from_str(
            r#"{"id":"x","name":"x","image":"x","image_id":"x",
            "created":"","args":[],"tty":false,"open_stdin":false,"auto_remove":false,
            "stop_signal":"","stop_timeout":10,"runtime":"","network_mode":"none","hostname":""}"#,
        )
        .unwrap();
        assert_eq!(c.network_mode, NetworkMode::None);
        assert_eq!(c.restart_policy, RestartPolicy::No);
    }
}
