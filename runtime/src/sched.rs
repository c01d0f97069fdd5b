//! How the process is scheduled and placed: `process.scheduler`
//! (sched_setattr), `process.execCPUAffinity` (exec only), and the NUMA
//! `linux.memoryPolicy` (set_mempolicy); `linux.personality`; and the
//! `linux.intelRdt` refusal. Each is checked at create (`check`) so that a
//! value the kernel cannot take fails with the field's name before anything
//! exists, and applied in the init (or by `exec`) where the spec says.

use crate::sys::SchedAttr;
use nix::sys::personality::{self, Persona};
use oci_spec::runtime::{
    LinuxMemoryPolicy, LinuxSchedulerFlag, LinuxSchedulerPolicy, MemoryPolicyFlagType,
    MemoryPolicyModeType, Process, Scheduler, Spec,
};
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    #[error("{0}")]
    Invalid(String),
    #[error("{field}: {err}")]
    Os { field: &'static str, err: io::Error },
}

type Result<T> = std::result::Result<T, SchedError>;

fn invalid(msg: impl Into<String>) -> SchedError {
    SchedError::Invalid(msg.into())
}

fn os(field: &'static str) -> impl FnOnce(io::Error) -> SchedError {
    move |err| SchedError::Os { field, err }
}

/// Parses JSON holding a process (config.json at "/process", an exec
/// `--process` at ""), first renaming the scheduler flags the spec spells
/// SCHED_FLAG_RESET_ON_FORK and SCHED_FLAG_DL_OVERRUN to the names oci-spec
/// 0.10 knows them by (SCHED_RESET_ON_FORK, SCHED_FLAG_D_L_OVERRUN), which
/// would otherwise refuse a valid config.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    raw: &[u8],
    process_at: &str,
) -> std::result::Result<T, String> {
    let spelled = |n: &[u8]| raw.windows(n.len()).any(|w| w == n);
    if !spelled(b"SCHED_FLAG_RESET_ON_FORK") && !spelled(b"SCHED_FLAG_DL_OVERRUN") {
        return serde_json::from_slice(raw).map_err(|e| e.to_string());
    }
    let mut v: serde_json::Value = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    if let Some(flags) = v
        .pointer_mut(&format!("{process_at}/scheduler/flags"))
        .and_then(|f| f.as_array_mut())
    {
        for f in flags {
            match f.as_str() {
                Some("SCHED_FLAG_RESET_ON_FORK") => *f = "SCHED_RESET_ON_FORK".into(),
                Some("SCHED_FLAG_DL_OVERRUN") => *f = "SCHED_FLAG_D_L_OVERRUN".into(),
                _ => {}
            }
        }
    }
    serde_json::from_value(v).map_err(|e| e.to_string())
}

fn policy_number(p: LinuxSchedulerPolicy) -> Option<u32> {
    use LinuxSchedulerPolicy::*;
    Some(match p {
        SchedOther => 0,
        SchedFifo => 1,
        SchedRr => 2,
        SchedBatch => 3,
        // Reserved by Linux, never implemented.
        SchedIso => return None,
        SchedIdle => 5,
        SchedDeadline => 6,
    })
}

fn flag_bit(f: LinuxSchedulerFlag) -> u64 {
    use LinuxSchedulerFlag::*;
    match f {
        SchedResetOnFork => 0x01,
        SchedFlagReclaim => 0x02,
        SchedFlagDLOverrun => 0x04,
        SchedFlagKeepPolicy => 0x08,
        SchedFlagKeepParams => 0x10,
        SchedFlagUtilClampMin => 0x20,
        SchedFlagUtilClampMax => 0x40,
    }
}

fn sched_attr(s: &Scheduler) -> Result<SchedAttr> {
    let policy = policy_number(*s.policy()).ok_or_else(|| {
        invalid(format!(
            "process.scheduler.policy: {} is not implemented by Linux",
            s.policy()
        ))
    })?;
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(invalid(format!(
            "process.scheduler.nice: {nice} is out of range (-20 to 19)"
        )));
    }
    let priority = s.priority().unwrap_or(0);
    let realtime = matches!(
        s.policy(),
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
    );
    if realtime && !(1..=99).contains(&priority) {
        return Err(invalid(format!(
            "process.scheduler.priority: {priority} is out of range for {} (1 to 99)",
            s.policy()
        )));
    }
    if !realtime && priority != 0 {
        return Err(invalid(format!(
            "process.scheduler.priority: {} takes no priority (0), {priority} given",
            s.policy()
        )));
    }
    let flags = s
        .flags()
        .iter()
        .flatten()
        .fold(0, |acc, f| acc | flag_bit(*f));
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        // With the clamp flags, the whole range: the spec has no values.
        util_min: 0,
        util_max: 1024,
    })
}

/// sched_setattr(2) on the calling thread.
pub fn apply_scheduler(p: &Process) -> Result<()> {
    let Some(s) = p.scheduler() else {
        return Ok(());
    };
    let attr = sched_attr(s)?;
    crate::sys::sched_setattr_self(&attr).map_err(os("process.scheduler"))
}

/// A Linux CPU or node list ("0-3,7") as a bitmask of u64 words.
pub fn parse_list(field: &'static str, s: &str) -> Result<Vec<u64>> {
    let mut words: Vec<u64> = Vec::new();
    let bad = || invalid(format!("{field}: {s:?} is not a list such as 0-3,7"));
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let (a, b): (usize, usize) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if a > b || b >= 1 << 16 {
            return Err(bad());
        }
        for i in a..=b {
            if words.len() <= i / 64 {
                words.resize(i / 64 + 1, 0);
            }
            words[i / 64] |= 1 << (i % 64);
        }
    }
    Ok(words)
}

fn set_affinity(field: &'static str, list: &str) -> Result<()> {
    let words = parse_list(field, list)?;
    if words.iter().all(|w| *w == 0) {
        // Empty: the spec's "SHOULD NOT change".
        return Ok(());
    }
    crate::sys::sched_setaffinity_self(&words).map_err(os(field))
}

/// `exec` itself runs on `initial` before its child joins the cgroup (the
/// child inherits it).
pub fn exec_initial_affinity(p: &Process) -> Result<()> {
    match p
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_deref())
    {
        Some(l) => set_affinity("process.execCPUAffinity.initial", l),
        None => Ok(()),
    }
}

/// The exec'd process, once in the container's cgroups, moves to `final`.
pub fn exec_final_affinity(p: &Process) -> Result<()> {
    match p
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.cpu_affinity_final().as_deref())
    {
        Some(l) => set_affinity("process.execCPUAffinity.final", l),
        None => Ok(()),
    }
}

/// The modes `features` lists: MPOL_WEIGHTED_INTERLEAVE only where the
/// kernel has it (6.9, which added its sysfs directory too).
pub fn memory_policy_modes() -> Vec<&'static str> {
    if !numa() {
        return vec![];
    }
    let weighted = std::path::Path::new("/sys/kernel/mm/mempolicy/weighted_interleave").exists();
    MEMORY_POLICY_MODES
        .iter()
        .copied()
        .filter(|m| weighted || *m != "MPOL_WEIGHTED_INTERLEAVE")
        .collect()
}

/// Whether the kernel has NUMA policies at all (CONFIG_NUMA: it shows node0).
pub fn numa() -> bool {
    std::path::Path::new("/sys/devices/system/node/node0").exists()
}

/// The flags `features` lists: none without NUMA.
pub fn memory_policy_flags() -> Vec<&'static str> {
    if numa() {
        MEMORY_POLICY_FLAGS.to_vec()
    } else {
        vec![]
    }
}

/// The modes and flags `linux.memoryPolicy` takes (the kernel judges each
/// at create).
pub const MEMORY_POLICY_MODES: &[&str] = &[
    "MPOL_DEFAULT",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_WEIGHTED_INTERLEAVE",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_LOCAL",
];
pub const MEMORY_POLICY_FLAGS: &[&str] = &[
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

fn mode_number(m: MemoryPolicyModeType) -> i32 {
    use MemoryPolicyModeType::*;
    match m {
        MpolDefault => 0,
        MpolPreferred => 1,
        MpolBind => 2,
        MpolInterleave => 3,
        MpolLocal => 4,
        MpolPreferredMany => 5,
        MpolWeightedInterleave => 6,
    }
}

fn mpol_flag(f: MemoryPolicyFlagType) -> i32 {
    use MemoryPolicyFlagType::*;
    match f {
        MpolFStaticNodes => 1 << 15,
        MpolFRelativeNodes => 1 << 14,
        MpolFNumaBalancing => 1 << 13,
    }
}

/// The mode word (mode | flags) and node mask of a memory policy.
fn mempolicy(m: &LinuxMemoryPolicy) -> Result<(i32, Vec<u64>)> {
    let nodes = match m.nodes().as_deref() {
        Some(n) => parse_list("linux.memoryPolicy.nodes", n)?,
        None => vec![],
    };
    let empty = nodes.iter().all(|w| *w == 0);
    use MemoryPolicyModeType::*;
    match m.mode() {
        MpolDefault | MpolLocal if !empty => {
            return Err(invalid(format!(
                "linux.memoryPolicy.nodes: {} takes no nodes",
                m.mode()
            )))
        }
        MpolBind | MpolInterleave | MpolWeightedInterleave | MpolPreferredMany if empty => {
            return Err(invalid(format!(
                "linux.memoryPolicy.nodes: {} needs at least one node",
                m.mode()
            )))
        }
        _ => {}
    }
    let flags = m.flags().iter().flatten().fold(0, |a, f| a | mpol_flag(*f));
    if flags & (3 << 14) == 3 << 14 {
        return Err(invalid(
            "linux.memoryPolicy.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
        ));
    }
    Ok((mode_number(m.mode()) | flags, nodes))
}

/// set_mempolicy(2) for the calling thread; inherited across fork and exec.
pub fn apply_memory_policy(spec: &Spec) -> Result<()> {
    let Some(m) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    else {
        return Ok(());
    };
    let (mode, nodes) = mempolicy(m)?;
    crate::sys::set_mempolicy(mode, &nodes).map_err(os("linux.memoryPolicy"))
}

/// personality(2) with the config's domain; the spec defines no flags.
pub fn apply_personality(spec: &Spec) -> Result<()> {
    let Some(per) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) else {
        return Ok(());
    };
    use oci_spec::runtime::LinuxPersonalityDomain::*;
    // PER_LINUX32 is a domain, not one of nix's flags: passed as it is.
    let domain = Persona::from_bits_retain(match per.domain() {
        PerLinux => 0x0000,
        PerLinux32 => 0x0008,
    });
    personality::set(domain).map_err(|e| os("linux.personality")(e.into()))?;
    Ok(())
}

/// Whether a resctrl filesystem is mounted in our mount namespace.
fn resctrl_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|r| r.starts_with("resctrl "))
        })
}

/// Everything above that can be judged before the container exists.
pub fn check(spec: &Spec) -> Result<()> {
    if let Some(p) = spec.process() {
        if let Some(s) = p.scheduler() {
            sched_attr(s)?;
        }
        if let Some(a) = p.exec_cpu_affinity() {
            if let Some(l) = a.initial() {
                parse_list("process.execCPUAffinity.initial", l)?;
            }
            if let Some(l) = a.cpu_affinity_final() {
                parse_list("process.execCPUAffinity.final", l)?;
            }
        }
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if let Some(m) = linux.memory_policy() {
        mempolicy(m)?;
    }
    if let Some(offs) = linux.time_offsets().as_ref().filter(|o| !o.is_empty()) {
        // Offsets can only be written into a time namespace we make.
        let new_timens =
            linux.namespaces().iter().flatten().any(|n| {
                n.typ() == oci_spec::runtime::LinuxNamespaceType::Time && n.path().is_none()
            });
        if !new_timens {
            return Err(invalid(
                "linux.timeOffsets: needs a new time namespace (linux.namespaces: type time, no path)",
            ));
        }
        for (clock, o) in offs {
            if clock != "monotonic" && clock != "boottime" {
                return Err(invalid(format!(
                    "linux.timeOffsets: {clock:?} is not a clock a time namespace offsets (monotonic, boottime)"
                )));
            }
            if o.nanosecs().unwrap_or(0) >= 1_000_000_000 {
                return Err(invalid(format!(
                    "linux.timeOffsets: nanosecs of {clock} must be below 1000000000"
                )));
            }
        }
    }
    if let Some(per) = linux.personality() {
        if per.flags().as_ref().is_some_and(|f| !f.is_empty()) {
            return Err(invalid(
                "linux.personality.flags: the spec defines no flags, none are supported",
            ));
        }
    }
    if linux.intel_rdt().is_some() {
        // config-linux.md: no resctrl in the runtime namespace is an error.
        return Err(invalid(if resctrl_mounted() {
            "linux.intelRdt is not supported by berth-runtime"
        } else {
            "linux.intelRdt: no resctrl filesystem is mounted on this host"
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_become_masks() {
        assert_eq!(parse_list("f", "0-3,7").unwrap(), vec![0x8f]);
        assert_eq!(parse_list("f", "64").unwrap(), vec![0, 1]);
        assert!(parse_list("f", "3-1").is_err());
        assert!(parse_list("f", "x").is_err());
        assert_eq!(parse_list("f", "").unwrap(), Vec::<u64>::new());
    }
}
