//! IPv4 subnets, and what the host already uses (routes, interface
//! addresses) so that a picked or requested subnet never shadows it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

impl Ipv4Net {
    /// The network with host bits cleared.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Ipv4Net {
        Ipv4Net {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }
    pub fn first(&self) -> u32 {
        u32::from(self.addr)
    }
    pub fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.last())
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.first()
    }
    pub fn overlaps(&self, o: &Ipv4Net) -> bool {
        self.first() <= o.last() && o.first() <= self.last()
    }
    /// The n-th address of the subnet (0 is the network address).
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        let a = self.first().checked_add(n)?;
        (a <= self.last()).then(|| Ipv4Addr::from(a))
    }
    /// Usable host addresses (without network and broadcast).
    pub fn hosts(&self) -> u32 {
        if self.prefix >= 31 {
            0
        } else {
            (1u32 << (32 - self.prefix as u32)) - 2
        }
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Ipv4Net, String> {
        let bad = || format!("invalid subnet {s:?}: want an IPv4 CIDR like 10.1.2.0/24");
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(format!(
                "invalid subnet {s:?}: prefix length must be between 8 and 30"
            ));
        }
        let n = Ipv4Net::new(addr, prefix);
        if n.addr != addr {
            return Err(format!(
                "invalid subnet {s:?}: host bits set (did you mean {n}?)"
            ));
        }
        Ok(n)
    }
}

impl TryFrom<String> for Ipv4Net {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Ipv4Net> for String {
    fn from(n: Ipv4Net) -> String {
        n.to_string()
    }
}

/// An IPv6 subnet (`--ipv6 --subnet fd..::/64`). Addresses are handed out
/// from the low end, as docker's IPAM does, so the host part fits a u64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv6Net {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

fn mask6(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix as u32)
    }
}

impl Ipv6Net {
    pub fn new(addr: Ipv6Addr, prefix: u8) -> Ipv6Net {
        Ipv6Net {
            addr: Ipv6Addr::from(u128::from(addr) & mask6(prefix)),
            prefix,
        }
    }
    pub fn first(&self) -> u128 {
        u128::from(self.addr)
    }
    pub fn last(&self) -> u128 {
        self.first() | !mask6(self.prefix)
    }
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & mask6(self.prefix) == self.first()
    }
    pub fn overlaps(&self, o: &Ipv6Net) -> bool {
        self.first() <= o.last() && o.first() <= self.last()
    }
    /// The n-th address (0 is the subnet-router anycast address).
    pub fn nth(&self, n: u64) -> Option<Ipv6Addr> {
        let a = self.first().checked_add(n as u128)?;
        (a <= self.last()).then(|| Ipv6Addr::from(a))
    }
}

impl fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv6Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Ipv6Net, String> {
        let bad = || format!("invalid subnet {s:?}: want an IPv6 CIDR like fd00:1:2:3::/64");
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv6Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if !(48..=120).contains(&prefix) {
            return Err(format!(
                "invalid subnet {s:?}: IPv6 prefix length must be between 48 and 120"
            ));
        }
        let n = Ipv6Net::new(addr, prefix);
        if n.addr != addr {
            return Err(format!(
                "invalid subnet {s:?}: host bits set (did you mean {n}?)"
            ));
        }
        Ok(n)
    }
}

impl TryFrom<String> for Ipv6Net {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Ipv6Net> for String {
    fn from(n: Ipv6Net) -> String {
        n.to_string()
    }
}

/// IPv6 routes and interface subnets of the host (/proc/net/ipv6_route),
/// but the default route, multicast and link-local ones.
pub fn host_subnets6() -> Vec<(Ipv6Net, String)> {
    let mut out = Vec::new();
    let Ok(s) = std::fs::read_to_string("/proc/net/ipv6_route") else {
        return out;
    };
    for l in s.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 10 {
            continue;
        }
        let (Ok(a), Ok(p)) = (u128::from_str_radix(f[0], 16), u8::from_str_radix(f[1], 16)) else {
            continue;
        };
        let ip = Ipv6Addr::from(a);
        if p == 0 || ip.is_multicast() || ip.is_loopback() || (a >> 118) == 0x3fa {
            continue;
        }
        out.push((Ipv6Net::new(ip, p), format!("a route on {}", f[9])));
    }
    out
}

/// A subnet the host already uses, and where.
pub struct InUse {
    pub net: Ipv4Net,
    pub what: String,
    /// An interface's address: (interface, address).
    pub addr: Option<(String, Ipv4Addr)>,
}

/// The first IPv4 address of interface `name`, with its prefix length.
pub fn iface_ipv4(name: &str) -> Option<(Ipv4Addr, u8)> {
    host_subnets().into_iter().find_map(|u| {
        u.addr
            .filter(|(i, _)| i == name)
            .map(|(_, a)| (a, u.net.prefix))
    })
}

/// IPv4 routes (but the default route) and interface subnets of the host.
pub fn host_subnets() -> Vec<InUse> {
    let mut out = Vec::new();
    for r in berth_common::proc::routes() {
        let m = u32::from(r.mask);
        if m == 0 {
            continue;
        }
        out.push(InUse {
            net: Ipv4Net::new(r.destination, m.count_ones() as u8),
            what: format!("a route on {}", r.iface),
            addr: None,
        });
    }
    // SAFETY: getifaddrs fills a list we walk read-only and free once.
    unsafe {
        let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut ifap) == 0 {
            let mut p = ifap;
            while !p.is_null() {
                let ifa = &*p;
                p = ifa.ifa_next;
                if ifa.ifa_addr.is_null()
                    || ifa.ifa_netmask.is_null()
                    || (*ifa.ifa_addr).sa_family as i32 != libc::AF_INET
                {
                    continue;
                }
                let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                let plen = u32::from_be(m.sin_addr.s_addr).count_ones() as u8;
                let name = std::ffi::CStr::from_ptr(ifa.ifa_name).to_string_lossy();
                out.push(InUse {
                    net: Ipv4Net::new(ip, plen),
                    what: format!("the address {ip}/{plen} of {name}"),
                    addr: Some((name.into_owned(), ip)),
                });
            }
            libc::freeifaddrs(ifap);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_overlap() {
        let a: Ipv4Net = "10.88.0.0/16".parse().unwrap();
        let b: Ipv4Net = "10.88.3.0/24".parse().unwrap();
        let c: Ipv4Net = "10.89.0.0/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert_eq!(b.nth(1), Some("10.88.3.1".parse().unwrap()));
        assert_eq!(b.broadcast(), "10.88.3.255".parse::<Ipv4Addr>().unwrap());
        assert_eq!(b.hosts(), 254);
        assert!("10.88.3.1/24".parse::<Ipv4Net>().is_err());
        assert!("10.88.3.0".parse::<Ipv4Net>().is_err());
        assert!("10.88.3.0/31".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn v6_parse_and_overlap() {
        let a: Ipv6Net = "fd42:1::/64".parse().unwrap();
        let b: Ipv6Net = "fd42:1::100/120".parse().unwrap();
        let c: Ipv6Net = "fd42:2::/64".parse().unwrap();
        assert!(a.overlaps(&b) && !a.overlaps(&c));
        assert_eq!(a.nth(1), Some("fd42:1::1".parse().unwrap()));
        assert!(a.contains("fd42:1::ffff".parse().unwrap()));
        assert!("fd42:1::1/64".parse::<Ipv6Net>().is_err());
        assert!("10.0.0.0/24".parse::<Ipv6Net>().is_err());
        assert!("fd42::/32".parse::<Ipv6Net>().is_err());
    }

    #[test]
    fn host_routes_include_loopback_address() {
        assert!(host_subnets()
            .iter()
            .any(|u| u.net.contains(Ipv4Addr::LOCALHOST)));
    }
}
