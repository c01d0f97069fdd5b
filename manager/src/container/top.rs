//! `top`: as docker's daemon does it, the host's `ps` with the caller's
//! options (`-ef` by default), keeping the rows whose PID is one of the
//! container's processes. The options go to `ps` as separate words, never
//! through a shell.

use super::{ContainerError, Result};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `ps` may take before it is killed: it reads /proc, nothing more.
const PS_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Top {
    pub titles: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Runs `ps ARGS` and returns its output, or `None` if it failed.
fn ps(args: &[&str]) -> Result<Option<Vec<u8>>> {
    let mut child = Command::new("ps")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| ContainerError::Other(format!("running ps: {e}")))?;
    let mut out = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() < PS_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ContainerError::Other(format!(
                    "ps {} did not finish within {} s",
                    args.join(" "),
                    PS_TIMEOUT.as_secs()
                )));
            }
        }
    };
    let buf = reader.join().unwrap_or_default();
    Ok(status.success().then_some(buf))
}

/// The rows of `ps` output whose PID column is in `pids`; the last column
/// (the command) keeps its spaces.
pub fn parse(out: &str, pids: &[i32]) -> Result<Top> {
    let mut lines = out.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| ContainerError::Other("couldn't find the PID field in ps output".into()))?;
    let mut rows = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < titles.len() {
            continue;
        }
        let Ok(pid) = f[pid_col].parse::<i32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let last = titles.len() - 1;
        let mut row: Vec<String> = f[..last].iter().map(|s| s.to_string()).collect();
        row.push(f[last..].join(" "));
        rows.push(row);
    }
    Ok(Top { titles, rows })
}

/// `ps_args` as docker takes them: one string of words, `-ef` if empty.
pub fn top(pids: &[i32], ps_args: &str) -> Result<Top> {
    let ps_args = if ps_args.trim().is_empty() {
        "-ef"
    } else {
        ps_args
    };
    let args: Vec<&str> = ps_args.split_whitespace().collect();
    // As docker: ask ps for the container's pids only (-q), and list
    // everything where the options do not mix with -q (BSD `f`, `aux`).
    let q = pids
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut with_q = args.clone();
    with_q.extend(["-q", q.as_str()]);
    let out = match ps(&with_q)? {
        Some(o) => o,
        None => ps(&args)?.ok_or_else(|| {
            ContainerError::Other(format!("ps {ps_args} failed: check its options"))
        })?,
    };
    parse(&String::from_utf8_lossy(&out), pids)
}
