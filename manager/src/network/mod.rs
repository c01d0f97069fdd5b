//! Container networking: bridges, veth pairs, IPAM, published ports and
//! the /etc files, called by the container code between the runtime's
//! `create` (which makes the network namespace) and `start`.
//!
//! ```text
//!   host netns                                   container netns
//!   ┌────────────────────────────┐               ┌──────────────────┐
//!   │ <prefix>N / <prefix>-<id6> │  veth pair    │ eth0 10.x.y.2/24 │
//!   │ bridge, gateway 10.x.y.1 ──┼── vb<hash> ───┼─ default via .1  │
//!   │ nft table ip berth_<br>:   │               │ lo up            │
//!   │  DNAT maps pa/ph, masq,    │               └──────────────────┘
//!   │  isolation between bridges │
//!   └────────────────────────────┘
//! ```
//!
//! Everything that changes a network (lease, ports, kernel objects, peers'
//! hosts files) happens under the root's network lock, in this order:
//! record the lease, then make the kernel objects, undoing all of it if a
//! step fails. A lease whose container directory is gone is reclaimed by
//! the next berth that takes the lock, so a killed process leaks nothing
//! for long; so is one whose namespace holder (the container's init) has
//! ended, since its veth died with the namespace.
//!
//! Bridge names and routes are the host's, shared by every berth root:
//! a root's default network takes the first free `<prefix>N`, and every
//! bridge carries its root in its alias, so no root adopts or deletes
//! another's, and bridges of a root that was deleted are reaped when a
//! network is next made (under a host-wide lock, /run/berth/network.lock).
//!
//! Calling sequence for a container `<id>` whose files live in
//! `dir = <root>/containers/<id>/` (that directory existing is what keeps
//! its leases alive):
//!
//! ```text
//! write_etc_files(dir, req, None)        files exist for the bind mounts
//! runtime create                         makes the netns
//! setup(root, req, /proc/<pid>/ns/net)   -> Attachment (store it for `port`)
//! write_etc_files(dir, req, Some(&att))  rewritten in place, peers tracked
//! runtime start
//! ...
//! teardown(root, id)                     on stop/rm; idempotent
//! setup again on the next start          replaces the old lease
//! ```
//!
//! Files: `attach` (setup, teardown), `networks` (create/ls/rm/prune, the
//! reclaim of stale leases), `bridge` (bridges and their nft tables),
//! `ipam` (subnets, addresses), `ports` (host ports for -p), `hosts` and
//! `etc` (the /etc files), `state` (the records under the network lock),
//! `netlink`, `nft`, `publish` (-p syntax), `subnet` (Ipv4Net).

mod attach;
mod bridge;
mod cni;
pub mod docker;
pub mod etc;
mod hosts;
mod ipam;
pub(crate) mod netlink;
mod networks;
mod nft;
mod ports;
pub mod proxy;
pub mod publish;
pub mod state;
mod sublink;
pub mod subnet;

pub use attach::{attachments, disconnect, setup, teardown};
pub use hosts::{write_etc_files, write_etc_files_in};
pub use networks::{
    check, create, create_with, inspect, list, prune, reconcile, remove, remove_all, CreateOpts,
};
pub use publish::{parse_publish, PortMap, Proto};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(thiserror::Error, Debug)]
pub enum NetError {
    #[error("invalid port publication {0:?}: {1}")]
    Publish(String, String),
    #[error("no such network: {0}")]
    NoSuchNetwork(String),
    #[error("network {0} already exists")]
    Exists(String),
    #[error("network {0} is in use by container {1}")]
    InUse(String, String),
    /// Bad input that is not a -p syntax error: overlapping subnet, taken port...
    #[error("{0}")]
    Invalid(String),
    #[error("network config: {0}")]
    Config(String),
    #[error("{0}: {1}")]
    Io(String, #[source] io::Error),
    #[error("netlink: {0}: {1}")]
    Netlink(String, #[source] io::Error),
    #[error("nftables: {0}")]
    Nft(String),
}

/// What the container code asks for one container on one network.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NetRequest {
    pub container_id: String,
    /// The container's name: peers on user networks reach it by this name.
    pub name: String,
    /// "bridge" (the default network) or a user network's name.
    pub network: String,
    pub ports: Vec<PortMap>,
    pub hostname: String,
    pub dns: Vec<String>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_options: Vec<String>,
    pub add_hosts: Vec<(String, String)>,
    /// `--ip`: this address, not the next free one (user networks only).
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    /// `--ip6`, on a dual-stack user network. Left out when unset, so
    /// records stay as today's stores wrote them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    /// `--network-alias`: more names peers reach it by (user networks only).
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// What `setup` made: the container's address on one network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub ip: IpAddr,
    pub gateway: IpAddr,
    pub prefix: u8,
    pub mac: String,
    /// With random host ports resolved.
    pub ports: Vec<PortMap>,
    pub network: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ip6: Option<Ipv6Addr>,
    #[serde(default)]
    pub gateway6: Option<Ipv6Addr>,
    #[serde(default)]
    pub prefix6: u8,
}

pub const DEFAULT_NETWORK: &str = "bridge";

fn nle(what: impl Into<String>) -> impl FnOnce(io::Error) -> NetError {
    let w = what.into();
    move |e| NetError::Netlink(w, e)
}

fn hex_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A test hook: `BERTH_FAILPOINT=<name>` makes berth SIGKILL itself at that
/// point, to show that what a killed berth leaves is reconciled.
fn failpoint(name: &str) {
    if std::env::var_os("BERTH_FAILPOINT").is_some_and(|v| v == name) {
        // SAFETY: kill of our own pid.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}
