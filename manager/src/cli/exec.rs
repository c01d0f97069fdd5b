use berth::container::exec::{self, ExecOptions};

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
    /// CONTAINER COMMAND [ARG...]: one list, so flags after the container belong to the command
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, value_name = "CONTAINER COMMAND [ARG...]")]
    pub args: Vec<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let code = exec::exec(
        &g.root,
        &a.args[0],
        &ExecOptions {
            cmd: a.args[1..].to_vec(),
            detach: a.detach,
            tty: a.tty,
            interactive: a.interactive,
            env: a.env,
            workdir: a.workdir,
            user: a.user,
            privileged: a.privileged,
        },
    )?;
    super::exit_with(code)
}
