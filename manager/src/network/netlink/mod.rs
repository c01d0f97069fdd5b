//! Just enough rtnetlink, spoken over a raw socket, to build a bridge and a
//! veth pair and to address the container's end. Every request asks for an
//! ACK, so each call either did its work or returns the kernel's errno.
//!
//! A netlink socket belongs to the network namespace it was created in; to
//! talk to a container's namespace we create the socket from a short-lived
//! thread that has joined that namespace (setns of a netns is per thread).

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_IFALIAS: u16 = 20;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;

const RTA_GATEWAY: u16 = 5;
const RTA_OIF: u16 = 4;

const IFF_UP: u32 = 1;
const AF_INET: u8 = libc::AF_INET as u8;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

/// A netlink message being built: header, fixed part, attributes.
struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    fn new(ty: u16, flags: u16) -> Msg {
        Msg::with_seq(ty, flags | NLM_F_ACK, 1) // seq: one request at a time
    }

    fn with_seq(ty: u16, flags: u16, seq: u32) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set in finish
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel fills it
        Msg {
            buf,
            nests: Vec::new(),
        }
    }

    fn ifinfo(&mut self, index: i32, flags: u32, change: u32) -> &mut Self {
        self.buf.extend_from_slice(&[0, 0]); // family AF_UNSPEC, pad
        self.buf.extend_from_slice(&0u16.to_ne_bytes()); // type
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
        self
    }

    fn align(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.align();
        self
    }

    fn attr_str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(ty, &d)
    }

    fn attr_u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    fn begin(&mut self, ty: u16) -> &mut Self {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self
    }

    fn end(&mut self) -> &mut Self {
        let start = self.nests.pop().expect("netlink nest underflow");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn finish(&mut self) -> &[u8] {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        &self.buf
    }
}

pub struct Netlink {
    fd: OwnedFd,
}

fn sys(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        Netlink::open_protocol(libc::NETLINK_ROUTE)
    }

    fn open_protocol(protocol: libc::c_int) -> io::Result<Netlink> {
        // SAFETY: plain socket/bind calls on a descriptor we own from here on.
        unsafe {
            let fd = sys(libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            ))?;
            let fd = OwnedFd::from_raw_fd(fd);
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            sys(libc::bind(
                fd.as_raw_fd(),
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            ))?;
            Ok(Netlink { fd })
        }
    }

    /// A socket in the network namespace `ns` (an open /proc/<pid>/ns/net).
    pub fn open_in(ns: &File) -> io::Result<Netlink> {
        let nsfd = ns.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: only this thread changes namespace, and it ends right after.
                sys(unsafe { libc::setns(nsfd, libc::CLONE_NEWNET) })?;
                Netlink::open()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netlink thread panicked")))
        })
    }

    /// Sends one request and returns the first non-ACK reply, if any.
    fn request(&self, msg: &mut Msg) -> io::Result<Option<Vec<u8>>> {
        self.send_and_wait(msg.finish())
    }

    /// Sends `data` (one message or a batch of them) and waits for the first
    /// ACK or error, returning the first other reply seen before it.
    fn send_and_wait(&self, data: &[u8]) -> io::Result<Option<Vec<u8>>> {
        // SAFETY: send/recv on our own socket with buffers we own.
        sys(unsafe {
            libc::send(self.fd.as_raw_fd(), data.as_ptr().cast(), data.len(), 0) as i32
        })?;
        let mut buf = vec![0u8; 16384];
        let mut reply = None;
        loop {
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut off = 0usize;
            let n = n as usize;
            while off + 16 <= n {
                let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
                let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
                if len < 16 || off + len > n {
                    return Err(io::Error::other("truncated netlink reply"));
                }
                if ty == NLMSG_ERROR {
                    let err = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().unwrap());
                    if err == 0 {
                        return Ok(reply);
                    }
                    return Err(io::Error::from_raw_os_error(-err));
                }
                if reply.is_none() {
                    reply = Some(buf[off..off + len].to_vec());
                }
                off += (len + 3) & !3;
            }
        }
    }

    /// The index of the interface `name`, None if there is none.
    pub fn link_index(&self, name: &str) -> io::Result<Option<i32>> {
        let mut m = Msg::new(RTM_GETLINK, 0);
        m.ifinfo(0, 0, 0).attr_str(IFLA_IFNAME, name);
        match self.request(&mut m) {
            Ok(Some(r)) if r.len() >= 32 => {
                Ok(Some(i32::from_ne_bytes(r[20..24].try_into().unwrap())))
            }
            Ok(_) => Err(io::Error::other("netlink: no link in reply")),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn create_bridge(&self, name: &str) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        m.ifinfo(0, IFF_UP, IFF_UP)
            .attr_str(IFLA_IFNAME, name)
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "bridge")
            .end();
        self.request(&mut m).map(drop)
    }

    /// A veth pair: `host` here, up and enslaved to `master`; `peer` created
    /// directly inside the namespace `peer_ns` with the MAC `mac`.
    pub fn create_veth(
        &self,
        host: &str,
        master: i32,
        peer: &str,
        peer_ns: &File,
        mac: [u8; 6],
    ) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        m.ifinfo(0, IFF_UP, IFF_UP)
            .attr_str(IFLA_IFNAME, host)
            .attr_u32(IFLA_MASTER, master as u32)
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "veth")
            .begin(IFLA_INFO_DATA)
            .begin(VETH_INFO_PEER)
            .ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, peer)
            .attr(IFLA_ADDRESS, &mac)
            .attr_u32(IFLA_NET_NS_FD, peer_ns.as_raw_fd() as u32)
            .end()
            .end()
            .end();
        self.request(&mut m).map(drop)
    }

    /// Sets the interface's alias (the kernel ignores one given at creation).
    pub fn set_alias(&self, index: i32, alias: &str) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0);
        m.ifinfo(index, 0, 0).attr(IFLA_IFALIAS, alias.as_bytes());
        self.request(&mut m).map(drop)
    }

    pub fn set_up(&self, index: i32) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0);
        m.ifinfo(index, IFF_UP, IFF_UP);
        self.request(&mut m).map(drop)
    }

    /// Deletes the interface `name`; false if it did not exist.
    pub fn delete_link(&self, name: &str) -> io::Result<bool> {
        let mut m = Msg::new(RTM_DELLINK, 0);
        m.ifinfo(0, 0, 0).attr_str(IFLA_IFNAME, name);
        match self.request(&mut m) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn add_addr(&self, index: i32, ip: Ipv4Addr, prefix: u8, brd: Ipv4Addr) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        m.buf
            .extend_from_slice(&[AF_INET, prefix, 0, RT_SCOPE_UNIVERSE]);
        m.buf.extend_from_slice(&(index as u32).to_ne_bytes());
        m.attr(IFA_LOCAL, &ip.octets())
            .attr(IFA_ADDRESS, &ip.octets())
            .attr(IFA_BROADCAST, &brd.octets());
        self.request(&mut m).map(drop)
    }

    pub fn add_default_route(&self, gw: Ipv4Addr, oif: i32) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        m.buf.extend_from_slice(&[
            AF_INET,
            0, // dst_len: default route
            0,
            0,
            RT_TABLE_MAIN,
            RTPROT_BOOT,
            RT_SCOPE_UNIVERSE,
            RTN_UNICAST,
        ]);
        m.buf.extend_from_slice(&0u32.to_ne_bytes());
        m.attr(RTA_GATEWAY, &gw.octets())
            .attr_u32(RTA_OIF, oif as u32);
        self.request(&mut m).map(drop)
    }
}

// nf_tables over nfnetlink: only what publishing a port needs, adding and
// deleting elements of a map in a table that `nft -f` made. The nft binary
// fetches its whole rule cache for each element (~8 ms to add, ~20 ms to
// delete one here); this is one batch and one ACK.
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;
const NFPROTO_IPV4: u8 = 2;

/// One map element: key and, when adding, the data, both in nft's register
/// layout (each field of a concatenation padded to 4 bytes).
pub struct SetElem {
    pub key: Vec<u8>,
    pub data: Option<Vec<u8>>,
}

impl Msg {
    /// struct nfgenmsg.
    fn nfgen(&mut self, family: u8, res_id: u16) -> &mut Self {
        self.buf.push(family);
        self.buf.push(0); // NFNETLINK_V0
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        self
    }
}

impl Netlink {
    pub fn open_netfilter() -> io::Result<Netlink> {
        Netlink::open_protocol(libc::NETLINK_NETFILTER)
    }

    /// Adds (or, with `delete`, removes) elements of maps of the ip table
    /// `table`, given as (map, elements): all or none, in one nf_tables
    /// transaction.
    pub fn map_elements(
        &self,
        table: &str,
        maps: &[(&str, Vec<SetElem>)],
        delete: bool,
    ) -> io::Result<()> {
        let mut begin = Msg::with_seq(NFNL_MSG_BATCH_BEGIN, 0, 1);
        begin.nfgen(0, NFNL_SUBSYS_NFTABLES);
        let mut batch = begin.finish().to_vec();
        let mut seq = 2;
        for (i, (set, elems)) in maps.iter().enumerate() {
            // Only the last message asks for an ACK: an error of any message
            // comes back before it, so the first error or ACK read is the
            // outcome of the whole transaction.
            let ack = if i + 1 == maps.len() { NLM_F_ACK } else { 0 };
            let (ty, flags) = if delete {
                (NFT_MSG_DELSETELEM, ack)
            } else {
                (NFT_MSG_NEWSETELEM, ack | NLM_F_CREATE)
            };
            let mut m = Msg::with_seq((NFNL_SUBSYS_NFTABLES << 8) | ty, flags, seq);
            seq += 1;
            m.nfgen(NFPROTO_IPV4, 0)
                .attr_str(NFTA_SET_ELEM_LIST_TABLE, table)
                .attr_str(NFTA_SET_ELEM_LIST_SET, set)
                .begin(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED);
            for e in elems {
                m.begin(NFTA_LIST_ELEM | NLA_F_NESTED)
                    .begin(NFTA_SET_ELEM_KEY | NLA_F_NESTED)
                    .attr(NFTA_DATA_VALUE, &e.key)
                    .end();
                if let Some(d) = &e.data {
                    m.begin(NFTA_SET_ELEM_DATA | NLA_F_NESTED)
                        .attr(NFTA_DATA_VALUE, d)
                        .end();
                }
                m.end();
            }
            m.end();
            batch.extend_from_slice(m.finish());
        }
        let mut end = Msg::with_seq(NFNL_MSG_BATCH_END, 0, seq);
        end.nfgen(0, NFNL_SUBSYS_NFTABLES);
        batch.extend_from_slice(end.finish());
        self.send_and_wait(&batch).map(drop)
    }
}
