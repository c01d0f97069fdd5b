//! Containers: records under `<root>/containers/<id>/`, bundles built from
//! an image and flags, and their life driven through berth-shim.
//!
//! ```text
//! <root>/containers/.lock            held while names change (create, rename, rm)
//! <root>/containers/<id>/
//!     container.json                 the record (temp + rename)
//!     lock                           held by whoever starts/stops/removes it
//!     upper/ work/                   the container's overlayfs layer
//!     bundle/config.json bundle/rootfs/
//!     hostname hosts resolv.conf     bind-mounted into the container
//!     shim/                          berth-shim's dir: shim.lock, pid, exit, ctr.log
//!     exec/<exec id>/                one shim dir per exec session
//! <root>/runtime/                    the OCI runtime's --root
//! ```
//!
//! The rootfs overlay is mounted in a private mount namespace that berth
//! creates just before spawning the shim (`lifecycle::start`) and leaves at
//! once: the shim and the container are the only ones inside, so the mount
//! vanishes with them and can never leak into the host's table, whoever
//! dies first.
//!
//! The state is never stored, it is read: never started → created; the
//! shim's `exit` file → exited; the shim's lock held → running; neither →
//! exited with an unknown code (the shim died).

pub mod attach;
pub mod cgroup;
pub mod commands;
pub mod commit;
pub mod cp;
pub mod exec;
pub mod health;
pub mod inspect;
pub mod lifecycle;
pub mod listing;
pub mod logs;
pub mod net;
pub mod opts;
pub mod overlay;
pub mod record;
pub mod seccomp;
pub mod spec;
pub mod store;
pub mod top;

pub use store::{Container, ContainerStore, State, Status};

use crate::image::config::ConfigError;
use crate::image::store::StoreError;
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("container reference {0:?} is ambiguous: it matches several containers")]
    Ambiguous(String),
    #[error("the container name {0:?} is already in use by container {1}")]
    NameInUse(String, String),
    #[error("invalid container name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    BadName(String),
    #[error("invalid {flag} {value:?}: {why}")]
    BadFlag {
        flag: &'static str,
        value: String,
        why: String,
    },
    #[error("container {0} is running: stop it first or use -f")]
    Running(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    #[error("{0}")]
    Runtime(String),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error(transparent)]
    Image(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Network(#[from] crate::network::NetError),
    #[error(transparent)]
    Volume(#[from] crate::volume::VolumeError),
    #[error(transparent)]
    Import(#[from] crate::image::import::ImportError),
    #[error("attaching to network {network}: {source}")]
    Attach {
        network: String,
        source: crate::network::NetError,
    },
    #[error("the image's EXPOSE {port:?}: {source}")]
    Expose {
        port: String,
        source: crate::network::NetError,
    },
    #[error("invalid {what}: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, ContainerError>;

pub(crate) fn ioe<S: std::fmt::Display>(what: S) -> impl FnOnce(io::Error) -> ContainerError {
    move |source| ContainerError::Io {
        what: what.to_string(),
        source,
    }
}

pub(crate) fn bad(flag: &'static str, value: &str, why: impl Into<String>) -> ContainerError {
    ContainerError::BadFlag {
        flag,
        value: value.to_string(),
        why: why.into(),
    }
}

/// Container records, volumes and health results: temp + rename, no fsync
/// (cheap to lose in a power cut: the state is re-read from the shim's files
/// anyway, and `berth run` must stay fast). See `berth_common::fs`.
pub use berth_common::fs::write_atomic;

/// 32 random bytes in hex: a container (or exec) id like docker's.
pub fn random_id() -> String {
    let mut b = [0u8; 32];
    let mut got = 0;
    while got < b.len() {
        // SAFETY: getrandom writes at most len bytes into the buffer.
        let n = unsafe { libc::getrandom(b[got..].as_mut_ptr().cast(), b.len() - got, 0) };
        if n > 0 {
            got += n as usize;
        }
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Nanosecond RFC 3339 UTC, as docker prints Created/StartedAt.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let s = crate::image::time::format_rfc3339(d.as_secs() as i64);
    format!("{}.{:09}Z", s.trim_end_matches('Z'), d.subsec_nanos())
}
