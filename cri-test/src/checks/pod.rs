//! The CRI checks: the CRI's basics, the pod sandbox and its three containers.

use crate::*;

pub(crate) fn run(ctx: &mut Ctx, t: &mut Tally) {
    let o = &ctx.o;
    let (share, ro_file) = (o.work.join("share"), o.work.join("ro.txt"));
    t.check("Version", || {
        let req = api::VersionRequest {
            version: "v1".into(),
        };
        let v = ctx
            .cri
            .rs("Version", |mut c| async move { c.version(req).await })?;
        ensure!(
            v.runtime_name == "containerd",
            "runtime_name {:?}",
            v.runtime_name
        );
        ensure!(
            v.runtime_api_version.starts_with("v1"),
            "runtime_api_version {:?}",
            v.runtime_api_version
        );
        println!(
            "# {} {} (CRI {})",
            v.runtime_name, v.runtime_version, v.runtime_api_version
        );
        Ok(())
    });
    t.check("Status: RuntimeReady and NetworkReady", || {
        let req = api::StatusRequest { verbose: false };
        let s = ctx
            .cri
            .rs("Status", |mut c| async move { c.status(req).await })?;
        let conds = s.status.map(|s| s.conditions).unwrap_or_default();
        for want in ["RuntimeReady", "NetworkReady"] {
            let c = conds
                .iter()
                .find(|c| c.r#type == want)
                .ok_or_else(|| anyhow!("no {want} condition: {conds:?}"))?;
            ensure!(c.status, "{want} is false: {} {}", c.reason, c.message);
        }
        Ok(())
    });
    t.check(
        "PullImage from the local registry, ImageStatus, ListImages",
        || {
            let spec = api::ImageSpec {
                image: ctx.o.image.clone(),
                ..Default::default()
            };
            let req = api::PullImageRequest {
                image: Some(spec.clone()),
                ..Default::default()
            };
            let image_ref = ctx
                .cri
                .is("PullImage", |mut c| async move { c.pull_image(req).await })?
                .image_ref;
            ensure!(image_ref.starts_with("sha256:"), "image_ref {image_ref:?}");
            let req = api::ImageStatusRequest {
                image: Some(spec),
                verbose: false,
            };
            let img = ctx
                .cri
                .is(
                    "ImageStatus",
                    |mut c| async move { c.image_status(req).await },
                )?
                .image
                .ok_or_else(|| anyhow!("ImageStatus: no image"))?;
            ensure!(
                img.id == image_ref,
                "ImageStatus id {} for pulled {image_ref}",
                img.id
            );
            ensure!(
                img.repo_tags.contains(&ctx.o.image),
                "repo_tags {:?}",
                img.repo_tags
            );
            ensure!(img.size > 0, "size 0");
            let req = api::ListImagesRequest { filter: None };
            let imgs = ctx
                .cri
                .is(
                    "ListImages",
                    |mut c| async move { c.list_images(req).await },
                )?
                .images;
            ensure!(
                imgs.iter().any(|i| i.id == image_ref),
                "ListImages has no {image_ref}"
            );
            Ok(())
        },
    );

    let port = api::PortMapping {
        protocol: api::Protocol::Tcp as i32,
        container_port: 8080,
        host_port: ctx.o.host_port,
        host_ip: String::new(),
    };
    t.check("RunPodSandbox a (handler, port mapping, DNS config, hostname, log directory, cgroup parent, sysctl)", || run_pod(ctx, "a", vec![port]));
    t.check("PodSandboxStatus a: READY, an IP on the test's bridge, metadata, the handler's runtime type and binary", || pod_status(ctx, "a"));
    if let Some(root) = ctx.o.runtime_root.clone() {
        t.check(
            "the sandbox's state is under the handler's runtime root",
            || {
                let d = root.join("k8s.io").join(&ctx.pod("a")?.id);
                ensure!(
                    d.join("state.json").is_file(),
                    "no {}/state.json",
                    d.display()
                );
                Ok(())
            },
        );
    }

    t.check("CreateContainer + StartContainer main (env, mounts, resources, user, capabilities, read-only root, seccomp)", || {
        let mut s = Spec::new("main", "main", &["sh", "-c", MAIN_SCRIPT]);
        s.working_dir = "/data";
        s.envs = vec![kv("FOO", "bar"), kv("SPACED", "a b")];
        s.mounts = vec![bind(&share, "/data", false), bind(&ro_file, "/etc/berth-ro", true)];
        s.resources = Some(api::LinuxContainerResources {
            cpu_period: 100_000,
            cpu_quota: 50_000,
            cpu_shares: 512,
            memory_limit_in_bytes: 64 << 20,
            oom_score_adj: 500,
            ..Default::default()
        });
        s.security.run_as_user = Some(api::Int64Value { value: 1000 });
        s.security.run_as_group = Some(api::Int64Value { value: 1000 });
        s.security.supplemental_groups = vec![2000];
        s.security.readonly_rootfs = true;
        s.security.no_new_privs = true;
        s.security.capabilities = Some(api::Capability { add_capabilities: strings(&["SYS_TIME"]), drop_capabilities: strings(&["CHOWN"]), ..Default::default() });
        start_container(ctx, "a", s)
    });
    t.check(
        "CreateContainer + StartContainer web (httpd) in the same pod",
        || {
            start_container(
                ctx,
                "a",
                Spec::new("web", "web", &["httpd", "-f", "-p", "8080", "-h", "/www"]),
            )
        },
    );
    t.check(
        "CreateContainer + StartContainer reader (stdin open)",
        || {
            let mut s = Spec::new("reader", "reader", &["sh", "-c", READER_SCRIPT]);
            s.stdin = true;
            start_container(ctx, "a", s)
        },
    );
}
