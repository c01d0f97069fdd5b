use berth::container::ContainerStore;

#[derive(clap::Args)]
pub struct Args {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]: print only where it is published
    pub port: Option<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let cs = ContainerStore::open(&g.root)?;
    let c = cs.find(&a.container)?;
    // Ports are published while the container runs only, as in docker.
    let ports: &[String] = if cs.state(&c).status == berth::container::Status::Running {
        &c.ports
    } else {
        &[]
    };
    let Some(want) = a.port else {
        for p in ports {
            println!("{p}");
        }
        return Ok(());
    };
    let want = if want.contains('/') {
        want
    } else {
        format!("{want}/tcp")
    };
    // Records read `80/tcp -> 127.0.0.1:8080`.
    let hits: Vec<&str> = ports
        .iter()
        .filter_map(|p| p.split_once(" -> "))
        .filter(|(ctr, _)| *ctr == want)
        .map(|(_, host)| host)
        .collect();
    if hits.is_empty() {
        anyhow::bail!("no public port {want} published for container {}", c.name);
    }
    for h in hits {
        println!("{h}");
    }
    Ok(())
}
