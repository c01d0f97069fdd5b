use berth::container::lifecycle;

#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct Args {
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    #[command(flatten)]
    pub flags: super::run::CreateFlags,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    super::errors_exit_125();
    let mut o = a.flags.options()?;
    super::run::check_cidfile(a.flags.cidfile.as_deref())?;
    o.image_id = super::run::ensure_image(g, &o.image, a.flags.pull.as_deref())?;
    let c = lifecycle::create(&g.root, &o)?;
    super::run::write_cidfile(g, a.flags.cidfile.as_deref(), &c.id)?;
    println!("{}", c.id);
    Ok(())
}
