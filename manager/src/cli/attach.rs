use berth::container::{attach, ContainerStore, Status};

#[derive(clap::Args)]
pub struct Args {
    /// Do not attach stdin
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    pub container: String,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let cs = ContainerStore::open(&g.root)?;
    let c = cs.find(&a.container)?;
    if cs.state(&c).status != Status::Running {
        anyhow::bail!("container {} is not running: cannot attach", c.name);
    }
    let sock = attach::connect(&cs.shim_dir(&c.id))
        .map_err(|e| anyhow::anyhow!("cannot attach to {}: {e}", c.name))?;
    let stdin = !a.no_stdin && c.open_stdin;
    match attach::pump(sock, stdin, c.tty)? {
        attach::Outcome::Exited(code) => super::exit_with(code),
        // docker's CLI says so and exits 1.
        attach::Outcome::Detached => {
            eprintln!("read escape sequence");
            std::process::exit(1)
        }
        attach::Outcome::Lost => {
            berth::container::store::wait_shim_gone(&cs.shim_dir(&c.id));
            super::exit_with(cs.state(&c).exit_code.unwrap_or(255))
        }
    }
}
