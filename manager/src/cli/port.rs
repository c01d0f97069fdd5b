use berth::container::ContainerStore;

#[derive(clap::Args)]
pub struct Args {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]: print only where it is published
    pub port: Option<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let c = ContainerStore::open(&g.root)?.find(&a.container)?;
    let Some(want) = a.port else {
        for p in &c.ports {
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
    let hits: Vec<&str> = c
        .ports
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
