//! `berth-cri-test bench`: the speed and the idle shim memory of runtime
//! handlers side by side under one containerd (hack/bench-cri.sh sets it up).
//! Rounds alternate between handlers (in a rotating order) so that the load
//! of a shared machine falls on every handler alike; every batch of pods is
//! torn down and checked gone before the next one starts.
//!
//!   berth-cri-test bench --endpoint SOCK --handlers H1,H2,.. --image REF
//!       --work DIR --tag TAG --cgroup-parent NAME [--handler-root H=DIR]...
//!       [--rounds N] [--burst N] [--burst-rounds N] [--mem-pods N] [--settle S]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use k8s_cri::v1 as api;

use crate::cri::{Cri, Rs};
use crate::{host, ns_options, runtime_default, strings, LABEL, MASKED, READONLY};

/// What one pod's start may take, even among 50 others on 2 cores.
const START_DEADLINE: Duration = Duration::from_secs(300);

struct Opts {
    endpoint: String,
    handlers: Vec<String>,
    image: String,
    work: PathBuf,
    tag: String,
    cgroup_parent: String,
    roots: HashMap<String, PathBuf>,
    rounds: usize,
    burst: usize,
    burst_rounds: usize,
    mem_pods: usize,
    settle: Duration,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        endpoint: String::new(),
        handlers: vec![],
        image: String::new(),
        work: PathBuf::new(),
        tag: String::new(),
        cgroup_parent: String::new(),
        roots: HashMap::new(),
        rounds: 10,
        burst: 50,
        burst_rounds: 1,
        mem_pods: 10,
        settle: Duration::from_secs(5),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or_else(|| anyhow!("{a} needs a value"))?;
        let num = |what: &str| -> Result<usize> {
            let n: usize = v.parse().with_context(|| format!("{what} {v:?}"))?;
            ensure!(n > 0, "{what} must be at least 1");
            Ok(n)
        };
        match a.as_str() {
            "--endpoint" => o.endpoint = v.clone(),
            "--handlers" => {
                o.handlers = v
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "--image" => o.image = v.clone(),
            "--work" => o.work = PathBuf::from(v),
            "--tag" => o.tag = v.clone(),
            "--cgroup-parent" => o.cgroup_parent = v.trim_matches('/').to_string(),
            "--handler-root" => {
                let (h, d) = v
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--handler-root wants HANDLER=DIR, not {v:?}"))?;
                o.roots.insert(h.to_string(), PathBuf::from(d));
            }
            "--rounds" => o.rounds = num(a)?,
            "--burst" => o.burst = num(a)?,
            "--burst-rounds" => o.burst_rounds = num(a)?,
            "--mem-pods" => o.mem_pods = num(a)?,
            "--settle" => o.settle = Duration::from_secs(num(a)? as u64),
            _ => bail!("unknown option {a}"),
        }
    }
    for (name, v) in [
        ("--endpoint", &o.endpoint),
        ("--image", &o.image),
        ("--tag", &o.tag),
        ("--cgroup-parent", &o.cgroup_parent),
    ] {
        ensure!(!v.is_empty(), "{name} is required");
    }
    ensure!(!o.work.as_os_str().is_empty(), "--work is required");
    ensure!(!o.handlers.is_empty(), "--handlers is required");
    Ok(o)
}

/// One batch of pods of one handler: what is needed to start them, add
/// containers to them and check that their teardown left nothing.
struct Batch<'a> {
    o: &'a Opts,
    handler: &'a str,
    /// The label value every pod and container of the batch carries.
    tag: String,
    cgroup_parent: String,
    pods: Vec<Pod>,
}

#[derive(Clone)]
struct Pod {
    name: String,
    config: api::PodSandboxConfig,
    id: String,
    containers: Vec<String>,
    netns: String,
}

impl<'a> Batch<'a> {
    fn new(o: &'a Opts, handler: &'a str, what: &str) -> Batch<'a> {
        Batch {
            o,
            handler,
            tag: format!("{}-{handler}-{what}", o.tag),
            cgroup_parent: format!("/{}/{handler}", o.cgroup_parent),
            pods: vec![],
        }
    }

    fn labels(&self) -> HashMap<String, String> {
        [(LABEL.to_string(), self.tag.clone())].into()
    }

    /// A pod as the kubelet asks for one: its own log directory and
    /// cgroup parent, the pod's network and IPC, RuntimeDefault seccomp.
    fn pod(&mut self, n: usize) -> Result<Pod> {
        let name = format!("{}-{n}", self.tag);
        let log_dir = self.o.work.join("pods").join(&name);
        std::fs::create_dir_all(&log_dir)?;
        let config = api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: name.clone(),
                uid: format!("uid-{name}"),
                namespace: "berth-cri-bench".into(),
                attempt: 0,
            }),
            hostname: format!("p{n}"),
            log_directory: log_dir.to_string_lossy().into(),
            labels: self.labels(),
            linux: Some(api::LinuxPodSandboxConfig {
                cgroup_parent: self.cgroup_parent.clone(),
                security_context: Some(api::LinuxSandboxSecurityContext {
                    namespace_options: ns_options(),
                    seccomp: runtime_default(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok(Pod {
            name,
            config,
            id: String::new(),
            containers: vec![],
            netns: String::new(),
        })
    }

    fn container(&self, name: &str) -> api::ContainerConfig {
        api::ContainerConfig {
            metadata: Some(api::ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(api::ImageSpec {
                image: self.o.image.clone(),
                ..Default::default()
            }),
            command: strings(&["sleep", "3600"]),
            labels: self.labels(),
            log_path: format!("{name}.log"),
            linux: Some(api::LinuxContainerConfig {
                resources: None,
                security_context: Some(api::LinuxContainerSecurityContext {
                    namespace_options: ns_options(),
                    seccomp: runtime_default(),
                    masked_paths: strings(MASKED),
                    readonly_paths: strings(READONLY),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }
    }
}

async fn call<T>(
    what: &str,
    fut: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T> {
    match tokio::time::timeout(START_DEADLINE, fut).await {
        Err(_) => bail!("{what}: no answer in {} s", START_DEADLINE.as_secs()),
        Ok(Err(s)) => bail!("{what}: {:?}: {}", s.code(), s.message()),
        Ok(Ok(r)) => Ok(r.into_inner()),
    }
}

/// RunPodSandbox, then CreateContainer + StartContainer of each container:
/// what the kubelet sends to bring a pod up.
async fn start_pod(
    mut c: Rs,
    handler: String,
    mut pod: Pod,
    containers: Vec<api::ContainerConfig>,
) -> (Pod, Result<()>) {
    let r = async {
        let req = api::RunPodSandboxRequest {
            config: Some(pod.config.clone()),
            runtime_handler: handler,
        };
        pod.id = call("RunPodSandbox", c.run_pod_sandbox(req))
            .await?
            .pod_sandbox_id;
        add_containers(&mut c, &mut pod, containers).await
    }
    .await;
    (pod, r)
}

async fn add_containers(
    c: &mut Rs,
    pod: &mut Pod,
    containers: Vec<api::ContainerConfig>,
) -> Result<()> {
    for config in containers {
        let req = api::CreateContainerRequest {
            pod_sandbox_id: pod.id.clone(),
            config: Some(config),
            sandbox_config: Some(pod.config.clone()),
        };
        let id = call("CreateContainer", c.create_container(req))
            .await?
            .container_id;
        pod.containers.push(id.clone());
        let req = api::StartContainerRequest { container_id: id };
        call("StartContainer", c.start_container(req)).await?;
    }
    Ok(())
}

/// Starts the pods (each with `per_pod` containers) all at once over the
/// one channel; returns the wall time and the errors. Every pod that got
/// an id is kept in the batch, so that teardown finds it.
fn start_all(
    cri: &Cri,
    b: &mut Batch,
    n: usize,
    per_pod: usize,
) -> Result<(Duration, Vec<String>)> {
    let mut pods = Vec::new();
    for i in 0..n {
        pods.push(b.pod(i)?);
    }
    let containers: Vec<api::ContainerConfig> = (0..per_pod)
        .map(|i| b.container(&format!("c{i}")))
        .collect();
    let handler = b.handler.to_string();
    let t0 = Instant::now();
    let results = cri.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for pod in pods {
            set.spawn(start_pod(
                cri.client(),
                handler.clone(),
                pod,
                containers.clone(),
            ));
        }
        let mut out = Vec::new();
        while let Some(r) = set.join_next().await {
            out.push(r);
        }
        out
    });
    let took = t0.elapsed();
    let mut errors = Vec::new();
    for r in results {
        let (pod, r) = r.map_err(|e| anyhow!("a start task failed: {e}"))?;
        if let Err(e) = r {
            errors.push(format!("{}: {e:#}", pod.name));
        }
        if !pod.id.is_empty() {
            b.pods.push(pod);
        }
    }
    Ok((took, errors))
}

/// The sandbox's network namespace path, from containerd's verbose status
/// (checked gone after the teardown).
fn netns_of(cri: &Cri, id: &str) -> Result<String> {
    let r = cri.pod_status(id, true)?;
    let info: serde_json::Value = serde_json::from_str(
        r.info
            .get("info")
            .ok_or_else(|| anyhow!("no verbose info"))?,
    )?;
    Ok(info["runtimeSpec"]["linux"]["namespaces"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["type"] == "network"))
        .and_then(|n| n["path"].as_str())
        .unwrap_or("")
        .to_string())
}

/// StopPodSandbox + RemovePodSandbox of every pod of the batch (found by its
/// label, so a pod whose start failed half-way goes too), then checks that
/// the CRI lists nothing of it and the host holds no shim, mount, cgroup,
/// runtime state or netns of it.
fn teardown(cri: &Cri, b: &mut Batch) -> Result<()> {
    for p in &mut b.pods {
        if p.netns.is_empty() {
            p.netns = netns_of(cri, &p.id).unwrap_or_default();
        }
    }
    let filter = api::PodSandboxFilter {
        label_selector: b.labels(),
        ..Default::default()
    };
    let listed = cri.list_pods(filter.clone())?;
    let ids: Vec<String> = listed.iter().map(|p| p.id.clone()).collect();
    // Concurrently, as the kubelet's pod workers do: a batch of 50 would
    // otherwise take minutes.
    let errors: Vec<String> = cri.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for id in ids {
            let mut c = cri.client();
            set.spawn(async move {
                let r = async {
                    let req = api::StopPodSandboxRequest {
                        pod_sandbox_id: id.clone(),
                    };
                    call("StopPodSandbox", c.stop_pod_sandbox(req)).await?;
                    let req = api::RemovePodSandboxRequest {
                        pod_sandbox_id: id.clone(),
                    };
                    call("RemovePodSandbox", c.remove_pod_sandbox(req)).await?;
                    Ok::<_, anyhow::Error>(())
                }
                .await;
                r.map_err(|e| format!("{id}: {e:#}"))
            });
        }
        let mut errors = Vec::new();
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(e) => errors.push(e.to_string()),
            }
        }
        errors
    });
    ensure!(errors.is_empty(), "teardown: {}", errors.join("; "));
    let left = cri.list_pods(filter)?;
    ensure!(left.is_empty(), "pods still listed: {left:?}");
    let left = cri.list_containers(api::ContainerFilter {
        label_selector: b.labels(),
        ..Default::default()
    })?;
    ensure!(left.is_empty(), "containers still listed: {left:?}");
    let mut left = Vec::new();
    for p in &b.pods {
        left.extend(host::pod_leftovers(
            &p.id,
            &p.containers,
            &p.netns,
            &b.cgroup_parent,
            b.o.roots.get(b.handler).map(|r| r.as_path()),
            Duration::from_secs(10),
        ));
    }
    ensure!(left.is_empty(), "left behind:\n{}", left.join("\n"));
    b.pods.clear();
    Ok(())
}

/// Runs `f` on a fresh batch and tears the batch down whatever `f` gave.
fn with_batch<T>(
    cri: &Cri,
    o: &Opts,
    handler: &str,
    what: &str,
    f: impl FnOnce(&mut Batch) -> Result<T>,
) -> Result<T> {
    let mut b = Batch::new(o, handler, what);
    let r = f(&mut b);
    let t = teardown(cri, &mut b).with_context(|| format!("{handler}: {what}: teardown"));
    let v = r.with_context(|| format!("{handler}: {what}"))?;
    t?;
    Ok(v)
}

/// VmRSS and Pss (smaps_rollup) of a process, in KiB.
fn rss_pss(pid: &str) -> Result<(u64, u64)> {
    let field = |text: &str, key: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("no {key} for pid {pid}"))
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    Ok((field(&status, "VmRSS:")?, field(&smaps, "Pss:")?))
}

/// The containerd-shim-* processes serving the batch's pods (a shim names
/// its pod's sandbox id on its command line): their count and summed RSS
/// and PSS in KiB.
fn shim_memory(b: &Batch) -> Result<Mem> {
    let (mut n, mut rss, mut pss) = (0, 0, 0);
    for e in std::fs::read_dir("/proc")?.flatten() {
        let pid = e.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = cmd
            .split(|&c| c == 0)
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect();
        let exe = argv.first().map(|a| a.rsplit('/').next().unwrap_or(a));
        if !exe.is_some_and(|e| e.starts_with("containerd-shim-")) {
            continue;
        }
        if b.pods.iter().any(|p| argv.iter().any(|a| a == &p.id)) {
            let (r, p) = rss_pss(&pid)?;
            n += 1;
            rss += r;
            pss += p;
        }
    }
    Ok((n, rss, pss))
}

/// (shims, summed RSS in KiB, summed PSS in KiB).
type Mem = (usize, u64, u64);

#[derive(Default)]
struct Figures {
    latencies: Vec<Duration>,
    /// (pods started, failures, wall time) of each burst.
    bursts: Vec<(usize, usize, Duration)>,
    /// (shims, RSS KiB, PSS KiB) for pods of 1 container, then of 3.
    mem1: Mem,
    mem3: Mem,
}

fn latency_round(cri: &Cri, o: &Opts, h: &str, round: usize) -> Result<Duration> {
    with_batch(cri, o, h, &format!("lat{round}"), |b| {
        let pod = b.pod(0)?;
        let c = b.container("c0");
        let t0 = Instant::now();
        let (pod, r) = cri.block_on(start_pod(cri.client(), h.to_string(), pod, vec![c]));
        let took = t0.elapsed();
        if !pod.id.is_empty() {
            b.pods.push(pod.clone());
        }
        r?;
        let st = cri
            .container_status(&pod.containers[0], false)?
            .status
            .ok_or_else(|| anyhow!("no status"))?;
        ensure!(
            st.state == api::ContainerState::ContainerRunning as i32,
            "the container is in state {} after StartContainer",
            st.state
        );
        Ok(took)
    })
}

fn burst_round(cri: &Cri, o: &Opts, h: &str, round: usize) -> Result<(usize, usize, Duration)> {
    with_batch(cri, o, h, &format!("burst{round}"), |b| {
        let (took, errors) = start_all(cri, b, o.burst, 1)?;
        for e in errors.iter().take(5) {
            println!("# {h}: burst {round}: {e}");
        }
        // A started pod must really run: every container RUNNING.
        let running = cri
            .list_containers(api::ContainerFilter {
                label_selector: b.labels(),
                state: Some(api::ContainerStateValue {
                    state: api::ContainerState::ContainerRunning as i32,
                }),
                ..Default::default()
            })?
            .len();
        ensure!(
            running == o.burst - errors.len(),
            "{running} containers running, {} pods started without error",
            o.burst - errors.len()
        );
        Ok((o.burst, errors.len(), took))
    })
}

fn memory(cri: &Cri, o: &Opts, h: &str) -> Result<(Mem, Mem)> {
    with_batch(cri, o, h, "mem", |b| {
        let (_, errors) = start_all(cri, b, o.mem_pods, 1)?;
        ensure!(errors.is_empty(), "starting pods: {}", errors.join("; "));
        std::thread::sleep(o.settle);
        let m1 = shim_memory(b)?;
        let extra: Vec<api::ContainerConfig> =
            ["c1", "c2"].iter().map(|n| b.container(n)).collect();
        for p in &mut b.pods {
            let mut c = cri.client();
            cri.block_on(add_containers(&mut c, p, extra.clone()))
                .with_context(|| format!("adding containers to {}", p.name))?;
        }
        std::thread::sleep(o.settle);
        let m3 = shim_memory(b)?;
        Ok((m1, m3))
    })
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn mib(kib: f64) -> String {
    format!("{:.2} MiB", kib / 1024.0)
}

fn ratio(v: f64, reference: Option<f64>) -> String {
    match reference {
        Some(r) if r > 0.0 => format!(" (×{:.2})", v / r),
        _ => String::new(),
    }
}

fn table(o: &Opts, figs: &BTreeMap<String, Figures>) {
    let reference = figs.get("runc");
    let hs = &o.handlers;
    println!();
    println!("| | {} |", hs.join(" | "));
    println!("|---|{}", "---|".repeat(hs.len()));
    let row = |label: &str, cell: &dyn Fn(&Figures, Option<&Figures>) -> String| {
        let cells: Vec<String> = hs.iter().map(|h| cell(&figs[h], reference)).collect();
        println!("| {label} | {} |", cells.join(" | "));
    };
    row(
        &format!(
            "RunPodSandbox + CreateContainer + StartContainer, median of {} (min–max)",
            o.rounds
        ),
        &|f, r| {
            let m = median(&f.latencies);
            let whole = |d: &Duration| format!("{:.0}", d.as_secs_f64() * 1000.0);
            format!(
                "{}{}, {}–{}",
                ms(m),
                ratio(
                    m.as_secs_f64(),
                    r.map(|r| median(&r.latencies).as_secs_f64())
                ),
                whole(f.latencies.iter().min().unwrap()),
                whole(f.latencies.iter().max().unwrap())
            )
        },
    );
    let rate = |f: &Figures| -> f64 {
        let started: usize = f.bursts.iter().map(|b| b.0 - b.1).sum();
        let took: f64 = f.bursts.iter().map(|b| b.2.as_secs_f64()).sum();
        started as f64 / took
    };
    row(&format!("{} pods at once: failures", o.burst), &|f, _| {
        let failed: usize = f.bursts.iter().map(|b| b.1).sum();
        let total: usize = f.bursts.iter().map(|b| b.0).sum();
        format!("{failed} of {total}")
    });
    row(&format!("{} pods at once: pods/s", o.burst), &|f, r| {
        format!("{:.1}{}", rate(f), ratio(rate(f), r.map(rate)))
    });
    let n = o.mem_pods as f64;
    row(
        &format!("shims for {} pods of 1 / of 3 containers", o.mem_pods),
        &|f, _| format!("{} / {}", f.mem1.0, f.mem3.0),
    );
    type Pick = fn(&Figures) -> f64;
    let mems: [(&str, Pick); 6] = [
        ("shim RSS per pod of 1 container", |f| f.mem1.1 as f64),
        ("shim PSS per pod of 1 container", |f| f.mem1.2 as f64),
        ("shim RSS per pod of 3 containers", |f| f.mem3.1 as f64),
        ("shim PSS per pod of 3 containers", |f| f.mem3.2 as f64),
        ("shim RSS per extra container", |f| {
            (f.mem3.1 as f64 - f.mem1.1 as f64) / 2.0
        }),
        ("shim PSS per extra container", |f| {
            (f.mem3.2 as f64 - f.mem1.2 as f64) / 2.0
        }),
    ];
    for (label, pick) in mems {
        row(label, &|f, r| {
            let v = pick(f) / n;
            format!("{}{}", mib(v), ratio(v, r.map(|r| pick(r) / n)))
        });
    }
}

fn run(o: &Opts) -> Result<()> {
    let cri = Cri::connect(&o.endpoint)?;
    let spec = api::ImageSpec {
        image: o.image.clone(),
        ..Default::default()
    };
    let req = api::PullImageRequest {
        image: Some(spec),
        ..Default::default()
    };
    cri.is("PullImage", |mut c| async move { c.pull_image(req).await })?;
    let mut figs: BTreeMap<String, Figures> = o
        .handlers
        .iter()
        .map(|h| (h.clone(), Figures::default()))
        .collect();
    // Round r starts with handler r mod n: each handler goes first, last
    // and between as often as the others.
    let order = |r: usize| -> Vec<&String> {
        let n = o.handlers.len();
        (0..n).map(|i| &o.handlers[(r + i) % n]).collect()
    };
    // A first pod per handler, not timed: the pause image's unpacking and
    // the first shim's start come once, not in a round.
    for h in &o.handlers {
        latency_round(&cri, o, h, 0)?;
    }
    for r in 1..=o.rounds {
        for h in order(r) {
            let d = latency_round(&cri, o, h, r)?;
            figs.get_mut(h).unwrap().latencies.push(d);
        }
        let line: Vec<String> = o
            .handlers
            .iter()
            .map(|h| format!("{h} {}", ms(*figs[h].latencies.last().unwrap())))
            .collect();
        println!("# latency round {r}: {}", line.join(", "));
    }
    for r in 1..=o.burst_rounds {
        for h in order(r) {
            let b = burst_round(&cri, o, h, r)?;
            println!(
                "# {h}: {} pods at once: {} failed, {} s",
                b.0,
                b.1,
                format_args!("{:.1}", b.2.as_secs_f64())
            );
            figs.get_mut(h).unwrap().bursts.push(b);
        }
    }
    for h in order(0) {
        let (m1, m3) = memory(&cri, o, h)?;
        println!(
            "# {h}: {} pods of 1 container: {} shims, RSS {} KiB, PSS {} KiB; of 3: {} shims, RSS {} KiB, PSS {} KiB",
            o.mem_pods, m1.0, m1.1, m1.2, m3.0, m3.1, m3.2
        );
        ensure!(
            m1.0 > 0,
            "{h}: no containerd-shim-* process found for its pods"
        );
        let f = figs.get_mut(h).unwrap();
        f.mem1 = m1;
        f.mem3 = m3;
    }
    table(o, &figs);
    let failures: usize = figs.values().flat_map(|f| &f.bursts).map(|b| b.1).sum();
    ensure!(
        failures == 0,
        "{failures} pods of the bursts failed to start"
    );
    Ok(())
}

/// The entry point of `berth-cri-test bench ARGS`; returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("berth-cri-test bench: {e:#}");
            return 2;
        }
    };
    match run(&o) {
        Ok(()) => 0,
        Err(e) => {
            println!("not ok - bench: {e:#}");
            eprintln!("berth-cri-test bench: {e:#}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let ms =
            |v: &[u64]| -> Vec<Duration> { v.iter().map(|&m| Duration::from_millis(m)).collect() };
        assert_eq!(median(&ms(&[30, 10, 20])), Duration::from_millis(20));
        assert_eq!(median(&ms(&[40, 10, 20, 30])), Duration::from_millis(25));
    }

    #[test]
    fn parse_takes_handlers_and_roots_and_refuses_bad_values() {
        let base = [
            "--endpoint",
            "/s",
            "--image",
            "i",
            "--work",
            "/w",
            "--tag",
            "t",
            "--cgroup-parent",
            "/p/",
        ];
        let mut a = args(&base);
        a.extend(args(&[
            "--handlers",
            "runc,berth",
            "--handler-root",
            "berth=/r",
            "--rounds",
            "3",
        ]));
        let o = parse(&a).unwrap();
        assert_eq!(o.handlers, ["runc", "berth"]);
        assert_eq!(o.roots["berth"], PathBuf::from("/r"));
        assert_eq!((o.rounds, o.burst, o.cgroup_parent.as_str()), (3, 50, "p"));
        for bad in [
            &["--handlers", "runc", "--rounds", "0"][..],
            &["--handlers", "runc", "--rounds", "x"],
            &["--handlers", "runc", "--handler-root", "nodir"],
            &["--handlers", "runc", "--what", "1"],
            &["--handlers", ""],
            &["--handlers"],
        ] {
            let mut a = args(&base);
            a.extend(args(bad));
            assert!(parse(&a).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rss_and_pss_of_this_process() {
        let (rss, pss) = rss_pss(&std::process::id().to_string()).unwrap();
        // Not pss <= rss: the two files are read apart, and VmRSS lags.
        assert!(rss > 0 && pss > 0, "rss {rss} pss {pss}");
    }
}
