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
mod checks;
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
    let containers: Vec<String> = pod.containers.values().cloned().collect();
    host::pod_leftovers(
        &pod.id,
        &containers,
        &pod.netns,
        &pod.cgroup_parent,
        ctx.o.runtime_root.as_deref(),
        Duration::from_secs(5),
    )
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
    checks::run(&mut ctx, &mut t);
    if let Err(e) = cleanup(&ctx.cri) {
        println!("# cleanup: {e:#}");
    }
    println!(
        "{} passed, {} failed, {} skipped",
        t.passed, t.failed, t.skipped
    );
    std::process::exit(if t.failed == 0 { 0 } else { 1 });
}
