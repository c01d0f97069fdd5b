//! Unit tests: generated programs checked by an interpreter against the plan, and real
//! behaviour in forked children.

mod plan;
mod real;

use super::*;
use serde_json::{json, Value};

pub(super) const PODMAN_PROFILE: &str = "/usr/share/containers/seccomp.json";

pub(super) fn profile(v: Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("test profile parses")
}

/// The number of `name` in ABI 0 (x86_64), 1 (i386) or 2 (x32).
pub(super) fn nr(abi: usize, name: &str) -> Option<u32> {
    resolve(name)
        .map(|nrs| nrs[abi])
        .filter(|&n| n != tables::NONE)
}

pub(super) fn errno(e: i32) -> u32 {
    RET_ERRNO | e as u32
}

/// podman's profile as podman hands it to the runtime: entries filtered by includes and
/// excludes for amd64 and podman's default capabilities, archMap resolved.
pub(super) fn podman_profile() -> Option<LinuxSeccomp> {
    let text = std::fs::read_to_string(PODMAN_PROFILE).ok()?;
    let mut v: Value = serde_json::from_str(&text).unwrap();
    let caps = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETFCAP",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYS_CHROOT",
    ];
    let has = |list: &Value, what: &[&str]| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|x| what.contains(&x.as_str().unwrap())))
    };
    let all = |list: &Value, what: &[&str]| {
        list.as_array()
            .is_none_or(|l| l.iter().all(|x| what.contains(&x.as_str().unwrap())))
    };
    let syscalls: Vec<Value> = v["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|sc| {
            let inc = &sc["includes"];
            let exc = &sc["excludes"];
            all(&inc["caps"], &caps)
                && (inc["arches"].is_null() || has(&inc["arches"], &["amd64"]))
                && !has(&exc["caps"], &caps)
                && !has(&exc["arches"], &["amd64"])
        })
        .map(|sc| {
            let mut sc = sc.clone();
            let o = sc.as_object_mut().unwrap();
            o.remove("includes");
            o.remove("excludes");
            o.remove("comment");
            o.retain(|_, v| !v.is_null());
            sc
        })
        .collect();
    v["syscalls"] = Value::Array(syscalls);
    v["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    v.as_object_mut().unwrap().remove("archMap");
    Some(profile(v))
}

/// Docker's default profile has the same allow list as podman's, but EPERM as the default
/// errno, a MASKED_EQ rule on clone's flags (runc's value/mask order) and clone3 → ENOSYS.
pub(super) fn docker_like_profile() -> Option<LinuxSeccomp> {
    let p = podman_profile()?;
    let mut v = serde_json::to_value(&p).unwrap();
    v["defaultErrnoRet"] = json!(1);
    let syscalls = v["syscalls"].as_array_mut().unwrap();
    for sc in syscalls.iter_mut() {
        let names = sc["names"].as_array_mut().unwrap();
        names.retain(|n| n != "clone" && n != "clone3");
    }
    syscalls.push(json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}));
    syscalls.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}));
    Some(profile(v))
}
