//! `http_proxy`, `https_proxy` and `no_proxy` (either case, the upper one
//! first), read as docker's daemon reads them (Go's net/http): the proxy is
//! chosen by the URL's scheme, loopback hosts never go through one, and
//! `no_proxy` lists `*`, hosts and domains (`example.com` matches itself
//! and its subdomains, `.example.com` only the subdomains), IPs and CIDRs,
//! each with an optional `:port`.

use std::net::IpAddr;

fn env_any(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

/// The proxy URL (with a scheme) for a request to `host:port` over `scheme`.
pub fn for_host(scheme: &str, host: &str, port: u16) -> Option<String> {
    let proxy = match scheme {
        "https" => env_any(&["HTTPS_PROXY", "https_proxy"]),
        _ => env_any(&["HTTP_PROXY", "http_proxy"]),
    }?;
    let no_proxy = env_any(&["NO_PROXY", "no_proxy"]).unwrap_or_default();
    if !use_proxy(host, port, &no_proxy) {
        return None;
    }
    Some(if proxy.contains("://") {
        proxy
    } else {
        format!("http://{proxy}")
    })
}

fn use_proxy(host: &str, port: u16, no_proxy: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    if host == "localhost" || ip.is_some_and(|i| i.is_loopback()) {
        return false;
    }
    for entry in no_proxy.split(',').map(|e| e.trim().to_ascii_lowercase()) {
        if entry.is_empty() {
            continue;
        }
        if entry == "*" {
            return false;
        }
        if let Some((net, bits)) = entry.split_once('/') {
            if let (Some(ip), Ok(net), Ok(bits)) = (ip, net.parse::<IpAddr>(), bits.parse::<u8>()) {
                if in_cidr(ip, net, bits) {
                    return false;
                }
            }
            continue;
        }
        let (name, eport) = split_port(&entry);
        if eport.is_some_and(|p| p != port) {
            continue;
        }
        if let Ok(eip) = name.parse::<IpAddr>() {
            if ip == Some(eip) {
                return false;
            }
            continue;
        }
        let name = name.strip_prefix('*').unwrap_or(name);
        let hit = match name.strip_prefix('.') {
            Some(_) => host.ends_with(name),
            None => host == name || host.ends_with(&format!(".{name}")),
        };
        if hit {
            return false;
        }
    }
    true
}

fn split_port(e: &str) -> (&str, Option<u16>) {
    if let Some(rest) = e.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once("]:") {
            return (h, p.parse().ok());
        }
        return (rest.trim_end_matches(']'), None);
    }
    match e.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (e, None),
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let m = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let m = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::use_proxy;

    #[test]
    fn no_proxy_as_go_reads_it() {
        assert!(!use_proxy("127.0.0.1", 5000, ""));
        assert!(!use_proxy("localhost", 5000, ""));
        assert!(!use_proxy("::1", 5000, ""));
        assert!(use_proxy("registry.test", 5000, ""));
        assert!(!use_proxy("registry.test", 5000, "*"));
        assert!(!use_proxy("registry.test", 5000, "other, registry.test"));
        assert!(!use_proxy("a.registry.test", 5000, "registry.test"));
        assert!(use_proxy("registry.test", 5000, ".registry.test"));
        assert!(!use_proxy("a.registry.test", 5000, ".registry.test"));
        assert!(!use_proxy("a.registry.test", 5000, "*.registry.test"));
        assert!(use_proxy("xregistry.test", 5000, "registry.test"));
        assert!(!use_proxy("registry.test", 5000, "registry.test:5000"));
        assert!(use_proxy("registry.test", 5001, "registry.test:5000"));
        assert!(!use_proxy("10.1.2.3", 443, "10.0.0.0/8"));
        assert!(use_proxy("11.1.2.3", 443, "10.0.0.0/8"));
        assert!(!use_proxy("10.1.2.3", 443, "10.1.2.3"));
    }
}
