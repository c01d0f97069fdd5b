use berth::container::lifecycle;
use berth::container::opts::CreateOptions;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub limits: super::create::LimitFlags,
    /// no, always, unless-stopped or on-failure[:MAX-RETRIES]
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let mut o = CreateOptions {
        restart: a.restart.clone(),
        ..Default::default()
    };
    a.limits.apply(&mut o);
    if berth::container::spec::is_empty(&berth::container::spec::resources(&o)?)
        && o.restart.is_none()
    {
        anyhow::bail!("update: nothing to update: give a limit or --restart");
    }
    super::each(&a.containers, |n| {
        lifecycle::update(&g.root, n, &o)?;
        println!("{n}");
        Ok(())
    })
}
