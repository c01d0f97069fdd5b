//! create, start, stop, kill, rm, wait, exec: the container's life, driven
//! through berth-shim and the OCI runtime's command line.
//!
//! ```text
//!  berth start                        berth-shim (daemon)           runtime
//!  ───────────                        ───────────────────           ───────
//!  unshare(NEWNS), mount overlay
//!  fill new volumes from the rootfs
//!  berth-shim create ──────────────▶  RUNTIME create ───────────▶  init waits
//!  ◀─── {"pid":N} ──────────────────
//!  setns back to the host's mounts
//!  lo up in the netns (none)
//!  connect to DIR/shim/attach (if attached: before start, no output lost)
//!  RUNTIME start ─────────────────────────────────────────────▶  exec's the process
//!  pump stdio ◀───── frames ───────▶  output → log + clients
//!                                     init exits → exit file (last)
//! ```

use super::attach::{self, Outcome};
use super::opts::CreateOptions;
use super::spec::{self, BuildInput};
use super::store::{wait_shim_gone, Container, ContainerStore, Status};
use super::{ioe, ContainerError, Result};
use crate::image::lock::FileLock;
use crate::image::store::Store;
use crate::volume::VolumeStore;
use std::cell::RefCell;
use std::fs;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A binary that ships next to `berth` (berth-shim, berth-runtime).
pub fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// `--runtime`: a path, a name in PATH, or by default berth-runtime next to us.
pub fn runtime_path(r: Option<&str>) -> Result<String> {
    let Some(r) = r else {
        let p = sibling("berth-runtime");
        if !p.exists() {
            return Err(ContainerError::Other(format!(
                "the default runtime {} is missing (or give --runtime)",
                p.display()
            )));
        }
        return Ok(p.display().to_string());
    };
    if r.contains('/') {
        if !Path::new(r).exists() {
            return Err(super::bad("--runtime", r, "no such file"));
        }
        return Ok(r.to_string());
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    path.split(':')
        .map(|d| Path::new(d).join(r))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .ok_or_else(|| super::bad("--runtime", r, "not found in PATH"))
}

pub fn signal_number(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let u = s.to_ascii_uppercase();
    let name = u.strip_prefix("SIG").unwrap_or(&u);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => {
            let r = name.strip_prefix("RTMIN+")?.parse::<i32>().ok()?;
            return (libc::SIGRTMIN() + r <= libc::SIGRTMAX()).then(|| libc::SIGRTMIN() + r);
        }
    };
    Some(n)
}

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

fn etc_files(dir: &Path, c: &Container, o: &CreateOptions) -> Result<()> {
    let w = |f: &str, s: String| fs::write(dir.join(f), s).map_err(ioe(format!("writing {f}")));
    w("hostname", format!("{}\n", c.hostname))?;
    let mut hosts =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if c.network_mode == "host" {
        hosts = fs::read_to_string("/etc/hosts").unwrap_or(hosts);
    } else {
        hosts.push_str(&format!("127.0.1.1\t{}\n", c.hostname));
    }
    for h in &o.add_hosts {
        let (name, ip) = h
            .split_once([':', '='])
            .ok_or_else(|| super::bad("--add-host", h, "expected HOST:IP"))?;
        if ip.parse::<std::net::IpAddr>().is_err() || name.is_empty() {
            return Err(super::bad("--add-host", h, "expected HOST:IP"));
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
            return Err(super::bad("--dns", d, "expected an IP address"));
        }
        resolv.push_str(&format!("nameserver {d}\n"));
    }
    w(
        "resolv.conf",
        crate::network::etc::with_search_options(&resolv, &o.dns_search, &o.dns_options),
    )
}

/// A network of the network module (the default bridge or a user network).
pub fn is_bridged(mode: &str) -> bool {
    !(mode == "none" || mode == "host" || mode.starts_with("container:"))
}

fn parse_add_hosts(v: &[String]) -> Result<Vec<(String, String)>> {
    v.iter()
        .map(|h| {
            let (name, ip) = h
                .split_once([':', '='])
                .ok_or_else(|| super::bad("--add-host", h, "expected HOST:IP"))?;
            if ip.parse::<std::net::IpAddr>().is_err() || name.is_empty() {
                return Err(super::bad("--add-host", h, "expected HOST:IP"));
            }
            Ok((name.to_string(), ip.to_string()))
        })
        .collect()
}

/// A container that exited on its own and will not be restarted gives its
/// address and published ports back, as `stop` does: a host service may
/// want the port, and a DNAT to a dead address only makes clients time out.
/// Under the container's lock, and only if it is still exited: a `start`
/// may have come first.
fn release_network(cs: &ContainerStore, id: &str) {
    let Ok(_l) = cs.lock(id) else { return };
    if let Ok(c) = cs.load(id) {
        if cs.state(&c).status == Status::Exited {
            net_teardown(cs.root(), &c);
        }
    }
}

fn net_teardown(root: &Path, c: &Container) {
    if is_bridged(&c.network_mode) {
        if let Err(e) = crate::network::teardown(root, &c.id) {
            log::warn!("network teardown of {}: {e}", c.name);
        }
    }
}

/// `create`: the record, its dirs and the bundle. Nothing runs yet.
pub fn create(root: &Path, o: &CreateOptions) -> Result<Container> {
    let images = Store::open(root)?;
    let cs = ContainerStore::open(root)?;
    let img = images.resolve(o.image_id.as_deref().unwrap_or(&o.image))?;
    let runtime = runtime_path(o.runtime.as_deref())?;
    let net = super::net::mode(o);
    let bridged = is_bridged(&net);
    let mut exposed: Vec<String> = img
        .config
        .config
        .as_ref()
        .and_then(|c| c.exposed_ports.as_ref())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    exposed.extend(o.expose.iter().cloned());
    let mut ports = super::net::ports(o, &exposed)?;
    if net == "host" && (!o.publish.is_empty() || o.publish_all) {
        // docker's words: the host's ports are the container's already.
        eprintln!("WARNING: Published ports are discarded when using host network mode");
        ports.clear();
    } else if !bridged && (!o.publish.is_empty() || o.publish_all) {
        let (flag, v) = match o.publish.first() {
            Some(p) => ("-p", p.as_str()),
            None => ("-P", "true"),
        };
        return Err(super::bad(
            flag,
            v,
            format!("publishing needs a bridge network, not --network {net}"),
        ));
    }
    if bridged && net != crate::network::DEFAULT_NETWORK {
        crate::network::inspect(root, &net).map_err(|e| ContainerError::Other(e.to_string()))?;
    }
    let (restart_policy, restart_max) = match &o.restart {
        Some(r) => super::opts::parse_restart(r)?,
        None => ("no".to_string(), 0),
    };
    if o.auto_remove && restart_policy != "no" {
        return Err(super::bad(
            "--restart",
            o.restart.as_deref().unwrap_or_default(),
            "conflicts with --rm",
        ));
    }
    let ip = match &o.ip {
        Some(s) => Some(
            s.parse::<std::net::Ipv4Addr>()
                .map_err(|_| super::bad("--ip", s, "expected an IPv4 address"))?,
        ),
        None => None,
    };
    let user_net = bridged && net != crate::network::DEFAULT_NETWORK;
    if !user_net && (ip.is_some() || !o.network_aliases.is_empty()) {
        let (flag, v) = match &o.ip {
            Some(s) => ("--ip", s.as_str()),
            None => ("--network-alias", o.network_aliases[0].as_str()),
        };
        return Err(super::bad(
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
            return Err(super::bad("--network-alias", a, "not a valid host name"));
        }
    }
    let health = super::health::config(
        o,
        img.config
            .config
            .as_ref()
            .and_then(|c| c.healthcheck.as_ref()),
    )?;
    let stop_timeout = o.stop_timeout.unwrap_or(10);
    let log_max_size = match &o.log_max_size {
        Some(s) => super::opts::parse_size("--log-opt max-size", s)?,
        None => 0,
    };
    let layers = img.record.chain_ids.len();
    if layers > super::overlay::MAX_LAYERS {
        return Err(ContainerError::Other(format!(
            "image {} has {layers} layers: at most {} can run",
            o.image,
            super::overlay::MAX_LAYERS
        )));
    }
    let rc = images.runtime_config(&img)?;
    let ccfg = img.config.config.clone().unwrap_or_default();
    let c = Container {
        image: o.image.clone(),
        image_id: img.record.id.to_string(),
        tty: o.tty,
        open_stdin: o.interactive,
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
    let vs = VolumeStore::open(root).map_err(|e| ContainerError::Other(e.to_string()))?;
    let made = RefCell::new(Vec::new());
    let volume_dir = |name: &str, anon: bool| -> Result<String> {
        let (v, created) = if anon {
            (
                vs.create(name, Default::default(), true)
                    .map_err(|e| ContainerError::Other(e.to_string()))?,
                true,
            )
        } else {
            vs.ensure(name)
                .map_err(|e| ContainerError::Other(e.to_string()))?
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
    c.args = built.spec["process"]["args"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    c.env = built.spec["process"]["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    c.working_dir = built.spec["process"]["cwd"].as_str().unwrap_or("/").into();
    c.user = built.user;
    c.hostname = built.hostname;
    c.mounts = built.mounts;
    c.stop_signal = built.stop_signal;
    c.host_config = built.host_config;
    if bridged {
        let req = crate::network::NetRequest {
            container_id: c.id.clone(),
            name: c.name.clone(),
            network: c.network_mode.clone(),
            ports,
            hostname: c.hostname.clone(),
            dns: o.dns.clone(),
            dns_search: o.dns_search.clone(),
            dns_options: o.dns_options.clone(),
            add_hosts: parse_add_hosts(&o.add_hosts)?,
            ip,
            aliases: o.network_aliases.clone(),
        };
        crate::network::write_etc_files(&dir, &req, None)
            .map_err(|e| ContainerError::Other(e.to_string()))?;
        c.extra.insert(
            "net_request".into(),
            serde_json::to_value(&req).expect("request"),
        );
    } else {
        etc_files(&dir, &c, o)?;
        super::net::copy_peer_etc(&cs, &c)?;
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

/// A container event for `berth events`, with docker's attributes: name,
/// image and the container's labels.
/// Reports an exit: `oom` first if the OOM killer killed any process of the
/// container in this run (the shim's `oom` file, read as State.OOMKilled;
/// its cgroup is still there, the runtime has not deleted it yet), then
/// `die`, as docker does.
fn report_exit(cs: &ContainerStore, c: &Container, code: &str) {
    let kills = super::cgroup::oom_kills(&c.id);
    if kills > 0 {
        let _ = super::write_atomic(
            &cs.shim_dir(&c.id).join("oom"),
            kills.to_string().as_bytes(),
        );
        event(cs.root(), c, "oom", &[]);
    }
    event(cs.root(), c, "die", &[("exitCode", code)]);
}

fn event(root: &Path, c: &Container, action: &str, extra: &[(&str, &str)]) {
    let mut attrs: Vec<(&str, &str)> = vec![("name", &c.name), ("image", &c.image)];
    attrs.extend(c.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    attrs.extend_from_slice(extra);
    crate::events::emit(root, "container", action, &c.id, &attrs);
}

/// Restores the host's mount namespace when dropped.
struct NsGuard(fs::File);

impl Drop for NsGuard {
    fn drop(&mut self) {
        // SAFETY: setns with a mount namespace fd we opened; berth is single-threaded.
        if unsafe { libc::setns(self.0.as_raw_fd(), libc::CLONE_NEWNS) } != 0 {
            // Staying in the private namespace would hide nothing from the host;
            // but later mounts of this process would not be seen: say so.
            log::error!(
                "cannot return to the host mount namespace: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

fn errno<T>(r: nix::Result<T>, what: &str) -> Result<T> {
    r.map_err(|e| ioe(what)(e.into()))
}

/// Enters a mount namespace of our own with the container's rootfs mounted.
fn enter_private_ns(images: &Store, c: &Container, dir: &Path) -> Result<NsGuard> {
    use nix::mount::{mount, MsFlags};
    let host = fs::File::open("/proc/self/ns/mnt").map_err(ioe("opening /proc/self/ns/mnt"))?;
    errno(
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS),
        "unshare(CLONE_NEWNS)",
    )?;
    let guard = NsGuard(host);
    errno(
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        ),
        "making / private",
    )?;
    let img = images.resolve(&c.image_id)?;
    let mut lowers = images.layer_dirs(&img);
    if lowers.is_empty() {
        let e = dir.join("empty");
        fs::create_dir_all(&e).map_err(ioe("creating an empty lower dir"))?;
        lowers.push(e);
    }
    super::overlay::mount(
        &lowers,
        &dir.join("upper"),
        &dir.join("work"),
        &dir.join("bundle/rootfs"),
    )
    .map_err(ioe("mounting the container's overlay rootfs"))?;
    Ok(guard)
}

/// Mounts at `target`, in our mount namespace, the /dev/shm that `pid`
/// sees: the tmpfs of the container whose IPC namespace is joined, so that
/// POSIX shared memory is shared as well as SysV (as with docker and podman).
/// A bind mount cannot name another namespace's mount; a detached clone made
/// inside it (open_tree) can be attached here. setns into a mount namespace
/// wants a single-threaded caller: a forked child does it.
fn bind_peer_shm(pid: i32, target: &Path) -> Result<()> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
    let theirs = fs::File::open(format!("/proc/{pid}/ns/mnt"))
        .map_err(ioe("opening the IPC peer's mount namespace"))?;
    let ours = fs::File::open("/proc/self/ns/mnt").map_err(ioe("opening /proc/self/ns/mnt"))?;
    let dst = std::ffi::CString::new(target.as_os_str().as_encoded_bytes())
        .map_err(|_| ContainerError::Other("a NUL in the container's path".into()))?;
    // SAFETY: the child only makes system calls on what was set up above
    // and leaves with _exit; its exit status is the errno of what failed.
    match unsafe { libc::fork() } {
        -1 => Err(ioe("fork")(std::io::Error::last_os_error())),
        0 => unsafe {
            let errno = || *libc::__errno_location();
            if libc::setns(theirs.as_raw_fd(), libc::CLONE_NEWNS) != 0 {
                libc::_exit(errno());
            }
            let fd = libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                c"/dev/shm".as_ptr(),
                OPEN_TREE_CLONE | AT_RECURSIVE | libc::O_CLOEXEC as libc::c_uint,
            );
            if fd < 0 {
                libc::_exit(errno());
            }
            if libc::setns(ours.as_raw_fd(), libc::CLONE_NEWNS) != 0
                || libc::syscall(
                    libc::SYS_move_mount,
                    fd as libc::c_int,
                    c"".as_ptr(),
                    libc::AT_FDCWD,
                    dst.as_ptr(),
                    MOVE_MOUNT_F_EMPTY_PATH,
                ) != 0
            {
                libc::_exit(errno());
            }
            libc::_exit(0)
        },
        child => {
            let mut status = 0;
            // SAFETY: waits for the child forked above.
            unsafe { libc::waitpid(child, &mut status, 0) };
            match libc::WEXITSTATUS(status) {
                0 if libc::WIFEXITED(status) => Ok(()),
                e => Err(ioe(
                    "mounting the /dev/shm of the container whose IPC is joined",
                )(std::io::Error::from_raw_os_error(e))),
            }
        }
    }
}

fn lo_up(pid: i32) -> Result<()> {
    let host = fs::File::open("/proc/self/ns/net").map_err(ioe("opening /proc/self/ns/net"))?;
    let ns = fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(ioe("opening the container's network namespace"))?;
    // SAFETY: single-threaded; we return to `host` below in every case.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(ioe("entering the container's network namespace")(
            std::io::Error::last_os_error(),
        ));
    }
    let res = (|| {
        // SAFETY: a plain socket used for two interface ioctls, closed below.
        let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if s < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (i, b) in b"lo\0".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        let r = unsafe {
            if libc::ioctl(s, libc::SIOCGIFFLAGS as _, &mut ifr) != 0 {
                -1
            } else {
                ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
                libc::ioctl(s, libc::SIOCSIFFLAGS as _, &ifr)
            }
        };
        let e = std::io::Error::last_os_error();
        unsafe { libc::close(s) };
        if r != 0 {
            return Err(e);
        }
        Ok(())
    })();
    // SAFETY: back to our own namespace.
    unsafe { libc::setns(host.as_raw_fd(), libc::CLONE_NEWNET) };
    res.map_err(ioe("bringing lo up in the container"))
}

fn runtime_cmd(cs: &ContainerStore, c: &Container) -> Command {
    let mut cmd = Command::new(&c.runtime);
    cmd.arg("--root").arg(cs.runtime_root());
    cmd
}

fn run_runtime(mut cmd: Command, what: &str) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(ioe(format!("running the runtime for {what}")))?;
    if !out.status.success() {
        let e = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(ContainerError::Runtime(format!("{what}: {e}")));
    }
    Ok(())
}

/// The runtime still knows the container (it was not deleted yet).
fn runtime_has(cs: &ContainerStore, id: &str) -> bool {
    cs.runtime_root().join(id).exists()
}

fn runtime_delete(cs: &ContainerStore, c: &Container) {
    if runtime_has(cs, &c.id) {
        let mut cmd = runtime_cmd(cs, c);
        cmd.args(["delete", "--force", &c.id]);
        if let Err(e) = run_runtime(cmd, "delete") {
            log::warn!("{e}");
        }
    }
}

/// Ends a start that a killed berth left half done: its shim lives and the
/// container was created (the init waits to be started), but the start was
/// never recorded, so the container reads as `Created` and nothing would
/// ever end that shim. Called with the container's lock held, which every
/// start holds from the shim's spawn to its record: a live shim here is
/// nobody's work in progress.
fn end_interrupted_start(cs: &ContainerStore, c: &Container) -> Result<()> {
    let shim_dir = cs.shim_dir(&c.id);
    if c.started_at.is_some() || !super::store::shim_alive(&shim_dir) {
        return Ok(());
    }
    let _ = attach::send_signal(&shim_dir, libc::SIGKILL);
    if !super::store::wait_shim_gone_for(&shim_dir, Duration::from_secs(10)) {
        return Err(ContainerError::Other(format!(
            "the shim of container {} did not exit after its process was killed",
            c.name
        )));
    }
    runtime_delete(cs, c);
    let _ = fs::remove_file(shim_dir.join("exit"));
    net_teardown(cs.root(), c);
    Ok(())
}

/// What `start` hands back: a connection to the process's stdio if asked for.
pub struct Started {
    pub container: Container,
    pub attach: Option<std::os::unix::net::UnixStream>,
}

/// Starts a created or exited container; with `attach`, connected before it runs.
pub fn start(root: &Path, c: &Container, attach: bool) -> Result<Started> {
    let cs = ContainerStore::open(root)?;
    let _l = cs.lock(&c.id)?;
    let mut c = cs.load(&c.id)?;
    // A start by hand begins the policy's count again, as in docker.
    c.manually_stopped = false;
    c.restart_count = 0;
    c.restart_delay_ms = 0;
    start_locked(root, &cs, c, attach)
}

fn start_locked(
    root: &Path,
    cs: &ContainerStore,
    mut c: Container,
    attach: bool,
) -> Result<Started> {
    end_interrupted_start(cs, &c)?;
    let st = cs.state(&c);
    if st.status == Status::Running {
        return Err(ContainerError::AlreadyRunning(c.name.clone()));
    }
    let dir = cs.dir_of(&c.id);
    let shim_dir = cs.shim_dir(&c.id);
    if st.status == Status::Exited {
        // A restart: the previous run's runtime state must go first.
        runtime_delete(cs, &c);
        let _ = fs::remove_file(shim_dir.join("exit"));
        let _ = fs::remove_file(shim_dir.join("oom"));
    }
    let ipc_peer = super::net::refresh_peer_namespaces(cs, &c)?;
    let images = Store::open(root)?;
    let shim = sibling("berth-shim");
    if !shim.exists() {
        return Err(ContainerError::Other(format!(
            "{} is missing: it ships next to berth",
            shim.display()
        )));
    }
    let out = {
        let ns = enter_private_ns(&images, &c, &dir)?;
        if let Some(pid) = ipc_peer {
            let shm = dir.join("shm");
            fs::create_dir_all(&shm).map_err(ioe("creating shm"))?;
            bind_peer_shm(pid, &shm)?;
        }
        if let Ok(vs) = VolumeStore::open(root) {
            let rootfs = fsroot::open_dir(&dir.join("bundle/rootfs"))
                .map_err(ioe("opening the container's rootfs"))?;
            for m in c.mounts.iter().filter(|m| m.kind == "volume") {
                // The image's content at the mount point, resolved inside
                // the rootfs: an image's symlink there must not copy a host
                // directory into the volume.
                let src = fsroot::open_in_root(
                    rootfs.as_fd(),
                    Path::new(&m.destination),
                    libc::O_PATH | libc::O_DIRECTORY,
                )
                .and_then(fsroot::Entry::of)
                .ok();
                vs.populate(&m.name, src.as_ref())
                    .map_err(|e| ContainerError::Other(e.to_string()))?;
            }
        }
        let mut cmd = Command::new(&shim);
        cmd.arg("create")
            .arg("--id")
            .arg(&c.id)
            .arg("--bundle")
            .arg(dir.join("bundle"))
            .arg("--runtime")
            .arg(&c.runtime)
            .arg("--runtime-root")
            .arg(cs.runtime_root())
            .arg("--dir")
            .arg(&shim_dir);
        if c.tty {
            cmd.arg("-t");
        }
        if c.open_stdin {
            cmd.arg("-i");
        }
        if c.auto_remove {
            cmd.arg("--rm");
        }
        if c.log_max_size > 0 {
            cmd.arg("--log-max-size").arg(c.log_max_size.to_string());
        }
        // The policy is applied by `berth internal-exited`, which the shim
        // runs once the exit is recorded, in the host's mount namespace (ours
        // is private): the shim opens it through an fd we pass down. Every
        // container gets it (so that `update --restart` holds for a running
        // one, and a detached --rm one is removed once it exits) but an
        // attached --rm one, whose caller reports and removes it.
        let host_ns = if !(c.auto_remove && attach) {
            let exe = std::env::current_exe().map_err(ioe("locating the berth binary"))?;
            // SAFETY: F_DUPFD makes a descriptor without FD_CLOEXEC; closed below.
            let fd = unsafe { libc::fcntl(ns.0.as_raw_fd(), libc::F_DUPFD, 3) };
            if fd < 0 {
                return Err(ioe("dup")(std::io::Error::last_os_error()));
            }
            cmd.arg("--exit-command")
                .arg(exe)
                .args(["--exit-command-arg", "--root", "--exit-command-arg"])
                .arg(root.canonicalize().map_err(ioe("resolving --root"))?)
                .args([
                    "--exit-command-arg",
                    "internal-exited",
                    "--exit-command-arg",
                ])
                .arg(&c.id)
                .arg("--exit-command-mntns")
                .arg(format!("/proc/self/fd/{fd}"));
            Some(fd)
        } else {
            None
        };
        let out = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output();
        if let Some(fd) = host_ns {
            // SAFETY: the descriptor dup'ed above, ours alone.
            unsafe { libc::close(fd) };
        }
        out.map_err(ioe(format!("running {}", shim.display())))?
    };
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let pid = match reply["pid"].as_i64() {
        Some(p) => p as i32,
        None => {
            let msg = reply["error"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| {
                    String::from_utf8_lossy(&out.stderr)
                        .trim()
                        .trim_start_matches("berth-shim: ")
                        .to_string()
                });
            runtime_delete(cs, &c);
            return Err(ContainerError::Runtime(format!(
                "cannot create the container: {msg}"
            )));
        }
    };
    crate::fault::point("start:shim-created");
    c.started_at = Some(super::now_rfc3339());
    c.init_start = super::store::proc_start(pid).map(|s| s.0);
    cs.save(&c)?;
    crate::fault::point("start:recorded");
    let c0 = c.clone();
    let fail = |e: ContainerError| {
        let _ = attach::send_signal(&shim_dir, libc::SIGKILL);
        wait_shim_gone(&shim_dir);
        runtime_delete(cs, &c0);
        net_teardown(root, &c0);
        e
    };
    if c.network_mode == "none" {
        lo_up(pid).map_err(fail)?;
    }
    super::net::attach_all(root, cs, &mut c, pid).map_err(fail)?;
    let sock = if attach {
        Some(attach::connect(&shim_dir).map_err(|e| fail(ioe("attaching to the container")(e)))?)
    } else {
        None
    };
    let mut cmd = runtime_cmd(cs, &c);
    cmd.args(["start", &c.id]);
    run_runtime(cmd, "start").map_err(fail)?;
    event(root, &c, "start", &[]);
    if let Err(e) = super::health::spawn(root, &c) {
        log::warn!("container {}: {e}", c.name);
    }
    Ok(Started {
        container: c,
        attach: sock,
    })
}

/// Waits for the container to stop (up to `timeout`); true if it did.
pub fn wait_stopped(cs: &ContainerStore, c: &Container, timeout: Option<Duration>) -> bool {
    let shim = cs.shim_dir(&c.id);
    match timeout {
        None => {
            wait_shim_gone(&shim);
            while cs.orphan_pid(c).is_some() {
                std::thread::sleep(Duration::from_millis(20));
            }
            true
        }
        Some(t) => {
            let end = Instant::now() + t;
            loop {
                if !super::store::shim_alive(&shim) && cs.orphan_pid(c).is_none() {
                    return true;
                }
                if Instant::now() >= end {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

pub fn kill(root: &Path, name: &str, signal: &str) -> Result<Container> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let sig =
        signal_number(signal).ok_or_else(|| super::bad("--signal", signal, "unknown signal"))?;
    if cs.state(&c).status != Status::Running {
        return Err(ContainerError::NotRunning(c.name));
    }
    if restarts(&c) {
        let _l = cs.lock(&c.id)?;
        mark_stopped(&cs, &c.id)?;
    }
    cs.signal(&c, sig)?;
    thaw_if_paused(&cs, &c);
    event(root, &c, "kill", &[("signal", &sig.to_string())]);
    Ok(c)
}

/// `pause`: freezes every process of the container (the runtime's `pause`).
pub fn pause(root: &Path, name: &str) -> Result<Container> {
    freeze(root, name, true)
}

/// `unpause`: thaws them (the runtime's `resume`).
pub fn unpause(root: &Path, name: &str) -> Result<Container> {
    freeze(root, name, false)
}

fn freeze(root: &Path, name: &str, on: bool) -> Result<Container> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let _l = cs.lock(&c.id)?;
    let st = cs.state(&c);
    if st.status != Status::Running {
        return Err(ContainerError::NotRunning(c.name));
    }
    if st.paused == on {
        let what = if on { "already paused" } else { "not paused" };
        return Err(ContainerError::Other(format!(
            "container {} is {what}",
            c.name
        )));
    }
    let mut cmd = runtime_cmd(&cs, &c);
    cmd.args([if on { "pause" } else { "resume" }, &c.id]);
    run_runtime(cmd, if on { "pause" } else { "unpause" })?;
    event(root, &c, if on { "pause" } else { "unpause" }, &[]);
    Ok(c)
}

/// Frozen processes take a signal only once thawed (SIGKILL too, under the
/// v1 freezer): after signalling a paused container, thaw it, as docker does.
fn thaw_if_paused(cs: &ContainerStore, c: &Container) {
    if super::cgroup::frozen(&c.id) {
        let mut cmd = runtime_cmd(cs, c);
        cmd.args(["resume", &c.id]);
        if let Err(e) = run_runtime(cmd, "unpause") {
            log::warn!("{e}");
        }
    }
}

/// `update`: new limits for a container, applied at once when it runs
/// (`RUNTIME update --resources -`) and kept for its next starts; and a new
/// restart policy.
pub fn update(root: &Path, name: &str, o: &CreateOptions) -> Result<Container> {
    let limits = super::spec::resources(o)?;
    let policy = o
        .restart
        .as_deref()
        .map(super::opts::parse_restart)
        .transpose()?;
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let _l = cs.lock(&c.id)?;
    let mut c = cs.load(&c.id)?;
    if c.auto_remove && policy.as_ref().is_some_and(|(p, _)| p != "no") {
        return Err(super::bad(
            "--restart",
            o.restart.as_deref().unwrap_or_default(),
            "conflicts with --rm",
        ));
    }
    let cfg = cs.dir_of(&c.id).join("bundle/config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&fs::read(&cfg).map_err(ioe("reading config.json"))?)
            .map_err(|e| ContainerError::Other(format!("invalid config.json: {e}")))?;
    let res = &mut spec["linux"]["resources"];
    for (k, v) in limits.as_object().into_iter().flatten() {
        for (kk, vv) in v.as_object().into_iter().flatten() {
            res[k][kk] = vv.clone();
        }
    }
    if limits.as_object().is_some_and(|m| !m.is_empty()) && cs.state(&c).status == Status::Running {
        let mut cmd = runtime_cmd(&cs, &c);
        cmd.args(["update", "--resources", "-", &c.id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(ioe("running the runtime for update"))?;
        if let Some(mut i) = child.stdin.take() {
            use std::io::Write;
            let _ = i.write_all(&serde_json::to_vec(&limits).expect("json"));
        }
        let out = child
            .wait_with_output()
            .map_err(ioe("running the runtime for update"))?;
        if !out.status.success() {
            return Err(ContainerError::Runtime(format!(
                "update: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    super::write_atomic(&cfg, &serde_json::to_vec(&spec).expect("spec"))
        .map_err(ioe("writing config.json"))?;
    super::spec::set_host_limits(&mut c.host_config, &spec["linux"]["resources"]);
    if let Some((p, max)) = policy {
        c.host_config["RestartPolicy"] = serde_json::json!({"Name": p, "MaximumRetryCount": max});
        c.restart_policy = p;
        c.restart_max = max;
    }
    cs.save(&c)?;
    Ok(c)
}

/// Whether a restart policy is to bring the container back when it exits.
fn restarts(c: &Container) -> bool {
    matches!(
        c.restart_policy.as_str(),
        "always" | "unless-stopped" | "on-failure"
    )
}

/// Stopped by hand: the policy leaves it alone until the next start.
fn mark_stopped(cs: &ContainerStore, id: &str) -> Result<()> {
    let mut c = cs.load(id)?;
    if !c.manually_stopped {
        c.manually_stopped = true;
        cs.save(&c)?;
    }
    Ok(())
}

/// `berth internal-exited ID`, run by the shim once the container's exit is
/// recorded: applies the restart policy, after docker's backoff (100 ms,
/// doubled at each restart of a container that ran less than 10 s, at most
/// one minute). Returns whether it started the container again.
pub fn on_exit(root: &Path, id: &str) -> Result<bool> {
    let cs = ContainerStore::open(root)?;
    let c = cs.load(id)?;
    wait_shim_gone(&cs.shim_dir(id));
    let st = cs.state(&c);
    let code = st.exit_code.map(|x| x.to_string()).unwrap_or_default();
    report_exit(&cs, &c, &code);
    if c.auto_remove {
        // A detached --rm: nobody else is there to remove it.
        if let Ok(Some(_l)) = FileLock::try_exclusive(&cs.dir_of(id).join("lock")) {
            cleanup(&cs, &c, true)?;
        }
        return Ok(false);
    }
    if !restarts(&c) || c.manually_stopped {
        release_network(&cs, id);
        return Ok(false);
    }
    let wanted = |c: &Container, st: &super::store::State| {
        restarts(c)
            && !c.manually_stopped
            && st.status == Status::Exited
            && match c.restart_policy.as_str() {
                "on-failure" => {
                    st.exit_code.unwrap_or(1) != 0
                        && (c.restart_max == 0 || c.restart_count < c.restart_max)
                }
                _ => true,
            }
    };
    if !wanted(&c, &st) {
        release_network(&cs, id);
        return Ok(false);
    }
    let secs = |t: Option<&str>| t.and_then(crate::image::time::parse_rfc3339);
    let ran = match (
        secs(c.started_at.as_deref()),
        secs(st.finished_at.as_deref()),
    ) {
        (Some(a), Some(b)) => b - a,
        _ => 0,
    };
    let delay = if ran >= 10 || c.restart_delay_ms == 0 {
        100
    } else {
        (c.restart_delay_ms * 2).min(60_000)
    };
    // `ps` and `inspect` say "restarting" while this waits.
    let _mark = super::store::RestartMark::new(&cs.dir_of(id));
    std::thread::sleep(Duration::from_millis(delay));
    // Looked at again under the lock: a stop, rm or start may have come meanwhile.
    let _l = cs.lock(id)?;
    let Ok(mut c2) = cs.load(id) else {
        return Ok(false);
    };
    let st = cs.state(&c2);
    if !wanted(&c2, &st) || c2.started_at != c.started_at {
        return Ok(false);
    }
    // Its address went with the exit; start attaches it again.
    net_teardown(root, &c2);
    c2.restart_count += 1;
    c2.restart_delay_ms = delay;
    start_locked(root, &cs, c2, false)?;
    Ok(true)
}

/// The stop signal, then SIGKILL after `timeout` seconds.
pub fn stop(root: &Path, name: &str, timeout: Option<u32>) -> Result<Container> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let _l = cs.lock(&c.id)?;
    if restarts(&c) {
        mark_stopped(&cs, &c.id)?;
    }
    stop_locked(&cs, &c, timeout)?;
    // Its address and ports are free for others while it is stopped; start
    // attaches it again.
    net_teardown(root, &c);
    event(root, &c, "stop", &[]);
    Ok(c)
}

fn stop_locked(cs: &ContainerStore, c: &Container, timeout: Option<u32>) -> Result<()> {
    end_interrupted_start(cs, c)?;
    if cs.state(c).status != Status::Running {
        return Ok(());
    }
    let sig = signal_number(&c.stop_signal).unwrap_or(libc::SIGTERM);
    let t = timeout.unwrap_or(c.stop_timeout);
    let sent = cs.signal(c, sig).is_ok();
    thaw_if_paused(cs, c);
    if sent && wait_stopped(cs, c, Some(Duration::from_secs(t as u64))) {
        return Ok(());
    }
    let _ = cs.signal(c, libc::SIGKILL);
    if !wait_stopped(cs, c, Some(Duration::from_secs(10))) {
        return Err(ContainerError::Other(format!(
            "container {} did not stop after SIGKILL",
            c.name
        )));
    }
    Ok(())
}

pub fn remove(root: &Path, name: &str, force: bool, volumes: bool) -> Result<Container> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let _l = cs.lock(&c.id)?;
    end_interrupted_start(&cs, &c)?;
    if cs.state(&c).status == Status::Running {
        if !force {
            return Err(ContainerError::Running(c.name));
        }
        let _ = cs.signal(&c, libc::SIGKILL);
        thaw_if_paused(&cs, &c);
        if !wait_stopped(&cs, &c, Some(Duration::from_secs(10))) {
            return Err(ContainerError::Other(format!(
                "container {} did not stop after SIGKILL",
                c.name
            )));
        }
    }
    cleanup(&cs, &c, volumes)?;
    Ok(c)
}

/// Everything but a running process: runtime state, image hold, volumes, dir.
fn cleanup(cs: &ContainerStore, c: &Container, volumes: bool) -> Result<()> {
    // The process is gone; a shim still holding its dir is only finishing
    // its records. Never wait on it for ever.
    if !super::store::wait_shim_gone_for(&cs.shim_dir(&c.id), Duration::from_secs(10)) {
        return Err(ContainerError::Other(format!(
            "the shim of container {} does not exit",
            c.name
        )));
    }
    runtime_delete(cs, c);
    net_teardown(cs.root(), c);
    if let Ok(d) = crate::image::digest::Digest::parse(&c.image_id) {
        if let Ok(images) = Store::open(cs.root()) {
            let _ = images.release(&d, &c.id);
        }
    }
    cs.remove_dir(&c.id)?;
    event(cs.root(), c, "destroy", &[]);
    if volumes {
        if let Ok(vs) = VolumeStore::open(cs.root()) {
            for m in c.mounts.iter().filter(|m| m.kind == "volume") {
                if vs.get(&m.name).is_ok_and(|v| v.anonymous) {
                    let _ = vs.remove(&m.name, false);
                }
            }
        }
    }
    Ok(())
}

/// Removes exited containers that asked for --rm but whose berth was not
/// there to see them end (run -d --rm).
pub fn reap_auto_removed(root: &Path) {
    let Ok(cs) = ContainerStore::open(root) else {
        return;
    };
    for c in cs.list() {
        if c.auto_remove && cs.state(&c).status == Status::Exited {
            if let Ok(Some(_l)) =
                crate::image::lock::FileLock::try_exclusive(&cs.dir_of(&c.id).join("lock"))
            {
                let _ = cleanup(&cs, &c, true);
            }
        }
    }
}

/// Blocks until the container stops; its exit code (-1 if unknown).
pub fn wait(root: &Path, name: &str) -> Result<i32> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    wait_stopped(&cs, &c, None);
    Ok(cs.state(&c).exit_code.unwrap_or(-1))
}

/// After an attached run: the exit code; removes the container if --rm.
pub fn finish_attached(
    root: &Path,
    c: &Container,
    sock: std::os::unix::net::UnixStream,
    stdin: bool,
) -> Result<Option<i32>> {
    let cs = ContainerStore::open(root)?;
    let out = attach::pump(sock, stdin, c.tty)?;
    let code = match out {
        Outcome::Detached => return Ok(None),
        Outcome::Exited(code) => {
            wait_stopped(&cs, c, None);
            code
        }
        Outcome::Lost => {
            wait_stopped(&cs, c, None);
            cs.state(c).exit_code.unwrap_or(-1)
        }
    };
    if c.auto_remove {
        // No exit command runs for an attached --rm container: we report it.
        report_exit(&cs, c, &code.to_string());
        let _l = cs.lock(&c.id)?;
        cleanup(&cs, c, true)?;
    }
    Ok(Some(code))
}

#[derive(Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub detach: bool,
    pub tty: bool,
    pub interactive: bool,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub privileged: bool,
}

/// Runs a process in a running container; its exit code (0 when detached).
pub fn exec(root: &Path, name: &str, o: &ExecOptions) -> Result<i32> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let st = cs.state(&c);
    if st.status != Status::Running {
        return Err(ContainerError::Other(format!(
            "container {} is not running: cannot exec into it",
            c.name
        )));
    }
    if st.paused {
        return Err(ContainerError::Other(format!(
            "container {} is paused: unpause it before exec",
            c.name
        )));
    }
    let dir = cs.dir_of(&c.id);
    let p = exec_process(root, &cs, &c, o)?;
    let eid = super::random_id();
    let edir = dir.join("exec").join(&eid[..16]);
    fs::create_dir_all(&edir).map_err(ioe("creating the exec dir"))?;
    let pfile = edir.join("process.json");
    fs::write(&pfile, serde_json::to_vec(&p).expect("process"))
        .map_err(ioe("writing process.json"))?;
    struct RmDir(PathBuf, bool);
    impl Drop for RmDir {
        fn drop(&mut self) {
            if self.1 {
                let _ = fs::remove_dir_all(&self.0);
            }
        }
    }
    let mut guard = RmDir(edir.clone(), true);
    if !o.detach && !o.tty {
        // The runtime in the foreground: stdio is passed straight through, nothing is lost.
        let mut cmd = runtime_cmd(&cs, &c);
        cmd.arg("exec").arg("--process").arg(&pfile).arg(&c.id);
        if !o.interactive {
            cmd.stdin(Stdio::null());
        }
        let st = cmd.status().map_err(ioe("running the runtime's exec"))?;
        return Ok(st.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + st.signal().unwrap_or(0)
        }));
    }
    let shim = sibling("berth-shim");
    let mut cmd = Command::new(&shim);
    cmd.arg("exec")
        .arg("--id")
        .arg(&c.id)
        .arg("--process")
        .arg(&pfile)
        .arg("--runtime")
        .arg(&c.runtime)
        .arg("--runtime-root")
        .arg(cs.runtime_root())
        .arg("--dir")
        .arg(&edir);
    if o.tty {
        cmd.arg("-t");
    }
    if o.interactive {
        cmd.arg("-i");
    }
    if !o.detach {
        // The process runs as soon as the shim has it: its output waits
        // for us to attach, or a short one would be over before we are.
        cmd.arg("--hold-output");
    }
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(ioe(format!("running {}", shim.display())))?;
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    if reply["pid"].as_i64().is_none() {
        let msg = reply["error"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
        return Err(ContainerError::Runtime(format!("exec failed: {msg}")));
    }
    if o.detach {
        // The shim keeps its dir until the container is removed.
        guard.1 = false;
        return Ok(0);
    }
    let sock = attach::connect(&edir).map_err(ioe("attaching to the exec session"))?;
    let code = match attach::pump(sock, o.interactive, o.tty)? {
        Outcome::Exited(c) => c,
        Outcome::Detached => {
            guard.1 = false;
            return Ok(0);
        }
        Outcome::Lost => -1,
    };
    wait_shim_gone(&edir);
    Ok(code)
}

/// Runs `RUNTIME exec` of `process` in the foreground with its output
/// captured (for health checks): its exit code (None: killed after
/// `timeout`) and up to 4 KiB of its stdout and stderr.
pub fn exec_captured(
    cs: &ContainerStore,
    c: &Container,
    process: &serde_json::Value,
    timeout: Duration,
) -> Result<(Option<i32>, String)> {
    let edir = cs
        .dir_of(&c.id)
        .join("exec")
        .join(&super::random_id()[..16]);
    fs::create_dir_all(&edir).map_err(ioe("creating the exec dir"))?;
    let run = || -> Result<(Option<i32>, String)> {
        let pfile = edir.join("process.json");
        fs::write(&pfile, serde_json::to_vec(process).expect("process"))
            .map_err(ioe("writing process.json"))?;
        let out = edir.join("out");
        let f = fs::File::create(&out).map_err(ioe("creating the output file"))?;
        let mut cmd = runtime_cmd(cs, c);
        cmd.arg("exec")
            .arg("--process")
            .arg(&pfile)
            .arg("--pid-file")
            .arg(edir.join("pid"))
            .arg(&c.id)
            .stdin(Stdio::null())
            .stdout(f.try_clone().map_err(ioe("dup"))?)
            .stderr(f);
        let mut child = cmd.spawn().map_err(ioe("running the runtime's exec"))?;
        let end = Instant::now() + timeout;
        let code = loop {
            if let Some(st) = child.try_wait().map_err(ioe("waiting for the exec"))? {
                use std::os::unix::process::ExitStatusExt;
                break Some(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)));
            }
            if Instant::now() >= end {
                // The process first (the runtime cannot pass SIGKILL on), then the runtime.
                if let Some(pid) = fs::read_to_string(edir.join("pid"))
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
                {
                    // SAFETY: kill(2) of the exec'd process the runtime just named.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut text = fs::read(&out).unwrap_or_default();
        text.truncate(4096);
        Ok((code, String::from_utf8_lossy(&text).into_owned()))
    };
    let r = run();
    let _ = fs::remove_dir_all(&edir);
    r
}

/// The process.json of an exec: the container's process with `o`'s command,
/// environment, working directory and user.
pub fn exec_process(
    root: &Path,
    cs: &ContainerStore,
    c: &Container,
    o: &ExecOptions,
) -> Result<serde_json::Value> {
    let dir = cs.dir_of(&c.id);
    let spec: serde_json::Value = serde_json::from_slice(
        &fs::read(dir.join("bundle/config.json")).map_err(ioe("reading config.json"))?,
    )
    .map_err(|e| ContainerError::Other(format!("invalid config.json: {e}")))?;
    let mut p = spec["process"].clone();
    p["args"] = serde_json::json!(o.cmd);
    p["terminal"] = serde_json::json!(o.tty);
    let mut env: Vec<String> = c.env.clone();
    for e in o.env.iter().filter_map(|e| super::opts::expand_env(e)) {
        let k = e
            .split_once('=')
            .map(|x| x.0.to_string())
            .unwrap_or_default();
        env.retain(|x| x.split_once('=').map(|y| y.0) != Some(k.as_str()));
        env.push(e);
    }
    p["env"] = serde_json::json!(env);
    if let Some(w) = &o.workdir {
        if !w.starts_with('/') {
            return Err(super::bad(
                "-w",
                w,
                "the working directory must be absolute",
            ));
        }
        p["cwd"] = serde_json::json!(w);
    }
    if let Some(u) = &o.user {
        let images = Store::open(root)?;
        let img = images.resolve(&c.image_id)?;
        // The live root's files first: the container may have added the user.
        let live = fsroot::open_dir(Path::new(&format!("/proc/{}/root", cs.state(c).pid))).ok();
        let read = |f: &str| {
            let rel = format!("etc/{f}");
            live.as_ref()
                .and_then(|r| {
                    fsroot::read_in_root(
                        r.as_fd(),
                        Path::new(&rel),
                        crate::image::merged::READ_LIMIT,
                    )
                    .ok()
                })
                .or_else(|| images.read_image_file(&img, &rel))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let (uid, gid, extra) = crate::image::config::resolve_user(
            u,
            read("passwd").as_deref(),
            read("group").as_deref(),
        )
        .map_err(|e| super::bad("-u", u, e.to_string()))?;
        p["user"] = serde_json::json!({"uid": uid, "gid": gid, "additionalGids": extra});
    }
    Ok(p)
}

pub fn restart(root: &Path, name: &str, timeout: Option<u32>) -> Result<Container> {
    let c = stop(root, name, timeout)?;
    Ok(start(root, &c, false)?.container)
}

/// Removes every stopped container; their ids.
pub fn prune(root: &Path) -> Result<Vec<String>> {
    let cs = ContainerStore::open(root)?;
    cs.reap_unrecorded(&cs.names_lock()?);
    let mut out = Vec::new();
    for c in cs.list() {
        if cs.state(&c).status != Status::Running {
            remove(root, &c.id, false, false)?;
            out.push(c.id);
        }
    }
    Ok(out)
}

/// Runs `f` on the container's merged root, held by an fd: the live one of a
/// running container (as it sees it, its volumes included), else the overlay
/// mounted for the call in a namespace of our own. Paths inside it are the
/// container's to resolve: see the fsroot crate.
pub fn with_rootfs<T>(
    root: &Path,
    c: &Container,
    f: impl FnOnce(&fsroot::Entry) -> std::io::Result<T>,
) -> Result<T> {
    let cs = ContainerStore::open(root)?;
    let st = cs.state(c);
    let open = |p: &Path| fsroot::open_dir(p).and_then(fsroot::Entry::of);
    if st.status == Status::Running && st.pid > 0 {
        let r = open(Path::new(&format!("/proc/{}/root", st.pid)))
            .map_err(ioe("opening the container's root"))?;
        return f(&r).map_err(ioe("reading the container's files"));
    }
    let images = Store::open(root)?;
    let dir = cs.dir_of(&c.id);
    let _l = cs.lock(&c.id)?;
    let _ns = enter_private_ns(&images, c, &dir)?;
    let r = open(&dir.join("bundle/rootfs")).map_err(ioe("opening the container's root"))?;
    f(&r).map_err(ioe("reading the container's files"))
}
