use super::Global;
use anyhow::Context;
use berth_runtime::config::{read_bounded, read_input};
use oci_spec::runtime::{LinuxPids, LinuxResources};

#[derive(clap::Args)]
pub struct Args {
    /// JSON file (or - for stdin) with linux.resources to apply
    #[arg(short, long)]
    pub resources: Option<String>,
    #[arg(long)]
    pub memory: Option<String>,
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    pub id: String,
}

/// "100m", "1g", "512k" or plain bytes; "-1" for unlimited.
fn bytes(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    if s == "-1" {
        return Ok(-1);
    }
    let (num, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let m = match s[i..].to_ascii_lowercase().trim_end_matches('b') {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                "t" => 1i64 << 40,
                _ => anyhow::bail!("invalid size {s:?}"),
            };
            (&s[..i], m)
        }
        None => (s, 1),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid size {s:?}"))?;
    Ok(n * mult)
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let mut r: LinuxResources = match a.resources.as_deref() {
        Some("-") => serde_json::from_slice(&read_bounded(
            std::io::stdin(),
            std::path::Path::new("standard input"),
        )?)
        .context("invalid resources JSON on stdin")?,
        Some(f) => serde_json::from_slice(&read_input(std::path::Path::new(f))?)
            .with_context(|| format!("invalid resources JSON in {f}"))?,
        None => LinuxResources::default(),
    };
    if a.memory.is_some() || a.memory_swap.is_some() || a.memory_reservation.is_some() {
        let mut m = (*r.memory()).unwrap_or_default();
        if let Some(v) = &a.memory {
            m.set_limit(Some(bytes(v)?));
        }
        if let Some(v) = &a.memory_swap {
            m.set_swap(Some(bytes(v)?));
        }
        if let Some(v) = &a.memory_reservation {
            m.set_reservation(Some(bytes(v)?));
        }
        r.set_memory(Some(m));
    }
    if a.cpu_quota.is_some()
        || a.cpu_period.is_some()
        || a.cpu_shares.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
    {
        let mut c = r.cpu().clone().unwrap_or_default();
        if a.cpu_quota.is_some() {
            c.set_quota(a.cpu_quota);
        }
        if a.cpu_period.is_some() {
            c.set_period(a.cpu_period);
        }
        if a.cpu_shares.is_some() {
            c.set_shares(a.cpu_shares);
        }
        if a.cpuset_cpus.is_some() {
            c.set_cpus(a.cpuset_cpus.clone());
        }
        if a.cpuset_mems.is_some() {
            c.set_mems(a.cpuset_mems.clone());
        }
        r.set_cpu(Some(c));
    }
    if let Some(l) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(l);
        r.set_pids(Some(p));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    berth_runtime::container::update(&g.root, &a.id, &r)?;
    Ok(0)
}
