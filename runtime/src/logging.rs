//! `--log FILE --log-format json|text`, as runc has them: engines read the
//! error of a failed command from that file (dockerd, containerd), or from
//! stderr (podman). Errors therefore go to both.

use crate::cli::Global;
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

struct Logger {
    file: Option<Mutex<File>>,
    json: bool,
    level: LevelFilter,
}

static LOGGER: std::sync::OnceLock<Logger> = std::sync::OnceLock::new();

impl Logger {
    fn line(&self, level: Level, msg: &str) -> String {
        let lvl = level.as_str().to_ascii_lowercase();
        if self.json {
            let v = serde_json::json!({"level": if lvl == "warn" { "warning" } else { &lvl }, "msg": msg, "time": berth_runtime::utils::now_rfc3339()});
            format!("{v}\n")
        } else {
            format!(
                "time=\"{}\" level={lvl} msg={msg:?}\n",
                berth_runtime::utils::now_rfc3339()
            )
        }
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level
    }
    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let msg = r.args().to_string();
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(self.line(r.level(), &msg).as_bytes());
                }
            }
            None => eprintln!(
                "berth-runtime: {}: {msg}",
                r.level().as_str().to_ascii_lowercase()
            ),
        }
    }
    fn flush(&self) {}
}

pub fn init(g: &Global) {
    let level = if g.debug {
        LevelFilter::Debug
    } else {
        std::env::var("RUST_LOG")
            .ok()
            .and_then(|l| l.parse().ok())
            .unwrap_or(LevelFilter::Warn)
    };
    let file = g
        .log
        .as_ref()
        .and_then(|p| OpenOptions::new().create(true).append(true).open(p).ok())
        .map(Mutex::new);
    let json = g.log_format.as_deref() == Some("json");
    let logger = LOGGER.get_or_init(|| Logger { file, json, level });
    let _ = log::set_logger(logger);
    log::set_max_level(level);
}

/// The final error of a command: stderr always, and the log file if any.
pub fn error(msg: &str) {
    eprintln!("berth-runtime: {msg}");
    if let Some(l) = LOGGER.get() {
        if let Some(f) = &l.file {
            if let Ok(mut f) = f.lock() {
                let _ = f.write_all(l.line(Level::Error, msg).as_bytes());
            }
        }
    }
}
