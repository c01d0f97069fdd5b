//! config-linux.md#seccomp.

use anyhow::{ensure, Result};
use serde_json::json;

use crate::container::Ct;
use crate::harness::{case, Case, Ctx};

pub fn cases() -> Vec<Case> {
    vec![
        case("seccomp/errno", "config-linux.md#seccomp", errno),
        case("seccomp/args", "config-linux.md#seccomp", args),
        case("seccomp/none", "config-linux.md#seccomp", none),
        case(
            "seccomp/without-no-new-privileges",
            "config-linux.md#seccomp",
            |c| without_nnp(c, "close_range"),
        )
        .deviates("runc 1.1 panics in create when the filter denies close_range"),
        case(
            "seccomp/without-no-new-privileges-getcwd",
            "config-linux.md#seccomp",
            |c| without_nnp(c, "getcwd"),
        )
        .deviates("runc 1.1 fails create when the filter denies getcwd"),
        case(
            "seccomp/errnoret-on-kill",
            "config-linux.md#seccomp",
            errnoret_on_kill,
        )
        .deviates("runc 1.1 ignores errnoRet on actions without an errno"),
    ]
}

fn errno(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["seccomp", "report"])?;
    ct.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EADDRNOTAVAIL},
        ]
    });
    // report reads the cwd through getcwd: it would see the error too.
    ct.args(&["seccomp", "read=/proc/self/status"]);
    ct.run()?;
    let s = ct.record("seccomp")?;
    ensure!(
        s["getppid_errno"] == libc::EPERM,
        "getppid under an ERRNO rule: errno {}, want EPERM (the default)",
        s["getppid_errno"]
    );
    ensure!(
        s["getcwd_errno"] == libc::EADDRNOTAVAIL,
        "getcwd under errnoRet 99: errno {}",
        s["getcwd_errno"]
    );
    ensure!(
        s["personality_errno"] == 0,
        "unfiltered personality failed: {}",
        s["personality_errno"]
    );
    let st = ct.record("read")?;
    ensure!(
        st["data"]
            .as_str()
            .unwrap_or_default()
            .lines()
            .any(|l| l.replace('\t', " ") == "Seccomp: 2"),
        "/proc/self/status does not show seccomp filter mode 2"
    );
    Ok(())
}

fn args(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["seccomp"])?;
    ct.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            // Only the query form personality(0xffffffff) is refused.
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV,
             "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV,
             "args": [{"index": 0, "value": 12345, "op": "SCMP_CMP_EQ"}]},
        ]
    });
    ct.run()?;
    let s = ct.record("seccomp")?;
    ensure!(
        s["personality_errno"] == libc::EXDEV,
        "personality(0xffffffff) errno {}, want EXDEV",
        s["personality_errno"]
    );
    ensure!(
        s["getppid_errno"] == 0,
        "getppid with a non-matching argument failed: {}",
        s["getppid_errno"]
    );
    Ok(())
}

fn none(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["report"])?;
    ct.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("seccomp");
    ct.run()?;
    let r = ct.report()?;
    ensure!(
        r["status"]["Seccomp"] == "0",
        "seccomp mode {} without a seccomp config",
        r["status"]["Seccomp"]
    );
    Ok(())
}

fn errnoret_on_kill(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["exit=0"])?;
    ct.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]
    });
    let c = ct.try_create()?;
    let started = c.ok && ct.call(&["start", &ct.id])?.ok;
    ensure!(
        !started,
        "errnoRet on SCMP_ACT_KILL (no errno) was accepted"
    );
    Ok(())
}

/// Without noNewPrivileges a runtime must load the filter while it still
/// holds CAP_SYS_ADMIN, so the filter also judges the runtime's last steps
/// before execve: a profile that denies `denied` (docker's older ones deny
/// close_range) must still run the process.
fn without_nnp(ctx: &Ctx, denied: &str) -> Result<()> {
    let mut ct = Ct::new(ctx, &["seccomp", "read=/proc/self/status"])?;
    ct.config["process"]["noNewPrivileges"] = json!(false);
    ct.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["getppid", denied], "action": "SCMP_ACT_ERRNO"},
        ]
    });
    ct.run()?;
    let s = ct.record("seccomp")?;
    ensure!(
        s["getppid_errno"] == libc::EPERM,
        "filtered getppid: errno {}, want EPERM",
        s["getppid_errno"]
    );
    let st = ct.record("read")?;
    ensure!(
        st["data"]
            .as_str()
            .unwrap_or_default()
            .lines()
            .any(|l| l.replace('\t', " ") == "NoNewPrivs: 0"),
        "the process has no_new_privs set though noNewPrivileges is false"
    );
    Ok(())
}
