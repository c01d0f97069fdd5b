//! `features`: what this runtime really supports, per features-schema.json.
//! Anything listed here is exercised by our tests; nothing is listed on hope.

use serde_json::{json, Value};

const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "unbindable",
];

/// The mount options of this host: the recursive ones and `nosymfollow`
/// only where the kernel has mount_setattr (5.12; nosymfollow is 5.10).
fn mount_options() -> Vec<&'static str> {
    let mut v = MOUNT_OPTIONS.to_vec();
    if crate::mountattr::supported() {
        v.extend(["nosymfollow", "symfollow"]);
        if crate::idmap::supported() {
            v.extend(["idmap", "ridmap"]);
        }
        v.extend(crate::mountattr::OPTIONS);
    }
    v.sort_unstable();
    v
}

/// The seccomp flags we know; `supported`: those this kernel takes too
/// (WAIT_KILLABLE_RECV is 5.19's, and only for a notify filter).
fn seccomp_flags(known: bool) -> Vec<&'static str> {
    let mut v = crate::seccomp::supported_flags().to_vec();
    if known || crate::seccomp::notify::wait_killable_supported() {
        v.push("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
    }
    v
}

/// SCMP_ACT_NOTIFY only where the kernel takes it.
fn seccomp_actions() -> Vec<&'static str> {
    let mut v = crate::seccomp::supported_actions().to_vec();
    if crate::seccomp::notify::supported() {
        v.push("SCMP_ACT_NOTIFY");
        v.sort_unstable();
    }
    v
}

pub fn features() -> Value {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let caps: Vec<String> = caps::all()
        .into_iter()
        .filter(|c| u32::from(c.index()) <= last)
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": seccomp_actions(),
                "operators": crate::seccomp::supported_operators(),
                "archs": crate::seccomp::supported_archs(),
                "knownFlags": seccomp_flags(true),
                "supportedFlags": seccomp_flags(false),
            },
            // No LSM on the hosts we target; runc ignores the profile fields there too.
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": crate::idmap::supported()}},
            "netDevices": {"enabled": true},
            "memoryPolicy": {
                "modes": crate::sched::memory_policy_modes(),
                "flags": crate::sched::memory_policy_flags(),
            },
        },
        "annotations": {
            "org.opencontainers.runc.checkpoint.enabled": "false",
            "io.github.berth.runtime.version": env!("CARGO_PKG_VERSION"),
        }
    })
}
