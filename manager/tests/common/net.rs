//! The harness of the network tests: a root with a bridge prefix and an
//! address pool of its own (`Net`), and what they read from the host (nft
//! elements, curl to 127.0.0.1, the interfaces of /proc/net/dev).

use super::containers::Env;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Net {
    pub e: Env,
    pub prefix: String,
}

impl Net {
    /// `octet`: the pool is 10.<octet>.0.0/16; unique per test.
    pub fn new(octet: u8) -> Net {
        let e = Env::new();
        let prefix = format!("be{:03x}{octet:02x}", std::process::id() & 0xfff);
        std::fs::create_dir_all(e.root.join("networks")).unwrap();
        std::fs::write(
            e.root.join("networks/config.json"),
            format!(r#"{{"bridge_prefix":"{prefix}","pool":"10.{octet}.0.0/16"}}"#),
        )
        .unwrap();
        Net { e, prefix }
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.e.ok(args)
    }

    pub fn network(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["network", "inspect", name])).unwrap();
        v[0].clone()
    }

    pub fn bridge(&self, name: &str) -> String {
        self.network(name)["Options"]["com.docker.network.bridge.name"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn gateway(&self, name: &str) -> String {
        self.network(name)["IPAM"]["Config"][0]["Gateway"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn leases(&self, name: &str) -> usize {
        self.network(name)["Containers"].as_object().unwrap().len()
    }

    /// The container's IPv4 address on eth0, as it sees it.
    pub fn ip_of(&self, name: &str) -> String {
        let out = self.ok(&["exec", name, "ip", "-4", "-o", "addr", "show", "eth0"]);
        let inet = out.split_whitespace().skip_while(|w| *w != "inet").nth(1);
        inet.and_then(|a| a.split('/').next())
            .unwrap_or_else(|| panic!("no address on eth0: {out}"))
            .to_string()
    }

    /// busybox httpd on port 80 of a new detached container, serving
    /// /seed/hello.txt.
    pub fn web(&self, name: &str, extra: &[&str]) -> String {
        let mut a = vec!["run", "-d", "--name", name];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["busybox", "httpd", "-f", "-p", "80", "-h", "/seed"]);
        self.ok(&a).trim().to_string()
    }

    /// An HTTP GET of /hello.txt from a new container with busybox nc.
    pub fn get_from(&self, net: &[&str], host: &str) -> (bool, String) {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(net);
        let script = format!(
            "for i in 1 2 3 4 5 6 7 8 9 10; do \
               printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} 80 > /tmp/r 2>&1 && \
               grep -q 'from the image' /tmp/r && break; sleep 0.2; done; cat /tmp/r; grep -q 'from the image' /tmp/r"
        );
        a.extend_from_slice(&["busybox", "sh", "-c", &script]);
        let o = self.e.berth(&a);
        (o.code == 0, format!("{}{}", o.stdout, o.stderr))
    }

    /// Veths enslaved to the bridge (the container ends' host sides).
    pub fn ports_on(bridge: &str) -> usize {
        std::fs::read_dir(Path::new("/sys/class/net").join(bridge).join("brif"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    pub fn links(&self) -> Vec<String> {
        std::fs::read_dir("/sys/class/net")
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&self.prefix))
            .collect()
    }
}

/// `nft list map` elements of a network's table (0 if there is no table).
pub fn nft_elements(bridge: &str) -> usize {
    let table = format!("berth_{}", bridge.replace('-', "_"));
    let mut n = 0;
    for map in ["pa", "ph"] {
        let o = Command::new("nft")
            .args(["-j", "list", "map", "ip", &table, map])
            .output()
            .unwrap();
        if !o.status.success() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for x in v["nftables"].as_array().unwrap() {
            if let Some(e) = x["map"]["elem"].as_array() {
                n += e.len();
            }
        }
    }
    n
}

pub fn curl(url: &str) -> Option<String> {
    let o = Command::new("curl")
        .args(["-sf", "--max-time", "2", "--noproxy", "*", url])
        .output()
        .unwrap();
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

pub fn curl_until(url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        if let Some(s) = curl(url) {
            return s;
        }
        assert!(Instant::now() < deadline, "nothing answered on {url}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.split_whitespace().map(String::from).collect();
    v.sort();
    v
}

/// Interface names in /proc/net/dev (that file follows the reader's netns).
pub fn ifaces(proc_net_dev: &str) -> Vec<String> {
    let mut v: Vec<String> = proc_net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .collect();
    v.sort();
    v
}
