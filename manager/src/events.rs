//! The event log behind `berth events`. With no daemon to broadcast them,
//! every command appends what it did to `<root>/events.jsonl`, one JSON line
//! per event written with a single O_APPEND write (so lines of concurrent
//! commands never mix), in docker's event shape. Past 1 MiB the file is
//! renamed to `events.jsonl.1` (the one before is dropped), under a lock.
//! Emitting is best effort: a command never fails because its event could
//! not be written.

use crate::image::lock::FileLock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const FILE: &str = "events.jsonl";
const ROTATE_AT: u64 = 1 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// container, image, network or volume
    #[serde(rename = "Type")]
    pub kind: String,
    /// create, start, die, destroy, pull, tag...
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// docker's line: `TIME TYPE ACTION ID (k=v, ...)`.
    pub fn line(&self) -> String {
        let secs = self.time_nano.div_euclid(1_000_000_000);
        let nanos = self.time_nano.rem_euclid(1_000_000_000);
        let t = crate::image::time::format_rfc3339(secs);
        let attrs: Vec<String> = self
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "{}.{nanos:09}Z {} {} {} ({})",
            t.trim_end_matches('Z'),
            self.kind,
            self.action,
            self.actor.id,
            attrs.join(", ")
        )
    }

    /// docker's `--filter`: type=, event=, container=, image=, network=,
    /// volume= (by id or name), label=KEY[=VALUE].
    pub fn matches(&self, f: &str) -> bool {
        let Some((k, v)) = f.split_once('=') else {
            return false;
        };
        let a = &self.actor.attributes;
        let named = |kind: &str| {
            self.kind == kind
                && (self.actor.id == v
                    || self.actor.id.starts_with(v) && v.len() >= 12
                    || a.get("name").is_some_and(|n| n == v))
        };
        match k {
            "type" => self.kind == v,
            "event" | "action" => self.action == v,
            "container" => named("container"),
            "network" => named("network"),
            "volume" => named("volume"),
            "image" => {
                a.get("image").is_some_and(|i| i == v)
                    || self.kind == "image"
                        && (self.actor.id == v || a.get("name").is_some_and(|n| n == v))
            }
            "label" => match v.split_once('=') {
                Some((lk, lv)) => a.get(lk).is_some_and(|x| x == lv),
                None => a.contains_key(v),
            },
            _ => false,
        }
    }
}

/// The filter keys `matches` knows.
pub const FILTER_KEYS: &[&str] = &[
    "type",
    "event",
    "action",
    "container",
    "image",
    "network",
    "volume",
    "label",
];

fn path(root: &Path) -> PathBuf {
    root.join(FILE)
}

fn rotated(root: &Path) -> PathBuf {
    root.join(format!("{FILE}.1"))
}

/// Appends one event; best effort.
pub fn emit(root: &Path, kind: &str, action: &str, id: &str, attrs: &[(&str, &str)]) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let e = Event {
        kind: kind.into(),
        action: action.into(),
        actor: Actor {
            id: id.into(),
            attributes: attrs
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
        time: now.as_secs() as i64,
        time_nano: now.as_nanos() as i64,
    };
    if let Err(err) = append(root, &e) {
        log::warn!("recording the {kind} {action} event: {err}");
    }
}

fn append(root: &Path, e: &Event) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(e).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path(root))?;
    f.write_all(&line)?;
    if f.metadata()?.len() > ROTATE_AT {
        let _l = FileLock::exclusive(&root.join("events.lock"))?;
        // Someone may have rotated it while we waited.
        if fs::metadata(path(root))?.len() > ROTATE_AT {
            fs::rename(path(root), rotated(root))?;
        }
    }
    Ok(())
}

fn parse(text: &str) -> impl Iterator<Item = Event> + '_ {
    text.lines().filter_map(|l| serde_json::from_str(l).ok())
}

/// Every event on record, oldest first.
pub fn history(root: &Path) -> Vec<Event> {
    let mut out = Vec::new();
    for p in [rotated(root), path(root)] {
        if let Ok(t) = fs::read_to_string(p) {
            out.extend(parse(&t));
        }
    }
    out
}

/// Calls `each` with every event appended from now on (rotation included),
/// until `each` returns false or `until` (unix nanoseconds) has passed.
pub fn follow(root: &Path, until: Option<i64>, each: impl FnMut(&Event) -> bool) {
    follow_while(root, until, &|| true, each)
}

/// `follow`, that also ends once `alive` says the reader has gone (checked
/// while no event comes).
pub fn follow_while(
    root: &Path,
    until: Option<i64>,
    alive: &dyn Fn() -> bool,
    mut each: impl FnMut(&Event) -> bool,
) {
    let open = |at_end: bool| -> Option<(fs::File, u64)> {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path(root))
            .ok()?;
        if at_end {
            f.seek(std::io::SeekFrom::End(0)).ok()?;
        }
        let ino = f.metadata().ok()?.ino();
        Some((f, ino))
    };
    let Some((mut f, mut ino)) = open(true) else {
        return;
    };
    let mut pending = String::new();
    loop {
        let mut buf = String::new();
        let _ = f.read_to_string(&mut buf);
        pending.push_str(&buf);
        while let Some(i) = pending.find('\n') {
            let line: String = pending.drain(..=i).collect();
            if let Ok(e) = serde_json::from_str::<Event>(&line) {
                if !each(&e) {
                    return;
                }
            }
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as i64;
        if until.is_some_and(|u| now > u) || !alive() {
            return;
        }
        // Rotated: the old file is read to its end above; go on in the new one.
        if fs::metadata(path(root)).is_ok_and(|m| m.ino() != ino) {
            if let Some((nf, ni)) = open(false) {
                (f, ino) = (nf, ni);
                continue;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_history_filters_and_rotation() {
        let t = test_support::TempDir::new("berth-events");
        emit(
            t.path(),
            "container",
            "create",
            "abc123",
            &[("name", "web"), ("image", "busybox")],
        );
        emit(
            t.path(),
            "image",
            "pull",
            "busybox:latest",
            &[("name", "busybox:latest")],
        );
        let h = history(t.path());
        assert_eq!(h.len(), 2);
        assert!(h[0].matches("container=web") && h[0].matches("type=container"));
        assert!(h[0].matches("image=busybox") && !h[0].matches("event=die"));
        assert!(h[1].matches("event=pull") && !h[1].matches("container=web"));
        let l = h[0].line();
        assert!(
            l.ends_with(" container create abc123 (image=busybox, name=web)"),
            "{l}"
        );
        // Past 1 MiB the file moves aside and history still reads both.
        let big = "x".repeat(4000);
        for _ in 0..300 {
            emit(t.path(), "volume", "create", &big, &[]);
        }
        assert!(rotated(t.path()).exists());
        assert!(fs::metadata(path(t.path())).unwrap().len() <= ROTATE_AT);
        assert!(history(t.path()).len() > 250);
    }
}
