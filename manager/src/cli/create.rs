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
    let c = lifecycle::create(&g.root, &a.flags.options()?)?;
    println!("{}", c.id);
    Ok(())
}
