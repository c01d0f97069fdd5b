//! What `create`/`run` are asked for, and the parsers of docker's flag syntaxes.

use super::record::{NetworkMode, RestartPolicy};
use super::{bad, Result};
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The image as the user named it (shown by ps and inspect).
    pub image: String,
    /// The image's id, when the caller resolved the name already (with
    /// settings the library does not see, such as --default-registry).
    pub image_id: Option<String>,
    /// Replaces the image's Cmd (with the entrypoint kept) when non-empty.
    pub cmd: Vec<String>,
    pub entrypoint: Option<String>,
    pub name: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    /// docker's StdinOnce (see the container record).
    pub stdin_once: bool,
    pub auto_remove: bool,
    pub restart: Option<String>,
    pub env: Vec<String>,
    pub env_files: Vec<PathBuf>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub volumes: Vec<String>,
    /// `--volumes-from CONTAINER[:ro|rw]`.
    pub volumes_from: Vec<String>,
    pub mounts: Vec<String>,
    pub tmpfs: Vec<String>,
    pub network: Option<String>,
    pub publish: Vec<String>,
    /// `--ip`, on the network of `--network`.
    pub ip: Option<String>,
    /// `--ip6`, on the (dual-stack) network of `--network`.
    pub ip6: Option<String>,
    pub network_aliases: Vec<String>,
    /// -P: every port the image EXPOSEs, on a free host port.
    pub publish_all: bool,
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub memory_reservation: Option<String>,
    pub cpus: Option<String>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub read_only: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    pub ulimits: Vec<String>,
    pub devices: Vec<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    pub labels: Vec<String>,
    pub add_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub init: bool,
    pub runtime: Option<String>,
    pub sysctls: Vec<String>,
    pub shm_size: Option<String>,
    pub ipc: Option<String>,
    /// `--cgroupns`: private (the default) or host.
    pub cgroupns: Option<String>,
    pub group_add: Vec<String>,
    pub oom_score_adj: Option<i32>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--expose`: ports for -P besides the image's.
    pub expose: Vec<String>,
    pub health_cmd: Option<String>,
    pub health_interval: Option<String>,
    pub health_timeout: Option<String>,
    pub health_start_period: Option<String>,
    pub health_retries: Option<u32>,
    pub no_healthcheck: bool,
    pub pid: Option<String>,
    pub uts: Option<String>,
    pub log_max_size: Option<String>,
}

/// `--restart`: docker's policy names; the count bounds on-failure's retries
/// (0: no bound).
pub fn parse_restart(s: &str) -> Result<(RestartPolicy, u32)> {
    let (name, max) = match s.split_once(':') {
        Some((n, m)) => (n, Some(m)),
        None => (s, None),
    };
    match (name, max) {
        ("no", None) => Ok((RestartPolicy::No, 0)),
        ("always", None) => Ok((RestartPolicy::Always, 0)),
        ("unless-stopped", None) => Ok((RestartPolicy::UnlessStopped, 0)),
        ("on-failure", None) => Ok((RestartPolicy::OnFailure, 0)),
        ("on-failure", Some(m)) => m
            .parse::<u32>()
            .map(|m| (RestartPolicy::OnFailure, m))
            .map_err(|_| bad("--restart", s, "the maximum retry count must be a number")),
        ("always" | "unless-stopped" | "no", Some(_)) => Err(bad(
            "--restart",
            s,
            "only on-failure takes a maximum retry count",
        )),
        _ => Err(bad(
            "--restart",
            s,
            "expected no, always, unless-stopped or on-failure[:MAX]",
        )),
    }
}

/// `512m`, `1g`, `1024` (bytes), `2k`... as docker reads --memory.
pub fn parse_size(flag: &'static str, s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.parse().map_err(|_| {
        bad(
            flag,
            s,
            "expected a size like 512m, 1g or a number of bytes",
        )
    })?;
    if !(v >= 0.0 && v.is_finite()) {
        return Err(bad(flag, s, "a size must be positive"));
    }
    Ok((v * mult as f64) as u64)
}

/// One `-v`: `/host:/ctr[:ro]`, `name:/ctr[:ro]` or an anonymous `/ctr`.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeSpec {
    Bind {
        source: PathBuf,
        dest: String,
        ro: bool,
    },
    Named {
        name: String,
        dest: String,
        ro: bool,
    },
    Anonymous {
        dest: String,
    },
}

fn check_dest(flag: &'static str, spec: &str, d: &str) -> Result<String> {
    if !d.starts_with('/') {
        return Err(bad(
            flag,
            spec,
            format!("the container path {d:?} must be absolute"),
        ));
    }
    if d.split('/').any(|c| c == "..") {
        return Err(bad(flag, spec, "the container path may not contain \"..\""));
    }
    Ok(d.to_string())
}

pub fn valid_volume_name(n: &str) -> bool {
    let mut cs = n.chars();
    cs.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && cs.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

pub fn parse_volume(spec: &str) -> Result<VolumeSpec> {
    let f = "-v";
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dest, opts) = match parts.as_slice() {
        [d] => {
            return Ok(VolumeSpec::Anonymous {
                dest: check_dest(f, spec, d)?,
            })
        }
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(bad(
                f,
                spec,
                "expected SOURCE:DEST[:ro|rw] or a container path",
            ))
        }
    };
    if src.is_empty() {
        return Err(bad(f, spec, "the source is empty"));
    }
    let dest = check_dest(f, spec, dest)?;
    let mut ro = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => ro = true,
            "rw" => ro = false,
            "z" | "Z" | "rprivate" | "private" | "rslave" | "slave" | "rshared" | "shared" => {}
            _ => return Err(bad(f, spec, format!("unknown option {o:?} (use ro or rw)"))),
        }
    }
    if src.starts_with('/') {
        Ok(VolumeSpec::Bind {
            source: PathBuf::from(src),
            dest,
            ro,
        })
    } else if valid_volume_name(src) {
        Ok(VolumeSpec::Named {
            name: src.to_string(),
            dest,
            ro,
        })
    } else {
        Err(bad(
            f,
            spec,
            "the source must be an absolute host path or a volume name",
        ))
    }
}

/// `--mount type=bind,source=/a,target=/b,readonly` (and volume, tmpfs).
pub fn parse_mount(spec: &str) -> Result<(String, VolumeSpec, Vec<String>)> {
    let f = "--mount";
    let mut kind = "volume".to_string();
    let (mut src, mut dst, mut ro) = (String::new(), String::new(), false);
    let mut tmpfs_opts = Vec::new();
    for kv in spec.split(',') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "type" => kind = v.to_string(),
            "source" | "src" => src = v.to_string(),
            "target" | "destination" | "dst" => dst = v.to_string(),
            "readonly" | "ro" => ro = v.is_empty() || v == "true" || v == "1",
            "tmpfs-size" => tmpfs_opts.push(format!("size={v}")),
            "tmpfs-mode" => tmpfs_opts.push(format!("mode={v}")),
            "bind-propagation" | "consistency" => {}
            _ => return Err(bad(f, spec, format!("unknown key {k:?}"))),
        }
    }
    if dst.is_empty() {
        return Err(bad(f, spec, "target= is required"));
    }
    let dest = check_dest(f, spec, &dst)?;
    let v = match kind.as_str() {
        "bind" => {
            if !src.starts_with('/') {
                return Err(bad(f, spec, "a bind source must be an absolute path"));
            }
            VolumeSpec::Bind {
                source: src.into(),
                dest,
                ro,
            }
        }
        "volume" if src.is_empty() => VolumeSpec::Anonymous { dest },
        "volume" => {
            if !valid_volume_name(&src) {
                return Err(bad(f, spec, "invalid volume name"));
            }
            VolumeSpec::Named {
                name: src,
                dest,
                ro,
            }
        }
        "tmpfs" => VolumeSpec::Anonymous { dest },
        _ => return Err(bad(f, spec, "type must be bind, volume or tmpfs")),
    };
    Ok((kind, v, tmpfs_opts))
}

/// `--network`, with docker's default: the bridge.
pub fn network_mode(o: &CreateOptions) -> NetworkMode {
    match o.network.as_deref() {
        None | Some("") | Some("default") => NetworkMode::from(crate::network::DEFAULT_NETWORK),
        Some(n) => NetworkMode::from(n),
    }
}

/// `--ulimit nofile=1024:2048` → (RLIMIT_NOFILE, soft, hard).
pub fn parse_ulimit(s: &str) -> Result<(String, u64, u64)> {
    let f = "--ulimit";
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| bad(f, s, "expected NAME=SOFT[:HARD]"))?;
    let known = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    if !known.contains(&name) {
        return Err(bad(f, s, format!("unknown limit {name:?}")));
    }
    let num = |v: &str| -> Result<u64> {
        if v == "-1" || v == "unlimited" {
            return Ok(u64::MAX);
        }
        v.parse().map_err(|_| bad(f, s, "limits must be numbers"))
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(vals)?, num(vals)?),
    };
    if soft > hard {
        return Err(bad(f, s, "the soft limit exceeds the hard limit"));
    }
    Ok((format!("RLIMIT_{}", name.to_ascii_uppercase()), soft, hard))
}

/// Reads `--env-file`: KEY=VALUE lines, `KEY` alone takes the value from our env.
pub fn read_env_file(p: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(p)
        .map_err(super::ioe(format!("cannot read env file {}", p.display())))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(expand_env)
        .collect())
}

/// `-e K=V` as is; `-e K` takes K from berth's own environment (dropped if unset).
pub fn expand_env(e: &str) -> Option<String> {
    if e.contains('=') {
        Some(e.to_string())
    } else {
        std::env::var(e).ok().map(|v| format!("{e}={v}"))
    }
}

/// `CAP_X`, `x` or `ALL` → `CAP_X`.
pub fn cap_name(c: &str) -> String {
    let u = c.to_ascii_uppercase();
    if u == "ALL" || u.starts_with("CAP_") {
        u
    } else {
        format!("CAP_{u}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("--memory", "512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("--memory", "1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("--memory", "1.5k").unwrap(), 1536);
        assert_eq!(parse_size("--memory", "100").unwrap(), 100);
        assert!(parse_size("--memory", "lots").is_err());
        assert!(parse_size("--memory", "-1m").is_err());
    }

    #[test]
    fn volumes() {
        assert_eq!(
            parse_volume("/a:/b:ro").unwrap(),
            VolumeSpec::Bind {
                source: "/a".into(),
                dest: "/b".into(),
                ro: true
            }
        );
        assert!(matches!(
            parse_volume("data:/d").unwrap(),
            VolumeSpec::Named { .. }
        ));
        assert!(matches!(
            parse_volume("/d").unwrap(),
            VolumeSpec::Anonymous { .. }
        ));
        assert!(parse_volume("a:b").is_err());
        assert!(parse_volume("/a:/b:xx").is_err());
        assert!(parse_volume("/a:/b:ro:x").is_err());
        assert!(parse_volume("rel/x:/b").is_err());
        assert!(parse_volume(":/b").is_err());
    }

    #[test]
    fn ulimits() {
        assert_eq!(
            parse_ulimit("nofile=10:20").unwrap(),
            ("RLIMIT_NOFILE".into(), 10, 20)
        );
        assert!(parse_ulimit("nofile=30:20").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
    }
}
