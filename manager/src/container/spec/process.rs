//! `process`: the command, environment, user, capabilities and rlimits.

use super::super::opts::{self, CreateOptions};
use super::super::{bad, ContainerError, Result};
use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilitiesBuilder, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType, Process, ProcessBuilder, UserBuilder,
};

/// Docker's default capabilities.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability this kernel knows (for --privileged and --cap-add ALL),
/// limited to our own bounding set: a cap we lack cannot be given.
pub(super) fn all_caps() -> Vec<String> {
    const NAMES: &[&str] = &[
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    let bounding = berth_common::proc::Status::read(None)
        .and_then(|s| s.cap_bounding)
        .unwrap_or(u64::MAX);
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| bounding & (1 << i) != 0)
        .map(|(_, n)| format!("CAP_{n}"))
        .collect()
}

/// The capability set (`CAP_...` names) from --privileged, --cap-drop and --cap-add.
pub(super) fn caps(o: &CreateOptions) -> Result<Vec<String>> {
    if o.privileged {
        return Ok(all_caps());
    }
    let known = all_caps();
    let mut set: Vec<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    for c in &o.cap_drop {
        let c = opts::cap_name(c);
        if c == "CAP_ALL" || c == "ALL" {
            set.clear();
        } else {
            set.retain(|x| *x != c);
        }
    }
    for c in &o.cap_add {
        let c = opts::cap_name(c);
        if c == "ALL" {
            set = known.clone();
        } else if !known.contains(&c) {
            return Err(bad(
                "--cap-add",
                &c,
                "unknown capability, or not in this host's bounding set",
            ));
        } else if !set.contains(&c) {
            set.push(c);
        }
    }
    Ok(set)
}

fn capability_set(names: &[String]) -> Result<Capabilities> {
    names
        .iter()
        .map(|n| {
            n.trim_start_matches("CAP_")
                .parse::<Capability>()
                .map_err(|_| ContainerError::Other(format!("unknown capability {n}")))
        })
        .collect()
}

/// The caller's hard limits of open files and processes: docker hands over
/// the daemon's limits, and ours are the caller's.
fn host_rlimits() -> Vec<PosixRlimit> {
    let mut out = Vec::new();
    for (typ, res) in [
        (PosixRlimitType::RlimitNofile, libc::RLIMIT_NOFILE),
        (PosixRlimitType::RlimitNproc, libc::RLIMIT_NPROC),
    ] {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills r.
        if unsafe { libc::getrlimit(res, &mut r) } == 0 {
            let v = r.rlim_max.min(1 << 20);
            out.push(rlimit(typ, v, v));
        }
    }
    out
}

fn rlimit(typ: PosixRlimitType, soft: u64, hard: u64) -> PosixRlimit {
    PosixRlimitBuilder::default()
        .typ(typ)
        .soft(soft)
        .hard(hard)
        .build()
        .expect("rlimit")
}

/// Each --ulimit in place of the limit it names, and --oom-score-adj.
pub(super) fn limits(p: &mut Process, o: &CreateOptions) -> Result<()> {
    let mut out = p.rlimits().clone().unwrap_or_default();
    for u in &o.ulimits {
        let (name, soft, hard) = opts::parse_ulimit(u)?;
        let typ = name
            .parse::<PosixRlimitType>()
            .map_err(|_| bad("--ulimit", u, "unknown limit"))?;
        out.retain(|r| r.typ() != typ);
        out.push(rlimit(typ, soft, hard));
    }
    p.set_rlimits(Some(out));
    if let Some(a) = o.oom_score_adj {
        if !(-1000..=1000).contains(&a) {
            return Err(bad(
                "--oom-score-adj",
                &a.to_string(),
                "must be between -1000 and 1000",
            ));
        }
        p.set_oom_score_adj(Some(a));
    }
    Ok(())
}

/// The process before the image's command, environment, directory and
/// user are applied (`RuntimeConfig::apply`).
pub(super) fn base(o: &CreateOptions, caps: &[String]) -> Result<Process> {
    let set = capability_set(caps)?;
    let caps = LinuxCapabilitiesBuilder::default()
        .bounding(set.clone())
        .effective(set.clone())
        .permitted(set)
        .build()
        .expect("capabilities");
    let mut caps = caps;
    // The builder starts from oci-spec's defaults, which fill these two.
    caps.set_inheritable(None);
    caps.set_ambient(None);
    let mut p = ProcessBuilder::default()
        .terminal(o.tty)
        .user(
            UserBuilder::default()
                .uid(0u32)
                .gid(0u32)
                .build()
                .expect("user"),
        )
        .args(Vec::<String>::new())
        .cwd("/")
        .capabilities(caps)
        .rlimits(host_rlimits())
        .build()
        .expect("process");
    // oci-spec's default process sets these: only the flags may.
    p.set_env(None);
    p.set_no_new_privileges(None);
    Ok(p)
}
