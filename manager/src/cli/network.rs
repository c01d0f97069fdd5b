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
        /// Subnet in CIDR form, one per family (default: a free one from the pool)
        #[arg(long)]
        subnet: Vec<String>,
        /// Gateway address on the bridge, one per family (default: the subnet's first address)
        #[arg(long)]
        gateway: Vec<String>,
        /// Dual stack: an IPv6 subnet next to the IPv4 one
        #[arg(long)]
        ipv6: bool,
        /// Hand out container addresses from this IPv4 range only
        #[arg(long)]
        ip_range: Option<String>,
        /// NAME=IP: an address IPAM never hands out
        #[arg(long)]
        aux_address: Vec<String>,
        /// The CNI conflist of a -d cni network
        #[arg(long)]
        cni_config: Option<std::path::PathBuf>,
        /// Driver option KEY=VALUE
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
        /// bridge, macvlan, ipvlan or cni
        #[arg(short, long, default_value = "bridge")]
        driver: String,
        name: String,
    },
    /// Serves a port published on [::1] (started by berth itself)
    #[command(hide = true)]
    InternalProxy {
        #[arg(long)]
        to: std::net::SocketAddr,
        /// PID:STARTTIME of the container's namespace holder
        #[arg(long)]
        watch: String,
    },
    /// List networks
    #[command(alias = "list")]
    Ls {
        /// Only ids
        #[arg(short, long)]
        quiet: bool,
        /// Whole ids
        #[arg(long)]
        no_trunc: bool,
        /// Go template (fields ID, Name, Driver, Scope, IPv6, Internal, CreatedAt)
        #[arg(long)]
        format: Option<String>,
    },
    /// Show networks as JSON
    Inspect {
        /// Go template, one line per network
        #[arg(short, long)]
        format: Option<String>,
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
    /// Run the CNI CHECK of a container on a cni network
    Check { network: String, container: String },
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
        Cmd::InternalProxy { to, watch } => {
            let (p, t) = watch
                .split_once(':')
                .and_then(|(p, t)| Some((p.parse().ok()?, t.parse().ok()?)))
                .context("--watch wants PID:STARTTIME")?;
            network::proxy::run(to, (p, t))?;
        }
        Cmd::Create {
            subnet,
            gateway,
            ipv6,
            ip_range,
            aux_address,
            cni_config,
            opt,
            driver,
            name,
        } => {
            let mut options = std::collections::BTreeMap::new();
            for o in &opt {
                let Some((k, v)) = o.split_once('=') else {
                    bail!("invalid -o {o:?}: want KEY=VALUE");
                };
                options.insert(k.to_string(), v.to_string());
            }
            let opts = network::CreateOpts {
                driver: driver.clone(),
                subnets: subnet,
                gateways: gateway,
                ipv6,
                options,
                ip_range,
                aux: aux_address,
                cni_config,
            };
            let n = network::create_with(root, &name, &opts)
                .with_context(|| format!("creating network {name}"))?;
            berth::events::emit(
                root,
                "network",
                "create",
                &n.id,
                &[("name", &name), ("type", &n.driver)],
            );
            println!("{}", n.id);
        }
        Cmd::Ls {
            quiet,
            no_trunc,
            format,
        } => {
            let nets = network::docker::list_all(root)?;
            let id = |n: &network::docker::Listed| {
                if no_trunc {
                    n.id.clone()
                } else {
                    n.id[..12].to_string()
                }
            };
            if quiet {
                for n in &nets {
                    println!("{}", id(n));
                }
                return Ok(());
            }
            if let Some(f) = format {
                let rows: Vec<_> = nets
                    .iter()
                    .map(|n| {
                        let mut v = network::docker::ls_json(n);
                        v["ID"] = id(n).into();
                        v
                    })
                    .collect();
                berth::format::print_rows(&f, &rows, &|f| match f {
                    "ID" => Some("NETWORK ID"),
                    _ => None,
                })?;
                return Ok(());
            }
            let mut rows = vec![vec![
                "NETWORK ID".to_string(),
                "NAME".into(),
                "DRIVER".into(),
                "SCOPE".into(),
            ]];
            for n in &nets {
                rows.push(vec![
                    id(n),
                    n.name.clone(),
                    n.driver.clone(),
                    "local".into(),
                ]);
            }
            // docker prints this table through its template formatter.
            print!("{}", berth::format::TabWriter::TEMPLATE.layout(&rows));
        }
        Cmd::Inspect { format, names } => {
            let mut out = Vec::new();
            for name in &names {
                out.push(network::docker::inspect_json(&network::docker::find(
                    root, name,
                )?));
            }
            print_inspect(&out, format.as_deref())?;
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
        Cmd::Check { network, container } => {
            let c = berth::container::store::ContainerStore::open(root)?.find(&container)?;
            network::check(root, &network, &c.id)
                .with_context(|| format!("CNI CHECK of {container} on {network}"))?;
            println!("ok");
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

/// JSON, or `format` rendered once per object.
pub fn print_inspect(out: &[serde_json::Value], format: Option<&str>) -> Result<()> {
    match format {
        Some(f) => {
            for v in out {
                println!("{}", berth::format::render(f, v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(out)?),
    }
    Ok(())
}
