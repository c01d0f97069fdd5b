//! Per-container network setup time, run by hack/bench-net.sh next to
//! podman's netavark (`cargo test --test network_bench -- --ignored`).
//! Namespaces are made before the clock starts; each setup publishes one
//! port on 127.0.0.1, as the netavark side does (BENCH_PUBLISH=0: none).
//! BENCH_MODE: `v4` (the default bridge, made by the first setup), `v6`
//! (a dual-stack user network), `cni` (a cni network: bridge, host-local
//! and portmap from /usr/lib/cni, with dataDir in the bench's own dir).

use berth::network::{self, NetRequest};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use test_support::{unique_id, TempDir};

struct Guard(TempDir, Vec<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.1 {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = network::remove_all(self.0.path());
    }
}

fn stats(name: &str, mut d: Vec<Duration>) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    let mean = d.iter().map(|x| ms(*x)).sum::<f64>() / d.len() as f64;
    let mode = std::env::var("BENCH_MODE").unwrap_or_else(|_| "v4".into());
    println!(
        "berth {mode} {name}: n={} mean={mean:.2}ms median={:.2}ms min={:.2}ms max={:.2}ms",
        d.len(),
        ms(d[d.len() / 2]),
        ms(d[0]),
        ms(d[d.len() - 1])
    );
}

#[test]
#[ignore]
fn bench_setup() {
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let port0: u16 = std::env::var("BENCH_PORT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(21000);
    // BENCH_PUBLISH=0: what a plain `run` on the default bridge pays.
    let publish = std::env::var("BENCH_PUBLISH").map_or(true, |v| v != "0");
    let g = Guard(TempDir::new("berth-netbench"), Vec::new());
    let root = g.0.path().to_path_buf();
    std::fs::create_dir_all(root.join("networks")).unwrap();
    std::fs::write(
        root.join("networks/config.json"),
        r#"{"bridge_prefix":"btbench","pool":"10.238.0.0/16"}"#,
    )
    .unwrap();
    let mode = std::env::var("BENCH_MODE").unwrap_or_else(|_| "v4".into());
    let mut opts = network::CreateOpts::default();
    match mode.as_str() {
        "v4" => {}
        "v6" => {
            opts.ipv6 = true;
            opts.subnets = vec!["10.238.1.0/24".into(), "fd42:b3e7:238::/64".into()];
        }
        "cni" => {
            let conf = root.join("bench.conflist");
            let v = serde_json::json!({
                "cniVersion": "1.0.0", "name": "berthbenchcni",
                "plugins": [
                    {"type": "bridge", "bridge": "btbenchcni0", "isGateway": true, "ipMasq": true,
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.238.2.0/24"}]],
                              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": root.join("ipam")}},
                    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
                ]
            });
            std::fs::write(&conf, v.to_string()).unwrap();
            opts.driver = "cni".into();
            opts.cni_config = Some(conf);
        }
        m => panic!("BENCH_MODE {m:?}: want v4, v6 or cni"),
    }
    let net_name = if mode == "v4" { "bridge" } else { "bench" };
    if mode != "v4" {
        let t = Instant::now();
        network::create_with(&root, net_name, &opts).unwrap();
        println!(
            "berth {mode} network create: {:.2}ms",
            t.elapsed().as_secs_f64() * 1000.0
        );
    }
    let mut g = g;
    let mut ids = Vec::new();
    for _ in 0..n {
        let id = unique_id("b");
        std::fs::create_dir_all(root.join("containers").join(&id)).unwrap();
        let c = Command::new("unshare")
            .args(["-n", "sleep", "600"])
            .spawn()
            .unwrap();
        let pid = c.id();
        while std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .trim()
            != "sleep"
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        g.1.push(c);
        ids.push(id);
    }
    let mut setups = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let req = NetRequest {
            container_id: id.clone(),
            name: format!("b{i}"),
            network: net_name.into(),
            ports: if publish {
                network::parse_publish(&format!("127.0.0.1:{}:80", port0 + i as u16)).unwrap()
            } else {
                vec![]
            },
            hostname: format!("b{i}"),
            ..Default::default()
        };
        let ns = format!("/proc/{}/ns/net", g.1[i].id());
        let t = Instant::now();
        network::setup(&root, &req, std::path::Path::new(&ns)).unwrap();
        setups.push(t.elapsed());
    }
    let mut teardowns = Vec::new();
    for id in &ids {
        let t = Instant::now();
        network::teardown(&root, id).unwrap();
        teardowns.push(t.elapsed());
    }
    // The first setup also makes the default bridge and its table (the
    // cni bridge plugin makes its bridge then too).
    println!(
        "berth {mode} first setup (creates bridge + table): {:.2}ms",
        setups[0].as_secs_f64() * 1000.0
    );

    stats("setup", setups[1..].to_vec());
    stats("teardown", teardowns);
}
