//! Mounts, devices, masked and read-only paths, namespaces (config.md,
//! config-linux.md), each checked from inside the container.

mod common;
use common::*;
use serde_json::json;

#[test]
fn mounts_with_their_flags() {
    let host = test_support::TempDir::new("berth-rt-bind");
    std::fs::write(host.path().join("hello"), "from host\n").unwrap();
    let c = Ctr::with(
        "cat /data/hello; touch /data/x 2>/dev/null && echo writable || echo readonly; grep ' /data ' /proc/self/mountinfo; grep ' /scratch ' /proc/self/mountinfo",
        |c| {
            let m = c["mounts"].as_array_mut().unwrap();
            m.push(json!({"destination": "/data", "type": "bind", "source": host.path(), "options": ["rbind", "ro", "nosuid", "nodev"]}));
            m.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["noexec", "size=1m", "mode=700"]}));
        },
    );
    let out = c.run_ok();
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "from host");
    assert_eq!(l[1], "readonly");
    let data_opts = l[2].split(' ').nth(5).unwrap();
    for f in ["ro", "nosuid", "nodev"] {
        assert!(
            data_opts.split(',').any(|o| o == f),
            "/data lacks {f}: {}",
            l[2]
        );
    }
    assert!(
        l[3].contains("noexec") && l[3].contains("size=1024k") && l[3].contains("mode=700"),
        "{}",
        l[3]
    );
}

#[test]
fn bind_mount_of_a_file_and_a_symlink_that_points_out_stays_inside() {
    let c = Ctr::with("cat /etc/evil/x 2>&1; ls /etc/evil", |c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/etc/evil", "type": "tmpfs", "source": "tmpfs"}));
    });
    // A symlink in the image pointing at the host's /tmp: the mount must land
    // inside the rootfs (on rootfs/tmp), never on the host's /tmp.
    let marker = test_support::unique_id("berth-escape");
    std::os::unix::fs::symlink(format!("/tmp/{marker}"), c.bundle.rootfs().join("etc/evil"))
        .unwrap();
    // Only the two places the tmpfs could land (the host's /tmp/marker, or
    // the rootfs): the rest of the host's table moves with whatever else
    // runs on the machine.
    let ours = || {
        let bundle = std::fs::canonicalize(c.bundle.path()).unwrap();
        let bundle = bundle.to_string_lossy().into_owned();
        let escaped = format!("/tmp/{marker}");
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| {
                let mp = l.split(' ').nth(4).unwrap_or("");
                mp.starts_with(&bundle) || mp.starts_with(&escaped)
            })
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let before = ours();
    c.run_ok();
    assert!(
        !std::path::Path::new(&format!("/tmp/{marker}")).exists(),
        "mkdir escaped the rootfs"
    );
    assert!(
        c.bundle.rootfs().join("tmp").join(&marker).exists(),
        "the mount point was created inside the rootfs"
    );
    assert_eq!(before.len(), ours().len(), "{:?}", ours());
}

#[test]
fn masked_and_readonly_paths() {
    let c = Ctr::sh(
        "wc -c < /proc/timer_list 2>/dev/null || echo unreadable; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo rw || echo ro",
    );
    assert_eq!(c.run_ok(), "0\n0\nro\n");
}

#[test]
fn readonly_root() {
    let c = Ctr::with("touch /x 2>/dev/null && echo rw || echo ro; touch /tmp/ok 2>/dev/null && echo rw || echo ro", |c| c["root"]["readonly"] = json!(true));
    assert_eq!(c.run_ok(), "ro\nro\n");
}

#[test]
fn default_and_configured_devices() {
    let c = Ctr::with("ls -l /dev/null /dev/zero /dev/tty /dev/mynull | awk '{print $1, $5, $6, $10}'; echo hi > /dev/mynull && echo ok; readlink /dev/fd; readlink /dev/ptmx", |c| {
        c["linux"]["devices"] = json!([{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 432, "uid": 0, "gid": 0}]);
        c["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]);
    });
    let out = c.run_ok();
    assert!(
        out.contains("crw-rw----    1,      3, /dev/mynull")
            || out.contains("crw-rw---- 1, 3 /dev/mynull"),
        "{out}"
    );
    assert!(out.contains("crw-rw-rw- 1, 3 /dev/null"), "{out}");
    assert!(out.contains("crw-rw-rw- 5, 0 /dev/tty"), "{out}");
    assert!(out.contains("ok\n/proc/self/fd\npts/ptmx"), "{out}");
}

#[test]
fn device_cgroup_blocks_what_it_denies() {
    // /dev/full is created (default device) but the cgroup refuses writes to
    // anything not allowed: here everything but null.
    let c = Ctr::with("echo x > /dev/null && echo null-ok; mknod /tmp/sda b 8 0 && (head -c1 /tmp/sda >/dev/null 2>&1 && echo sda-read || echo sda-denied)", |c| {
        c["process"]["capabilities"]["bounding"] = json!(["CAP_MKNOD"]);
        c["process"]["capabilities"]["effective"] = json!(["CAP_MKNOD"]);
        c["process"]["capabilities"]["permitted"] = json!(["CAP_MKNOD"]);
    });
    assert_eq!(c.run_ok(), "null-ok\nsda-denied\n");
}

#[test]
fn namespaces_new_and_host() {
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    let c = Ctr::with(
        "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc",
        |c| {
            c["linux"]["namespaces"] =
                json!([{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]);
        },
    );
    let out = c.run_ok();
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        l[0],
        host_net.to_string_lossy(),
        "no network namespace requested: the host's"
    );
    assert_ne!(
        l[1],
        std::fs::read_link("/proc/self/ns/ipc")
            .unwrap()
            .to_string_lossy()
    );
}

#[test]
fn join_a_namespace_by_path() {
    let a = Ctr::sh("sleep 60");
    assert!(a.create().status.success());
    let pid = a.state()["pid"].as_i64().unwrap();
    let want = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let b = Ctr::with("readlink /proc/self/ns/net; echo $$", |c| {
        c["linux"]["namespaces"] = json!([{"type": "pid", "path": format!("/proc/{pid}/ns/pid")}, {"type": "mount"}, {"type": "network", "path": format!("/proc/{pid}/ns/net")}]);
        c["hostname"] = serde_json::Value::Null;
        c.as_object_mut().unwrap().remove("hostname");
    });
    let out = b.run_ok();
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], want.to_string_lossy());
    assert_ne!(l[1], "1", "joined pid namespace: not its pid 1");
}

#[test]
fn user_namespace_with_mappings() {
    let c = userns_ctr("cat /proc/self/uid_map /proc/self/gid_map; id -u", 100000);
    let out = c.run_ok();
    let norm: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(norm, ["0 100000 65536", "0 100000 65536", "0"]);
}

#[test]
fn sysctl_and_domainname() {
    let c = Ctr::with(
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/domainname",
        |c| {
            c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
            c["domainname"] = json!("example.test");
        },
    );
    assert_eq!(c.run_ok(), "1\nexample.test\n");
}

#[test]
fn cgroup_limits_are_applied() {
    let c = Ctr::with("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max", |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 67108864});
        c["linux"]["resources"]["pids"] = json!({"limit": 42});
    });
    assert_eq!(c.run_ok(), "67108864\n42\n");
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let script = "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 1 & done; echo all-forked";
    let c = Ctr::with(script, |c| {
        c["linux"]["resources"]["pids"] = json!({"limit": 10})
    });
    let (code, out, err) = c.run();
    assert_ne!(code, 0, "20 forks under pids.max=10 succeeded: {out}");
    assert!(err.contains("fork"), "{err}");
    // The same bomb with room to spare runs to its end.
    let c = Ctr::with(script, |c| {
        c["linux"]["resources"]["pids"] = json!({"limit": 50})
    });
    assert!(c.run_ok().contains("all-forked"));
}

#[test]
fn exec_into_a_user_namespace() {
    let c = userns_ctr("sleep 60", 200000);
    assert!(c.create().status.success());
    assert!(c.out(&["start", &c.id]).status.success());
    let o = c.out(&[
        "exec",
        &c.id,
        "sh",
        "-c",
        "id -u; grep CapEff /proc/self/status",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "0\nCapEff:\t0000000020000420\n"
    );
    // The init joined the cgroup itself, as the namespace's root: the
    // kernel checks the write against whoever opened the file (us).
    assert_in_cgroup(c.state()["pid"].as_i64().unwrap(), &c.id);
}

/// A container in a new user namespace mapping 0..65536 onto `host`.., its
/// rootfs owned by the mapped root.
fn userns_ctr(script: &str, host: u32) -> Ctr {
    let c = Ctr::with(script, |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": host, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": host, "size": 65536}]);
        // v1 cgroups cannot be mounted from a user namespace; the host's are not ours to show.
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/sys/fs/cgroup");
        c["linux"].as_object_mut().unwrap().remove("resources");
    });
    let st = std::process::Command::new("chown")
        .arg("-R")
        .arg(format!("{host}:{host}"))
        .arg(c.bundle.rootfs())
        .status()
        .unwrap();
    assert!(st.success());
    c
}

/// A tmpfs the host mounted below a rootfs, lifted at the end whatever happens.
struct HostMount(std::path::PathBuf);
impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn mount_points_below(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| std::path::Path::new(m).starts_with(dir))
        .collect()
}

#[test]
fn without_a_mount_namespace_the_host_keeps_its_mounts_and_none_of_ours() {
    let c = Ctr::with("readlink /proc/self/ns/mnt; ls /host-mnt", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "mount");
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] == "/proc" || m["destination"] == "/dev");
        let l = c["linux"].as_object_mut().unwrap();
        l.remove("maskedPaths");
        l.remove("readonlyPaths");
    });
    let rootfs = std::fs::canonicalize(c.bundle.rootfs()).unwrap();
    let host = rootfs.join("host-mnt");
    std::fs::create_dir_all(&host).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "berth-host"])
        .arg(&host)
        .status()
        .unwrap();
    assert!(st.success(), "mount a tmpfs below the rootfs");
    let _guard = HostMount(host.clone());
    std::fs::write(host.join("mine"), "").unwrap();
    let out = c.run_ok();
    let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        l[0],
        ours.to_str().unwrap(),
        "the container's mount namespace"
    );
    assert_eq!(
        l[1], "mine",
        "the host's mount below the rootfs, seen inside"
    );
    // After delete (run deletes): the host's tmpfs stays, /proc and /dev go.
    assert_eq!(
        mount_points_below(&rootfs),
        vec![host.display().to_string()],
        "mounts below the rootfs after delete"
    );
}
