//! docker parity (issue 16): commands whose output or behaviour must match
//! docker's, each checked against what docker 20.10 prints for the same
//! command (see hack/parity-test.sh for the side-by-side run).

mod common;

use common::containers::{wait_until, Env};

#[test]
fn top_has_docker_columns_and_passes_ps_options() {
    let e = Env::new();
    e.ok(&["run", "-d", "--name", "t", "busybox", "sleep", "300"]);
    wait_until(10, "t running", || e.running("t"));
    let out = e.ok(&["top", "t"]);
    let mut lines = out.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        head,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "{out}"
    );
    // docker's table: columns at least 20 wide.
    assert!(out.starts_with("UID                 PID "), "{out:?}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(rows[0].starts_with("root "), "{out}");
    assert!(rows[0].ends_with(" sleep 300"), "{out}");

    let out = e.ok(&["top", "t", "-o", "pid,comm"]);
    let l: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(l[0], ["PID", "COMMAND"], "{out}");
    assert_eq!(l.len(), 2, "{out}");
    assert_eq!(l[1][1], "sleep", "{out}");

    let out = e.ok(&["top", "t", "aux"]);
    let head: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(&head[..3], ["USER", "PID", "%CPU"], "{out}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.lines().nth(1).unwrap().ends_with("sleep 300"), "{out}");

    // Options ps cannot take, or no PID column: one line, non-zero.
    e.fails(&["top", "t", "-o", "comm"], "PID");
}

#[test]
fn cp_to_and_from_a_tar_stream() {
    use std::io::Write;
    use std::process::Stdio;
    let e = Env::new();
    e.ok(&["run", "-d", "--name", "c", "busybox", "sleep", "300"]);
    wait_until(10, "c running", || e.running("c"));

    // A tar on stdin lands in the directory, owners and modes kept.
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o750);
    h.set_uid(1234);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    t.append_data(&mut h, "sub", std::io::empty()).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o640);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(6);
    t.append_data(&mut h, "sub/f", &b"hello\n"[..]).unwrap();
    let data = t.into_inner().unwrap();
    let mut child = e
        .cmd(&["cp", "-", "c:/tmp"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ls = e.ok(&[
        "exec",
        "c",
        "stat",
        "-c",
        "%n %a %u",
        "/tmp/sub",
        "/tmp/sub/f",
    ]);
    assert_eq!(ls, "/tmp/sub 750 1234\n/tmp/sub/f 640 0\n");
    assert_eq!(e.ok(&["exec", "c", "cat", "/tmp/sub/f"]), "hello\n");

    // Not a directory: docker's one line, nothing copied.
    let mut child = e
        .cmd(&["cp", "-", "c:/etc/passwd"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "berth: destination \"c:/etc/passwd\" must be a directory\n"
    );

    // To stdout: a tar named from the path's last name down.
    let o = e.cmd(&["cp", "c:/tmp/sub", "-"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut ar = tar::Archive::new(&o.stdout[..]);
    let mut names = Vec::new();
    for en in ar.entries().unwrap() {
        let mut en = en.unwrap();
        let p = en.path().unwrap().display().to_string();
        let mode = en.header().mode().unwrap();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut en, &mut body).unwrap();
        names.push(format!("{p} {mode:o} {body}"));
    }
    // Modes with their file type bits, as docker's tars have them.
    assert_eq!(names, ["sub 40750 ", "sub/f 100640 hello\n"]);
    let o = e.cmd(&["cp", "c:/etc/passwd", "-"]).output().unwrap();
    let mut ar = tar::Archive::new(&o.stdout[..]);
    let p: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|en| en.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(p, ["passwd"]);
}

#[test]
fn volumes_from_shares_volumes_and_binds_with_their_modes() {
    let e = Env::new();
    let host = e.dir.path().join("hostdir");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("f"), "from the host\n").unwrap();
    let bind = format!("{}:/b:ro", host.display());
    e.ok(&[
        "create", "--name", "src", "-v", "/anon", "-v", "named:/n", "-v", &bind, "busybox", "true",
    ]);
    e.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo a >/anon/x; echo n >/n/y",
    ]);
    // Same volumes, same modes: the bind stays read-only.
    let out = e.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "busybox",
        "sh",
        "-c",
        "cat /anon/x /n/y /b/f; touch /b/new 2>/dev/null && echo WRITABLE; true",
    ]);
    assert_eq!(out, "a\nn\nfrom the host\n");
    // :ro makes every one read-only.
    let o = e.berth(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "busybox",
        "touch",
        "/anon/z",
    ]);
    assert_ne!(o.code, 0, "{}", o.stdout);
    assert!(o.stderr.contains("Read-only file system"), "{}", o.stderr);
    // A -v of the same destination wins over the peer's.
    let out = e.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "-v",
        "other:/n",
        "busybox",
        "ls",
        "/n",
    ]);
    assert_eq!(out, "");
    // rm -v of a borrower leaves the owner's anonymous volume.
    e.ok(&[
        "create",
        "--name",
        "borrower",
        "--volumes-from",
        "src",
        "busybox",
        "true",
    ]);
    e.ok(&["rm", "-v", "borrower"]);
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "src",
            "busybox",
            "cat",
            "/anon/x"
        ]),
        "a\n"
    );
    // Bad input: one line, nothing made.
    let before = e.container_dirs();
    e.fails(&["create", "--volumes-from", "nosuch", "busybox"], "nosuch");
    e.fails(
        &["create", "--volumes-from", "src:rx", "busybox"],
        "--volumes-from",
    );
    assert_eq!(e.container_dirs(), before);
}

#[test]
fn net_container_shares_the_peers_hostname() {
    let e = Env::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "peer",
        "--hostname",
        "shared-name",
        "--network",
        "none",
        "busybox",
        "sleep",
        "300",
    ]);
    wait_until(10, "peer running", || e.running("peer"));
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "container:peer",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /etc/hostname; echo $HOSTNAME",
    ]);
    assert_eq!(out, "shared-name\nshared-name\nshared-name\n");
    e.fails(
        &[
            "create",
            "--network",
            "container:peer",
            "--hostname",
            "x",
            "busybox",
        ],
        "--hostname",
    );
}

#[test]
fn network_ls_and_inspect_in_dockers_shape() {
    let e = Env::new();
    let ls = e.ok(&["network", "ls"]);
    let rows: Vec<Vec<&str>> = ls.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        rows[0],
        ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"],
        "{ls}"
    );
    let named: Vec<(&str, &str, &str)> = rows[1..].iter().map(|r| (r[1], r[2], r[3])).collect();
    assert_eq!(
        named,
        [
            ("bridge", "bridge", "local"),
            ("host", "host", "local"),
            ("none", "null", "local")
        ],
        "{ls}"
    );
    assert!(rows[1..].iter().all(|r| r[0].len() == 12));
    // The default bridge, once a container is on it.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "on-bridge",
        "busybox",
        "sleep",
        "300",
    ]);
    wait_until(10, "on-bridge running", || e.running("on-bridge"));
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "inspect", "bridge"])).unwrap();
    let n = &v[0];
    assert_eq!(n["Name"], "bridge");
    assert_eq!(n["Driver"], "bridge");
    assert_eq!(n["Scope"], "local");
    assert_eq!(n["Id"].as_str().unwrap().len(), 64);
    let cfg = &n["IPAM"]["Config"][0];
    let subnet = cfg["Subnet"].as_str().unwrap();
    assert!(subnet.contains('/'), "{n}");
    assert!(cfg["Gateway"]
        .as_str()
        .unwrap()
        .parse::<std::net::Ipv4Addr>()
        .is_ok());
    let id = e.id_of("on-bridge");
    let c = &n["Containers"][&id];
    assert_eq!(c["Name"], "on-bridge", "{n}");
    let ip = e.inspect("on-bridge", "{{.NetworkSettings.IPAddress}}");
    let prefix = subnet.split('/').nth(1).unwrap();
    assert_eq!(c["IPv4Address"], format!("{ip}/{prefix}"));
    assert_eq!(
        n["Options"]["com.docker.network.bridge.default_bridge"],
        "true"
    );
    // -f, and host and none through network inspect and plain inspect.
    assert_eq!(
        e.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}}",
            "host",
            "none"
        ]),
        "host host\nnone null\n"
    );
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.Name}} {{.Scope}}", "host"]),
        "host local\n"
    );
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["inspect", "none"])).unwrap();
    assert_eq!(v[0]["IPAM"]["Config"], serde_json::json!([]));
    // inspect --type picks the kind.
    assert_eq!(
        e.ok(&[
            "inspect",
            "--type",
            "container",
            "-f",
            "{{.Name}}",
            "on-bridge"
        ]),
        "/on-bridge\n"
    );
    assert!(e
        .ok(&["inspect", "--type", "image", "-f", "{{.Id}}", "busybox"])
        .starts_with("sha256:"));
    e.fails(&["inspect", "--type", "image", "on-bridge"], "on-bridge");
    e.fails(
        &["inspect", "--type", "network", "busybox"],
        "no such network: busybox",
    );
    e.fails(&["inspect", "nosuch"], "no such object: nosuch");
}

#[test]
fn stats_has_net_and_block_io() {
    let e = Env::new();
    e.ok(&[
        "run", "-d", "--name", "s", "busybox", "sh", "-c",
        "dd if=/dev/zero of=/tmp/f bs=4k count=64 conv=fsync 2>/dev/null; ping -c 3 -i 0.2 $(ip route | awk '/default/ {print $3}') >/dev/null 2>&1; sleep 300",
    ]);
    wait_until(10, "s running", || e.running("s"));
    let gw_pinged = || {
        let v: serde_json::Value =
            serde_json::from_str(&e.ok(&["stats", "--no-stream", "--format", "json", "s"]))
                .unwrap();
        v[0]["NetOutput"].as_u64().unwrap() >= 3 * 84
            && v[0]["NetInput"].as_u64().unwrap() >= 3 * 84
    };
    wait_until(20, "the pings counted as NET I/O", gw_pinged);
    let out = e.ok(&["stats", "--no-stream", "s"]);
    let head = out.lines().next().unwrap();
    let cols: Vec<&str> = head
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cols,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ],
        "{out}"
    );
    let row = out.lines().nth(1).unwrap();
    // NET I/O in docker's decimal units: "NNNB / NNNB" or kB.
    assert!(
        row.contains("B / ") && row.matches(" / ").count() >= 3,
        "{out}"
    );
    // Templates, with docker's field names.
    let out = e.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.NetIO}}|{{.PIDs}}",
        "s",
    ]);
    let f: Vec<&str> = out.trim_end().split('|').collect();
    assert_eq!(f[0], "s", "{out}");
    assert!(f[2].parse::<u32>().is_ok_and(|n| n >= 1), "{out}");
    assert!(f[1].ends_with('B') && f[1].contains(" / "), "{out}");
    let out = e.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "table {{.Name}}\t{{.BlockIO}}",
        "s",
    ]);
    assert!(out.starts_with("NAME      BLOCK I/O\ns         "), "{out}");
    // A container on no network has no NET I/O.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "quiet",
        "--network",
        "none",
        "busybox",
        "sleep",
        "300",
    ]);
    wait_until(10, "quiet running", || e.running("quiet"));
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["stats", "--no-stream", "--format", "json", "quiet"]))
            .unwrap();
    assert_eq!(
        (v[0]["NetInput"].as_u64(), v[0]["NetOutput"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn system_df_has_reclaimable() {
    let e = Env::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "-v",
        "used:/data",
        "busybox",
        "sh",
        "-c",
        "head -c 5000 /dev/zero >/data/f; head -c 5000 /dev/zero >/f; sleep 300",
    ]);
    e.ok(&[
        "run",
        "--name",
        "gone",
        "-v",
        "idle:/data",
        "busybox",
        "sh",
        "-c",
        "head -c 5000 /dev/zero >/data/f; head -c 5000 /dev/zero >/f",
    ]);
    wait_until(10, "live's files", || {
        e.berth(&["exec", "live", "test", "-s", "/f"]).code == 0
    });
    e.ok(&["rm", "gone"]);
    e.ok(&[
        "run",
        "--name",
        "gone2",
        "busybox",
        "sh",
        "-c",
        "head -c 5000 /dev/zero >/f",
    ]);
    let df = e.ok(&["system", "df"]);
    let rows: Vec<Vec<&str>> = df
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        rows[0],
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        "{df}"
    );
    // docker's template table: columns at least 10 wide.
    assert!(
        df.starts_with("TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n"),
        "{df}"
    );
    // The image is held by a container: nothing to reclaim.
    assert_eq!(rows[1][0], "Images");
    assert_eq!(rows[1][4], "0B (0%)", "{df}");
    // Half the containers' and half the volumes' bytes are idle ones'.
    assert_eq!(rows[2][..3], ["Containers", "2", "1"], "{df}");
    assert_eq!(rows[2][4], "5kB (50%)", "{df}");
    assert_eq!(rows[3][..3], ["Local Volumes", "2", "1"], "{df}");
    assert_eq!(rows[3][3], "10kB", "{df}");
    assert_eq!(rows[3][4], "5kB (50%)", "{df}");
    assert_eq!(rows[4], ["Build Cache", "0", "0", "0B", "0B"], "{df}");
}

/// What hack/parity-test.sh found different from docker 20.10, each as docker prints it.
#[test]
fn shapes_the_parity_harness_found() {
    let e = Env::new();
    e.ok(&["run", "-d", "--name", "w", "busybox", "sleep", "300"]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "n",
        "--network",
        "none",
        "busybox",
        "sleep",
        "300",
    ]);
    wait_until(10, "w running", || e.running("w"));
    // No --network: "default"; named: as given.
    assert_eq!(e.inspect("w", "{{.HostConfig.NetworkMode}}"), "default");
    assert_eq!(e.inspect("n", "{{.HostConfig.NetworkMode}}"), "none");
    // Keys in docker's order, not sorted.
    let j = e.ok(&["inspect", "w"]);
    let keys: Vec<usize> = ["\"Id\"", "\"Created\"", "\"Path\"", "\"State\""]
        .iter()
        .map(|k| j.find(k).unwrap())
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{j}");
    // The primary group is a supplementary one (runc's setgroups).
    assert_eq!(
        e.ok(&["exec", "w", "id"]),
        "uid=0(root) gid=0(root) groups=0(root)\n"
    );
    assert_eq!(
        e.ok(&["run", "--rm", "--network", "none", "busybox", "id"]),
        "uid=0(root) gid=0(root) groups=0(root)\n"
    );
    // A container that changed nothing has no diff (the /etc mount targets are not one).
    assert_eq!(e.ok(&["diff", "w"]), "");
    // ps --format: the command quoted and cut at 20 as in docker's table.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "long",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "sleep 300; echo done",
    ]);
    assert_eq!(
        e.ok(&["ps", "--filter", "name=long", "--format", "{{.Command}}"]),
        "\"sh -c 'sleep 300; e…\"\n"
    );
    // images --format .Size in docker's units; history --format; import's history.
    let size = e.ok(&["images", "--format", "{{.Size}}", "busybox"]);
    assert!(size.trim_end().ends_with("MB"), "{size}");
    assert_eq!(
        e.ok(&[
            "history",
            "--format",
            "{{.CreatedBy}}|{{.Comment}}",
            "busybox"
        ]),
        "|Imported from -\n"
    );
    // cp's tar names owners as the host does (Go's archive/tar).
    let o = e.cmd(&["cp", "w:/etc/passwd", "-"]).output().unwrap();
    let mut ar = tar::Archive::new(&o.stdout[..]);
    let en = ar.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(en.header().username().unwrap(), Some("root"));
    assert_eq!(en.header().groupname().unwrap(), Some("root"));
    // An exec whose command cannot start is docker's 126.
    assert_eq!(e.berth(&["exec", "w", "nosuchcmd"]).code, 126);
    assert_eq!(e.berth(&["exec", "w", "/etc"]).code, 126);
    assert_eq!(e.berth(&["exec", "w", "sh", "-c", "exit 1"]).code, 1);
    // inspect of nothing: the empty list, then the error.
    let o = e.berth(&["inspect", "nosuch"]);
    assert_eq!((o.code, o.stdout.as_str()), (1, "[]\n"));
    assert_eq!(o.stderr, "berth: no such object: nosuch\n");
    // No repo digest before a push or pull: <none>.
    assert_eq!(
        e.ok(&["images", "--digests", "--format", "{{.Digest}}", "busybox"]),
        "<none>\n"
    );
    // Config holds what the image and the user chose, not berth's additions.
    assert_eq!(
        e.inspect("w", "{{json .Config.Env}}|{{.Config.WorkingDir}}"),
        "null|"
    );
    e.ok(&[
        "run",
        "-d",
        "--name",
        "cfg",
        "--network",
        "none",
        "-e",
        "K=V",
        "-w",
        "/tmp",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(
        e.inspect("cfg", "{{json .Config.Env}}|{{.Config.WorkingDir}}"),
        "[\"K=V\"]|/tmp"
    );
    // load prints the familiar name.
    let tar = e.dir.path().join("s.tar");
    e.ok(&["save", "-o", tar.to_str().unwrap(), "busybox"]);
    assert_eq!(
        e.ok(&["load", "-i", tar.to_str().unwrap()]),
        "Loaded image: busybox:latest\n"
    );
}
