//! `create`, and the flags `run` and `update` take too.

use berth::container::lifecycle;
use berth::container::opts::CreateOptions;

#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct Args {
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    #[command(flatten)]
    pub flags: CreateFlags,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    super::errors_exit_125();
    let (c, _) = create(g, &a.flags)?;
    println!("{}", c.id);
    Ok(())
}

/// What `create` and `run` share: the flags checked, the image pulled if
/// needed, the container made and `--cidfile` written.
pub fn create(
    g: &super::Globals,
    flags: &CreateFlags,
) -> anyhow::Result<(berth::container::Container, CreateOptions)> {
    let mut o = flags.options()?;
    check_cidfile(flags.cidfile.as_deref())?;
    o.image_id = ensure_image(g, &o.image, flags.pull.as_deref())?;
    let c = lifecycle::create(&g.root, &o)?;
    write_cidfile(g, flags.cidfile.as_deref(), &c.id)?;
    Ok((c, o))
}

/// docker's `--pull`: the image is pulled when it is not here (`missing`,
/// the default), every time (`always`) or never. The image's id, when there
/// is one now.
pub fn ensure_image(
    g: &super::Globals,
    image: &str,
    policy: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let policy = policy.unwrap_or("missing");
    if !matches!(policy, "missing" | "always" | "never") {
        anyhow::bail!("invalid --pull {policy:?}: expected missing, always or never");
    }
    let store = g.store()?;
    let have = match store.resolve(image) {
        Ok(i) => Some(i.record.id.to_string()),
        Err(berth::image::store::StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if policy == "never" || (have.is_some() && policy == "missing") {
        return Ok(have);
    }
    if have.is_none() {
        eprintln!("Unable to find image '{image}' locally");
    }
    Ok(Some(super::pull::pull(g, &store, image, false)?))
}

/// `--cidfile`: refused when the file exists (another container may be
/// writing it, as docker warns), so this is checked before anything is made.
pub fn check_cidfile(p: Option<&std::path::Path>) -> anyhow::Result<()> {
    match p {
        Some(p) if p.exists() => anyhow::bail!(
            "invalid --cidfile {}: the file exists; another container may use it: delete it first",
            p.display()
        ),
        _ => Ok(()),
    }
}

/// Writes the id to `--cidfile`; on failure the container is removed again.
pub fn write_cidfile(
    g: &super::Globals,
    p: Option<&std::path::Path>,
    id: &str,
) -> anyhow::Result<()> {
    let Some(p) = p else { return Ok(()) };
    let r = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(p)
        .and_then(|mut f| std::io::Write::write_all(&mut f, id.as_bytes()));
    if let Err(e) = r {
        let _ = lifecycle::remove(&g.root, id, true, true);
        anyhow::bail!("writing --cidfile {}: {e}", p.display());
    }
    Ok(())
}

/// The resource limits, for `run`, `create` and `update`.
#[derive(clap::Args, Clone)]
pub struct LimitFlags {
    /// Memory limit (512m, 1g...)
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Memory plus swap (-1: unlimited swap)
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CPUs (1.5)
    #[arg(long)]
    pub cpus: Option<String>,
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
}

impl LimitFlags {
    /// Into `o`, which has none of them yet.
    pub fn apply(&self, o: &mut CreateOptions) {
        o.memory = self.memory.clone();
        o.memory_swap = self.memory_swap.clone();
        o.cpus = self.cpus.clone();
        o.cpu_shares = self.cpu_shares;
        o.cpuset_cpus = self.cpuset_cpus.clone();
        o.pids_limit = self.pids_limit;
    }
}

/// The flags of `run` and `create`.
#[derive(clap::Args, Clone)]
pub struct CreateFlags {
    /// Keep stdin open
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a terminal
    #[arg(short, long)]
    pub tty: bool,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// no, always, unless-stopped or on-failure[:MAX-RETRIES]
    #[arg(long)]
    pub restart: Option<String>,
    /// Pull the image: missing (when it is not here; the default), always or never
    #[arg(long)]
    pub pull: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// KEY=VALUE, or KEY to take it from berth's environment
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    #[arg(long = "env-file")]
    pub env_file: Vec<std::path::PathBuf>,
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// NAME|UID[:GROUP|GID]
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(long)]
    pub entrypoint: Option<String>,
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// /host:/ctr[:ro], volume:/ctr[:ro] or /ctr
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// CONTAINER[:ro|rw]: the volumes and binds of another container
    #[arg(long)]
    pub volumes_from: Vec<String>,
    /// type=bind|volume|tmpfs,source=...,target=...[,readonly]
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// /path[:options]
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// none, host, bridge or container:NAME
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// IPv4 address on a user network
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address on a dual-stack user network
    #[arg(long)]
    pub ip6: Option<String>,
    /// Another name peers on a user network reach it by
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Publish a port (bridge networking)
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// Publish every EXPOSEd port on a free host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    #[command(flatten)]
    pub limits: LimitFlags,
    #[arg(long = "read-only")]
    pub read_only: bool,
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    #[arg(long)]
    pub privileged: bool,
    /// seccomp=FILE|unconfined, no-new-privileges
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// NAME=SOFT[:HARD]
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// /dev/host[:/dev/ctr[:rwm]]
    #[arg(long)]
    pub device: Vec<String>,
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<u32>,
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// A file of KEY=VALUE labels, one per line
    #[arg(long = "label-file")]
    pub label_file: Vec<std::path::PathBuf>,
    /// HOST:IP
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    #[arg(long)]
    pub dns: Vec<String>,
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// A port (or range) for -P, besides the image's EXPOSE
    #[arg(long)]
    pub expose: Vec<String>,
    /// A supplementary group (name in the image, or GID)
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// private or host
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// Write the container's id to this file (which must not exist)
    #[arg(long)]
    pub cidfile: Option<std::path::PathBuf>,
    /// A shell command whose success means healthy
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Between checks (default 30s)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// For one check to answer (default 30s)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Failures in a row that make it unhealthy (default 3)
    #[arg(long = "health-retries")]
    pub health_retries: Option<u32>,
    /// Failures during this time after start do not count
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Run an init (catatonit) as PID 1 that forwards signals and reaps
    #[arg(long)]
    pub init: bool,
    /// OCI runtime: a path or a name in PATH (default: berth-runtime next to berth)
    #[arg(long)]
    pub runtime: Option<String>,
    #[arg(long)]
    pub sysctl: Vec<String>,
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    #[arg(long)]
    pub ipc: Option<String>,
    #[arg(long)]
    pub pid: Option<String>,
    #[arg(long)]
    pub uts: Option<String>,
    /// max-size=SIZE (the log rotates past it)
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// IMAGE [COMMAND [ARG...]]: one list, so flags after the image belong to the command
    #[arg(
        required = true,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND [ARG...]]"
    )]
    pub args: Vec<String>,
}

impl CreateFlags {
    pub fn options(&self) -> anyhow::Result<CreateOptions> {
        let mut log_max_size = None;
        for o in &self.log_opt {
            match o.split_once('=') {
                Some(("max-size", v)) => log_max_size = Some(v.to_string()),
                _ => anyhow::bail!("invalid --log-opt {o:?}: only max-size=SIZE is supported"),
            }
        }
        let mut o = CreateOptions {
            image: self.args[0].clone(),
            image_id: None,
            cmd: self.args[1..].to_vec(),
            entrypoint: self.entrypoint.clone(),
            name: self.name.clone(),
            tty: self.tty,
            interactive: self.interactive,
            auto_remove: self.rm,
            restart: self.restart.clone(),
            env: self.env.clone(),
            env_files: self.env_file.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            volumes: self.volume.clone(),
            volumes_from: self.volumes_from.clone(),
            mounts: self.mount.clone(),
            tmpfs: self.tmpfs.clone(),
            network: self.network.clone(),
            publish: self.publish.clone(),
            ip: self.ip.clone(),
            ip6: self.ip6.clone(),
            network_aliases: self.network_alias.clone(),
            publish_all: self.publish_all,
            read_only: self.read_only,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            security_opt: self.security_opt.clone(),
            ulimits: self.ulimit.clone(),
            devices: self.device.clone(),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            labels: {
                let mut l = Vec::new();
                for f in &self.label_file {
                    let text = std::fs::read_to_string(f).map_err(|e| {
                        anyhow::anyhow!("invalid --label-file {}: {e}", f.display())
                    })?;
                    l.extend(
                        text.lines()
                            .map(str::trim)
                            .filter(|x| !x.is_empty() && !x.starts_with('#'))
                            .map(String::from),
                    );
                }
                l.extend(self.label.iter().cloned());
                l
            },
            dns_search: self.dns_search.clone(),
            dns_options: self.dns_option.clone(),
            expose: self.expose.clone(),
            group_add: self.group_add.clone(),
            oom_score_adj: self.oom_score_adj,
            memory_reservation: self.memory_reservation.clone(),
            cgroupns: self.cgroupns.clone(),
            health_cmd: self.health_cmd.clone(),
            health_interval: self.health_interval.clone(),
            health_timeout: self.health_timeout.clone(),
            health_start_period: self.health_start_period.clone(),
            health_retries: self.health_retries,
            no_healthcheck: self.no_healthcheck,
            add_hosts: self.add_host.clone(),
            dns: self.dns.clone(),
            init: self.init,
            runtime: self.runtime.clone(),
            sysctls: self.sysctl.clone(),
            shm_size: self.shm_size.clone(),
            ipc: self.ipc.clone(),
            pid: self.pid.clone(),
            uts: self.uts.clone(),
            log_max_size,
            ..Default::default()
        };
        self.limits.apply(&mut o);
        Ok(o)
    }
}
