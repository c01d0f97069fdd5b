//! The container verbs that report (inspect, top, stats, ps, port, system df
//! and prune, version) against the real berth, berth-shim and berth-runtime.

mod common;

use common::containers::{spawn_collecting, wait_child, wait_until, Env, LOOP};
use std::time::Duration;

#[test]
fn inspect_has_dockers_fields() {
    let e = Env::new();
    let host = e.dir.path().join("b");
    std::fs::create_dir_all(&host).unwrap();
    let bind = format!("{}:/b:ro", host.display());
    e.ok(&[
        "run",
        "-d",
        "--name",
        "ins",
        "-e",
        "K=V",
        "-w",
        "/tmp",
        "-h",
        "hn",
        "-l",
        "tier=web",
        "-v",
        &bind,
        "--memory",
        "32m",
        "--pids-limit",
        "20",
        "--cpus",
        "0.5",
        "--read-only",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "CHOWN",
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "3",
        "busybox",
        "sh",
        "-c",
        LOOP,
    ]);
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["inspect", "ins"])).unwrap();
    let c = &v[0];
    assert_eq!(c["Id"].as_str().unwrap().len(), 64);
    assert_eq!(c["Name"], "/ins");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["State"]["Running"], true);
    let pid = c["State"]["Pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cg.contains(c["Id"].as_str().unwrap()),
        "Pid is the container's: {cg}"
    );
    assert_eq!(c["Path"], "sh");
    assert_eq!(c["Args"][0], "-c");
    assert!(c["Created"].as_str().unwrap().starts_with("20"));
    assert!(c["Image"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(c["Config"]["Image"], "busybox");
    assert_eq!(c["Config"]["Hostname"], "hn");
    assert_eq!(c["Config"]["WorkingDir"], "/tmp");
    assert_eq!(c["Config"]["Labels"]["tier"], "web");
    assert_eq!(c["Config"]["StopSignal"], "SIGUSR1");
    assert_eq!(c["Config"]["StopTimeout"], 3);
    assert!(c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "K=V"));
    assert_eq!(c["Config"]["Cmd"], serde_json::json!(["sh", "-c", LOOP]));
    let hc = &c["HostConfig"];
    assert_eq!(hc["Memory"], 32 << 20);
    assert_eq!(hc["PidsLimit"], 20);
    assert_eq!(hc["NanoCpus"], 500_000_000);
    assert_eq!(hc["ReadonlyRootfs"], true);
    assert_eq!(hc["Privileged"], false);
    assert_eq!(hc["CapAdd"], serde_json::json!(["NET_ADMIN"]));
    assert_eq!(hc["CapDrop"], serde_json::json!(["CHOWN"]));
    assert_eq!(hc["Binds"], serde_json::json!([bind]));
    let m = &c["Mounts"][0];
    assert_eq!(m["Type"], "bind");
    assert_eq!(m["Destination"], "/b");
    assert_eq!(m["RW"], false);
    assert!(std::path::Path::new(c["LogPath"].as_str().unwrap()).exists());
    // Templates reach nested fields; several containers give one line each.
    e.ok(&["create", "--name", "ins2", "busybox", "true"]);
    assert_eq!(
        e.ok(&[
            "inspect",
            "-f",
            "{{.Name}} {{.State.Status}}",
            "ins",
            "ins2"
        ]),
        "/ins running\n/ins2 created\n"
    );
    assert_eq!(
        e.ok(&[
            "container",
            "inspect",
            "-f",
            "{{json .Config.Labels}}",
            "ins"
        ])
        .trim(),
        "{\"tier\":\"web\"}"
    );
    e.fails(&["inspect", "nosuch"], "nosuch");
    e.ok(&["rm", "-f", "ins"]);
}

#[test]
fn top_and_stats() {
    let e = Env::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "t",
        "--memory",
        "64m",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & while true; do sleep 0.1; done",
    ]);
    wait_until(5, "the background sleep", || {
        e.ok(&["top", "t"]).contains("sleep 1000")
    });
    let top = e.ok(&["top", "t"]);
    let header = top.lines().next().unwrap();
    assert!(header.starts_with("UID") && header.contains("CMD"), "{top}");
    let pid = e.inspect("t", "{{.State.Pid}}");
    assert!(
        top.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(pid.as_str())),
        "the init {pid} is listed: {top}"
    );
    let stats = e.ok(&["stats", "--no-stream", "t"]);
    let mut lines = stats.lines();
    let h = lines.next().unwrap();
    for col in [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "PIDS",
    ] {
        assert!(h.contains(col), "{stats}");
    }
    let row = lines.next().unwrap();
    assert!(row.contains(" t ") && row.contains("/ 64MiB"), "{stats}");
    let j: serde_json::Value =
        serde_json::from_str(&e.ok(&["stats", "--no-stream", "--format", "json", "t"])).unwrap();
    assert_eq!(j[0]["Name"], "t");
    assert_eq!(j[0]["MemLimit"], 64 << 20);
    assert!(j[0]["MemUsage"].as_u64().unwrap() > 0);
    assert!(j[0]["PIDs"].as_u64().unwrap() >= 3, "{j}");

    // Without --no-stream the table is redrawn until interrupted.
    let (mut child, reader) = spawn_collecting(e.cmd(&["stats", "t"]));
    std::thread::sleep(Duration::from_millis(2500));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    wait_child(&mut child, 5).expect("stats ends on SIGINT");
    let s = reader.join().unwrap();
    assert!(s.matches("CONTAINER ID").count() >= 2, "redrawn: {s:?}");
    e.ok(&["stop", "-t", "0", "t"]);
    e.fails(&["top", "t"], "not running");
    // Stopped containers show in stats -a with zero usage.
    let all = e.ok(&["stats", "--no-stream", "-a"]);
    assert!(all.contains(" t "), "{all}");
}

#[test]
fn ps_all_quiet_filters_json_sizes() {
    let e = Env::new();
    e.ok(&[
        "run", "-d", "--name", "up1", "-l", "app=a", "busybox", "sh", "-c", LOOP,
    ]);
    let o = e.berth(&[
        "run", "--name", "done3", "-l", "app=b", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    e.ok(&["create", "--name", "made", "busybox", "true"]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "big",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/fill bs=1000 count=300 2>/dev/null; while true; do sleep 0.1; done",
    ]);
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ps", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = e.ok(&a).lines().map(String::from).collect();
        v.sort();
        v
    };
    assert_eq!(names(&[]), ["big", "up1"]);
    assert_eq!(names(&["-a"]), ["big", "done3", "made", "up1"]);
    assert_eq!(names(&["-a", "--filter", "status=exited"]), ["done3"]);
    assert_eq!(
        names(&["--filter", "status=created"]),
        ["made"],
        "status implies -a"
    );
    assert_eq!(names(&["-a", "-f", "label=app"]), ["done3", "up1"]);
    assert_eq!(names(&["-a", "-f", "label=app=b"]), ["done3"]);
    assert_eq!(names(&["-a", "-f", "exited=3"]), ["done3"]);
    assert_eq!(names(&["-a", "-f", "name=up"]), ["up1"]);
    assert_eq!(
        names(&["-f", "name=done"]),
        Vec::<String>::new(),
        "name= keeps the running-only default"
    );
    assert_eq!(
        names(&["-a", "-f", "ancestor=busybox", "-f", "status=running"]),
        ["big", "up1"]
    );
    let id = e.id_of("up1");
    assert_eq!(names(&["-a", "-f", &format!("id={}", &id[..10])]), ["up1"]);
    e.fails(&["ps", "-f", "colour=red"], "--filter");
    e.fails(&["ps", "-f", "nokey"], "--filter");

    let q = e.ok(&["ps", "-a", "-q"]);
    assert_eq!(q.lines().count(), 4);
    assert!(q.lines().all(|l| l.len() == 12));
    assert!(e
        .ok(&["ps", "-q", "--no-trunc"])
        .lines()
        .all(|l| l.len() == 64));

    let j: serde_json::Value =
        serde_json::from_str(&e.ok(&["ps", "-a", "--format", "json"])).unwrap();
    let arr = j.as_array().unwrap();
    assert_eq!(arr.len(), 4);
    let done = arr.iter().find(|x| x["Names"] == "done3").unwrap();
    assert_eq!(done["State"], "exited");
    assert_eq!(done["ExitCode"], 3);
    assert!(done["Status"].as_str().unwrap().starts_with("Exited (3)"));
    assert_eq!(done["Labels"]["app"], "b");
    // Newest first, like docker.
    assert_eq!(arr[0]["Names"], "big");

    let s = e.ok(&["ps", "-s"]);
    assert!(s.lines().next().unwrap().ends_with("SIZE"), "{s}");
    let big = s.lines().find(|l| l.contains("big")).unwrap();
    assert!(
        big.contains("300kB") || big.contains("301kB") || big.contains("302kB"),
        "{s}"
    );
    // Columns line up under the header.
    let header = s.lines().next().unwrap();
    // Columns line up under the header (counted in characters: COMMAND may hold "…").
    let col = header.find("NAMES").unwrap();
    for l in s.lines().skip(1) {
        let rest: String = l.chars().skip(col).collect();
        assert!(rest.starts_with("big") || rest.starts_with("up1"), "{s}");
    }

    // Go templates as scripts write them: a table, range, if.
    let t = e.ok(&[
        "ps",
        "-a",
        "--format",
        "table {{.ID}}\t{{.Names}}\t{{.State}}",
    ]);
    let head = t.lines().next().unwrap();
    assert!(
        head.starts_with("CONTAINER ID   NAMES") && head.ends_with("STATE"),
        "{t}"
    );
    assert_eq!(t.lines().count(), 5, "{t}");
    let row = t.lines().find(|l| l.contains("done3")).unwrap();
    assert_eq!(row.split_whitespace().next().unwrap().len(), 12, "{t}");
    assert_eq!(row.find("done3"), head.find("NAMES"), "{t}");
    let out = e.ok(&[
        "inspect",
        "-f",
        "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}\
         {{if .State.Running}}up{{else}}down {{.State.ExitCode}}{{end}}",
        "done3",
    ]);
    assert_eq!(out.trim(), "app=b down 3");
    e.fails(&["ps", "--format", "{{if .State}}"], "if without end");
}

#[test]
fn prune_df_version_info() {
    let e = Env::new();
    e.ok(&[
        "run", "-d", "--name", "live", "-v", "pv:/data", "busybox", "sh", "-c", LOOP,
    ]);
    e.ok(&["run", "--name", "gone", "busybox", "true"]);
    e.ok(&["create", "--name", "never", "busybox", "true"]);
    let df = e.ok(&["system", "df"]);
    let row = |k: &str| -> Vec<String> {
        df.lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_else(|| panic!("{k} in {df}"))
            .split("   ")
            .filter(|x| !x.is_empty())
            .map(|x| x.trim().to_string())
            .collect()
    };
    assert!(df.starts_with("TYPE"), "{df}");
    assert_eq!(row("Images")[1..3], ["1", "1"]);
    assert_eq!(row("Containers")[1..3], ["3", "1"]);
    assert_eq!(row("Local Volumes")[1..3], ["1", "1"]);
    let j: serde_json::Value = serde_json::from_str(&e.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(j["Containers"], 3);
    assert_eq!(j["ContainersRunning"], 1);
    assert_eq!(j["ContainersStopped"], 2);
    assert_eq!(j["Images"], 1);
    assert_eq!(
        j["NCPU"],
        std::thread::available_parallelism().unwrap().get()
    );
    assert_eq!(e.ok(&["info", "-f", "{{.Images}}"]), "1\n");
    let info = e.ok(&["system", "info"]);
    assert!(info.contains("KernelVersion: "), "{info}");

    let ids: Vec<String> = ["gone", "never"].iter().map(|n| e.id_of(n)).collect();
    let pruned = e.ok(&["container", "prune", "-f"]);
    let mut got: Vec<&str> = pruned.lines().collect();
    got.sort();
    let mut want: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(e.running("live"));
    assert_eq!(e.ok(&["ps", "-aq"]).lines().count(), 1);
    e.assert_nothing_left(&ids);

    let v = e.ok(&["version"]);
    assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");
    let j: serde_json::Value =
        serde_json::from_str(&e.ok(&["version", "--format", "json"])).unwrap();
    assert_eq!(j["Client"]["Version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(j["Runtime"]["Present"], true);
    assert_eq!(e.ok(&["version", "-f", "{{.Client.Os}}"]), "linux\n");
}

#[test]
fn port_lists_published_ports() {
    let e = Env::new();
    e.ok(&["create", "--name", "np", "busybox", "true"]);
    assert_eq!(e.ok(&["port", "np"]), "");
    let p1 = test_support::free_port().to_string();
    let spec = format!("127.0.0.1:{p1}:80");
    e.ok(&[
        "run", "-d", "--name", "web", "-p", &spec, "busybox", "httpd", "-f", "-p", "80", "-h",
        "/seed",
    ]);
    assert_eq!(
        e.ok(&["port", "web"]).trim(),
        format!("80/tcp -> 127.0.0.1:{p1}")
    );
    assert_eq!(
        e.ok(&["port", "web", "80"]).trim(),
        format!("127.0.0.1:{p1}")
    );
    assert_eq!(
        e.ok(&["port", "web", "80/tcp"]).trim(),
        format!("127.0.0.1:{p1}")
    );
    e.fails(&["port", "web", "81"], "no public port");
    e.ok(&["rm", "-f", "web"]);
}

#[test]
fn system_prune_removes_what_nothing_uses() {
    let e = Env::new();
    e.ok(&["run", "-d", "--name", "keep", "busybox", "sh", "-c", LOOP]);
    e.ok(&[
        "run",
        "--name",
        "done",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    e.ok(&[
        "run",
        "--name",
        "anon",
        "--network",
        "none",
        "-v",
        "/data",
        "busybox",
        "true",
    ]);
    e.ok(&["volume", "create", "named"]);
    e.ok(&["network", "create", "--subnet", "10.232.3.0/24", "idle"]);
    let tar = common::busybox_tar(e.dir.path(), &[("x", "other\n")]);
    e.ok(&["import", tar.to_str().unwrap(), "extra:1"]);

    let out = e.ok(&["system", "prune", "-a", "--volumes", "-f"]);
    assert!(out.contains("Deleted Containers:\n"), "{out}");
    assert!(out.contains("Deleted Networks:\nidle\n"), "{out}");
    assert!(out.contains("Deleted Volumes:\n"), "{out}");
    assert!(out.contains("Deleted Images:\ndeleted: sha256:"), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert_eq!(e.ok(&["ps", "-a", "--format", "{{.Names}}"]), "keep\n");
    // docker 20.10's --volumes takes every unused volume, named ones too.
    assert_eq!(
        e.ok(&["volume", "ls", "-q"]),
        "",
        "unused volumes are pruned"
    );
    assert!(!e.ok(&["network", "ls"]).contains("idle"));
    let images = e.ok(&["images", "--format", "{{.Repository}}"]);
    assert!(
        images.contains("busybox") && !images.contains("extra"),
        "{images}"
    );
    e.ok(&["rm", "-f", "keep"]);
}

/// ps -n N and -l (any state), PORTS in docker's `ADDR:PORT->PORT/PROTO`
/// form and empty once stopped, version's OS/Arch in Go's names.
#[test]
fn ps_last_latest_ports_and_version() {
    let e = Env::new();
    e.ok(&["create", "--name", "one", "busybox", "true"]);
    e.ok(&["run", "--name", "two", "busybox", "true"]);
    let port = test_support::free_port();
    let p = format!("127.0.0.1:{port}:80/udp");
    e.ok(&[
        "run", "-d", "--name", "three", "-p", &p, "busybox", "sleep", "100",
    ]);
    assert_eq!(
        e.ok(&["ps", "-n", "2", "--format", "{{.Names}}"]),
        "three\ntwo\n"
    );
    assert_eq!(e.ok(&["ps", "-l", "--format", "{{.Names}}"]), "three\n");
    assert_eq!(
        e.ok(&["ps", "--format", "{{.Ports}}"]).trim(),
        format!("127.0.0.1:{port}->80/udp")
    );
    e.ok(&["stop", "-t", "0", "three"]);
    assert_eq!(e.ok(&["ps", "-l", "--format", "[{{.Ports}}]"]), "[]\n");
    let v = e.ok(&["version"]);
    let arch = v.lines().find(|l| l.contains("OS/Arch")).unwrap_or("");
    assert!(arch.contains("linux/") && !arch.contains("x86_64"), "{v}");
    e.ok(&["rm", "-f", "one", "two", "three"]);
}
