//! `berth network create|ls|inspect|rm|connect|disconnect|prune`.

use super::Globals;
use anyhow::{bail, Context, Result};
use berth::network;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Create a network (a bridge with its own subnet)
    Create {
        /// Subnet in CIDR form (default: a free one from the pool)
        #[arg(long)]
        subnet: Option<String>,
        /// Gateway address on the bridge (default: the subnet's first address)
        #[arg(long)]
        gateway: Option<String>,
        /// Only "bridge" exists
        #[arg(short, long, default_value = "bridge")]
        driver: String,
        name: String,
    },
    /// List networks
    #[command(alias = "list")]
    Ls {
        /// Only names
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show networks as JSON
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Attach a container to a network (now if it runs, and on every start)
    Connect { network: String, container: String },
    /// Detach a container from a network
    Disconnect { network: String, container: String },
    /// Remove all networks no container uses
    Prune {
        /// Do not ask (berth never asks; accepted for docker compatibility)
        #[arg(short, long)]
        force: bool,
    },
}

pub fn run(g: &Globals, a: Args) -> Result<()> {
    let root = &g.root;
    match a.cmd {
        Cmd::Create {
            subnet,
            gateway,
            driver,
            name,
        } => {
            if driver != "bridge" {
                bail!("unsupported network driver {driver:?}: only \"bridge\"");
            }
            let n = network::create(root, &name, subnet.as_deref(), gateway.as_deref())
                .with_context(|| format!("creating network {name}"))?;
            berth::events::emit(
                root,
                "network",
                "create",
                &n.id,
                &[("name", &name), ("type", "bridge")],
            );
            println!("{}", n.id);
        }
        Cmd::Ls { quiet } => {
            let nets = network::list(root)?;
            if quiet {
                for n in nets {
                    println!("{}", n.name);
                }
                return Ok(());
            }
            println!(
                "{:<12}  {:<20}  {:<8}  {:<18}  {:<12}  CONTAINERS",
                "NETWORK ID", "NAME", "DRIVER", "SUBNET", "BRIDGE"
            );
            for n in nets {
                println!(
                    "{:<12}  {:<20}  {:<8}  {:<18}  {:<12}  {}",
                    &n.id[..12],
                    n.name,
                    n.driver,
                    n.subnet.to_string(),
                    n.bridge,
                    n.leases.len()
                );
            }
        }
        Cmd::Inspect { names } => {
            let mut out = Vec::new();
            for name in &names {
                out.push(network::inspect(root, name)?);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Cmd::Rm { names } => {
            for name in &names {
                let id = network::inspect(root, name)
                    .map(|n| n.id)
                    .unwrap_or_default();
                network::remove(root, name).with_context(|| format!("removing network {name}"))?;
                berth::events::emit(root, "network", "destroy", &id, &[("name", name)]);
                println!("{name}");
            }
        }
        Cmd::Connect {
            network: net,
            container,
        } => {
            let c = berth::container::net::connect(root, &net, &container)?;
            berth::events::emit(
                root,
                "network",
                "connect",
                &net,
                &[("container", &c.id), ("name", &net)],
            );
        }
        Cmd::Disconnect {
            network: net,
            container,
        } => {
            if berth::container::net::disconnect(root, &net, &container)? {
                berth::events::emit(
                    root,
                    "network",
                    "disconnect",
                    &net,
                    &[("container", &container), ("name", &net)],
                );
                return Ok(());
            }
            let n = network::inspect(root, &net)?;
            let id = n
                .leases
                .values()
                .find(|l| l.name == container || l.container_id.starts_with(&container))
                .map(|l| l.container_id.clone())
                .with_context(|| {
                    format!("container {container} is not attached to network {net}")
                })?;
            network::disconnect(root, &net, &id)?;
            berth::events::emit(
                root,
                "network",
                "disconnect",
                &net,
                &[("container", &id), ("name", &net)],
            );
        }
        Cmd::Prune { force: _ } => {
            for n in network::prune(root)? {
                println!("{n}");
            }
        }
    }
    Ok(())
}
