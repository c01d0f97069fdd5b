//! rtnetlink: links (bridge, veth pair, alias, up, delete), addresses and
//! the default route.

use super::{u32_at, Msg, Netlink, NLM_F_CREATE, NLM_F_EXCL};
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINK: u16 = 5;
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
const IFA_FLAGS: u16 = 8;
const IFA_F_NODAD: u32 = 0x02;

const RTA_GATEWAY: u16 = 5;
const RTA_OIF: u16 = 4;

const IFF_UP: u32 = 1;
const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;

/// struct ifinfomsg, the fixed part of a link message.
struct IfInfo {
    index: i32,
}

impl IfInfo {
    const SIZE: usize = 16;

    fn parse(b: &[u8]) -> Option<IfInfo> {
        (b.len() >= IfInfo::SIZE).then(|| IfInfo {
            index: u32_at(b, 4) as i32,
        })
    }
}

impl Msg {
    fn ifinfo(&mut self, index: i32, flags: u32, change: u32) -> &mut Self {
        self.buf.extend_from_slice(&[0, 0]); // family AF_UNSPEC, pad
        self.buf.extend_from_slice(&0u16.to_ne_bytes()); // type
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
        self
    }
}

impl Netlink {
    /// The index of the interface `name`, None if there is none.
    pub fn link_index(&self, name: &str) -> io::Result<Option<i32>> {
        let mut m = Msg::new(RTM_GETLINK, 0);
        m.ifinfo(0, 0, 0).attr_str(IFLA_IFNAME, name);
        match self.request(&mut m) {
            Ok(Some(r)) => match IfInfo::parse(&r) {
                Some(i) => Ok(Some(i.index)),
                None => Err(io::Error::other("netlink: truncated link in reply")),
            },
            Ok(None) => Err(io::Error::other("netlink: no link in reply")),
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

    /// A macvlan or ipvlan link on `parent` (an index here), made directly
    /// inside the namespace `ns` as `name`; `mode` is the driver's
    /// IFLA_*_MODE (u32 for macvlan, u16 for ipvlan).
    pub fn create_sublink(
        &self,
        kind: &str,
        name: &str,
        parent: i32,
        ns: &File,
        mac: Option<[u8; 6]>,
        mode: u32,
    ) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        m.ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, name)
            .attr_u32(IFLA_LINK, parent as u32)
            .attr_u32(IFLA_NET_NS_FD, ns.as_raw_fd() as u32);
        if let Some(mac) = mac {
            m.attr(IFLA_ADDRESS, &mac);
        }
        m.begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, kind)
            .begin(IFLA_INFO_DATA);
        if kind == "ipvlan" {
            m.attr(1, &(mode as u16).to_ne_bytes());
        } else {
            m.attr_u32(1, mode);
        }
        m.end().end();
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

    /// An IPv6 address without duplicate address detection: berth's IPAM
    /// already made it unique, and DAD would leave it unusable ("tentative")
    /// for the first second or two of the container.
    pub fn add_addr6(&self, index: i32, ip: Ipv6Addr, prefix: u8) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        m.buf
            .extend_from_slice(&[AF_INET6, prefix, 0, RT_SCOPE_UNIVERSE]);
        m.buf.extend_from_slice(&(index as u32).to_ne_bytes());
        m.attr(IFA_ADDRESS, &ip.octets())
            .attr_u32(IFA_FLAGS, IFA_F_NODAD);
        self.request(&mut m).map(drop)
    }

    pub fn add_default_route6(&self, gw: Ipv6Addr, oif: i32) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        m.buf.extend_from_slice(&[
            AF_INET6,
            0,
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

    /// `default dev OIF`: no next hop, as ipvlan's L3 modes want (the
    /// parent's namespace routes; nothing on the link answers ARP).
    pub fn add_default_dev_route(&self, oif: i32) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        m.buf.extend_from_slice(&[
            AF_INET,
            0,
            0,
            0,
            RT_TABLE_MAIN,
            RTPROT_BOOT,
            RT_SCOPE_LINK,
            RTN_UNICAST,
        ]);
        m.buf.extend_from_slice(&0u32.to_ne_bytes());
        m.attr_u32(RTA_OIF, oif as u32);
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

/// Brings up the loopback of the network namespace `ns` (an open
/// /proc/<pid>/ns/net), as runc's and crun's callers expect of a namespace
/// with no other network.
pub fn lo_up_in(ns: &File) -> io::Result<()> {
    let nl = Netlink::open_in(ns)?;
    let lo = nl
        .link_index("lo")?
        .ok_or_else(|| io::Error::other("the namespace has no lo"))?;
    nl.set_up(lo)
}
