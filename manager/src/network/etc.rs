//! The /etc/hosts, /etc/hostname and /etc/resolv.conf a container sees.
//! They are bind-mounted files, so once a container runs they must be
//! rewritten in place: a rename would leave the mount on the old inode.

use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;

/// Replaces the content of `path` keeping its inode (bind mounts follow the
/// inode); a new file is written to a temp name and renamed.
pub fn write_in_place(path: &Path, content: &str) -> io::Result<()> {
    match fs::OpenOptions::new().write(true).open(path) {
        Ok(mut f) => {
            f.write_all(content.as_bytes())?;
            f.set_len(content.len() as u64)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let res = fs::write(&tmp, content).and_then(|_| fs::rename(&tmp, path));
            if res.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            res
        }
        Err(e) => Err(e),
    }
}

fn is_loopback(ns: &str) -> bool {
    ns.parse::<IpAddr>()
        .map(|a| a.is_loopback())
        .unwrap_or(false)
}

/// The host's resolv.conf with loopback resolvers dropped (they would point
/// at the container itself), or the given `dns` servers instead; `search`
/// and `options`, when given, replace the host's search and options lines.
pub fn resolv_conf(dns: &[String], search: &[String], options: &[String]) -> String {
    let mut host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let only_loopback = |s: &str| {
        let ns: Vec<&str> = s
            .lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .map(str::trim)
            .collect();
        !ns.is_empty() && ns.iter().all(|n| is_loopback(n))
    };
    if only_loopback(&host) {
        // systemd-resolved's stub: the upstream list sits next to it.
        if let Ok(s) = fs::read_to_string("/run/systemd/resolve/resolv.conf") {
            host = s;
        }
    }
    let mut out = String::new();
    for line in host.lines() {
        let t = line.trim();
        if let Some(ns) = t.strip_prefix("nameserver") {
            if !dns.is_empty() || is_loopback(ns.trim()) {
                continue;
            }
        } else if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        out.push_str(t);
        out.push('\n');
    }
    for d in dns {
        out.push_str(&format!("nameserver {d}\n"));
    }
    with_search_options(&out, search, options)
}

/// `--dns-search` and `--dns-option`: each, when given, replaces the
/// resolv.conf lines of its kind.
pub fn with_search_options(text: &str, search: &[String], options: &[String]) -> String {
    let mut out = String::new();
    for l in text.lines() {
        let t = l.trim_start();
        if (!search.is_empty() && (t.starts_with("search") || t.starts_with("domain")))
            || (!options.is_empty() && t.starts_with("options"))
        {
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// One line per name set: the loopback names, the container's own
/// addresses, --add-host entries, then the peers on its user networks.
pub fn hosts(
    own: &[(IpAddr, Vec<String>)],
    add_hosts: &[(String, String)],
    peers: &[(IpAddr, Vec<String>)],
) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    let mut line = |ip: &dyn std::fmt::Display, names: &[String]| {
        let mut seen: Vec<&str> = Vec::new();
        for n in names {
            if !n.is_empty() && !seen.contains(&n.as_str()) {
                seen.push(n);
            }
        }
        if !seen.is_empty() {
            s.push_str(&format!("{ip}\t{}\n", seen.join(" ")));
        }
    };
    for (ip, names) in own {
        line(ip, names);
    }
    for (host, ip) in add_hosts {
        line(ip, std::slice::from_ref(host));
    }
    for (ip, names) in peers {
        line(ip, names);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_layout() {
        let own = vec![(
            "10.1.0.2".parse().unwrap(),
            vec!["h".into(), "c".into(), "h".into()],
        )];
        let peers = vec![("10.1.0.3".parse().unwrap(), vec!["web".into()])];
        let s = hosts(&own, &[("db".into(), "10.9.9.9".into())], &peers);
        assert!(s.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(s.contains("10.1.0.2\th c\n"), "{s}");
        assert!(s.contains("10.9.9.9\tdb\n"), "{s}");
        assert!(s.contains("10.1.0.3\tweb\n"), "{s}");
    }

    #[test]
    fn resolv_drops_loopback_and_takes_dns() {
        let s = resolv_conf(&["192.0.2.53".into()], &[], &[]);
        assert!(s.contains("nameserver 192.0.2.53\n"));
        assert_eq!(s.matches("nameserver").count(), 1, "{s}");
        assert!(!resolv_conf(&[], &[], &[]).contains("nameserver 127."));
        let s = resolv_conf(
            &[],
            &["a.example".into(), "b.example".into()],
            &["ndots:2".into()],
        );
        assert!(s.contains("search a.example b.example\n") && s.contains("options ndots:2\n"));
        assert_eq!(s.matches("search").count(), 1);
    }

    #[test]
    fn in_place_keeps_inode() {
        use std::os::unix::fs::MetadataExt;
        let d = std::env::temp_dir().join(format!("berth-etc-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        let p = d.join("hosts");
        write_in_place(&p, "a long first version\n").unwrap();
        let ino = fs::metadata(&p).unwrap().ino();
        write_in_place(&p, "short\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "short\n");
        assert_eq!(fs::metadata(&p).unwrap().ino(), ino);
        fs::remove_dir_all(&d).unwrap();
    }
}
