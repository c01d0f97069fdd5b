//! Health checks (`--health-cmd` and friends). With no daemon to run them,
//! each start of a container with a check spawns `berth internal-health ID`,
//! a small detached process that runs the check every interval through the
//! runtime's exec, writes the result to `<container dir>/health.json`
//! (temp + rename) and exits once that run of the container is over.

use super::exec::{exec_captured, exec_process, ExecOptions};
use super::store::{Container, ContainerStore, Status};
pub use super::store::{Health, HealthConfig, Probe};
use super::{bad, ioe, write_atomic, ContainerError, Result};
use std::path::Path;
use std::time::Duration;

/// Go's durations as docker takes them: `30s`, `1m30s`, `500ms`, `2h`.
pub fn parse_duration(flag: &'static str, s: &str) -> Result<u64> {
    crate::image::time::parse_go_duration(s)
        .ok_or_else(|| bad(flag, s, "expected a duration like 30s, 1m30s or 500ms"))
}

/// The check of `run`/`create`: `--health-cmd`, else the image's
/// HEALTHCHECK, with the other flags over the image's values and docker's
/// defaults under both (every 30 s, 30 s to answer, 3 failures in a row).
pub fn config(
    o: &super::opts::CreateOptions,
    image: Option<&serde_json::Value>,
) -> Result<Option<HealthConfig>> {
    if o.no_healthcheck {
        if let Some(c) = &o.health_cmd {
            return Err(bad("--health-cmd", c, "conflicts with --no-healthcheck"));
        }
        return Ok(None);
    }
    let image = image.filter(|h| {
        h["Test"]
            .as_array()
            .and_then(|t| t.first())
            .and_then(|t| t.as_str())
            .is_some_and(|t| t != "NONE")
    });
    let test: Vec<String> = match (&o.health_cmd, image) {
        (Some(c), _) => vec!["CMD-SHELL".into(), c.clone()],
        (None, Some(h)) => serde_json::from_value(h["Test"].clone()).unwrap_or_default(),
        (None, None) => {
            let given = [
                ("--health-interval", &o.health_interval),
                ("--health-timeout", &o.health_timeout),
                ("--health-start-period", &o.health_start_period),
            ];
            if let Some((flag, Some(v))) = given.iter().find(|(_, v)| v.is_some()) {
                return Err(bad(
                    flag,
                    v,
                    "needs --health-cmd (or an image with a HEALTHCHECK)",
                ));
            }
            if let Some(r) = o.health_retries {
                return Err(bad(
                    "--health-retries",
                    &r.to_string(),
                    "needs --health-cmd",
                ));
            }
            return Ok(None);
        }
    };
    let from_image = |k: &str| image.and_then(|h| h[k].as_u64()).filter(|n| *n > 0);
    let d = |flag, v: &Option<String>, key: &str, def: u64| -> Result<u64> {
        match v {
            Some(s) => {
                let n = parse_duration(flag, s)?;
                if n < 1_000_000 {
                    return Err(bad(flag, s, "must be at least 1ms"));
                }
                Ok(n)
            }
            None => Ok(from_image(key).unwrap_or(def)),
        }
    };
    let start_period = match &o.health_start_period {
        Some(s) => parse_duration("--health-start-period", s)?,
        None => from_image("StartPeriod").unwrap_or(0),
    };
    Ok(Some(HealthConfig {
        test,
        interval: d(
            "--health-interval",
            &o.health_interval,
            "Interval",
            30_000_000_000,
        )?,
        timeout: d(
            "--health-timeout",
            &o.health_timeout,
            "Timeout",
            30_000_000_000,
        )?,
        start_period,
        retries: o
            .health_retries
            .or_else(|| from_image("Retries").map(|r| r as u32))
            .unwrap_or(3)
            .max(1),
    }))
}

/// Spawns the checker of this run; it outlives us.
pub fn spawn(root: &Path, c: &Container) -> Result<()> {
    if c.health.is_none() {
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(ioe("locating the berth binary"))?;
    let root = root.canonicalize().map_err(ioe("resolving --root"))?;
    std::process::Command::new(exe)
        .arg("--root")
        .arg(&root)
        .args(["internal-health", &c.id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .current_dir("/")
        .process_group(0)
        .spawn()
        .map_err(ioe("starting the health checker"))?;
    Ok(())
}

use std::os::unix::process::CommandExt;

/// `berth internal-health ID`: checks until this run of the container ends.
pub fn monitor(root: &Path, id: &str) -> Result<()> {
    let cs = ContainerStore::open(root)?;
    let c = cs.load(id)?;
    let Some(cfg) = c.health.clone() else {
        return Ok(());
    };
    let run = c.started_at.clone().unwrap_or_default();
    let started = std::time::Instant::now();
    let mut h = Health {
        status: "starting".into(),
        run: run.clone(),
        ..Default::default()
    };
    save(&cs, id, &h)?;
    let (argv, shell) = match cfg.test.split_first() {
        Some((k, rest)) if k == "CMD-SHELL" => (rest.to_vec(), true),
        Some((k, rest)) if k == "CMD" => (rest.to_vec(), false),
        _ => return Err(ContainerError::Other("invalid health check".into())),
    };
    let cmd = if shell {
        vec!["/bin/sh".into(), "-c".into(), argv.join(" ")]
    } else {
        argv
    };
    // The probe's process.json is the same for the whole run: made once.
    let o = ExecOptions {
        cmd,
        ..Default::default()
    };
    let process = exec_process(root, &cs, &c, &o)?;
    loop {
        std::thread::sleep(Duration::from_nanos(cfg.interval));
        let Ok(c) = cs.load(id) else {
            return Ok(());
        };
        let st = cs.state(&c);
        if st.status != Status::Running || c.started_at.as_deref() != Some(run.as_str()) {
            return Ok(());
        }
        if st.paused {
            continue;
        }
        let start = super::now_rfc3339();
        // A check that cannot even start is a failed check, not the end of checking.
        let probe = exec_captured(&cs, &c, &process, Duration::from_nanos(cfg.timeout));
        let (code, output) = match probe {
            Ok((Some(x), output)) => (x, output),
            Ok((None, _)) => (
                -1,
                format!(
                    "Health check exceeded timeout ({} ms)",
                    cfg.timeout / 1_000_000
                ),
            ),
            Err(e) => (-1, e.to_string()),
        };
        let before = h.status.clone();
        if code == 0 {
            h.failing_streak = 0;
            h.status = "healthy".into();
        } else if started.elapsed() >= Duration::from_nanos(cfg.start_period) {
            h.failing_streak += 1;
            if h.failing_streak >= cfg.retries {
                h.status = "unhealthy".into();
            }
        }
        h.log.push(Probe {
            start,
            end: super::now_rfc3339(),
            exit_code: code,
            output,
        });
        if h.log.len() > 5 {
            h.log.remove(0);
        }
        save(&cs, id, &h)?;
        if h.status != before {
            crate::events::emit(
                root,
                "container",
                &format!("health_status: {}", h.status),
                id,
                &[("name", &c.name), ("image", &c.image)],
            );
        }
    }
}

fn save(cs: &ContainerStore, id: &str, h: &Health) -> Result<()> {
    write_atomic(&cs.health_file(id), &serde_json::to_vec(h).expect("health"))
        .map_err(ioe("writing health.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("x", "30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_duration("x", "2m").unwrap(), 120_000_000_000);
        assert_eq!(parse_duration("x", "1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration("x", "500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration("x", "1.5h").unwrap(), 5_400_000_000_000);
        assert!(parse_duration("x", "10").is_err());
        assert!(parse_duration("x", "ms").is_err());
        assert!(parse_duration("x", "").is_err());
    }
}
