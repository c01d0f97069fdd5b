//! The CRI checks: stopping and removing containers and pods, and what they leave.

use crate::*;

pub(crate) fn run(ctx: &mut Ctx, t: &mut Tally) {
    t.check(
        "StopContainer main: its SIGTERM trap runs, exit 3, well within the timeout",
        || {
            let id = ctx.ctr("a", "main")?;
            let t0 = Instant::now();
            ctx.cri.stop_container(&id, 10)?;
            let took = t0.elapsed();
            ensure!(took < Duration::from_secs(5), "StopContainer took {took:?}");
            let st = wait_state(
                ctx,
                &id,
                api::ContainerState::ContainerExited,
                Duration::from_secs(5),
            )?;
            ensure!(
                st.exit_code == 3,
                "exit code {} ({} {})",
                st.exit_code,
                st.reason,
                st.message
            );
            ensure!(
                st.finished_at >= st.started_at,
                "finished_at {} started_at {}",
                st.finished_at,
                st.started_at
            );
            host::wait_log(
                &ctx.pod("a")?.log_dir.join("main.log"),
                "stdout",
                "got-term",
                Duration::from_secs(5),
            )
        },
    );
    t.check(
        "StopContainer reader: SIGTERM ignored, SIGKILL after the 2 s timeout, exit 137",
        || {
            let id = ctx.ctr("a", "reader")?;
            let t0 = Instant::now();
            ctx.cri.stop_container(&id, 2)?;
            let took = t0.elapsed();
            ensure!(
                took >= Duration::from_millis(1900) && took < Duration::from_secs(10),
                "StopContainer took {took:?}"
            );
            let st = wait_state(
                ctx,
                &id,
                api::ContainerState::ContainerExited,
                Duration::from_secs(5),
            )?;
            ensure!(
                st.exit_code == 137,
                "exit code {} ({})",
                st.exit_code,
                st.reason
            );
            Ok(())
        },
    );
    t.check(
        "ListContainers: the stopped ones are EXITED, ExecSync on them fails",
        || {
            let exited = api::ContainerStateValue {
                state: api::ContainerState::ContainerExited as i32,
            };
            let mut got: Vec<String> = ctx
                .cri
                .list_containers(api::ContainerFilter {
                    label_selector: ctx.labels(&[]),
                    state: Some(exited),
                    ..Default::default()
                })?
                .into_iter()
                .map(|c| c.id)
                .collect();
            got.sort();
            let mut want = vec![ctx.ctr("a", "main")?, ctx.ctr("a", "reader")?];
            want.sort();
            ensure!(got == want, "EXITED: {got:?}, want {want:?}");
            ensure!(
                ctx.cri.exec_sync(&want[0], &["true"], 5).is_err(),
                "ExecSync in an exited container succeeded"
            );
            Ok(())
        },
    );
    t.check("RemoveContainer reader", || {
        let id = ctx.ctr("a", "reader")?;
        let req = api::RemoveContainerRequest {
            container_id: id.clone(),
        };
        ctx.cri.rs("RemoveContainer", |mut c| async move {
            c.remove_container(req).await
        })?;
        ensure!(
            ctx.cri.container_status(&id, false).is_err(),
            "ContainerStatus still answers"
        );
        ensure!(
            ctx.cri
                .list_containers(api::ContainerFilter {
                    id,
                    ..Default::default()
                })?
                .is_empty(),
            "still listed"
        );
        Ok(())
    });

    for name in ["a", "b"] {
        t.check(
            &format!("StopPodSandbox {name}: NOTREADY, its containers exited"),
            || {
                let pod = ctx.pod(name)?;
                ctx.cri.stop_pod(&pod.id)?;
                let st = ctx
                    .cri
                    .pod_status(&pod.id, false)?
                    .status
                    .unwrap_or_default();
                ensure!(
                    st.state == api::PodSandboxState::SandboxNotready as i32,
                    "state {}",
                    st.state
                );
                for c in ctx.cri.list_containers(api::ContainerFilter {
                    pod_sandbox_id: pod.id.clone(),
                    ..Default::default()
                })? {
                    ensure!(
                        c.state == api::ContainerState::ContainerExited as i32,
                        "container {:?} in state {}",
                        c.metadata,
                        c.state
                    );
                }
                // The kubelet stops a pod again whenever it is unsure: no error.
                ctx.cri.stop_pod(&pod.id)
            },
        );
        t.check(
            &format!("RemovePodSandbox {name}: gone from every list"),
            || remove_pod_checked(ctx, name),
        );
        t.check(
            &format!(
                "RemovePodSandbox {name}: no shim, mount, runtime state, cgroup or netns left"
            ),
            || {
                let left = leftovers(ctx, ctx.pod(name)?);
                ensure!(left.is_empty(), "left behind:\n{}", left.join("\n"));
                Ok(())
            },
        );
    }
}
