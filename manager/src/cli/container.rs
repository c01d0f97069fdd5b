//! `berth container <verb>`: docker's container group.

use berth::container::{lifecycle, Container, ContainerStore};
use clap::Subcommand;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Verb,
}

#[derive(Subcommand)]
pub enum Verb {
    /// List containers
    #[command(alias = "list")]
    Ls(super::ps::Args),
    /// Show low-level information on containers
    Inspect(InspectArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    Run(Box<super::run::Args>),
    Create(Box<super::create::Args>),
    Start(super::start::Args),
    Stop(super::stop::Args),
    Kill(super::kill::Args),
    Restart(super::restart::Args),
    Pause(super::pause::Args),
    Unpause(super::pause::Args),
    Update(super::update::Args),
    Rm(super::rm::Args),
    Logs(super::logs::Args),
    Exec(super::exec::Args),
    Attach(super::attach::Args),
    Wait(super::wait::Args),
    Top(super::top::Args),
    Rename(super::rename::Args),
    Commit(super::commit::Args),
    Diff(super::diff::Args),
    Export(super::export::Args),
    Cp(super::cp::Args),
    Stats(super::stats::Args),
    Port(super::port::Args),
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Go-template subset, e.g. '{{.State.Status}}'
    #[arg(short, long)]
    pub format: Option<String>,
    /// Add SizeRw (the container layer's size)
    #[arg(short, long)]
    pub size: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not ask (berth never asks)
    #[arg(short, long)]
    pub force: bool,
}

/// docker's `container inspect` shape.
pub fn to_json(cs: &ContainerStore, c: &Container, size: bool) -> serde_json::Value {
    let st = cs.state(c);
    let dir = cs.dir_of(&c.id);
    let mut v = serde_json::json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.args.first(),
        "Args": c.args.get(1..).unwrap_or_default(),
        "State": {
            "Status": st.name(),
            "Running": st.status == berth::container::Status::Running,
            "Paused": st.paused,
            "Restarting": st.restarting,
            "Health": berth::container::store::read_health(cs, c),
            "OOMKilled": st.oom_killed,
            "Dead": false,
            "Pid": st.pid,
            "ExitCode": st.exit_code.unwrap_or(if st.status == berth::container::Status::Exited { -1 } else { 0 }),
            "Error": if st.status == berth::container::Status::Exited && st.exit_code.is_none() { "the shim died without recording the exit code" } else { "" },
            "StartedAt": c.started_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "FinishedAt": st.finished_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        },
        "Image": c.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": cs.shim_dir(&c.id).join("ctr.log"),
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": "overlay",
        "Mounts": c.mounts,
        "Config": {
            "Healthcheck": c.health,
            "Hostname": c.hostname,
            "User": c.user,
            "Tty": c.tty,
            "OpenStdin": c.open_stdin,
            "Env": c.env,
            "Cmd": c.args,
            "Image": c.image,
            "WorkingDir": c.working_dir,
            "Labels": c.labels,
            "StopSignal": c.stop_signal,
            "StopTimeout": c.stop_timeout,
        },
        "HostConfig": host_config(c),
        "GraphDriver": {"Name": "overlay", "Data": {
            "UpperDir": dir.join("upper"), "WorkDir": dir.join("work"),
            "MergedDir": dir.join("bundle/rootfs")}},
        "NetworkSettings": network_settings(cs.root(), c),
    });
    if size {
        v["SizeRw"] = serde_json::json!(super::ps::dir_size(&dir.join("upper")));
    }
    v
}

/// docker's NetworkSettings: the primary network's address at the top, each
/// network's under Networks, and Ports as docker maps them.
fn network_settings(root: &std::path::Path, c: &Container) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let atts = berth::network::attachments(root, &c.id).unwrap_or_default();
    let mut ports = Map::new();
    let mut networks = Map::new();
    for a in &atts {
        for p in &a.ports {
            let key = format!("{}/{}", p.container_port, p.proto);
            let host = json!({
                "HostIp": p.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
                "HostPort": p.host_port.to_string(),
            });
            match ports.get_mut(&key) {
                Some(Value::Array(v)) => v.push(host),
                _ => {
                    ports.insert(key, json!([host]));
                }
            }
        }
        networks.insert(
            a.network.clone(),
            json!({
                "IPAddress": a.ip.to_string(), "IPPrefixLen": a.prefix,
                "Gateway": a.gateway.to_string(), "MacAddress": a.mac,
                "Aliases": a.aliases,
            }),
        );
    }
    let primary = atts
        .iter()
        .find(|a| c.network_mode.network() == Some(a.network.as_str()))
        .or(atts.first());
    let s = |f: &dyn Fn(&berth::network::Attachment) -> String| primary.map(f).unwrap_or_default();
    json!({
        "IPAddress": s(&|a| a.ip.to_string()),
        "IPPrefixLen": primary.map(|a| a.prefix).unwrap_or(0),
        "Gateway": s(&|a| a.gateway.to_string()),
        "MacAddress": s(&|a| a.mac.clone()),
        "Ports": ports,
        "Networks": networks,
        "Extra": c.extra_on_disk(),
    })
}

fn host_config(c: &Container) -> serde_json::Value {
    let mut h = match &c.host_config {
        serde_json::Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    h.insert("NetworkMode".into(), serde_json::json!(c.network_mode));
    h.insert("AutoRemove".into(), serde_json::json!(c.auto_remove));
    h.insert("Runtime".into(), serde_json::json!(c.runtime));
    serde_json::Value::Object(h)
}

/// The container's inspect JSON if `name` names one (for the top-level `inspect`).
/// An ambiguous container prefix is an error of its own rather than a miss.
pub fn find_for_inspect(
    g: &super::Globals,
    name: &str,
) -> anyhow::Result<Option<serde_json::Value>> {
    let Ok(cs) = ContainerStore::open(&g.root) else {
        return Ok(None);
    };
    match cs.find(name) {
        Ok(c) => Ok(Some(to_json(&cs, &c, false))),
        Err(e @ berth::container::ContainerError::Ambiguous(_)) => Err(e.into()),
        Err(_) => Ok(None),
    }
}

pub fn inspect(g: &super::Globals, a: InspectArgs) -> anyhow::Result<()> {
    let cs = ContainerStore::open(&g.root)?;
    let mut out = Vec::new();
    for n in &a.containers {
        out.push(to_json(&cs, &cs.find(n)?, a.size));
    }
    match &a.format {
        Some(f) => {
            for v in &out {
                println!("{}", berth::format::render(f, v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    Ok(())
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    match a.command {
        Verb::Ls(a) => super::ps::run(g, a),
        Verb::Inspect(a) => inspect(g, a),
        Verb::Prune(_) => {
            for id in lifecycle::prune(&g.root)? {
                println!("{id}");
            }
            Ok(())
        }
        Verb::Run(a) => super::run::run(g, *a),
        Verb::Create(a) => super::create::run(g, *a),
        Verb::Start(a) => super::start::run(g, a),
        Verb::Stop(a) => super::stop::run(g, a),
        Verb::Kill(a) => super::kill::run(g, a),
        Verb::Restart(a) => super::restart::run(g, a),
        Verb::Pause(a) => super::pause::pause(g, a),
        Verb::Unpause(a) => super::pause::unpause(g, a),
        Verb::Update(a) => super::update::run(g, a),
        Verb::Rm(a) => super::rm::run(g, a),
        Verb::Logs(a) => super::logs::run(g, a),
        Verb::Exec(a) => super::exec::run(g, a),
        Verb::Attach(a) => super::attach::run(g, a),
        Verb::Wait(a) => super::wait::run(g, a),
        Verb::Top(a) => super::top::run(g, a),
        Verb::Rename(a) => super::rename::run(g, a),
        Verb::Commit(a) => super::commit::run(g, a),
        Verb::Diff(a) => super::diff::run(g, a),
        Verb::Export(a) => super::export::run(g, a),
        Verb::Cp(a) => super::cp::run(g, a),
        Verb::Stats(a) => super::stats::run(g, a),
        Verb::Port(a) => super::port::run(g, a),
    }
}
