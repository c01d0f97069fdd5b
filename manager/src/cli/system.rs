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
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    match a.command {
        Verb::Info(a) => super::info::run(g, a),
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
                .map(|c| super::ps::dir_size(&cs.dir_of(&c.id).join("upper")))
                .sum();
            let vsize: u64 = vols
                .iter()
                .map(|v| super::ps::dir_size(&vs.data_dir(&v.name)))
                .sum();
            let active_imgs = imgs
                .iter()
                .filter(|i| !store.holders(&i.id).is_empty())
                .count();
            let active_ctrs = ctrs
                .iter()
                .filter(|c| cs.state(c).status == berth::container::Status::Running)
                .count();
            let active_vols = vols
                .iter()
                .filter(|v| !vs.users(&v.name).is_empty())
                .count();
            let h = super::size4;
            super::ps::print_table(&[
                vec![
                    "TYPE".into(),
                    "TOTAL".into(),
                    "ACTIVE".into(),
                    "SIZE".into(),
                ],
                vec![
                    "Images".into(),
                    imgs.len().to_string(),
                    active_imgs.to_string(),
                    h(isize),
                ],
                vec![
                    "Containers".into(),
                    ctrs.len().to_string(),
                    active_ctrs.to_string(),
                    h(csize),
                ],
                vec![
                    "Local Volumes".into(),
                    vols.len().to_string(),
                    active_vols.to_string(),
                    h(vsize),
                ],
            ]);
            Ok(())
        }
    }
}
