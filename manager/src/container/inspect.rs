//! docker's `container inspect` JSON, built from the record and the state
//! read from the live system.

use super::store::{read_health, Container, ContainerStore, Status};

/// docker's `container inspect` shape.
pub fn to_json(cs: &ContainerStore, c: &Container, size: bool) -> serde_json::Value {
    let st = cs.state(c);
    let dir = cs.dir_of(&c.id);
    let image_config = crate::image::store::Store::open(cs.root())
        .and_then(|s| s.resolve(&c.image_id))
        .ok()
        .and_then(|i| i.config.config);
    let mut v = serde_json::json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.args.first(),
        "Args": c.args.get(1..).unwrap_or_default(),
        "State": {
            "Status": st.name(),
            "Running": st.status == Status::Running,
            "Paused": st.paused,
            "Restarting": st.restarting,
            "Health": read_health(cs, c),
            "OOMKilled": st.oom_killed,
            "Dead": false,
            "Pid": st.pid,
            "ExitCode": st.exit_code.unwrap_or(if st.status == Status::Exited { -1 } else { 0 }),
            "Error": if st.status == Status::Exited && st.exit_code.is_none() { "the shim died without recording the exit code" } else { "" },
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
            "StdinOnce": c.stdin_once,
            "Env": config_env(c, &image_config),
            "Cmd": c.args,
            "Image": c.image,
            "WorkingDir": config_workdir(c, &image_config),
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
        v["SizeRw"] = serde_json::json!(crate::container::store::dir_size(&dir.join("upper")));
    }
    v
}

/// docker's NetworkSettings: the primary network's address at the top, each
/// network's under Networks, and Ports as docker maps them.
fn network_settings(root: &std::path::Path, c: &Container) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let atts = crate::network::attachments(root, &c.id).unwrap_or_default();
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
                "GlobalIPv6Address": a.ip6.map(|i| i.to_string()).unwrap_or_default(),
                "GlobalIPv6PrefixLen": a.prefix6,
                "IPv6Gateway": a.gateway6.map(|i| i.to_string()).unwrap_or_default(),
            }),
        );
    }
    // The networks it is configured for, attached or not yet (as docker
    // shows a created container's): clients such as docker-compose read
    // them to know what is left to connect.
    let configured = c
        .net_request
        .as_ref()
        .map(|r| (r.network.clone(), r.aliases.clone()))
        .into_iter()
        .chain(
            crate::container::net::connected(c)
                .into_iter()
                .map(|n| (n, Vec::new())),
        );
    for (n, aliases) in configured {
        networks.entry(n).or_insert_with(|| {
            json!({
                "IPAddress": "", "IPPrefixLen": 0, "Gateway": "", "MacAddress": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": "",
                "Aliases": aliases,
            })
        });
    }
    let primary = atts
        .iter()
        .find(|a| c.network_mode.network() == Some(a.network.as_str()))
        .or(atts.first());
    let s = |f: &dyn Fn(&crate::network::Attachment) -> String| primary.map(f).unwrap_or_default();
    json!({
        "IPAddress": s(&|a| a.ip.to_string()),
        "IPPrefixLen": primary.map(|a| a.prefix).unwrap_or(0),
        "Gateway": s(&|a| a.gateway.to_string()),
        "MacAddress": s(&|a| a.mac.clone()),
        "GlobalIPv6Address": s(&|a| a.ip6.map(|i| i.to_string()).unwrap_or_default()),
        "GlobalIPv6PrefixLen": primary.map(|a| a.prefix6).unwrap_or(0),
        "IPv6Gateway": s(&|a| a.gateway6.map(|i| i.to_string()).unwrap_or_default()),
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
    // "default" when --network was not given, as docker records it.
    if h.get("NetworkMode").and_then(|v| v.as_str()) != Some("default") {
        h.insert("NetworkMode".into(), serde_json::json!(c.network_mode));
    }
    h.insert("AutoRemove".into(), serde_json::json!(c.auto_remove));
    h.insert("Runtime".into(), serde_json::json!(c.runtime));
    // berth's logs are the shim's files, read by `logs` as docker reads its
    // json-file driver's: clients (docker-py's run) check for that name to
    // know they can read them back.
    let mut log_cfg = serde_json::Map::new();
    if c.log_max_size > 0 {
        log_cfg.insert(
            "max-size".into(),
            serde_json::json!(c.log_max_size.to_string()),
        );
    }
    h.insert(
        "LogConfig".into(),
        serde_json::json!({"Type": "json-file", "Config": log_cfg}),
    );
    serde_json::Value::Object(h)
}

/// Config.Env as docker records it: the image's and the user's variables,
/// without what berth adds to the process (HOSTNAME, TERM for a tty, the
/// default PATH of an image that has none); null when that leaves nothing.
fn config_env(
    c: &Container,
    image: &Option<crate::image::types::ContainerConfig>,
) -> Option<Vec<String>> {
    let image_env = image
        .as_ref()
        .and_then(|i| i.env.clone())
        .unwrap_or_default();
    let image_path = image_env.iter().any(|e| e.starts_with("PATH="));
    let env: Vec<String> = c
        .env
        .iter()
        .filter(|e| {
            !(e.starts_with("HOSTNAME=")
                || c.tty && *e == "TERM=xterm"
                || !image_path && *e == crate::image::config::DEFAULT_PATH)
        })
        .cloned()
        .collect();
    (!env.is_empty()).then_some(env)
}

/// Config.WorkingDir: empty when neither the image nor the user chose one.
fn config_workdir(c: &Container, image: &Option<crate::image::types::ContainerConfig>) -> String {
    let image_wd = image
        .as_ref()
        .and_then(|i| i.working_dir.clone())
        .unwrap_or_default();
    if c.working_dir == "/" && image_wd.is_empty() {
        String::new()
    } else {
        c.working_dir.clone()
    }
}
