//! `/_ping`, `/version`, `/info`.

use super::body::{self, ApiError, Body};
use super::{blocking, Ctx, API_VERSION, MIN_API_VERSION};
use crate::container::{ContainerStore, Status};
use hyper::{Response, StatusCode};
use std::sync::Arc;

pub fn ping() -> Response<Body> {
    let mut r = body::text(StatusCode::OK, "OK");
    r.headers_mut().insert(
        "Cache-Control",
        "no-cache, no-store, must-revalidate"
            .parse()
            .expect("header"),
    );
    r
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn version() -> Response<Body> {
    let v = env!("CARGO_PKG_VERSION");
    let details = serde_json::json!({
        "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
        "Arch": "amd64", "KernelVersion": kernel(), "GitCommit": "", "GoVersion": "",
        "BuildTime": "", "Experimental": "false",
    });
    body::json(
        StatusCode::OK,
        &serde_json::json!({
            "Platform": {"Name": "berth"},
            "Components": [{"Name": "Engine", "Version": v, "Details": details}],
            "Version": v, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "", "GoVersion": "", "Os": "linux", "Arch": "amd64",
            "KernelVersion": kernel(), "BuildTime": "",
        }),
    )
}

pub async fn info(ctx: Arc<Ctx>) -> Result<Response<Body>, ApiError> {
    let v = blocking(move || {
        let cs = ContainerStore::open(ctx.root())?;
        let list = cs.list();
        let states: Vec<_> = list.iter().map(|c| cs.state(c)).collect();
        let running = states.iter().filter(|s| s.status == Status::Running);
        let paused = running.clone().filter(|s| s.paused).count();
        let running = running.count();
        let images = ctx.store()?.images()?.len();
        let cgv = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            "2"
        } else {
            "1"
        };
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let runtime = crate::container::commands::sibling("berth-runtime");
        let mut v = serde_json::json!({
            "ID": "", "Containers": list.len(), "ContainersRunning": running - paused,
            "ContainersPaused": paused, "ContainersStopped": list.len() - running,
            "Images": images, "Driver": "overlay2", "DriverStatus": [],
            "DockerRootDir": ctx.root(), "SystemStatus": null,
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Log": ["json-file"]},
            "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true,
            "CPUShares": true, "CPUSet": true, "PidsLimit": true, "IPv4Forwarding": true,
            "Debug": false, "NFd": 0, "NGoroutines": 0, "SystemTime": crate::container::now_rfc3339(),
            "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": cgv,
            "KernelVersion": kernel(), "OperatingSystem": "linux", "OSVersion": "",
            "OSType": "linux", "Architecture": "x86_64",
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "MemTotal": crate::container::cgroup::host_memory(),
        });
        let more = serde_json::json!({
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"InsecureRegistryCIDRs": [], "IndexConfigs": {}, "Mirrors": []},
            "Name": host, "Labels": [], "ExperimentalBuild": false,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": {"berth-runtime": {"path": runtime}}, "DefaultRuntime": "berth-runtime",
            "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true, "Isolation": "", "InitBinary": "", "SecurityOptions": ["name=seccomp,profile=default"],
            "Warnings": [],
        });
        if let (Some(m), serde_json::Value::Object(x)) = (v.as_object_mut(), more) {
            m.extend(x);
        }
        Ok(v)
    })
    .await?;
    Ok(body::json(StatusCode::OK, &v))
}
