//! `serve` (and `system service`): docker's Engine API on a socket.

use berth::api::{Host, ServeOptions};

#[derive(clap::Args)]
pub struct Args {
    /// unix:///PATH or tcp://HOST:PORT (repeatable; default unix:///run/berth.sock)
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// The group that may use the unix socket (as docker's `docker` group)
    #[arg(long)]
    pub group: Option<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let mut hosts = a
        .hosts
        .iter()
        .map(|h| h.parse::<Host>())
        .collect::<Result<Vec<_>, _>>()?;
    if hosts.is_empty() {
        hosts.push(Host::Unix("/run/berth.sock".into()));
    }
    berth::api::serve(ServeOptions {
        root: g.root.clone(),
        hosts,
        group: a.group,
        default_registry: g.default_registry.clone(),
        insecure_registries: g.insecure_registries.clone(),
        auth_file: std::env::var_os("BERTH_AUTH_FILE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| g.root.join("auth.json")),
    })?;
    Ok(())
}
