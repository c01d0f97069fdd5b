use berth::container::{lifecycle, ContainerStore};

#[derive(clap::Args)]
pub struct Args {
    /// Attach stdout/stderr and exit with the container's code
    #[arg(short, long)]
    pub attach: bool,
    /// Attach stdin
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let cs = ContainerStore::open(&g.root)?;
    if a.attach && a.containers.len() == 1 {
        let c = cs.find(&a.containers[0])?;
        let s = lifecycle::start(&g.root, &c, true)?;
        let sock = s.attach.expect("attached");
        return match lifecycle::finish_attached(&g.root, &s.container, sock, a.interactive)? {
            Some(code) => super::exit_with(code),
            None => Ok(()),
        };
    }
    super::each(&a.containers, |n| {
        let c = cs.find(n)?;
        lifecycle::start(&g.root, &c, false)?;
        println!("{n}");
        Ok(())
    })
}
