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
    /// TLS on the TCP hosts
    #[arg(long)]
    pub tls: bool,
    /// TLS, and only clients with a certificate signed by --tlscacert
    #[arg(long)]
    pub tlsverify: bool,
    #[arg(long)]
    pub tlscacert: Option<std::path::PathBuf>,
    #[arg(long)]
    pub tlscert: Option<std::path::PathBuf>,
    #[arg(long)]
    pub tlskey: Option<std::path::PathBuf>,
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
    let tls = if a.tls || a.tlsverify {
        let (Some(cert), Some(key)) = (a.tlscert, a.tlskey) else {
            anyhow::bail!("--tls and --tlsverify need --tlscert and --tlskey");
        };
        Some(berth::api::TlsOptions {
            verify: a.tlsverify,
            ca: a.tlscacert,
            cert,
            key,
        })
    } else {
        None
    };
    berth::api::serve(ServeOptions {
        root: g.root.clone(),
        hosts,
        tls,
        group: a.group,
        default_registry: g.default_registry.clone(),
        insecure_registries: g.insecure_registries.clone(),
        auth_file: std::env::var_os("BERTH_AUTH_FILE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| g.root.join("auth.json")),
    })?;
    Ok(())
}
