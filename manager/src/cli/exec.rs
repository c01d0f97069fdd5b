use berth::container::lifecycle::{self, ExecOptions};

#[derive(clap::Args)]
pub struct Args {
    #[arg(short, long)]
    pub detach: bool,
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(short, long)]
    pub tty: bool,
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    #[arg(short, long)]
    pub workdir: Option<String>,
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(long)]
    pub privileged: bool,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub cmd: Vec<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let code = lifecycle::exec(
        &g.root,
        &a.container,
        &ExecOptions {
            cmd: a.cmd,
            detach: a.detach,
            tty: a.tty,
            interactive: a.interactive,
            env: a.env,
            workdir: a.workdir,
            user: a.user,
            privileged: a.privileged,
        },
    )?;
    super::containers::exit_with(code)
}
