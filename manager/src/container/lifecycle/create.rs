//! `create`: the record, its dirs, its volumes, the bundle and the files
//! bind-mounted into the container. Nothing runs yet; whatever fails undoes
//! what was made.

use super::event;
use crate::container::commands::runtime_path;
use crate::container::net;
use crate::container::opts::{self, CreateOptions};
use crate::container::record::{NetworkMode, RestartPolicy};
use crate::container::spec::{self, BuildInput};
use crate::container::store::{Container, ContainerStore, Status};
use crate::container::{bad, ioe, ContainerError, Result};
use crate::container::{health, overlay};
use crate::image::store::Store;
use crate::volume::VolumeStore;
use std::cell::RefCell;
use std::fs;
use std::path::Path;

/// Undoes a half-made container unless disarmed.
struct Undo<'a> {
    cs: &'a ContainerStore,
    images: &'a Store,
    id: String,
    image_id: Option<crate::image::digest::Digest>,
    volumes: Vec<String>,
    armed: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(i) = &self.image_id {
            let _ = self.images.release(i, &self.id);
        }
        if let Ok(vs) = VolumeStore::open(self.cs.root()) {
            for v in &self.volumes {
                let _ = vs.remove(v, true);
            }
        }
        let _ = self.cs.remove_dir(&self.id);
    }
}

/// `create`: the record, its dirs and the bundle. Nothing runs yet.
pub fn create(root: &Path, o: &CreateOptions) -> Result<Container> {
    let images = Store::open(root)?;
    let cs = ContainerStore::open(root)?;
    let expanded = expand_from_peers(&cs, o)?;
    let o = expanded.as_ref().unwrap_or(o);
    let img = images.resolve(o.image_id.as_deref().unwrap_or(&o.image))?;
    let runtime = runtime_path(o.runtime.as_deref())?;
    let net = opts::network_mode(o);
    let bridged = net.is_bridged();
    // A network of its own (network create), not the default bridge.
    let user_net = net
        .network()
        .filter(|n| *n != crate::network::DEFAULT_NETWORK);
    let mut exposed: Vec<String> = img
        .config
        .config
        .as_ref()
        .and_then(|c| c.exposed_ports.as_ref())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    exposed.extend(o.expose.iter().cloned());
    let mut ports = net::ports(o, &exposed)?;
    if net == NetworkMode::Host && (!o.publish.is_empty() || o.publish_all) {
        // docker's words: the host's ports are the container's already.
        eprintln!("WARNING: Published ports are discarded when using host network mode");
        ports.clear();
    } else if !bridged && (!o.publish.is_empty() || o.publish_all) {
        let (flag, v) = match o.publish.first() {
            Some(p) => ("-p", p.as_str()),
            None => ("-P", "true"),
        };
        return Err(bad(
            flag,
            v,
            format!("publishing needs a bridge network, not --network {net}"),
        ));
    }
    if let Some(n) = user_net {
        crate::network::inspect(root, n)?;
    }
    let (restart_policy, restart_max) = match &o.restart {
        Some(r) => opts::parse_restart(r)?,
        None => (RestartPolicy::No, 0),
    };
    if o.auto_remove && restart_policy != RestartPolicy::No {
        return Err(bad(
            "--restart",
            o.restart.as_deref().unwrap_or_default(),
            "conflicts with --rm",
        ));
    }
    let ip = match &o.ip {
        Some(s) => Some(
            s.parse::<std::net::Ipv4Addr>()
                .map_err(|_| bad("--ip", s, "expected an IPv4 address"))?,
        ),
        None => None,
    };
    let ip6 = match &o.ip6 {
        Some(s) => Some(
            s.parse::<std::net::Ipv6Addr>()
                .map_err(|_| bad("--ip6", s, "expected an IPv6 address"))?,
        ),
        None => None,
    };
    if user_net.is_none() && (ip.is_some() || ip6.is_some() || !o.network_aliases.is_empty()) {
        let (flag, v) = match (&o.ip, &o.ip6) {
            (Some(s), _) => ("--ip", s.as_str()),
            (None, Some(s)) => ("--ip6", s.as_str()),
            _ => ("--network-alias", o.network_aliases[0].as_str()),
        };
        return Err(bad(
            flag,
            v,
            format!("needs a user network (network create), not --network {net}"),
        ));
    }
    for a in &o.network_aliases {
        if a.is_empty()
            || a.len() > 253
            || !a
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
        {
            return Err(bad("--network-alias", a, "not a valid host name"));
        }
    }
    let health = health::config(
        o,
        img.config
            .config
            .as_ref()
            .and_then(|c| c.healthcheck.as_ref()),
    )?;
    let stop_timeout = o.stop_timeout.unwrap_or(10);
    let log_max_size = match &o.log_max_size {
        Some(s) => opts::parse_size("--log-opt max-size", s)?,
        None => 0,
    };
    let layers = img.record.chain_ids.len();
    if layers > overlay::MAX_LAYERS {
        return Err(ContainerError::Other(format!(
            "image {} has {layers} layers: at most {} can run",
            o.image,
            overlay::MAX_LAYERS
        )));
    }
    let rc = images.runtime_config(&img)?;
    let ccfg = img.config.config.clone().unwrap_or_default();
    let c = Container {
        image: o.image.clone(),
        image_id: img.record.id.to_string(),
        tty: o.tty,
        open_stdin: o.interactive,
        stdin_once: o.stdin_once,
        auto_remove: o.auto_remove,
        restart_policy,
        restart_max,
        health,
        stop_timeout,
        runtime,
        network_mode: net,
        log_max_size,
        labels: o
            .labels
            .iter()
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap_or((l, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        ..Default::default()
    };
    let mut c = cs.create(c, o.name.as_deref())?;
    crate::fault::point("create:recorded");
    let mut undo = Undo {
        cs: &cs,
        images: &images,
        id: c.id.clone(),
        image_id: None,
        volumes: vec![],
        armed: true,
    };
    images.hold(&img.record.id, &c.id)?;
    undo.image_id = Some(img.record.id.clone());
    // The image may have been removed between resolve and hold (see Store::hold).
    images.resolve(&img.record.id.to_string())?;

    let dir = cs.dir_of(&c.id);
    for d in ["upper", "work", "bundle/rootfs", "shim", "exec"] {
        fs::create_dir_all(dir.join(d)).map_err(ioe(format!("creating {d}")))?;
    }
    let vs = VolumeStore::open(root)?;
    let made = RefCell::new(Vec::new());
    let volume_dir = |name: &str, anon: bool| -> Result<String> {
        let (v, created) = if anon {
            (vs.create(name, Default::default(), true)?, true)
        } else {
            vs.ensure(name)?
        };
        if created {
            made.borrow_mut().push(v.name.clone());
        }
        Ok(v.mountpoint)
    };
    let peer_pid = |name: &str| -> Result<i32> {
        let p = cs.find(name)?;
        let st = cs.state(&p);
        if st.status != Status::Running {
            return Err(ContainerError::NotRunning(p.name));
        }
        Ok(st.pid)
    };
    let text = |p: &str| {
        images
            .read_image_file(&img, p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let built = spec::build(
        o,
        &BuildInput {
            id: &c.id,
            dir: &dir,
            rc: &rc,
            entrypoint: ccfg.entrypoint.clone().unwrap_or_default(),
            cmd: ccfg.cmd.clone().unwrap_or_default(),
            passwd: if o.user.is_some() {
                text("etc/passwd")
            } else {
                None
            },
            group: if o.user.is_some() || !o.group_add.is_empty() {
                text("etc/group")
            } else {
                None
            },
            volume_dir: &volume_dir,
            peer_pid: &peer_pid,
        },
    );
    undo.volumes = made.into_inner();
    let built = built?;
    let process = built.spec.process().as_ref();
    c.args = process.and_then(|p| p.args().clone()).unwrap_or_default();
    c.env = process.and_then(|p| p.env().clone()).unwrap_or_default();
    c.working_dir = process
        .map(|p| p.cwd().display().to_string())
        .unwrap_or_else(|| "/".into());
    c.user = built.user;
    c.hostname = built.hostname;
    c.mounts = built.mounts;
    c.stop_signal = built.stop_signal;
    c.host_config = built.host_config;
    if o.network.is_none() {
        if let Some(h) = c.host_config.as_object_mut() {
            h.insert("NetworkMode".into(), "default".into());
        }
    }
    if bridged {
        let req = crate::network::NetRequest {
            container_id: c.id.clone(),
            name: c.name.clone(),
            network: c.network_mode.to_string(),
            ports,
            hostname: c.hostname.clone(),
            dns: o.dns.clone(),
            dns_search: o.dns_search.clone(),
            dns_options: o.dns_options.clone(),
            add_hosts: parse_add_hosts(&o.add_hosts)?,
            ip,
            ip6,
            aliases: with_short_id(&c, o.network_aliases.clone()),
        };
        crate::network::write_etc_files(&dir, &req, None)?;
        c.net_request = Some(req);
    } else {
        etc_files(&dir, &c, o)?;
        net::copy_peer_etc(&cs, &c)?;
    }
    fs::write(
        dir.join("bundle/config.json"),
        serde_json::to_vec(&built.spec).expect("spec"),
    )
    .map_err(ioe("writing config.json"))?;
    crate::fault::point("create:bundle-written");
    cs.save(&c)?;
    undo.armed = false;
    event(root, &c, "create", &[]);
    Ok(c)
}

fn etc_files(dir: &Path, c: &Container, o: &CreateOptions) -> Result<()> {
    let w = |f: &str, s: String| fs::write(dir.join(f), s).map_err(ioe(format!("writing {f}")));
    w("hostname", format!("{}\n", c.hostname))?;
    let mut hosts =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if c.network_mode == NetworkMode::Host {
        hosts = fs::read_to_string("/etc/hosts").unwrap_or(hosts);
    } else {
        hosts.push_str(&format!("127.0.1.1\t{}\n", c.hostname));
    }
    for h in &o.add_hosts {
        let (name, ip) = h
            .split_once([':', '='])
            .ok_or_else(|| bad("--add-host", h, "expected HOST:IP"))?;
        if ip.parse::<std::net::IpAddr>().is_err() || name.is_empty() {
            return Err(bad("--add-host", h, "expected HOST:IP"));
        }
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    w("hosts", hosts)?;
    let mut resolv = String::new();
    if o.dns.is_empty() {
        resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    }
    for d in &o.dns {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(bad("--dns", d, "expected an IP address"));
        }
        resolv.push_str(&format!("nameserver {d}\n"));
    }
    w(
        "resolv.conf",
        crate::network::etc::with_search_options(&resolv, &o.dns_search, &o.dns_options),
    )
}

fn parse_add_hosts(v: &[String]) -> Result<Vec<(String, String)>> {
    v.iter()
        .map(|h| {
            let (name, ip) = h
                .split_once([':', '='])
                .ok_or_else(|| bad("--add-host", h, "expected HOST:IP"))?;
            if ip.parse::<std::net::IpAddr>().is_err() || name.is_empty() {
                return Err(bad("--add-host", h, "expected HOST:IP"));
            }
            Ok((name.to_string(), ip.to_string()))
        })
        .collect()
}

/// What other containers give a new one, as docker gives it: the mounts of
/// each `--volumes-from` container (before its own `-v`, which win on the
/// same destination) and, with `--network container:X`, X's hostname.
/// `None` when there is nothing to add.
fn expand_from_peers(cs: &ContainerStore, o: &CreateOptions) -> Result<Option<CreateOptions>> {
    let peer_net = match opts::network_mode(o) {
        NetworkMode::Container(p) => Some(p),
        _ => None,
    };
    if o.volumes_from.is_empty() && peer_net.is_none() {
        return Ok(None);
    }
    let mut n = o.clone();
    if let Some(p) = peer_net {
        if let Some(h) = &o.hostname {
            return Err(bad(
                "--hostname",
                h,
                "conflicts with --network container: (the container has its peer's)",
            ));
        }
        n.hostname = Some(cs.find(&p)?.hostname);
    }
    let mut vols = Vec::new();
    for spec in &o.volumes_from {
        let (name, mode) = match spec.rsplit_once(':') {
            Some((c, m @ ("ro" | "rw"))) => (c, Some(m)),
            Some((_, m)) => {
                return Err(bad(
                    "--volumes-from",
                    spec,
                    format!("invalid mode {m:?}: expected ro or rw"),
                ))
            }
            None => (spec.as_str(), None),
        };
        let peer = cs.find(name)?;
        for m in &peer.mounts {
            let src = match m.kind {
                crate::container::record::MountKind::Volume => &m.name,
                crate::container::record::MountKind::Bind => &m.source,
                _ => continue,
            };
            let ro = match mode {
                Some(m) => m == "ro",
                None => !m.rw,
            };
            vols.push(format!(
                "{src}:{}{}",
                m.destination,
                if ro { ":ro" } else { "" }
            ));
        }
    }
    vols.extend(o.volumes.iter().cloned());
    n.volumes = vols;
    Ok(Some(n))
}

/// On a user network docker also names a container by its short id, and
/// clients (docker-compose) look for that alias to know it is attached.
pub(crate) fn with_short_id(c: &Container, mut aliases: Vec<String>) -> Vec<String> {
    if c.network_mode.network() != Some(crate::network::DEFAULT_NETWORK) {
        aliases.push(c.short_id().to_string());
    }
    aliases
}
