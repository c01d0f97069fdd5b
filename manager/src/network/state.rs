//! Network records and leases under `<root>/networks/`:
//!
//! ```text
//! <root>/networks/lock            flock: every change to any network of this root
//! <root>/networks/config.json     optional: bridge name prefix, subnet pool
//! <root>/networks/nets/<name>.json one network: bridge, subnet, and its leases
//! ```
//!
//! One lock for the whole root keeps IPAM, port reservations and the hosts
//! files of peers consistent across concurrent berth processes; each holder
//! does a few netlink calls at most, so contention stays short.

use super::publish::PortMap;
use super::subnet::{Ipv4Net, Ipv6Net};
use super::NetError;
use crate::image::lock::FileLock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// Where the container code keeps one directory per container; a lease
/// whose container has no directory here any more is stale.
pub const CONTAINERS_DIR: &str = "containers";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct NetConfig {
    /// Bridges are `<prefix>0` (the default network) and `<prefix>-<id6>`;
    /// at most 8 characters so names fit IFNAMSIZ.
    pub bridge_prefix: String,
    /// Subnets for networks created without --subnet are carved from here.
    pub pool: Ipv4Net,
    pub subnet_prefix: u8,
    /// An existing host bridge for the default network (docker's `-b`):
    /// used with its own address and subnet, never made nor removed.
    pub bridge: Option<String>,
    /// IPv6 subnets for `--ipv6` networks created without a v6 --subnet;
    /// none by default (as docker): such a create then fails.
    pub pool6: Option<Ipv6Net>,
    pub subnet6_prefix: u8,
    /// Where the `cni` driver finds plugins.
    pub cni_path: Vec<PathBuf>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            bridge_prefix: "berth".into(),
            // Not 10.88/16 nor 10.89/16: podman's networks live there and make
            // their bridges only on demand, so no route would reveal them.
            pool: Ipv4Net::new(Ipv4Addr::new(10, 98, 0, 0), 16),
            subnet_prefix: 24,
            bridge: None,
            pool6: None,
            subnet6_prefix: 64,
            cni_path: super::cni::DEFAULT_PATH.iter().map(PathBuf::from).collect(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Lease {
    pub container_id: String,
    pub name: String,
    pub ip: Ipv4Addr,
    pub mac: String,
    /// Host end of the veth pair.
    pub veth: String,
    /// Name inside the container.
    pub ifname: String,
    pub ports: Vec<PortMap>,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub add_hosts: Vec<(String, String)>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The container's hosts file, rewritten in place when peers come and go.
    #[serde(default)]
    pub hosts_file: Option<PathBuf>,
    /// The process whose network namespace holds the interface, with its
    /// start time: once it is gone the namespace and the veth went with it,
    /// and the lease only keeps an address and ports from others.
    #[serde(default)]
    pub pid: Option<(u32, u64)>,
    /// The container's IPv6 address on a dual-stack network.
    #[serde(default)]
    pub ip6: Option<Ipv6Addr>,
    /// Userland proxies (pid, start time) that serve its ports on [::1]:
    /// the kernel drops a DNATed reply addressed to ::1 that comes in on
    /// the bridge, so loopback v6 cannot be NATed the way 127/8 is.
    #[serde(default)]
    pub proxies: Vec<(u32, u64)>,
    /// The `cni` driver's ADD result, for CHECK and DEL (as libcni caches it).
    #[serde(default)]
    pub cni_result: Option<serde_json::Value>,
    /// A bind mount of the container's network namespace that keeps it
    /// (and what the plugins put in it) alive until DEL, as podman pins
    /// one: plugins' DEL without the namespace skips part of its cleanup
    /// (the bridge plugin's masquerade rules).
    #[serde(default)]
    pub netns_pin: Option<PathBuf>,
}

/// A process's start time (clock ticks since boot), which tells a reused
/// pid from the one we saw.
pub fn start_time(pid: u32) -> Option<u64> {
    berth_common::procstat::Stat::read(pid as i32).map(|s| s.start_time)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub driver: String,
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub created: String,
    /// The default network has no name resolution between members (as docker).
    pub default: bool,
    pub leases: BTreeMap<String, Lease>,
    /// The bridge is the host's (`bridge` in the config): only our table
    /// and our veths are ours on it.
    #[serde(default)]
    pub external: bool,
    /// Dual stack (`--ipv6`): the v6 subnet and the bridge's v6 address.
    #[serde(default)]
    pub ipv6: Option<V6Net>,
    /// `-o key=value` of `network create`, shown by inspect.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// `--ip-range`: containers' addresses come from here only.
    #[serde(default)]
    pub ip_range: Option<Ipv4Net>,
    /// `--aux-address name=ip`: addresses IPAM never hands out.
    #[serde(default)]
    pub aux: BTreeMap<String, Ipv4Addr>,
    /// The `cni` driver's conflist, as `network create --cni-config` read it.
    #[serde(default)]
    pub cni: Option<serde_json::Value>,
    /// Where its plugins are (the root's `cni_path` at create).
    #[serde(default)]
    pub cni_path: Vec<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct V6Net {
    pub subnet: Ipv6Net,
    pub gateway: Ipv6Addr,
}

impl Network {
    /// macvlan or ipvlan: no bridge, no table, links on a parent.
    pub fn sublink(&self) -> bool {
        super::sublink::is_sublink(&self.driver)
    }

    /// No bridge of berth's own: macvlan, ipvlan, cni.
    pub fn bridgeless(&self) -> bool {
        self.sublink() || self.driver == "cni"
    }

    /// The nftables table that holds this network's rules.
    pub fn table(&self) -> String {
        format!("berth_{}", self.bridge.replace('-', "_"))
    }
}

pub struct Store {
    pub root: PathBuf,
    dir: PathBuf,
    pub config: NetConfig,
}

fn ioe(what: String) -> impl FnOnce(std::io::Error) -> NetError {
    move |e| NetError::Io(what, e)
}

impl Store {
    pub fn open(root: &Path) -> Result<Store, NetError> {
        let dir = root.join("networks");
        fs::create_dir_all(dir.join("nets")).map_err(ioe(format!("creating {}", dir.display())))?;
        let cfg_path = dir.join("config.json");
        let config = match fs::read(&cfg_path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| NetError::Config(format!("{}: {e}", cfg_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => NetConfig::default(),
            Err(e) => return Err(NetError::Io(format!("reading {}", cfg_path.display()), e)),
        };
        let c: &NetConfig = &config;
        if c.bridge_prefix.is_empty()
            || c.bridge_prefix.len() > 8
            || !c.bridge_prefix.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(NetError::Config(format!(
                "bridge_prefix {:?} must be 1-8 letters or digits",
                c.bridge_prefix
            )));
        }
        if let Some(p6) = c.pool6 {
            if c.subnet6_prefix < p6.prefix || c.subnet6_prefix > 120 {
                return Err(NetError::Config(format!(
                    "subnet6_prefix {} does not fit the pool6 {p6}",
                    c.subnet6_prefix
                )));
            }
        }
        if c.subnet_prefix < c.pool.prefix || c.subnet_prefix > 30 {
            return Err(NetError::Config(format!(
                "subnet_prefix {} does not fit the pool {}",
                c.subnet_prefix, c.pool
            )));
        }
        Ok(Store {
            root: root.to_path_buf(),
            dir,
            config,
        })
    }

    pub fn lock(&self) -> Result<FileLock, NetError> {
        let p = self.dir.join("lock");
        FileLock::exclusive(&p).map_err(ioe(format!("locking {}", p.display())))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join("nets").join(format!("{name}.json"))
    }

    pub fn load(&self, name: &str) -> Result<Option<Network>, NetError> {
        let p = self.path(name);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| NetError::Config(format!("{}: {e}", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(NetError::Io(format!("reading {}", p.display()), e)),
        }
    }

    pub fn list(&self) -> Result<Vec<Network>, NetError> {
        let d = self.dir.join("nets");
        let mut out = Vec::new();
        for e in fs::read_dir(&d).map_err(ioe(format!("reading {}", d.display())))? {
            let e = e.map_err(ioe(format!("reading {}", d.display())))?;
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(name) = n.strip_suffix(".json").filter(|_| !n.starts_with('.')) {
                if let Some(net) = self.load(name)? {
                    out.push(net);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Temp + rename. No fsync: a network's kernel objects do not survive a
    /// reboot either, and the lock already orders concurrent writers.
    pub fn save(&self, net: &Network) -> Result<(), NetError> {
        let p = self.path(&net.name);
        let tmp = p.with_extension(format!("tmp{}", std::process::id()));
        let data = serde_json::to_vec_pretty(net).expect("network serializes");
        let res = fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&data))
            .and_then(|_| fs::rename(&tmp, &p));
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res.map_err(ioe(format!("writing {}", p.display())))
    }

    /// Records that `bridge` is about to be made: a maker killed between
    /// making it and naming its owner (the alias) or saving its network
    /// would leave a bridge nobody can tell is ours. Under the lock.
    pub fn mark_making(&self, bridge: &str) -> Result<(), NetError> {
        let p = self.dir.join(format!("making-{bridge}"));
        fs::write(&p, b"").map_err(ioe(format!("writing {}", p.display())))
    }

    /// The bridge is recorded in its network (or gone): no longer in the making.
    pub fn made(&self, bridge: &str) {
        let _ = fs::remove_file(self.dir.join(format!("making-{bridge}")));
    }

    /// Bridges marked in the making.
    pub fn making(&self) -> Vec<String> {
        fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix("making-"))
                    .map(String::from)
            })
            .collect()
    }

    pub fn delete(&self, name: &str) -> Result<(), NetError> {
        let p = self.path(name);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(NetError::Io(format!("removing {}", p.display()), e))
            }
            _ => Ok(()),
        }
    }

    /// A lease is stale once its container's directory is gone (the
    /// container was removed, maybe by a process that died half way).
    pub fn container_exists(&self, id: &str) -> bool {
        self.root.join(CONTAINERS_DIR).join(id).exists()
    }

    /// The lease serves nobody: its container was removed, or the process
    /// that held its namespace ended (the container stopped, or was killed
    /// with nobody left to tear its network down).
    pub fn is_stale(&self, l: &Lease) -> bool {
        if !self.container_exists(&l.container_id) {
            return true;
        }
        l.pid.is_some_and(|(pid, t)| start_time(pid) != Some(t))
    }

    /// What the alias of this root's bridges says, so that a root never
    /// adopts or deletes another root's bridge.
    pub fn owner(&self) -> String {
        let r = fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        let s = format!("berth {}", r.display());
        if s.len() < 250 {
            return s;
        }
        format!("berth {}", super::hex_hash(&[&s]))
    }
}

/// Held, across every root of the host, while a network's subnet and bridge
/// name are chosen and made: the interface names and routes it checks are
/// the host's, not the root's.
pub fn host_lock() -> Result<FileLock, NetError> {
    let d = Path::new("/run/berth");
    fs::create_dir_all(d).map_err(ioe(format!("creating {}", d.display())))?;
    let p = d.join("network.lock");
    FileLock::exclusive(&p).map_err(ioe(format!("locking {}", p.display())))
}
