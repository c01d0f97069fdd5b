//! What the test looks at on the host: the CRI log files, HTTP answers from
//! pods, and whatever a removed pod could leave behind (a shim, a mount, a
//! runtime state dir, a cgroup, a network namespace).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The lines of a CRI log file (`<RFC3339Nano> <stdout|stderr> <P|F> <text>`),
/// partial lines joined, as (stream, text).
pub fn log_lines(path: &Path) -> Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut partial: Option<(String, String)> = None;
    for line in text.lines() {
        let mut f = line.splitn(4, ' ');
        let (ts, stream, tag) = (
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
        );
        let msg = f.next().unwrap_or("");
        if !ts.contains('T') || !matches!(stream, "stdout" | "stderr") || !matches!(tag, "P" | "F")
        {
            bail!("{}: not a CRI log line: {line:?}", path.display());
        }
        let (s, mut m) = partial
            .take()
            .unwrap_or((stream.to_string(), String::new()));
        m.push_str(msg);
        if tag == "P" {
            partial = Some((s, m));
        } else {
            out.push((s, m));
        }
    }
    Ok(out)
}

/// Waits until the log holds `text` on `stream`.
pub fn wait_log(path: &Path, stream: &str, text: &str, limit: Duration) -> Result<()> {
    let t0 = Instant::now();
    loop {
        let lines = log_lines(path).unwrap_or_default();
        if lines.iter().any(|(s, m)| s == stream && m == text) {
            return Ok(());
        }
        if t0.elapsed() > limit {
            bail!(
                "{} has no {stream} line {text:?} after {} s; it has {lines:?}",
                path.display(),
                limit.as_secs()
            );
        }
        sleep(Duration::from_millis(100));
    }
}

/// GET http://ADDR/PATH with HTTP/1.0, the body of a 200, retrying briefly
/// while the server comes up.
pub fn http_get(addr: &str, path: &str) -> Result<String> {
    let t0 = Instant::now();
    loop {
        let r = (|| -> Result<String> {
            let mut s = TcpStream::connect_timeout(&addr.parse()?, Duration::from_secs(3))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
            let mut resp = String::new();
            s.read_to_string(&mut resp)?;
            let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
            if !head.starts_with("HTTP/1.") || head.split(' ').nth(1) != Some("200") {
                bail!("answer: {head:?}");
            }
            Ok(body.to_string())
        })();
        match r {
            Ok(b) => return Ok(b),
            Err(e) if t0.elapsed() > Duration::from_secs(10) => {
                return Err(e).context(format!("GET http://{addr}{path}"))
            }
            Err(_) => sleep(Duration::from_millis(200)),
        }
    }
}

/// Every process whose command line names `needle`.
pub fn procs_naming(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    let me = std::process::id().to_string();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                if cmd.contains(needle) {
                    out.push(format!("{name}: {}", cmd.trim()));
                }
            }
        }
    }
    out
}

/// The mount points of this mount namespace that name `needle`.
pub fn mounts_naming(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.contains(needle))
        .map(str::to_string)
        .collect()
}

/// The cgroup dirs `<hierarchy>/<parent>/<id>` that exist, on every
/// hierarchy mounted under /sys/fs/cgroup (v1, hybrid or v2).
pub fn cgroups_of(parent: &str, id: &str) -> Vec<String> {
    let rel = format!("{}/{id}", parent.trim_matches('/'));
    let mut roots = vec!["/sys/fs/cgroup".to_string()];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        roots.extend(rd.flatten().map(|e| e.path().to_string_lossy().to_string()));
    }
    roots
        .into_iter()
        .map(|r| format!("{r}/{rel}"))
        .filter(|p| Path::new(p).is_dir())
        .collect()
}

/// Polls `f` until it holds nothing, for a few seconds: what a shim or
/// containerd tears down just after the call returns.
pub fn settle(limit: Duration, mut f: impl FnMut() -> Vec<String>) -> Vec<String> {
    let t0 = Instant::now();
    loop {
        let left = f();
        if left.is_empty() || t0.elapsed() > limit {
            return left;
        }
        sleep(Duration::from_millis(100));
    }
}

/// Everything a removed pod could have left on the host: its shim (which
/// names the sandbox id on its command line), mounts, cgroups and runtime
/// state of the sandbox and each container, and its network namespace.
pub fn pod_leftovers(
    pod_id: &str,
    containers: &[String],
    netns: &str,
    cgroup_parent: &str,
    runtime_root: Option<&Path>,
    settle_for: Duration,
) -> Vec<String> {
    let mut left: Vec<String> = settle(settle_for, || procs_naming(pod_id))
        .into_iter()
        .map(|p| format!("process {p}"))
        .collect();
    for id in std::iter::once(pod_id).chain(containers.iter().map(String::as_str)) {
        left.extend(mounts_naming(id).into_iter().map(|m| format!("mount {m}")));
        left.extend(
            cgroups_of(cgroup_parent, id)
                .into_iter()
                .map(|c| format!("cgroup {c}")),
        );
        if let Some(root) = runtime_root {
            let d = root.join("k8s.io").join(id);
            if d.exists() {
                left.push(format!("runtime state {}", d.display()));
            }
        }
    }
    if !netns.is_empty() {
        left.extend(
            mounts_naming(netns)
                .into_iter()
                .map(|m| format!("netns mount {m}")),
        );
        if Path::new(netns).exists() {
            left.push(format!("netns file {netns}"));
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_join_partials_and_keep_streams() {
        let dir = std::env::temp_dir().join(format!("berth-cri-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.log");
        std::fs::write(
            &p,
            "2026-12-05T10:00:00.000000001Z stdout P hel\n\
             2026-12-05T10:00:00.000000002Z stdout F lo world\n\
             2026-12-05T10:00:00.000000003Z stderr F oops\n\
             2026-12-05T10:00:00.000000004Z stdout F \n",
        )
        .unwrap();
        let lines = log_lines(&p).unwrap();
        assert_eq!(
            lines,
            vec![
                ("stdout".to_string(), "hello world".to_string()),
                ("stderr".to_string(), "oops".to_string()),
                ("stdout".to_string(), String::new()),
            ]
        );
        std::fs::write(&p, "not a cri line\n").unwrap();
        assert!(log_lines(&p).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
