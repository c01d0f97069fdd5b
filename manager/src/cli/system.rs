use berth::container::ContainerStore;
use clap::Subcommand;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Verb,
}

#[derive(Subcommand)]
pub enum Verb {
    /// Show disk usage of images, containers and volumes
    Df,
    /// Show system information
    Info(super::info::Args),
    /// Show what berth did: containers, images, networks, volumes
    Events(super::events::Args),
    /// Serve docker's Engine API on a socket (as `berth serve`)
    Service(super::serve::Args),
    /// Remove stopped containers, unused networks, dangling images (and more with -a, --volumes)
    Prune {
        /// Every image no container uses, not only untagged ones
        #[arg(short, long)]
        all: bool,
        /// Volumes no container uses, too (named ones as well, as docker 20.10)
        #[arg(long)]
        volumes: bool,
        /// Do not ask (berth never asks; accepted for docker compatibility)
        #[arg(short, long)]
        force: bool,
    },
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    match a.command {
        Verb::Info(a) => super::info::run(g, a),
        Verb::Events(a) => super::events::run(g, a),
        Verb::Service(a) => super::serve::run(g, a),
        Verb::Prune { all, volumes, .. } => prune(g, all, volumes),
        Verb::Df => {
            let store = g.store()?;
            let imgs = store.images()?;
            let cs = ContainerStore::open(&g.root)?;
            let ctrs = cs.list();
            let vs = berth::volume::VolumeStore::open(&g.root)?;
            let vols = vs.list();
            let isize: u64 = imgs.iter().map(|i| i.size).sum();
            let csize: u64 = ctrs
                .iter()
                .map(|c| super::output::dir_size(&cs.dir_of(&c.id).join("upper")))
                .sum();
            let vsize: u64 = vols
                .iter()
                .map(|v| super::output::dir_size(&vs.data_dir(&v.name)))
                .sum();
            let active_imgs: Vec<_> = imgs
                .iter()
                .filter(|i| !store.holders(&i.id).is_empty())
                .collect();
            let used_isize: u64 = active_imgs.iter().map(|i| i.size).sum();
            let running = |c: &berth::container::Container| {
                cs.state(c).status == berth::container::Status::Running
            };
            let active_ctrs = ctrs.iter().filter(|c| running(c)).count();
            let idle_csize: u64 = ctrs
                .iter()
                .filter(|c| !running(c))
                .map(|c| super::output::dir_size(&cs.dir_of(&c.id).join("upper")))
                .sum();
            let active_vols: Vec<_> = vols
                .iter()
                .filter(|v| !vs.users(&v.name).is_empty())
                .collect();
            let idle_vsize: u64 = vols
                .iter()
                .filter(|v| vs.users(&v.name).is_empty())
                .map(|v| super::output::dir_size(&vs.data_dir(&v.name)))
                .sum();
            let h = super::output::size4;
            // docker's RECLAIMABLE: what no running container (images: no
            // container; volumes: no container) holds, and its share.
            let rec = |r: u64, total: u64| match (r * 100).checked_div(total) {
                Some(p) => format!("{} ({p}%)", h(r)),
                None => h(r),
            };
            let rows = [
                [
                    "TYPE".to_string(),
                    "TOTAL".into(),
                    "ACTIVE".into(),
                    "SIZE".into(),
                    "RECLAIMABLE".into(),
                ],
                [
                    "Images".into(),
                    imgs.len().to_string(),
                    active_imgs.len().to_string(),
                    h(isize),
                    rec(isize.saturating_sub(used_isize), isize),
                ],
                [
                    "Containers".into(),
                    ctrs.len().to_string(),
                    active_ctrs.to_string(),
                    h(csize),
                    rec(idle_csize, csize),
                ],
                [
                    "Local Volumes".into(),
                    vols.len().to_string(),
                    active_vols.len().to_string(),
                    h(vsize),
                    rec(idle_vsize, vsize),
                ],
                // berth builds nothing: docker's line, empty.
                ["Build Cache".into(), "0".into(), "0".into(), h(0), h(0)],
            ];
            let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
            // docker prints this table through its template formatter.
            print!("{}", berth::format::TabWriter::TEMPLATE.layout(&rows));
            Ok(())
        }
    }
}

/// docker's `system prune`: containers first, so that what they held is
/// unused when networks, volumes and images are pruned.
fn prune(g: &super::Globals, all: bool, volumes: bool) -> anyhow::Result<()> {
    let section = |title: &str, items: &[String]| {
        if !items.is_empty() {
            println!("Deleted {title}:");
            for i in items {
                println!("{i}");
            }
            println!();
        }
    };
    let cs = ContainerStore::open(&g.root)?;
    let mut reclaimed: u64 = 0;
    for c in cs.list() {
        if cs.state(&c).status != berth::container::Status::Running {
            reclaimed += super::output::dir_size(&cs.dir_of(&c.id).join("upper"));
        }
    }
    section("Containers", &berth::container::lifecycle::prune(&g.root)?);
    section("Networks", &berth::network::prune(&g.root)?);
    if volumes {
        let vs = berth::volume::VolumeStore::open(&g.root)?;
        let sizes: std::collections::HashMap<String, u64> = vs
            .list()
            .iter()
            .map(|v| {
                (
                    v.name.clone(),
                    super::output::dir_size(&vs.data_dir(&v.name)),
                )
            })
            .collect();
        let gone = vs.prune(true)?;
        reclaimed += gone.iter().filter_map(|n| sizes.get(n)).sum::<u64>();
        section("Volumes", &gone);
    }
    let store = g.store()?;
    let sizes: std::collections::HashMap<String, u64> = store
        .images()?
        .iter()
        .map(|i| (i.id.to_string(), i.size))
        .collect();
    let gone: Vec<String> = store.prune(all)?.iter().map(|d| d.to_string()).collect();
    reclaimed += gone.iter().filter_map(|d| sizes.get(d)).sum::<u64>();
    let lines: Vec<String> = gone.iter().map(|d| format!("deleted: {d}")).collect();
    section("Images", &lines);
    println!(
        "Total reclaimed space: {}",
        super::output::size(reclaimed, false)
    );
    Ok(())
}
