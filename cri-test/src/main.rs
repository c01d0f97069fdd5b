//! berth-cri-test: drives containerd's CRI plugin over its gRPC socket as
//! the kubelet does, for one runtime handler, and prints one TAP-like line
//! per check and `N passed, N failed` last (hack/cri-test.sh sets up the
//! containerd, CNI, registry and images it runs against).
//!
//!   berth-cri-test --endpoint SOCK --handler NAME --image REF --work DIR
//!       --tag TAG --cgroup-parent NAME --host-port N --gateway IP --subnet PREFIX
//!       [--runtime-root DIR] [--runtime-binary PATH] [--runtime-type TYPE]
//!   berth-cri-test --endpoint SOCK --cleanup      stops and removes every pod
//!                                                  labelled berth-cri-test
//!   berth-cri-test bench ...                      speed and shim memory of
//!                                                  handlers side by side (bench.rs)

mod bench;
mod cri;
mod host;
mod stream;

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use k8s_cri::v1 as api;

use crate::cri::Cri;

/// The label every pod and container of ours carries (its value: --tag).
const LABEL: &str = "berth-cri-test";
/// The page the busybox image's httpd serves (hack/cri-test.sh writes it).
const PAGE: &str = "berth-cri-ok";

/// The kubelet's defaults for a non-privileged container (DefaultProcMount).
const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
const READONLY: &[&str] = &[
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// main's loop: prints what the host drops into /data/say, exits 3 on SIGTERM.
const MAIN_SCRIPT: &str = "echo started; echo to-stderr >&2; trap 'echo got-term; exit 3' TERM; \
     while :; do if [ -f /data/say ]; then cat /data/say; rm -f /data/say; fi; sleep 0.1; done";
/// reader: echoes its stdin; as pid 1 without a handler it ignores SIGTERM.
const READER_SCRIPT: &str = "echo reader-up; while read l; do echo got:$l; done";

#[derive(Default)]
struct Opts {
    endpoint: String,
    handler: String,
    image: String,
    work: PathBuf,
    tag: String,
    cgroup_parent: String,
    host_port: i32,
    gateway: String,
    subnet: String,
    runtime_root: Option<PathBuf>,
    runtime_binary: Option<String>,
    runtime_type: Option<String>,
    cleanup: bool,
}

fn parse_args() -> Result<Opts> {
    let mut o = Opts::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--cleanup" {
            o.cleanup = true;
            continue;
        }
        let v = args.next().ok_or_else(|| anyhow!("{a} needs a value"))?;
        match a.as_str() {
            "--endpoint" => o.endpoint = v,
            "--handler" => o.handler = v,
            "--image" => o.image = v,
            "--work" => o.work = PathBuf::from(v),
            "--tag" => o.tag = v,
            "--cgroup-parent" => o.cgroup_parent = v,
            "--host-port" => o.host_port = v.parse().context("--host-port")?,
            "--gateway" => o.gateway = v,
            "--subnet" => o.subnet = v,
            "--runtime-root" => o.runtime_root = Some(PathBuf::from(v)),
            "--runtime-binary" => o.runtime_binary = Some(v),
            "--runtime-type" => o.runtime_type = Some(v),
            _ => bail!("unknown option {a}"),
        }
    }
    ensure!(!o.endpoint.is_empty(), "--endpoint is required");
    if !o.cleanup {
        for (name, v) in [
            ("--handler", &o.handler),
            ("--image", &o.image),
            ("--tag", &o.tag),
            ("--cgroup-parent", &o.cgroup_parent),
            ("--gateway", &o.gateway),
            ("--subnet", &o.subnet),
        ] {
            ensure!(!v.is_empty(), "{name} is required");
        }
        ensure!(
            o.host_port > 0 && !o.work.as_os_str().is_empty(),
            "--host-port and --work are required"
        );
    }
    Ok(o)
}

struct Pod {
    id: String,
    ip: String,
    netns: String,
    cgroup_parent: String,
    log_dir: PathBuf,
    config: api::PodSandboxConfig,
    /// name -> id
    containers: BTreeMap<String, String>,
}

struct Ctx {
    cri: Cri,
    o: Opts,
    pods: BTreeMap<String, Pod>,
}

impl Ctx {
    fn pod(&self, name: &str) -> Result<&Pod> {
        self.pods
            .get(name)
            .ok_or_else(|| anyhow!("pod {name} was not made"))
    }
    fn ctr(&self, pod: &str, name: &str) -> Result<String> {
        self.pod(pod)?
            .containers
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow!("container {name} of pod {pod} was not made"))
    }
    fn labels(&self, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        m.insert(LABEL.into(), self.o.tag.clone());
        m
    }
}

#[derive(Default)]
struct Tally {
    prefix: String,
    passed: u32,
    failed: u32,
    skipped: u32,
}

impl Tally {
    fn check(&mut self, name: &str, f: impl FnOnce() -> Result<()>) {
        let t0 = Instant::now();
        match f() {
            Ok(()) => {
                self.passed += 1;
                println!(
                    "ok - {}{name} ({} ms)",
                    self.prefix,
                    t0.elapsed().as_millis()
                );
            }
            Err(e) => {
                self.failed += 1;
                println!("not ok - {}{name}", self.prefix);
                for line in format!("{e:#}").lines() {
                    println!("  # {line}");
                }
            }
        }
    }
}

fn kv(k: &str, v: &str) -> api::KeyValue {
    api::KeyValue {
        key: k.into(),
        value: v.into(),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn runtime_default() -> Option<api::SecurityProfile> {
    Some(api::SecurityProfile {
        profile_type: api::security_profile::ProfileType::RuntimeDefault as i32,
        localhost_ref: String::new(),
    })
}

/// The namespaces the kubelet asks for by default: the pod's network and
/// IPC, a pid namespace per container.
fn ns_options() -> Option<api::NamespaceOption> {
    Some(api::NamespaceOption {
        network: api::NamespaceMode::Pod as i32,
        pid: api::NamespaceMode::Container as i32,
        ipc: api::NamespaceMode::Pod as i32,
        ..Default::default()
    })
}

fn run_pod(ctx: &mut Ctx, name: &str, ports: Vec<api::PortMapping>) -> Result<()> {
    let log_dir = ctx.o.work.join("pods").join(name);
    // The kubelet makes the pod's log directory before RunPodSandbox.
    std::fs::create_dir_all(&log_dir)?;
    let cgroup_parent = format!("/{}/pod-{name}", ctx.o.cgroup_parent.trim_matches('/'));
    let config = api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: format!("{name}-{}", ctx.o.handler),
            uid: format!("uid-{}-{name}", ctx.o.tag),
            namespace: "berth-cri-test".into(),
            attempt: 0,
        }),
        hostname: format!("pod-{name}"),
        log_directory: log_dir.to_string_lossy().into(),
        dns_config: Some(api::DnsConfig {
            servers: strings(&["198.51.100.53"]),
            searches: strings(&["berth.test", "svc.berth.test"]),
            options: strings(&["ndots:3"]),
        }),
        port_mappings: ports,
        labels: ctx.labels(&[("pod", name)]),
        annotations: [("berth.test/pod".to_string(), name.to_string())].into(),
        linux: Some(api::LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.clone(),
            security_context: Some(api::LinuxSandboxSecurityContext {
                namespace_options: ns_options(),
                seccomp: runtime_default(),
                ..Default::default()
            }),
            sysctls: [(
                "net.ipv4.ip_unprivileged_port_start".to_string(),
                "80".to_string(),
            )]
            .into(),
            ..Default::default()
        }),
        windows: None,
    };
    let req = api::RunPodSandboxRequest {
        config: Some(config.clone()),
        runtime_handler: ctx.o.handler.clone(),
    };
    let id = ctx
        .cri
        .rs("RunPodSandbox", |mut c| async move {
            c.run_pod_sandbox(req).await
        })?
        .pod_sandbox_id;
    ensure!(!id.is_empty(), "no sandbox id");
    ctx.pods.insert(
        name.to_string(),
        Pod {
            id,
            ip: String::new(),
            netns: String::new(),
            cgroup_parent,
            log_dir,
            config,
            containers: BTreeMap::new(),
        },
    );
    Ok(())
}

/// PodSandboxStatus (verbose): READY, an IP of our subnet, our metadata and
/// handler; containerd's info names the runtime type and binary and the
/// netns.
fn pod_status(ctx: &mut Ctx, name: &str) -> Result<()> {
    let pod = ctx.pod(name)?;
    let r = ctx.cri.pod_status(&pod.id, true)?;
    let st = r.status.ok_or_else(|| anyhow!("no status"))?;
    ensure!(st.id == pod.id, "status of {} for {}", st.id, pod.id);
    ensure!(
        st.state == api::PodSandboxState::SandboxReady as i32,
        "state {}",
        st.state
    );
    let md = st.metadata.unwrap_or_default();
    ensure!(
        md.name == format!("{name}-{}", ctx.o.handler) && md.namespace == "berth-cri-test",
        "metadata {md:?}"
    );
    ensure!(
        st.labels.get("pod").map(String::as_str) == Some(name),
        "labels {:?}",
        st.labels
    );
    ensure!(
        st.annotations.get("berth.test/pod").map(String::as_str) == Some(name),
        "annotations {:?}",
        st.annotations
    );
    let ip = st.network.map(|n| n.ip).unwrap_or_default();
    ensure!(
        ip.starts_with(&ctx.o.subnet),
        "pod IP {ip:?} is not in {}*",
        ctx.o.subnet
    );
    ensure!(
        st.runtime_handler.is_empty() || st.runtime_handler == ctx.o.handler,
        "runtime_handler {:?}",
        st.runtime_handler
    );
    let info: serde_json::Value = serde_json::from_str(
        r.info
            .get("info")
            .ok_or_else(|| anyhow!("no verbose info"))?,
    )?;
    ensure!(
        info["runtimeHandler"] == ctx.o.handler.as_str(),
        "info.runtimeHandler {}",
        info["runtimeHandler"]
    );
    if let Some(ty) = &ctx.o.runtime_type {
        ensure!(
            info["runtimeType"] == ty.as_str(),
            "info.runtimeType {}, want {ty}",
            info["runtimeType"]
        );
    }
    if let Some(bin) = &ctx.o.runtime_binary {
        let got = info["runtimeOptions"]["binary_name"].as_str().unwrap_or("");
        ensure!(
            got == bin,
            "info.runtimeOptions.binary_name {got:?}, want {bin:?} ({})",
            info["runtimeOptions"]
        );
    }
    let netns = info["runtimeSpec"]["linux"]["namespaces"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["type"] == "network"))
        .and_then(|n| n["path"].as_str())
        .unwrap_or("")
        .to_string();
    ensure!(
        !netns.is_empty() && Path::new(&netns).exists(),
        "network namespace {netns:?} of the sandbox is not there"
    );
    let pod = ctx.pods.get_mut(name).unwrap();
    pod.ip = ip;
    pod.netns = netns;
    Ok(())
}

struct Spec<'a> {
    name: &'a str,
    role: &'a str,
    command: Vec<String>,
    stdin: bool,
    mounts: Vec<api::Mount>,
    envs: Vec<api::KeyValue>,
    working_dir: &'a str,
    resources: Option<api::LinuxContainerResources>,
    security: api::LinuxContainerSecurityContext,
}

impl Spec<'_> {
    fn new<'a>(name: &'a str, role: &'a str, command: &[&str]) -> Spec<'a> {
        Spec {
            name,
            role,
            command: strings(command),
            stdin: false,
            mounts: vec![],
            envs: vec![],
            working_dir: "",
            resources: None,
            security: api::LinuxContainerSecurityContext {
                namespace_options: ns_options(),
                seccomp: runtime_default(),
                masked_paths: strings(MASKED),
                readonly_paths: strings(READONLY),
                ..Default::default()
            },
        }
    }
}

/// CreateContainer + StartContainer, as the kubelet sends them.
fn start_container(ctx: &mut Ctx, pod: &str, s: Spec) -> Result<()> {
    let p = ctx.pod(pod)?;
    let config = api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: s.name.into(),
            attempt: 0,
        }),
        image: Some(api::ImageSpec {
            image: ctx.o.image.clone(),
            ..Default::default()
        }),
        command: s.command,
        working_dir: s.working_dir.into(),
        envs: s.envs,
        mounts: s.mounts,
        labels: ctx.labels(&[("role", s.role)]),
        annotations: [("berth.test/container".to_string(), s.name.to_string())].into(),
        log_path: format!("{}.log", s.name),
        stdin: s.stdin,
        linux: Some(api::LinuxContainerConfig {
            resources: s.resources,
            security_context: Some(s.security),
        }),
        ..Default::default()
    };
    let req = api::CreateContainerRequest {
        pod_sandbox_id: p.id.clone(),
        config: Some(config),
        sandbox_config: Some(p.config.clone()),
    };
    let id = ctx
        .cri
        .rs("CreateContainer", |mut c| async move {
            c.create_container(req).await
        })?
        .container_id;
    ensure!(!id.is_empty(), "no container id");
    ctx.pods
        .get_mut(pod)
        .unwrap()
        .containers
        .insert(s.name.to_string(), id.clone());
    let st = ctx
        .cri
        .container_status(&id, false)?
        .status
        .ok_or_else(|| anyhow!("no status"))?;
    ensure!(
        st.state == api::ContainerState::ContainerCreated as i32,
        "state {} after CreateContainer",
        st.state
    );
    let req = api::StartContainerRequest {
        container_id: id.clone(),
    };
    ctx.cri.rs("StartContainer", |mut c| async move {
        c.start_container(req).await
    })?;
    Ok(())
}

fn bind(host: &Path, ctr: &str, readonly: bool) -> api::Mount {
    api::Mount {
        container_path: ctr.into(),
        host_path: host.to_string_lossy().into(),
        readonly,
        ..Default::default()
    }
}

fn cap_bits(status_line: &str) -> Result<u64> {
    let hex = status_line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow!("no value in {status_line:?}"))?;
    Ok(u64::from_str_radix(hex, 16)?)
}

/// The container's memory limit, cpu quota and cpu shares (v1) or weight
/// (v2), as its own cgroup files show them.
const CGROUP_SCRIPT: &str = "if [ -e /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then \
     cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares; \
     else cat /sys/fs/cgroup/memory.max; cut -d' ' -f1 /sys/fs/cgroup/cpu.max; cat /sys/fs/cgroup/cpu.weight; fi";

fn check_cgroup(ctx: &Ctx, id: &str, mem: u64, quota: u64) -> Result<()> {
    let out = ctx.cri.sh(id, CGROUP_SCRIPT)?;
    let v: Vec<&str> = out.lines().collect();
    ensure!(v.len() == 3, "cgroup files: {out:?}");
    ensure!(v[0] == mem.to_string(), "memory limit {}, want {mem}", v[0]);
    ensure!(
        v[1] == quota.to_string(),
        "cpu quota {}, want {quota}",
        v[1]
    );
    // shares 512, or its cgroup v2 weight (runc's conversion: 20).
    ensure!(v[2] == "512" || v[2] == "20", "cpu shares/weight {}", v[2]);
    Ok(())
}

fn exec_stream(
    ctx: &Ctx,
    id: &str,
    cmd: &[&str],
    tty: bool,
    stdin: Option<&[u8]>,
) -> Result<stream::Outcome> {
    let req = api::ExecRequest {
        container_id: id.into(),
        cmd: strings(cmd),
        tty,
        stdin: stdin.is_some(),
        stdout: true,
        stderr: !tty,
    };
    let url = ctx
        .cri
        .rs("Exec", |mut c| async move { c.exec(req).await })?
        .url;
    stream::stream(&url, stdin, None, Duration::from_secs(20))
}

/// Writes /data/say of main's share atomically; main prints it.
fn say(ctx: &Ctx, text: &str) -> Result<()> {
    let share = ctx.o.work.join("share");
    std::fs::write(share.join(".say"), format!("{text}\n"))?;
    std::fs::rename(share.join(".say"), share.join("say"))?;
    Ok(())
}

fn wait_state(
    ctx: &Ctx,
    id: &str,
    state: api::ContainerState,
    limit: Duration,
) -> Result<api::ContainerStatus> {
    let t0 = Instant::now();
    loop {
        let st = ctx
            .cri
            .container_status(id, false)?
            .status
            .ok_or_else(|| anyhow!("no status"))?;
        if st.state == state as i32 {
            return Ok(st);
        }
        if t0.elapsed() > limit {
            bail!(
                "state {} after {} s, want {state:?}",
                st.state,
                limit.as_secs()
            );
        }
        sleep(Duration::from_millis(100));
    }
}

/// Everything a removed pod could have left on the host.
fn leftovers(ctx: &Ctx, pod: &Pod) -> Vec<String> {
    let mut ids = vec![pod.id.clone()];
    ids.extend(pod.containers.values().cloned());
    let mut left = Vec::new();
    // The shim names its sandbox (-id) on its command line.
    left.extend(
        host::settle(Duration::from_secs(5), || host::procs_naming(&pod.id))
            .into_iter()
            .map(|p| format!("process {p}")),
    );
    for id in &ids {
        left.extend(
            host::mounts_naming(id)
                .into_iter()
                .map(|m| format!("mount {m}")),
        );
        left.extend(
            host::cgroups_of(&pod.cgroup_parent, id)
                .into_iter()
                .map(|c| format!("cgroup {c}")),
        );
        if let Some(root) = &ctx.o.runtime_root {
            let d = root.join("k8s.io").join(id);
            if d.exists() {
                left.push(format!("runtime state {}", d.display()));
            }
        }
    }
    if !pod.netns.is_empty() {
        left.extend(
            host::mounts_naming(&pod.netns)
                .into_iter()
                .map(|m| format!("netns mount {m}")),
        );
        if Path::new(&pod.netns).exists() {
            left.push(format!("netns file {}", pod.netns));
        }
    }
    left
}

fn remove_pod_checked(ctx: &mut Ctx, name: &str) -> Result<()> {
    let pod = ctx.pod(name)?;
    ctx.cri.remove_pod(&pod.id)?;
    let f = api::PodSandboxFilter {
        id: pod.id.clone(),
        ..Default::default()
    };
    ensure!(
        ctx.cri.list_pods(f)?.is_empty(),
        "still listed by ListPodSandbox"
    );
    let f = api::ContainerFilter {
        pod_sandbox_id: pod.id.clone(),
        ..Default::default()
    };
    let left = ctx.cri.list_containers(f)?;
    ensure!(left.is_empty(), "containers still listed: {left:?}");
    ensure!(
        ctx.cri.pod_status(&pod.id, false).is_err(),
        "PodSandboxStatus still answers"
    );
    Ok(())
}

fn run(ctx: &mut Ctx, t: &mut Tally) {
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

/// Stops and removes every pod of ours that is left (after a failed run).
fn cleanup(cri: &Cri) -> Result<()> {
    for p in cri.list_pods(api::PodSandboxFilter::default())? {
        if p.labels.contains_key(LABEL) {
            let _ = cri.stop_pod(&p.id);
            cri.remove_pod(&p.id)
                .with_context(|| format!("removing pod {}", p.id))?;
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("bench") {
        std::process::exit(bench::main(&args[1..]));
    }
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("berth-cri-test: {e:#}");
            std::process::exit(2);
        }
    };
    let cri = match Cri::connect(&o.endpoint) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth-cri-test: {e:#}");
            std::process::exit(2);
        }
    };
    if o.cleanup {
        if let Err(e) = cleanup(&cri) {
            eprintln!("berth-cri-test: cleanup: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let setup = || -> Result<()> {
        let share = o.work.join("share");
        std::fs::create_dir_all(&share)?;
        std::fs::set_permissions(&share, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
        std::fs::write(share.join("hello"), "from-host\n")?;
        std::fs::write(o.work.join("ro.txt"), "read-only\n")?;
        Ok(())
    };
    if let Err(e) = setup() {
        eprintln!("berth-cri-test: {e:#}");
        std::process::exit(2);
    }
    let mut t = Tally {
        prefix: format!("{}: ", o.handler),
        ..Default::default()
    };
    let mut ctx = Ctx {
        cri,
        o,
        pods: BTreeMap::new(),
    };
    run(&mut ctx, &mut t);
    if let Err(e) = cleanup(&ctx.cri) {
        println!("# cleanup: {e:#}");
    }
    println!(
        "{} passed, {} failed, {} skipped",
        t.passed, t.failed, t.skipped
    );
    std::process::exit(if t.failed == 0 { 0 } else { 1 });
}
