//! `linux.netDevices`: host interfaces moved into the container's network
//! namespace (renamed on the way when asked), with their permanent global
//! addresses carried over and the link set up, over rtnetlink.
//!
//! config-linux.md: the runtime MUST NOT move them back before the
//! namespace goes; when it does, the kernel returns physical devices to the
//! initial namespace and destroys virtual ones (a veth, a macvlan).
//! Every netlink wait is bounded by SO_RCVTIMEO.

use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{
    bind, recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};
use nix::sys::time::TimeVal;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_EXCL: u16 = 0x200;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const IFF_UP: u32 = 1;
/// IFNAMSIZ less the NUL.
const MAX_NAME: usize = 15;
const TIMEOUT_SECS: i64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum NetDevError {
    #[error("linux.netDevices: {0}")]
    Invalid(String),
    #[error("linux.netDevices: {what} {dev:?}: {err}")]
    Os {
        what: &'static str,
        dev: String,
        err: io::Error,
    },
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_NAME
        && n != "."
        && n != ".."
        && !n.contains(['/', ':'])
        && !n.chars().any(char::is_whitespace)
}

/// What create can judge before anything exists: names the kernel takes,
/// devices that exist on the host, a network namespace to move them to.
pub fn check(spec: &Spec) -> Result<(), NetDevError> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let Some(devs) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let own_netns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Network);
    if !own_netns {
        return Err(NetDevError::Invalid(
            "moving devices needs a network namespace of the container's own".into(),
        ));
    }
    for (host, d) in devs {
        if !valid_name(host) {
            return Err(NetDevError::Invalid(format!(
                "{host:?} is not a network device name"
            )));
        }
        let new = d.name().as_deref().unwrap_or(host);
        if !valid_name(new) || new.matches("%d").count() > 1 {
            return Err(NetDevError::Invalid(format!(
                "name {new:?} of {host:?} is not a network device name"
            )));
        }
        if !std::path::Path::new("/sys/class/net").join(host).exists() {
            return Err(NetDevError::Invalid(format!(
                "no network device {host:?} on the host"
            )));
        }
    }
    Ok(())
}

/// Moves every device of `spec` into the container's network namespace:
/// the one joined by path, or the new one its init (`pid`) was cloned into.
pub fn move_all(spec: &Spec, pid: i32) -> Result<(), NetDevError> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let Some(devs) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let os = |what, dev: &str| {
        let dev = dev.to_string();
        move |err| NetDevError::Os { what, dev, err }
    };
    let path = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::Network)
        .and_then(|n| n.path().clone())
        .unwrap_or_else(|| format!("/proc/{pid}/ns/net").into());
    let ns = File::open(&path).map_err(os(
        "open the network namespace",
        &path.display().to_string(),
    ))?;
    let host = Netlink::open().map_err(os("netlink for", ""))?;
    let ct = Netlink::open_in(&ns).map_err(os("netlink in the container for", ""))?;
    // Sorted: a failure names the same device every time.
    let mut names: Vec<&String> = devs.keys().collect();
    names.sort();
    for name in names {
        let new = devs[name].name().clone().unwrap_or_else(|| name.clone());
        let index = host
            .link_index(name)
            .map_err(os("look up", name))?
            .ok_or_else(|| {
                NetDevError::Invalid(format!("no network device {name:?} on the host"))
            })?;
        let addrs = host
            .permanent_addrs(index)
            .map_err(os("read the addresses of", name))?;
        host.move_to(index, &ns, &new).map_err(os("move", name))?;
        // A template (`eth%d`) names itself in there; the index is kept
        // unless it is taken, so look it up by name when we have one.
        let index = if new.contains("%d") {
            index
        } else {
            ct.link_index(&new)
                .map_err(os("look up in the container", &new))?
                .ok_or_else(|| NetDevError::Invalid(format!("{new:?} vanished after its move")))?
        };
        for a in &addrs {
            ct.add_addr(index, a)
                .map_err(os("restore an address of", &new))?;
        }
        ct.set_up(index).map_err(os("set up", &new))?;
    }
    Ok(())
}

/// One address as the kernel dumped it: the ifaddrmsg's family, prefix
/// length and scope, and the attributes that make it again.
struct Addr {
    family: u8,
    prefix: u8,
    scope: u8,
    attrs: Vec<(u16, Vec<u8>)>,
}

struct Msg(Vec<u8>);

impl Msg {
    fn new(ty: u16, flags: u16) -> Msg {
        let mut b = Vec::with_capacity(128);
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&ty.to_ne_bytes());
        b.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        b.extend_from_slice(&1u32.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        Msg(b)
    }

    /// struct ifinfomsg.
    fn ifinfo(mut self, index: i32, flags: u32, change: u32) -> Msg {
        self.0.extend_from_slice(&[0, 0, 0, 0]);
        self.0.extend_from_slice(&index.to_ne_bytes());
        self.0.extend_from_slice(&flags.to_ne_bytes());
        self.0.extend_from_slice(&change.to_ne_bytes());
        self
    }

    /// struct ifaddrmsg.
    fn ifaddr(mut self, family: u8, prefix: u8, scope: u8, index: i32) -> Msg {
        self.0.extend_from_slice(&[family, prefix, 0, scope]);
        self.0.extend_from_slice(&index.to_ne_bytes());
        self
    }

    fn attr(mut self, ty: u16, data: &[u8]) -> Msg {
        self.0
            .extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(data);
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
        self
    }

    fn attr_str(self, ty: u16, s: &str) -> Msg {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(ty, &d)
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[0..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

struct Netlink(OwnedFd);

/// Walks the rtattrs of `buf`.
fn attrs(mut buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut v = vec![];
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]);
        if len < 4 || len > buf.len() {
            break;
        }
        v.push((ty, &buf[4..len]));
        buf = &buf[((len + 3) & !3).min(buf.len())..];
    }
    v
}

impl Netlink {
    fn open() -> io::Result<Netlink> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(TIMEOUT_SECS, 0))?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(Netlink(fd))
    }

    /// A socket in the network namespace `ns`: made by a thread that joins
    /// it and ends, so ours never changes.
    fn open_in(ns: &File) -> io::Result<Netlink> {
        std::thread::scope(|s| {
            s.spawn(|| {
                // This thread only, which ends right after.
                setns(ns, CloneFlags::CLONE_NEWNET)?;
                Netlink::open()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netlink thread panicked")))
        })
    }

    /// Sends a request and collects every reply message up to the ACK (or
    /// the end of a dump); an error reply is the error.
    fn request(&self, msg: Msg) -> io::Result<Vec<Vec<u8>>> {
        let data = msg.finish();
        send(self.0.as_raw_fd(), &data, MsgFlags::empty())?;
        let mut out = vec![];
        let mut buf = vec![0u8; 32768];
        loop {
            let n = match recv(self.0.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut off = 0;
            while off + 16 <= n {
                let len =
                    u32::from_ne_bytes(buf[off..off + 4].try_into().expect("4 bytes")) as usize;
                let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                if len < 16 || off + len > n {
                    return Err(io::Error::other("truncated netlink reply"));
                }
                match ty {
                    NLMSG_ERROR => {
                        let err = i32::from_ne_bytes(
                            buf[off + 16..off + 20].try_into().expect("4 bytes"),
                        );
                        return if err == 0 {
                            Ok(out)
                        } else {
                            Err(io::Error::from_raw_os_error(-err))
                        };
                    }
                    NLMSG_DONE => return Ok(out),
                    _ => out.push(buf[off..off + len].to_vec()),
                }
                off += (len + 3) & !3;
            }
        }
    }

    fn link_index(&self, name: &str) -> io::Result<Option<i32>> {
        let m = Msg::new(RTM_GETLINK, NLM_F_ACK)
            .ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, name);
        match self.request(m) {
            Ok(r) => Ok(r
                .first()
                .filter(|m| m.len() >= 24)
                .map(|m| i32::from_ne_bytes(m[20..24].try_into().expect("4 bytes")))),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The device's addresses that are permanent and of global scope (the
    /// ones config-linux.md says must survive the move).
    fn permanent_addrs(&self, index: i32) -> io::Result<Vec<Addr>> {
        let m = Msg::new(RTM_GETADDR, NLM_F_DUMP).ifaddr(0, 0, 0, 0);
        let mut v = vec![];
        for msg in self.request(m)? {
            // nlmsghdr (16) + ifaddrmsg (8).
            if msg.len() < 24 {
                continue;
            }
            let (family, prefix, flags8, scope) = (msg[16], msg[17], msg[18], msg[19]);
            let idx = i32::from_ne_bytes(msg[20..24].try_into().expect("4 bytes"));
            if idx != index || scope != RT_SCOPE_UNIVERSE {
                continue;
            }
            let list = attrs(&msg[24..]);
            let flags = list
                .iter()
                .find(|(t, d)| *t == IFA_FLAGS && d.len() == 4)
                .map(|(_, d)| u32::from_ne_bytes((*d).try_into().expect("4 bytes")))
                .unwrap_or(u32::from(flags8));
            if flags & IFA_F_PERMANENT == 0 {
                continue;
            }
            v.push(Addr {
                family,
                prefix,
                scope,
                attrs: list
                    .into_iter()
                    .filter(|(t, _)| matches!(*t, IFA_ADDRESS | IFA_LOCAL | IFA_BROADCAST))
                    .map(|(t, d)| (t, d.to_vec()))
                    .collect(),
            });
        }
        Ok(v)
    }

    fn move_to(&self, index: i32, ns: &File, name: &str) -> io::Result<()> {
        let m = Msg::new(RTM_NEWLINK, NLM_F_ACK)
            .ifinfo(index, 0, 0)
            .attr(IFLA_NET_NS_FD, &(ns.as_raw_fd() as u32).to_ne_bytes())
            .attr_str(IFLA_IFNAME, name);
        self.request(m).map(drop)
    }

    fn add_addr(&self, index: i32, a: &Addr) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
            .ifaddr(a.family, a.prefix, a.scope, index);
        for (t, d) in &a.attrs {
            m = m.attr(*t, d);
        }
        match self.request(m) {
            // The kernel may have made it already (an IPv6 address on up).
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r.map(drop),
        }
    }

    fn set_up(&self, index: i32) -> io::Result<()> {
        let m = Msg::new(RTM_NEWLINK, NLM_F_ACK).ifinfo(index, IFF_UP, IFF_UP);
        self.request(m).map(drop)
    }
}
