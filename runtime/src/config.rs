//! Loading and checking a bundle's config.json before anything is created, so
//! that bad input fails with one clear line and leaves nothing behind.

use oci_spec::runtime::{LinuxNamespaceType, PosixRlimitType, Spec};
use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The most we read of config.json, an exec `--process` file or an update's
/// resources. runc and crun read without bound (a config.json that is
/// /dev/zero fills memory). Real configs are a few KiB, tens with a
/// seccomp profile (podman's: ~30 KiB); 16 MiB leaves room for any sane
/// annotation or device list and bounds the memory a parse can take.
pub const MAX_INPUT: u64 = 16 << 20;

/// runc's limits for ids outside a user namespace (2^31 - 1, the largest id
/// every libc takes as an id: 4294967295 is (uid_t)-1, which setresuid
/// reads as "leave unchanged", i.e. root).
const MAX_ID: u32 = i32::MAX as u32;
/// The kernel's NGROUPS_MAX.
const MAX_GROUPS: usize = 65536;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("invalid {0}: {1}")]
    Parse(PathBuf, String),
    #[error("invalid config: {0}")]
    Invalid(String),
    #[error("read {0}: not a regular file (a {1})")]
    NotRegular(PathBuf, &'static str),
    #[error("read {0}: larger than 16 MiB")]
    TooLarge(PathBuf),
}

/// Reads an input file of ours (config.json, `--process`, `-r`): a regular
/// file of at most MAX_INPUT bytes. Opened non-blocking so that a fifo
/// cannot hang us before fstat says what it is; symlinks are followed (a
/// bundle may link its config.json), the fstat judges what they lead to.
pub fn read_input(path: &Path) -> Result<Vec<u8>, ConfigError> {
    let err = |e| ConfigError::Read(path.to_path_buf(), e);
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(err)?;
    let md = f.metadata().map_err(err)?;
    let t = md.file_type();
    if !t.is_file() {
        let kind = if t.is_dir() {
            "directory"
        } else if t.is_fifo() {
            "fifo"
        } else if t.is_char_device() {
            "character device"
        } else if t.is_block_device() {
            "block device"
        } else {
            "socket"
        };
        return Err(ConfigError::NotRegular(path.to_path_buf(), kind));
    }
    if md.len() > MAX_INPUT {
        return Err(ConfigError::TooLarge(path.to_path_buf()));
    }
    read_bounded(f, path)
}

/// Reads at most MAX_INPUT bytes of a stream (`-` for stdin), and refuses more.
pub fn read_bounded(r: impl Read, name: &Path) -> Result<Vec<u8>, ConfigError> {
    let mut buf = Vec::new();
    r.take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ConfigError::Read(name.to_path_buf(), e))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(ConfigError::TooLarge(name.to_path_buf()));
    }
    Ok(buf)
}

/// An rlimit's name as the spec spells it (RLIMIT_NOFILE).
pub fn rlimit_name(t: PosixRlimitType) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| format!("{t:?}"))
}

/// The first string (or key) holding a NUL, by its place in the config.
/// JSON can only carry one escaped, so a scan of the raw bytes for that
/// escape keeps the walk off the common path.
fn nul_field(raw: &[u8]) -> Option<String> {
    // JSON spells the escape's `u` in lower case only, and 0000 has no
    // letters: one exact pattern.
    let mut at = 0;
    let found = loop {
        match raw[at..].iter().position(|&b| b == b'\\') {
            Some(i) if raw[at + i + 1..].starts_with(b"u0000") => break true,
            // Skip the escaped byte too: `\\u0000` is a backslash and text.
            Some(i) => at += i + 2,
            None => break false,
        }
        if at >= raw.len() {
            break false;
        }
    };
    if !found {
        return None;
    }
    fn walk(v: &serde_json::Value, at: &str) -> Option<String> {
        match v {
            serde_json::Value::String(s) => s.contains('\0').then(|| at.to_string()),
            serde_json::Value::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, e)| walk(e, &format!("{at}[{i}]"))),
            serde_json::Value::Object(o) => o.iter().find_map(|(k, e)| {
                let here = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                if k.contains('\0') {
                    return Some(here);
                }
                walk(e, &here)
            }),
            _ => None,
        }
    }
    let v: serde_json::Value = serde_json::from_slice(raw).ok()?;
    walk(&v, "")
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

/// A loaded config plus the paths it resolves against.
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    /// The raw config, handed to the init as is.
    pub raw: Vec<u8>,
    pub rootfs: PathBuf,
}

pub fn load(bundle: &Path) -> Result<Bundle, ConfigError> {
    let dir = fs::canonicalize(bundle).map_err(|e| ConfigError::Read(bundle.to_path_buf(), e))?;
    let path = dir.join("config.json");
    let raw = read_input(&path)?;
    let spec = parse(&raw).map_err(|e| ConfigError::Parse(path.clone(), e))?;
    if let Some(f) = nul_field(&raw) {
        // C strings end at a NUL: a path or argument would be cut there.
        return Err(invalid(format!("{f}: contains a NUL byte")));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root: must be set"))?;
    let rootfs = dir.join(root.path());
    if !rootfs.is_dir() {
        return Err(invalid(format!(
            "root.path: {} is not a directory",
            rootfs.display()
        )));
    }
    if root.path().is_relative() && lexically_inside(root.path()) {
        // A relative root.path names a dir in the bundle: one that is a
        // symlink out of it (a bundle unpacked from an archive may carry
        // `rootfs -> /`) would hand the container the host's tree.
        // runc follows it; an absolute root.path still names anything.
        let real = fs::canonicalize(&rootfs).map_err(|e| ConfigError::Read(rootfs.clone(), e))?;
        if !real.starts_with(&dir) {
            return Err(invalid(format!(
                "root.path: {} leads out of the bundle (to {}); name it by an absolute path if that is meant",
                root.path().display(),
                real.display()
            )));
        }
    }
    validate(&spec)?;
    Ok(Bundle {
        dir,
        spec,
        raw,
        rootfs,
    })
}

/// Whether a relative path stays below where it starts, by its text alone.
fn lexically_inside(p: &Path) -> bool {
    let mut depth = 0i32;
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Checks an id of process.user against the ids the container has: the
/// mapped ranges of a new user namespace, else 0..=2^31-1 (runc's range).
fn check_id(
    field: &str,
    id: u32,
    maps: Option<&[oci_spec::runtime::LinuxIdMapping]>,
) -> Result<(), ConfigError> {
    match maps {
        Some(m) => {
            let mapped = m.iter().any(|r| {
                id >= r.container_id()
                    && u64::from(id) < u64::from(r.container_id()) + u64::from(r.size())
            });
            if !mapped {
                return Err(invalid(format!(
                    "{field}: {id} is not mapped in the container's user namespace"
                )));
            }
        }
        None if id > MAX_ID => {
            return Err(invalid(format!(
                "{field}: {id} is out of range (0 to {MAX_ID})"
            )))
        }
        None => {}
    }
    Ok(())
}

/// Parses config JSON; serde's message names the field and position.
pub fn parse(raw: &[u8]) -> Result<Spec, String> {
    crate::sched::parse_json::<Spec>(raw, "/process")
}

pub fn validate(spec: &Spec) -> Result<(), ConfigError> {
    let v = spec.version();
    if v.is_empty() || v.split('.').count() < 3 {
        return Err(invalid(format!(
            "ociVersion: {v:?} is not a SemVer version"
        )));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process: must be set"))?;
    let args = process.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        return Err(invalid("process.args: must not be empty"));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(format!(
            "process.cwd: {:?} must be an absolute path",
            process.cwd()
        )));
    }
    if let Some(rl) = process.rlimits() {
        let mut seen = HashSet::new();
        for r in rl {
            if !seen.insert(format!("{:?}", r.typ())) {
                return Err(invalid(format!(
                    "process.rlimits: {} given twice",
                    rlimit_name(r.typ())
                )));
            }
            if r.soft() > r.hard() {
                return Err(invalid(format!(
                    "process.rlimits: {} soft limit above hard limit",
                    rlimit_name(r.typ())
                )));
            }
        }
    }
    for m in spec.mounts().as_deref().unwrap_or_default() {
        crate::mountattr::check(m).map_err(|e| invalid(e.to_string()))?;
        if m.destination().as_os_str().is_empty() {
            return Err(invalid("mounts: a destination is empty"));
        }
        let is_bind = m
            .options()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| o == "bind" || o == "rbind")
            || m.typ().as_deref() == Some("bind");
        if is_bind && m.source().is_none() {
            return Err(invalid(format!(
                "mounts: bind mount of {:?} has no source",
                m.destination()
            )));
        }
    }
    for (kind, list) in spec.hooks().iter().flat_map(|h| {
        [
            ("prestart", h.prestart()),
            ("createRuntime", h.create_runtime()),
            ("createContainer", h.create_container()),
            ("startContainer", h.start_container()),
            ("poststart", h.poststart()),
            ("poststop", h.poststop()),
        ]
    }) {
        for hk in list.as_deref().unwrap_or_default() {
            let p = hk.path();
            // config.md: path MUST be absolute.
            if !p.is_absolute() {
                return Err(invalid(format!(
                    "hooks.{kind}: path {p:?} must be absolute"
                )));
            }
            // createContainer and startContainer hooks resolve inside the
            // container, which does not exist yet.
            if matches!(
                kind,
                "prestart" | "createRuntime" | "poststart" | "poststop"
            ) && p.is_dir()
            {
                return Err(invalid(format!("hooks.{kind}: path {p:?} is a directory")));
            }
        }
    }
    // What we cannot apply must fail create (runtime.md), never be ignored.
    crate::sched::check(spec).map_err(|e| invalid(e.to_string()))?;
    crate::idmap::check(spec).map_err(|e| invalid(e.to_string()))?;
    check_user(spec, process)?;
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if let Some(s) = linux.seccomp() {
        crate::seccomp::notify::check(s).map_err(invalid)?;
    }
    crate::netdev::check(spec).map_err(|e| invalid(e.to_string()))?;
    let mut seen = HashSet::new();
    let mut new_userns = false;
    let mut own_uts = false;
    for ns in linux.namespaces().as_deref().unwrap_or_default() {
        if !seen.insert(ns.typ()) {
            return Err(invalid(format!(
                "linux.namespaces: {} given twice",
                ns.typ()
            )));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(invalid(format!(
                    "linux.namespaces: path {p:?} of {} must be absolute",
                    ns.typ()
                )));
            }
            if !p.exists() {
                return Err(invalid(format!(
                    "linux.namespaces: path {p:?} of {} does not exist",
                    ns.typ()
                )));
            }
        }
        match ns.typ() {
            LinuxNamespaceType::User => new_userns = ns.path().is_none(),
            // New or joined: either is the container's own, and setting its
            // hostname is what the config asks (runc and crun do too); only
            // the runtime's own is off limits.
            LinuxNamespaceType::Uts => own_uts = true,
            _ => {}
        }
    }
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_userns && !has_maps {
        return Err(invalid(
            "linux.uidMappings: a new user namespace needs uidMappings and gidMappings",
        ));
    }
    if has_maps != linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(invalid(
            "linux.uidMappings and linux.gidMappings must be given together",
        ));
    }
    let own_mount_ns = linux
        .namespaces()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Mount);
    if !own_mount_ns
        && spec
            .root()
            .as_ref()
            .is_some_and(|r| r.readonly() == Some(true))
    {
        // Read-only would mean remounting the host's own directory.
        return Err(invalid(
            "root.readonly: needs a mount namespace (new or joined by path)",
        ));
    }
    if (spec.hostname().is_some() || spec.domainname().is_some()) && !own_uts {
        return Err(invalid(
            "hostname: setting it needs a uts namespace (new or joined by path)",
        ));
    }
    for d in linux.devices().as_deref().unwrap_or_default() {
        if !d.path().is_absolute() {
            return Err(invalid(format!(
                "linux.devices: path {:?} must be absolute",
                d.path()
            )));
        }
        // The kernel's dev_t: 12 bits of major, 20 of minor. Beyond them
        // makedev would silently make another device (0:0).
        if !(0..4096).contains(&d.major()) || !(0..1 << 20).contains(&d.minor()) {
            return Err(invalid(format!(
                "linux.devices: {:?} has device number {}:{}, beyond the kernel's (major below 4096, minor below 1048576)",
                d.path(),
                d.major(),
                d.minor()
            )));
        }
    }
    if let Some(s) = linux.sysctl() {
        for key in s.keys() {
            if key.contains("..") || key.starts_with('/') || key.is_empty() {
                return Err(invalid(format!("linux.sysctl: invalid key {key:?}")));
            }
        }
    }
    Ok(())
}

/// The ids `process` (the config's, or one given to `exec`) runs with,
/// against the ids the container of `spec` has.
pub fn check_user(spec: &Spec, process: &oci_spec::runtime::Process) -> Result<(), ConfigError> {
    let user = process.user();
    let groups = user.additional_gids().as_deref().unwrap_or_default();
    if groups.len() > MAX_GROUPS {
        return Err(invalid(format!(
            "process.user.additionalGids: {} gids, more than the kernel's {MAX_GROUPS}",
            groups.len()
        )));
    }
    let linux_ref = spec.linux().as_ref();
    let new_userns = linux_ref
        .and_then(|l| l.namespaces().as_deref())
        .is_some_and(|n| {
            n.iter()
                .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none())
        });
    let (umaps, gmaps) = match linux_ref {
        Some(l) if new_userns => (l.uid_mappings().as_deref(), l.gid_mappings().as_deref()),
        _ => (None, None),
    };
    check_id("process.user.uid", user.uid(), umaps)?;
    check_id("process.user.gid", user.gid(), gmaps)?;
    for g in groups {
        check_id("process.user.additionalGids", *g, gmaps)?;
    }
    Ok(())
}

/// The config `spec` writes: runc's default (busybox-friendly `sh` on a
/// terminal), or with `rootless` a user namespace mapping the caller's ids.
pub fn default_spec(rootless: bool) -> serde_json::Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let mut v = serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                            "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if rootless {
        let (uid, gid) = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        let l = &mut v["linux"];
        l["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        l["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        l["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}, {"type": "user"}]);
        l.as_object_mut().expect("object").remove("resources");
        let mounts = v["mounts"].as_array_mut().expect("array");
        mounts.retain(|m| m["destination"] != "/sys" && m["destination"] != "/sys/fs/cgroup");
        mounts.push(serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}));
        for m in mounts.iter_mut() {
            if m["destination"] == "/dev/pts" {
                m["options"] = serde_json::json!([
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620"
                ]);
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::nul_field;

    #[test]
    fn nul_bytes_are_found_by_their_field_and_escaped_backslashes_are_not_nuls() {
        assert_eq!(
            nul_field(br#"{"process": {"args": ["a", "b\u0000"]}}"#).as_deref(),
            Some("process.args[1]")
        );
        assert_eq!(nul_field(br#"{"a": "\\u0000"}"#), None);
        assert_eq!(nul_field(br#"{"a": "x\\"}"#), None);
        assert_eq!(nul_field(br#"{"a": "\\\u0000"}"#).as_deref(), Some("a"));
        assert_eq!(nul_field(b"\\"), None);
    }
}
