//! The CRI checks: what the containers got: status, identity, mounts, capabilities, seccomp, cgroups, ExecSync.

use crate::*;

pub(crate) fn run(ctx: &mut Ctx, t: &mut Tally) {
    let share = ctx.o.work.join("share");
    t.check(
        "ContainerStatus main: RUNNING, metadata, image, log path, mounts, labels, pid",
        || {
            let pod = ctx.pod("a")?;
            let id = ctx.ctr("a", "main")?;
            let st = wait_state(
                ctx,
                &id,
                api::ContainerState::ContainerRunning,
                Duration::from_secs(10),
            )?;
            let r = ctx.cri.container_status(&id, true)?;
            ensure!(
                st.started_at > 0 && st.started_at >= st.created_at,
                "created_at {} started_at {}",
                st.created_at,
                st.started_at
            );
            ensure!(
                st.metadata.as_ref().map(|m| m.name.as_str()) == Some("main"),
                "metadata {:?}",
                st.metadata
            );
            let img = st
                .image
                .as_ref()
                .map(|i| i.image.clone())
                .unwrap_or_default();
            ensure!(
                img == ctx.o.image || img.starts_with("sha256:"),
                "image {img:?}"
            );
            ensure!(
                st.image_ref.contains("sha256:"),
                "image_ref {:?}",
                st.image_ref
            );
            let want_log = pod.log_dir.join("main.log");
            ensure!(
                Path::new(&st.log_path) == want_log,
                "log_path {:?}, want {}",
                st.log_path,
                want_log.display()
            );
            ensure!(
                st.mounts.iter().any(|m| m.container_path == "/data")
                    && st
                        .mounts
                        .iter()
                        .any(|m| m.container_path == "/etc/berth-ro" && m.readonly),
                "mounts {:?}",
                st.mounts
            );
            ensure!(
                st.labels.get("role").map(String::as_str) == Some("main"),
                "labels {:?}",
                st.labels
            );
            let info: serde_json::Value = serde_json::from_str(
                r.info
                    .get("info")
                    .ok_or_else(|| anyhow!("no verbose info"))?,
            )?;
            let pid = info["pid"].as_u64().unwrap_or(0);
            ensure!(
                pid > 0 && Path::new(&format!("/proc/{pid}")).exists(),
                "pid {pid} of the container is not alive"
            );
            ensure!(
                info["sandboxID"] == pod.id.as_str(),
                "sandboxID {}",
                info["sandboxID"]
            );
            Ok(())
        },
    );

    t.check(
        "main: runs as 1000:1000 with supplemental group 2000",
        || {
            let id = ctx.ctr("a", "main")?;
            let out = ctx.cri.sh(&id, "id -u; id -g; id -G")?;
            let v: Vec<&str> = out.lines().collect();
            ensure!(
                v.len() == 3
                    && v[0] == "1000"
                    && v[1] == "1000"
                    && v[2].split(' ').any(|g| g == "2000"),
                "id: {out:?}"
            );
            Ok(())
        },
    );
    t.check("main: env", || {
        let out = ctx
            .cri
            .sh(&ctx.ctr("a", "main")?, "echo \"$FOO|$SPACED\"")?;
        ensure!(out == "bar|a b", "env: {out:?}");
        Ok(())
    });
    t.check(
        "main: working dir, the rw bind mount (seen on the host), the read-only one",
        || {
            let id = ctx.ctr("a", "main")?;
            ensure!(ctx.cri.sh(&id, "pwd")? == "/data", "pwd");
            ensure!(
                ctx.cri.sh(&id, "cat /data/hello")? == "from-host",
                "/data/hello"
            );
            ctx.cri.sh(&id, "echo from-ctr > /data/by-main")?;
            let p = share.join("by-main");
            ensure!(
                std::fs::read_to_string(&p)?.trim() == "from-ctr",
                "{} on the host",
                p.display()
            );
            ensure!(
                std::fs::metadata(&p)?.uid() == 1000,
                "{} is not owned by 1000 on the host",
                p.display()
            );
            ensure!(
                ctx.cri.sh(&id, "cat /etc/berth-ro")? == "read-only",
                "/etc/berth-ro"
            );
            let r = ctx
                .cri
                .exec_sync(&id, &["sh", "-c", "echo x >> /etc/berth-ro"], 10)?;
            ensure!(r.exit_code != 0, "wrote to the read-only mount");
            Ok(())
        },
    );
    t.check("main: read-only root filesystem", || {
        let r = ctx
            .cri
            .exec_sync(&ctx.ctr("a", "main")?, &["touch", "/x"], 10)?;
        let err = String::from_utf8_lossy(&r.stderr);
        ensure!(
            r.exit_code != 0 && err.contains("Read-only file system"),
            "touch /x: exit {} {err:?}",
            r.exit_code
        );
        Ok(())
    });
    t.check(
        "main: capabilities (SYS_TIME added, CHOWN dropped, no SYS_ADMIN) in the bounding set",
        || {
            let bnd = cap_bits(
                &ctx.cri
                    .sh(&ctx.ctr("a", "main")?, "grep ^CapBnd /proc/self/status")?,
            )?;
            ensure!(bnd & (1 << 25) != 0, "no CAP_SYS_TIME in {bnd:#x}");
            ensure!(bnd & 1 == 0, "CAP_CHOWN in {bnd:#x}");
            ensure!(bnd & (1 << 21) == 0, "CAP_SYS_ADMIN in {bnd:#x}");
            // The defaults containerd gives, e.g. NET_BIND_SERVICE (10) and KILL (5).
            ensure!(
                bnd & (1 << 10) != 0 && bnd & (1 << 5) != 0,
                "default capabilities missing from {bnd:#x}"
            );
            Ok(())
        },
    );
    t.check("main: seccomp RuntimeDefault and no_new_privs", || {
        let out = ctx.cri.sh(
            &ctx.ctr("a", "main")?,
            "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
        )?;
        ensure!(
            out.lines()
                .any(|l| l.split_whitespace().eq(["Seccomp:", "2"])),
            "not in seccomp filter mode: {out:?}"
        );
        ensure!(
            out.lines()
                .any(|l| l.split_whitespace().eq(["NoNewPrivs:", "1"])),
            "no_new_privs not set: {out:?}"
        );
        Ok(())
    });
    t.check("main: masked and read-only /proc paths", || {
        let id = ctx.ctr("a", "main")?;
        // Masked files are /dev/null over them, masked dirs an empty tmpfs.
        let keys = ctx.cri.sh(&id, "stat -c %t:%T /proc/keys")?;
        ensure!(keys == "1:3", "/proc/keys is not masked (device {keys})");
        let fw = ctx.cri.sh(&id, "ls -A /sys/firmware")?;
        ensure!(fw.is_empty(), "/sys/firmware is not masked: {fw:?}");
        let sys = ctx.cri.sh(
            &id,
            "awk '$2 == \"/proc/sys\" { print $4 }' /proc/self/mounts",
        )?;
        ensure!(
            sys.lines().last().is_some_and(|o| o.starts_with("ro")),
            "/proc/sys mount options {sys:?}"
        );
        Ok(())
    });
    t.check(
        "main: cgroup limits (memory, cpu quota, shares) and oom_score_adj",
        || {
            let id = ctx.ctr("a", "main")?;
            check_cgroup(ctx, &id, 64 << 20, 50_000)?;
            let adj = ctx.cri.sh(&id, "cat /proc/1/oom_score_adj")?;
            ensure!(adj == "500", "oom_score_adj {adj}");
            Ok(())
        },
    );
    t.check("main: the sandbox's hostname and DNS config", || {
        let id = ctx.ctr("a", "main")?;
        ensure!(ctx.cri.sh(&id, "hostname")? == "pod-a", "hostname");
        let rc = ctx.cri.sh(&id, "cat /etc/resolv.conf")?;
        for want in [
            "nameserver 198.51.100.53",
            "search berth.test svc.berth.test",
            "options ndots:3",
        ] {
            ensure!(
                rc.lines().any(|l| l.trim() == want),
                "resolv.conf has no {want:?}: {rc:?}"
            );
        }
        Ok(())
    });
    t.check("main: the pod's sysctl, its own pid namespace", || {
        let id = ctx.ctr("a", "main")?;
        let v = ctx
            .cri
            .sh(&id, "cat /proc/sys/net/ipv4/ip_unprivileged_port_start")?;
        ensure!(v == "80", "ip_unprivileged_port_start {v}");
        let one = ctx.cri.sh(&id, "tr '\\0' ' ' < /proc/1/cmdline")?;
        ensure!(one.starts_with("sh -c echo started"), "pid 1 is {one:?}");
        Ok(())
    });

    t.check("ExecSync: stdout, stderr and the exit code apart", || {
        let r = ctx.cri.exec_sync(
            &ctx.ctr("a", "main")?,
            &["sh", "-c", "echo out; echo err >&2; exit 7"],
            10,
        )?;
        ensure!(r.exit_code == 7, "exit code {}", r.exit_code);
        ensure!(
            r.stdout == b"out\n" && r.stderr == b"err\n",
            "stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&r.stderr)
        );
        Ok(())
    });
    t.check("ExecSync: a command past its timeout is cut off", || {
        let t0 = Instant::now();
        let r = ctx
            .cri
            .exec_sync(&ctx.ctr("a", "main")?, &["sleep", "30"], 1);
        let took = t0.elapsed();
        ensure!(
            took < Duration::from_secs(10),
            "ExecSync with timeout 1 took {took:?}"
        );
        if let Ok(r) = r {
            ensure!(r.exit_code != 0, "sleep 30 with timeout 1 exited 0");
        }
        Ok(())
    });
}
