use berth::container::{ContainerStore, Status};

#[derive(clap::Args)]
pub struct Args {
    #[arg(short, long)]
    pub format: Option<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let cs = ContainerStore::open(&g.root)?;
    let list = cs.list();
    let count = |s: Status| list.iter().filter(|c| cs.state(c).status == s).count();
    let images = g.store()?.images()?.len();
    let uname = nix::sys::utsname::uname()?;
    let cgv = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        2
    } else {
        1
    };
    let v = serde_json::json!({
        "Containers": list.len(), "ContainersRunning": count(Status::Running),
        "ContainersStopped": count(Status::Exited) + count(Status::Created),
        "Images": images, "Driver": "overlay", "CgroupVersion": cgv.to_string(),
        "KernelVersion": uname.release().to_string_lossy(), "OperatingSystem": "linux",
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": berth::container::cgroup::host_memory(),
        "DefaultRuntime": berth::container::commands::sibling("berth-runtime"),
        "BerthRootDir": g.root, "ServerVersion": env!("CARGO_PKG_VERSION"),
    });
    match a.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&v)?),
        Some(t) => println!("{}", berth::format::render(t, &v)?),
        None => {
            for (k, x) in v.as_object().unwrap() {
                println!(
                    "{k}: {}",
                    x.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| x.to_string())
                );
            }
        }
    }
    Ok(())
}
