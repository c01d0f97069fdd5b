//! Docker/podman seccomp profiles (`/usr/share/containers/seccomp.json`:
//! archMap, includes/excludes by arch and capability) → the OCI
//! `linux.seccomp` object for one container's capability set on amd64.

use serde_json::{json, Value};

pub const DEFAULT_PROFILE: &str = "/usr/share/containers/seccomp.json";

/// Docker's names for the architectures of this build.
const ARCH: &str = "amd64";

fn list(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default()
}

/// `caps`: the container's bounding set (`CAP_...`).
pub fn translate(profile: &Value, caps: &[String]) -> Value {
    let mut arches = Vec::new();
    for m in profile["archMap"].as_array().into_iter().flatten() {
        if m["architecture"] == "SCMP_ARCH_X86_64" {
            arches.push(m["architecture"].clone());
            arches.extend(
                m["subArchitectures"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
    }
    if arches.is_empty() {
        arches = profile["architectures"]
            .as_array()
            .cloned()
            .unwrap_or_default();
    }
    let has = |c: &&str| caps.iter().any(|x| x == c);
    let mut syscalls = Vec::new();
    for s in profile["syscalls"].as_array().into_iter().flatten() {
        let inc = &s["includes"];
        let exc = &s["excludes"];
        let inc_arches = list(&inc["arches"]);
        if !inc_arches.is_empty() && !inc_arches.contains(&ARCH) {
            continue;
        }
        let inc_caps = list(&inc["caps"]);
        if !inc_caps.iter().all(has) {
            continue;
        }
        if list(&exc["arches"]).contains(&ARCH) {
            continue;
        }
        let exc_caps = list(&exc["caps"]);
        if !exc_caps.is_empty() && exc_caps.iter().any(has) {
            continue;
        }
        let mut r = json!({"names": s["names"], "action": s["action"]});
        if let Some(e) = s.get("errnoRet").filter(|e| !e.is_null()) {
            r["errnoRet"] = e.clone();
        }
        if let Some(a) = s
            .get("args")
            .filter(|a| a.as_array().is_some_and(|a| !a.is_empty()))
        {
            r["args"] = a.clone();
        }
        syscalls.push(r);
    }
    let mut out = json!({
        "defaultAction": profile["defaultAction"],
        "architectures": arches,
        "syscalls": syscalls,
    });
    if let Some(e) = profile.get("defaultErrnoRet").filter(|e| !e.is_null()) {
        out["defaultErrnoRet"] = e.clone();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_and_excludes() {
        let p = json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": []}],
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {}, "excludes": {}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
                {"names": ["breakpoint"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm"]}},
                {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
                {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_CHROOT"]}}
            ]
        });
        let with = translate(&p, &["CAP_SYS_CHROOT".into()]);
        let names: Vec<String> = with["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{}:{}", s["names"][0], s["action"]))
            .collect();
        assert_eq!(
            names,
            [
                "\"read\":\"SCMP_ACT_ALLOW\"",
                "\"arch_prctl\":\"SCMP_ACT_ALLOW\"",
                "\"chroot\":\"SCMP_ACT_ALLOW\""
            ]
        );
        assert_eq!(
            with["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
        );
        let without = translate(&p, &[]);
        let last = without["syscalls"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["action"], "SCMP_ACT_ERRNO");
        assert_eq!(last["errnoRet"], 1);
    }
}
