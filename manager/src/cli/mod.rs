//! Argument parsing, one file per verb (or verb group). The work is in the library.

use anyhow::Context;
use berth::image::store::Store;
use std::path::PathBuf;

pub mod attach;
pub mod build;
pub mod commit;
pub mod container;
pub mod containers;
pub mod cp;
pub mod create;
pub mod diff;
pub mod events;
pub mod exec;
pub mod export;
pub mod history;
pub mod image;
pub mod images;
pub mod import;
pub mod info;
pub mod inspect;
pub mod kill;
pub mod load;
pub mod login;
pub mod logout;
pub mod logs;
pub mod network;
pub mod output;
pub mod pause;
pub mod port;
pub mod ps;
pub mod pull;
pub mod push;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod search;
pub mod serve;
pub mod start;
pub mod stats;
pub mod stop;
pub mod system;
pub mod tag;
pub mod top;
pub mod update;
pub mod version;
pub mod volume;
pub mod wait;

#[derive(clap::Args)]
pub struct Globals {
    /// Where images (and later containers) are stored
    #[arg(
        long,
        global = true,
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth"
    )]
    pub root: PathBuf,
    /// Registry for short names like "busybox" (default: registries.json, else docker.io)
    #[arg(long, global = true, env = "BERTH_DEFAULT_REGISTRY")]
    pub default_registry: Option<String>,
    /// A registry to reach over plain HTTP (repeatable)
    #[arg(long = "insecure-registry", global = true)]
    pub insecure_registries: Vec<String>,
    /// error, warn, info, debug or trace (or RUST_LOG)
    #[arg(long, global = true)]
    pub log_level: Option<String>,
}

/// What berth exits with on an error: 1, as docker's CLI, but 125 for run
/// and create, whose own failures docker tells from the container's codes.
static ERROR_EXIT: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(1);

pub fn error_exit_code() -> i32 {
    ERROR_EXIT.load(std::sync::atomic::Ordering::Relaxed)
}

/// For run and create: their errors exit 125.
pub fn errors_exit_125() {
    ERROR_EXIT.store(125, std::sync::atomic::Ordering::Relaxed);
}

impl Globals {
    /// Makes sure the store is there and is root's alone, as docker's data
    /// root: container configs (with their env), logs and events are in it.
    /// Its mode is what keeps other users out, so the files below keep the
    /// modes containers need. Someone who cannot use it gets one line here
    /// rather than an empty or partial answer later.
    pub fn ensure_root(&self) -> anyhow::Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let r = &self.root;
        let denied = || {
            anyhow::anyhow!(
                "the store {} is root's alone: permission denied (run berth as root)",
                r.display()
            )
        };
        match std::fs::create_dir_all(r) {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Err(denied()),
            r => r.with_context(|| format!("creating the store {}", self.root.display()))?,
        }
        let m = std::fs::metadata(r).with_context(|| format!("reading {}", r.display()))?;
        if m.mode() & 0o077 != 0 && m.uid() == nix::unistd::geteuid().as_raw() {
            std::fs::set_permissions(r, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making {} root's alone", r.display()))?;
        }
        nix::unistd::access(
            r.as_path(),
            nix::unistd::AccessFlags::R_OK
                | nix::unistd::AccessFlags::W_OK
                | nix::unistd::AccessFlags::X_OK,
        )
        .map_err(|_| denied())
    }

    pub fn init_logging(&self) {
        let mut b =
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"));
        if let Some(l) = &self.log_level {
            b.parse_filters(l);
        }
        b.init();
    }

    /// Credentials: $BERTH_AUTH_FILE, else auth.json in the store root.
    pub fn auth_file(&self) -> berth::image::auth::AuthFile {
        let p = std::env::var_os("BERTH_AUTH_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.root.join("auth.json"));
        berth::image::auth::AuthFile::new(&p)
    }

    pub fn store(&self) -> anyhow::Result<Store> {
        let mut s = Store::open(&self.root)
            .with_context(|| format!("opening store {}", self.root.display()))?;
        if let Some(r) = &self.default_registry {
            s.settings.default_registry = r.clone();
        }
        s.settings
            .insecure_registries
            .extend(self.insecure_registries.iter().cloned());
        Ok(s)
    }
}

/// The whole cause chain on one lower-case line.
pub fn error_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        let s = c.to_string();
        if parts.last().is_none_or(|p| !p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

/// Names to record for an image asked for as `arg`: that name if it is one, else all its names.
pub fn names_for(store: &Store, arg: &str, img: &berth::image::store::Image) -> Vec<String> {
    match store
        .parse_reference(arg)
        .ok()
        .and_then(|r| r.tagged_name())
    {
        Some(n) if img.record.names.contains(&n) => vec![n],
        _ => img.record.names.clone(),
    }
}

/// Runs `f` on each name; with several, errors are printed and summed up.
pub fn each(names: &[String], mut f: impl FnMut(&str) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let mut failed = None;
    for n in names {
        if let Err(e) = f(n) {
            if names.len() > 1 {
                eprintln!("berth: {}", error_line(&e));
            }
            failed = Some(e);
        }
    }
    match failed {
        Some(e) if names.len() == 1 => Err(e),
        Some(_) => anyhow::bail!("some containers failed"),
        None => Ok(()),
    }
}

/// Exits with the container's code (docker: 0..255).
pub fn exit_with(code: i32) -> anyhow::Result<()> {
    if code == 0 {
        return Ok(());
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(if (0..=255).contains(&code) { code } else { 255 })
}
