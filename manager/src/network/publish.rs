//! `-p [hostIP:][hostPort[-end]:]containerPort[-end][/tcp|udp]`.

use super::NetError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One published port. `host_port` 0 means "any free port", resolved by
/// `setup`; `host_ip` None means every local address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMap {
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl fmt::Display for PortMap {
    /// The `berth port` line: `80/tcp -> 0.0.0.0:8080`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = match self.host_ip {
            Some(IpAddr::V6(i)) => format!("[{i}]"),
            Some(i) => i.to_string(),
            None => "0.0.0.0".into(),
        };
        write!(
            f,
            "{}/{} -> {}:{}",
            self.container_port, self.proto, ip, self.host_port
        )
    }
}

fn range(s: &str, what: &str, spec: &str) -> Result<(u16, u16), NetError> {
    let bad = |why: &str| NetError::Publish(spec.to_string(), format!("{what} {s:?} {why}"));
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let p = |x: &str| -> Result<u16, NetError> {
        match x.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad("is not a port number (1-65535)")),
            Ok(v) => Ok(v),
        }
    };
    let (a, b) = (p(a)?, p(b)?);
    if b < a {
        return Err(bad("is an empty range"));
    }
    Ok((a, b))
}

pub fn parse_publish(spec: &str) -> Result<Vec<PortMap>, NetError> {
    let bad = |why: &str| NetError::Publish(spec.to_string(), why.to_string());
    let (body, proto) = match spec.rsplit_once('/') {
        Some((b, "tcp")) => (b, Proto::Tcp),
        Some((b, "udp")) => (b, Proto::Udp),
        Some((_, p)) => return Err(bad(&format!("unknown protocol {p:?} (want tcp or udp)"))),
        None => (spec, Proto::Tcp),
    };
    // docker's `[v6addr]:hostPort:containerPort`.
    let (ip, rest) = match body.strip_prefix('[') {
        Some(r) => {
            let (i, rest) = r
                .split_once(']')
                .ok_or_else(|| bad("unclosed '[' around the IPv6 host address"))?;
            let rest = rest
                .strip_prefix(':')
                .ok_or_else(|| bad("want [IPv6]:hostPort:containerPort"))?;
            (Some(i), rest)
        }
        None => (None, body),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, cont) = match (ip, parts.as_slice()) {
        (None, [c]) => (None, "", *c),
        (None, [h, c]) => (None, *h, *c),
        (None, [i, h, c]) => (Some(*i), *h, *c),
        (Some(i), [h, c]) => (Some(i), *h, *c),
        (None, _) => return Err(bad("IPv6 host addresses go in brackets: [::1]:8080:80")),
        _ => return Err(bad("want [IPv6]:hostPort:containerPort")),
    };
    let host_ip = match ip {
        None | Some("") => None,
        Some(i) => Some(
            i.parse::<IpAddr>()
                .map_err(|_| bad(&format!("{i:?} is not an IP address")))?,
        ),
    };
    if cont.is_empty() {
        return Err(bad("no container port"));
    }
    let (c0, c1) = range(cont, "container port", spec)?;
    let n = c1 - c0;
    let host_ports: Vec<u16> = if host.is_empty() {
        vec![0; n as usize + 1]
    } else {
        let (h0, h1) = range(host, "host port", spec)?;
        if h1 - h0 != n {
            return Err(bad(&format!(
                "host range {host} and container range {cont} differ in length"
            )));
        }
        (h0..=h1).collect()
    };
    Ok((c0..=c1)
        .zip(host_ports)
        .map(|(c, h)| PortMap {
            host_ip,
            host_port: h,
            container_port: c,
            proto,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(ip: Option<&str>, h: u16, c: u16, p: Proto) -> PortMap {
        PortMap {
            host_ip: ip.map(|i| i.parse().unwrap()),
            host_port: h,
            container_port: c,
            proto: p,
        }
    }

    #[test]
    fn forms() {
        assert_eq!(
            parse_publish("80").unwrap(),
            vec![pm(None, 0, 80, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("8080:80/udp").unwrap(),
            vec![pm(None, 8080, 80, Proto::Udp)]
        );
        assert_eq!(
            parse_publish("127.0.0.1:8080:80").unwrap(),
            vec![pm(Some("127.0.0.1"), 8080, 80, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("127.0.0.1::80/tcp").unwrap(),
            vec![pm(Some("127.0.0.1"), 0, 80, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("[::1]:8080:80").unwrap(),
            vec![pm(Some("::1"), 8080, 80, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("[::]::80/udp").unwrap(),
            vec![pm(Some("::"), 0, 80, Proto::Udp)]
        );
        assert_eq!(
            pm(Some("::1"), 8080, 80, Proto::Tcp).to_string(),
            "80/tcp -> [::1]:8080"
        );
        assert_eq!(
            parse_publish("8000-8001:80-81").unwrap(),
            vec![
                pm(None, 8000, 80, Proto::Tcp),
                pm(None, 8001, 81, Proto::Tcp)
            ]
        );
    }

    #[test]
    fn errors_name_the_problem() {
        for (s, want) in [
            ("80/sctp", "unknown protocol"),
            ("x:80", "host port \"x\""),
            ("8080:", "no container port"),
            ("8080:0", "container port \"0\""),
            ("8080:70000", "container port \"70000\""),
            ("1.2.3:80:80", "not an IP address"),
            ("8000-8002:80-81", "differ in length"),
            ("9-8:80", "empty range"),
            ("::1:80:80", "brackets"),
            ("[::1:80:80", "unclosed"),
            ("[::1]80:80", "[IPv6]"),
        ] {
            let e = parse_publish(s).unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
            assert!(e.contains(s), "{s}: {e}");
        }
    }
}
