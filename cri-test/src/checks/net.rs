//! The CRI checks: the pods' network, and the lists with their filters.

use crate::*;

pub(crate) fn run(ctx: &mut Ctx, t: &mut Tally) {
    t.check(
        "two containers of a pod share its network namespace (main -> web on localhost)",
        || {
            let body = ctx.cri.sh(
                &ctx.ctr("a", "main")?,
                "wget -q -O- http://127.0.0.1:8080/index.html",
            )?;
            ensure!(body == PAGE, "body {body:?}");
            Ok(())
        },
    );
    t.check("the host reaches pod a by its IP", || {
        let body = host::http_get(&format!("{}:8080", ctx.pod("a")?.ip), "/index.html")?;
        ensure!(body.trim() == PAGE, "body {body:?}");
        Ok(())
    });
    t.check("port mapping: the host port reaches pod a's httpd", || {
        let body = host::http_get(
            &format!("{}:{}", ctx.o.gateway, ctx.o.host_port),
            "/index.html",
        )?;
        ensure!(body.trim() == PAGE, "body {body:?}");
        Ok(())
    });
    t.check("RunPodSandbox b with a web container", || {
        run_pod(ctx, "b", vec![])?;
        pod_status(ctx, "b")?;
        start_container(
            ctx,
            "b",
            Spec::new("web", "web", &["httpd", "-f", "-p", "8080", "-h", "/www"]),
        )
    });
    t.check("a pod reaches another pod by IP (a/main -> b/web)", || {
        let ip = ctx.pod("b")?.ip.clone();
        ensure!(ip != ctx.pod("a")?.ip, "both pods have {ip}");
        let id = ctx.ctr("a", "main")?;
        // httpd may still be starting.
        let mut last = String::new();
        for _ in 0..50 {
            match ctx
                .cri
                .sh(&id, &format!("wget -q -O- http://{ip}:8080/index.html"))
            {
                Ok(body) if body == PAGE => return Ok(()),
                Ok(body) => last = format!("body {body:?}"),
                Err(e) => last = format!("{e:#}"),
            }
            sleep(Duration::from_millis(200));
        }
        bail!("{last}")
    });

    t.check("ListPodSandbox with filters (label, state, id)", || {
        let (a, b) = (ctx.pod("a")?.id.clone(), ctx.pod("b")?.id.clone());
        let mut ids: Vec<String> = ctx
            .cri
            .list_pods(api::PodSandboxFilter {
                label_selector: ctx.labels(&[]),
                ..Default::default()
            })?
            .into_iter()
            .map(|p| p.id)
            .collect();
        ids.sort();
        let mut want = vec![a.clone(), b.clone()];
        want.sort();
        ensure!(ids == want, "by label: {ids:?}, want {want:?}");
        let only_b = ctx.cri.list_pods(api::PodSandboxFilter {
            label_selector: ctx.labels(&[("pod", "b")]),
            ..Default::default()
        })?;
        ensure!(only_b.len() == 1 && only_b[0].id == b, "pod=b: {only_b:?}");
        let ready = api::PodSandboxStateValue {
            state: api::PodSandboxState::SandboxReady as i32,
        };
        let r = ctx.cri.list_pods(api::PodSandboxFilter {
            state: Some(ready),
            label_selector: ctx.labels(&[]),
            ..Default::default()
        })?;
        ensure!(r.len() == 2, "READY: {} pods", r.len());
        let notready = api::PodSandboxStateValue {
            state: api::PodSandboxState::SandboxNotready as i32,
        };
        let r = ctx.cri.list_pods(api::PodSandboxFilter {
            state: Some(notready),
            label_selector: ctx.labels(&[]),
            ..Default::default()
        })?;
        ensure!(r.is_empty(), "NOTREADY: {r:?}");
        let r = ctx.cri.list_pods(api::PodSandboxFilter {
            id: a.clone(),
            ..Default::default()
        })?;
        ensure!(
            r.len() == 1
                && r[0].id == a
                && r[0]
                    .metadata
                    .as_ref()
                    .is_some_and(|m| m.name.starts_with("a-")),
            "by id: {r:?}"
        );
        ensure!(
            r[0].runtime_handler.is_empty() || r[0].runtime_handler == ctx.o.handler,
            "runtime_handler {:?}",
            r[0].runtime_handler
        );
        Ok(())
    });
    t.check(
        "ListContainers with filters (pod, label, state, id)",
        || {
            let pa = ctx.pod("a")?;
            let ids = |f: api::ContainerFilter| -> Result<Vec<String>> {
                let mut v: Vec<String> = ctx
                    .cri
                    .list_containers(f)?
                    .into_iter()
                    .map(|c| c.id)
                    .collect();
                v.sort();
                Ok(v)
            };
            let mut want: Vec<String> = pa.containers.values().cloned().collect();
            want.sort();
            let got = ids(api::ContainerFilter {
                pod_sandbox_id: pa.id.clone(),
                ..Default::default()
            })?;
            ensure!(got == want, "pod a: {got:?}, want {want:?}");
            let mut webs = vec![ctx.ctr("a", "web")?, ctx.ctr("b", "web")?];
            webs.sort();
            let got = ids(api::ContainerFilter {
                label_selector: ctx.labels(&[("role", "web")]),
                ..Default::default()
            })?;
            ensure!(got == webs, "role=web: {got:?}, want {webs:?}");
            let got = ids(api::ContainerFilter {
                pod_sandbox_id: pa.id.clone(),
                label_selector: ctx.labels(&[("role", "web")]),
                ..Default::default()
            })?;
            ensure!(got == [ctx.ctr("a", "web")?], "pod a, role=web: {got:?}");
            let running = api::ContainerStateValue {
                state: api::ContainerState::ContainerRunning as i32,
            };
            let got = ids(api::ContainerFilter {
                pod_sandbox_id: pa.id.clone(),
                state: Some(running),
                ..Default::default()
            })?;
            ensure!(got == want, "pod a, RUNNING: {got:?}");
            let exited = api::ContainerStateValue {
                state: api::ContainerState::ContainerExited as i32,
            };
            let got = ids(api::ContainerFilter {
                label_selector: ctx.labels(&[]),
                state: Some(exited),
                ..Default::default()
            })?;
            ensure!(got.is_empty(), "EXITED: {got:?}");
            let main = ctx.ctr("a", "main")?;
            let got = ctx.cri.list_containers(api::ContainerFilter {
                id: main.clone(),
                ..Default::default()
            })?;
            ensure!(
                got.len() == 1
                    && got[0].id == main
                    && got[0].pod_sandbox_id == pa.id
                    && got[0].metadata.as_ref().is_some_and(|m| m.name == "main"),
                "by id: {got:?}"
            );
            Ok(())
        },
    );
}
