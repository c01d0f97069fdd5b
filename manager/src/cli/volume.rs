use berth::volume::VolumeStore;
use clap::Subcommand;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Verb,
}

#[derive(Subcommand)]
pub enum Verb {
    /// Create a volume (a random name if none is given)
    Create {
        #[arg(short, long = "label")]
        label: Vec<String>,
        name: Option<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
    },
    /// Show volumes as JSON
    Inspect {
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused volumes (anonymous ones unless -a)
    Prune {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        force: bool,
    },
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let vs = VolumeStore::open(&g.root)?;
    match a.command {
        Verb::Create { label, name } => {
            let name = name.unwrap_or_else(berth::container::random_id);
            let labels = label
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            let v = vs.create(&name, labels, false)?;
            berth::events::emit(&g.root, "volume", "create", &v.name, &[("driver", "local")]);
            println!("{}", v.name);
        }
        Verb::Ls { quiet, format } => {
            let list = vs.list();
            if quiet {
                list.iter().for_each(|v| println!("{}", v.name));
            } else if format.as_deref() == Some("json") {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if let Some(t) = format {
                let v = list
                    .iter()
                    .map(serde_json::to_value)
                    .collect::<Result<Vec<_>, _>>()?;
                berth::format::print_rows(&t, &v, &|f| (f == "Name").then_some("VOLUME NAME"))?;
            } else {
                let mut rows = vec![vec!["DRIVER".to_string(), "VOLUME NAME".into()]];
                rows.extend(list.iter().map(|v| vec![v.driver.clone(), v.name.clone()]));
                super::output::print_table(&rows);
            }
        }
        Verb::Inspect { format, names } => {
            let list = names
                .iter()
                .map(|n| vs.get(n))
                .collect::<Result<Vec<_>, _>>()?;
            match format {
                Some(t) => {
                    for v in &list {
                        println!("{}", berth::format::render(&t, &serde_json::to_value(v)?)?);
                    }
                }
                None => println!("{}", serde_json::to_string_pretty(&list)?),
            }
        }
        Verb::Rm { force, names } => {
            super::each(&names, |n| {
                vs.remove(n, force)?;
                berth::events::emit(&g.root, "volume", "destroy", n, &[("driver", "local")]);
                println!("{n}");
                Ok(())
            })?;
        }
        Verb::Prune { all, .. } => {
            for n in vs.prune(all)? {
                println!("{n}");
            }
        }
    }
    Ok(())
}
