//! Loading and checking a bundle's config.json before anything is created, so
//! that bad input fails with one clear line and leaves nothing behind.

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("invalid {0}: {1}")]
    Parse(PathBuf, String),
    #[error("invalid config: {0}")]
    Invalid(String),
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
    let raw = fs::read(&path).map_err(|e| ConfigError::Read(path.clone(), e))?;
    let spec = parse(&raw).map_err(|e| ConfigError::Parse(path.clone(), e))?;
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
    validate(&spec)?;
    Ok(Bundle {
        dir,
        spec,
        raw,
        rootfs,
    })
}

/// Parses config JSON; serde's message names the field and position.
pub fn parse(raw: &[u8]) -> Result<Spec, String> {
    serde_json::from_slice::<Spec>(raw).map_err(|e| e.to_string())
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
                    "process.rlimits: {:?} given twice",
                    r.typ()
                )));
            }
            if r.soft() > r.hard() {
                return Err(invalid(format!(
                    "process.rlimits: {:?} soft limit above hard limit",
                    r.typ()
                )));
            }
        }
    }
    for m in spec.mounts().as_deref().unwrap_or_default() {
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
    // What we cannot apply must fail create (runtime.md), never be ignored.
    if process.scheduler().is_some() {
        return Err(invalid(
            "process.scheduler is not supported by berth-runtime",
        ));
    }
    if process.exec_cpu_affinity().is_some() {
        return Err(invalid(
            "process.execCPUAffinity is not supported by berth-runtime",
        ));
    }
    for m in spec.mounts().as_deref().unwrap_or_default() {
        if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
            return Err(invalid(format!(
                "mounts: idmapped mount of {:?} is not supported by berth-runtime",
                m.destination()
            )));
        }
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if linux.intel_rdt().is_some() {
        return Err(invalid("linux.intelRdt is not supported by berth-runtime"));
    }
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(invalid(
            "linux.netDevices is not supported by berth-runtime",
        ));
    }
    if linux.memory_policy().is_some() {
        return Err(invalid(
            "linux.memoryPolicy is not supported by berth-runtime",
        ));
    }
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
        let (uid, gid) = (unsafe { libc::geteuid() }, unsafe { libc::getegid() });
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
