//! The CRI checks: Exec and Attach through the streaming server, logs, updates and stats.

use crate::*;

pub(crate) fn run(ctx: &mut Ctx, t: &mut Tally) {
    t.check("Exec (streaming server): stdout, stderr, exit code", || {
        let out = exec_stream(
            ctx,
            &ctx.ctr("a", "main")?,
            &["sh", "-c", "echo exec-out; echo exec-err >&2; exit 5"],
            false,
            None,
        )?;
        ensure!(
            out.stdout == "exec-out\n" && out.stderr == "exec-err\n",
            "{out:?}"
        );
        ensure!(out.exit_code()? == 5, "exit code {:?}", out.status);
        Ok(())
    });
    t.check(
        "Exec (streaming server): a tty with stdin (kubectl exec -it)",
        || {
            let out = exec_stream(
                ctx,
                &ctx.ctr("a", "main")?,
                &["sh", "-c", "tty; read l; echo got:$l"],
                true,
                Some(b"typed\n"),
            )?;
            let lines: Vec<&str> = out
                .stdout
                .lines()
                .map(|l| l.trim_end_matches('\r'))
                .collect();
            // The pty echoes what was typed (it may come first), tty names the
            // pty, the shell answers.
            ensure!(lines.iter().any(|l| l.starts_with("/dev/pts/")), "{out:?}");
            ensure!(lines.contains(&"got:typed"), "{out:?}");
            ensure!(out.exit_code()? == 0, "exit code {:?}", out.status);
            Ok(())
        },
    );
    // Not checked: a tty without stdin (kubectl exec -t). containerd 1.6's
    // CRI streams none of its output for runc and berth-runtime alike once
    // the command outlives its first write by a little (`sh -c 'tty; sleep
    // 0.2'`), though the shim copies it into the exec's stdout FIFO (strace).
    t.check("Exec (streaming server): stdin", || {
        let out = exec_stream(
            ctx,
            &ctx.ctr("a", "main")?,
            &["head", "-n1"],
            false,
            Some(b"from-stdin\n"),
        )?;
        ensure!(out.stdout == "from-stdin\n", "{out:?}");
        ensure!(out.exit_code()? == 0, "exit code {:?}", out.status);
        Ok(())
    });
    t.check(
        "Attach (streaming server): stdin in, stdout out, the log too",
        || {
            let id = ctx.ctr("a", "reader")?;
            let req = api::AttachRequest {
                container_id: id.clone(),
                stdin: true,
                tty: false,
                stdout: true,
                stderr: true,
            };
            let url = ctx
                .cri
                .rs("Attach", |mut c| async move { c.attach(req).await })?
                .url;
            let out = stream::stream(
                &url,
                Some(b"ping\n"),
                Some("got:ping"),
                Duration::from_secs(20),
            )?;
            ensure!(out.stdout.contains("got:ping"), "{out:?}");
            host::wait_log(
                &ctx.pod("a")?.log_dir.join("reader.log"),
                "stdout",
                "got:ping",
                Duration::from_secs(5),
            )?;
            // The container goes on after the client detaches.
            let st = ctx
                .cri
                .container_status(&id, false)?
                .status
                .unwrap_or_default();
            ensure!(
                st.state == api::ContainerState::ContainerRunning as i32,
                "reader state {} after detach",
                st.state
            );
            Ok(())
        },
    );
    t.check("container log: the CRI format, stdout and stderr", || {
        let log = ctx.pod("a")?.log_dir.join("main.log");
        host::wait_log(&log, "stdout", "started", Duration::from_secs(5))?;
        host::wait_log(&log, "stderr", "to-stderr", Duration::from_secs(5))?;
        say(ctx, "hello-log")?;
        host::wait_log(&log, "stdout", "hello-log", Duration::from_secs(10))
    });
    t.check(
        "ReopenContainerLog: a rotated log goes on in a new file",
        || {
            let log = ctx.pod("a")?.log_dir.join("main.log");
            let rotated = log.with_extension("log.1");
            std::fs::rename(&log, &rotated)?;
            let req = api::ReopenContainerLogRequest {
                container_id: ctx.ctr("a", "main")?,
            };
            ctx.cri.rs("ReopenContainerLog", |mut c| async move {
                c.reopen_container_log(req).await
            })?;
            ensure!(
                log.exists(),
                "no new {} after ReopenContainerLog",
                log.display()
            );
            say(ctx, "after-reopen")?;
            host::wait_log(&log, "stdout", "after-reopen", Duration::from_secs(10))?;
            let old = host::log_lines(&rotated)?;
            ensure!(
                !old.iter().any(|(_, m)| m == "after-reopen"),
                "the rotated file got new lines too"
            );
            ensure!(
                old.iter().any(|(_, m)| m == "hello-log"),
                "the rotated file lost its lines"
            );
            Ok(())
        },
    );
    t.check("UpdateContainerResources: memory and cpu quota", || {
        let id = ctx.ctr("a", "main")?;
        let res = api::LinuxContainerResources {
            cpu_period: 100_000,
            cpu_quota: 30_000,
            cpu_shares: 512,
            memory_limit_in_bytes: 96 << 20,
            oom_score_adj: 500,
            ..Default::default()
        };
        let req = api::UpdateContainerResourcesRequest {
            container_id: id.clone(),
            linux: Some(res),
            ..Default::default()
        };
        ctx.cri.rs("UpdateContainerResources", |mut c| async move {
            c.update_container_resources(req).await
        })?;
        check_cgroup(ctx, &id, 96 << 20, 30_000)
    });
    t.check("ContainerStats main: cpu, memory, writable layer", || {
        let id = ctx.ctr("a", "main")?;
        let req = api::ContainerStatsRequest {
            container_id: id.clone(),
        };
        let s = ctx
            .cri
            .rs("ContainerStats", |mut c| async move {
                c.container_stats(req).await
            })?
            .stats
            .ok_or_else(|| anyhow!("no stats"))?;
        ensure!(
            s.attributes.as_ref().map(|a| a.id.as_str()) == Some(id.as_str()),
            "attributes {:?}",
            s.attributes
        );
        let cpu = s
            .cpu
            .and_then(|c| c.usage_core_nano_seconds)
            .map(|v| v.value)
            .unwrap_or(0);
        ensure!(cpu > 0, "cpu usage_core_nano_seconds {cpu}");
        let mem = s
            .memory
            .and_then(|m| m.working_set_bytes)
            .map(|v| v.value)
            .unwrap_or(0);
        ensure!(mem > 0, "memory working_set_bytes {mem}");
        ensure!(s.writable_layer.is_some(), "no writable_layer");
        Ok(())
    });
    t.check("ListContainerStats filtered by pod", || {
        let pod = ctx.pod("a")?;
        let req = api::ListContainerStatsRequest {
            filter: Some(api::ContainerStatsFilter {
                pod_sandbox_id: pod.id.clone(),
                ..Default::default()
            }),
        };
        let stats = ctx
            .cri
            .rs("ListContainerStats", |mut c| async move {
                c.list_container_stats(req).await
            })?
            .stats;
        let mut got: Vec<String> = stats
            .iter()
            .filter_map(|s| s.attributes.as_ref().map(|a| a.id.clone()))
            .collect();
        let mut want: Vec<String> = pod.containers.values().cloned().collect();
        got.sort();
        want.sort();
        ensure!(got == want, "stats for {got:?}, want {want:?}");
        Ok(())
    });
}
