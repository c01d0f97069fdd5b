//! What newer runtimes (runc 1.2+, crun 1.2x, youki) support beyond the core
//! of the spec: recursive mount attributes, seccomp user notification, the
//! scheduler, memory policy, net devices, id-mapped mounts. Each case runs
//! only against a runtime whose `features` claims the feature, and skips
//! with the reason otherwise; `extensions/claims-are-tested` checks the
//! other way round: nothing claimed goes untested.

use std::fs;
use std::path::Path;

use anyhow::{anyhow, ensure, Result};
use serde_json::{json, Value};

use crate::container::Ct;
use crate::harness::{case, skip, Case, Ctx};
use crate::tests::host;

const EROFS: i64 = libc::EROFS as i64;
const ELOOP: i64 = libc::ELOOP as i64;
/// mount(2)'s nosymfollow (Linux 5.10), not in libc for musl.
const MS_NOSYMFOLLOW: libc::c_ulong = 256;

pub fn cases() -> Vec<Case> {
    vec![
        case(
            "extensions/recursive-mount-attrs",
            "config.md#linux-mount-options",
            recursive_attrs,
        ),
        case(
            "extensions/recursive-mount-attrs-last-wins",
            "config.md#linux-mount-options",
            recursive_last_wins,
        )
        .deviates("runc 1.1 applies both of two opposite recursive options (the set one wins) and keeps noatime under a later ratime"),
        case(
            "extensions/nosymfollow",
            "config.md#linux-mount-options",
            nosymfollow,
        ),
        case(
            "extensions/seccomp-notify",
            "config-linux.md#seccomp",
            |c| seccomp_notify(c, true),
        ),
        case(
            "extensions/seccomp-notify-privileged",
            "config-linux.md#seccomp",
            |c| seccomp_notify(c, false),
        ),
        case(
            "extensions/seccomp-notify-wait-killable",
            "config-linux.md#seccomp",
            notify_wait_killable,
        ),
        case(
            "extensions/seccomp-notify-without-listener-path",
            "config-linux.md#seccomp",
            notify_without_path,
        ),
        case(
            "extensions/seccomp-notify-listener-missing",
            "config-linux.md#seccomp",
            notify_listener_missing,
        ),
        case(
            "extensions/claims-are-tested",
            "features.md",
            claims_are_tested,
        ),
    ]
}

/// Which test proves each claim a runtime can make in `features`: a
/// mount option, or a JSON pointer whose value is `true` or lists the item.
pub const CLAIMS: &[(&str, &str)] = &[
    ("mountOptions:nosymfollow", "extensions/nosymfollow"),
    ("mountOptions:symfollow", "extensions/nosymfollow"),
    ("mountOptions:rro", "extensions/recursive-mount-attrs"),
    ("mountOptions:rrw", "extensions/recursive-mount-attrs"),
    ("mountOptions:rnosuid", "extensions/recursive-mount-attrs"),
    ("mountOptions:rsuid", "extensions/recursive-mount-attrs"),
    ("mountOptions:rnodev", "extensions/recursive-mount-attrs"),
    ("mountOptions:rdev", "extensions/recursive-mount-attrs"),
    ("mountOptions:rnoexec", "extensions/recursive-mount-attrs"),
    ("mountOptions:rexec", "extensions/recursive-mount-attrs"),
    (
        "mountOptions:rnodiratime",
        "extensions/recursive-mount-attrs",
    ),
    ("mountOptions:rdiratime", "extensions/recursive-mount-attrs"),
    (
        "mountOptions:rrelatime",
        "extensions/recursive-mount-attrs-last-wins",
    ),
    (
        "mountOptions:rnorelatime",
        "extensions/recursive-mount-attrs-last-wins",
    ),
    ("mountOptions:rnoatime", "extensions/recursive-mount-attrs"),
    (
        "mountOptions:ratime",
        "extensions/recursive-mount-attrs-last-wins",
    ),
    (
        "mountOptions:rstrictatime",
        "extensions/recursive-mount-attrs",
    ),
    (
        "mountOptions:rnostrictatime",
        "extensions/recursive-mount-attrs-last-wins",
    ),
    (
        "mountOptions:rnosymfollow",
        "extensions/recursive-mount-attrs",
    ),
    (
        "mountOptions:rsymfollow",
        "extensions/recursive-mount-attrs",
    ),
    (
        "/linux/seccomp/actions:SCMP_ACT_NOTIFY",
        "extensions/seccomp-notify",
    ),
    ("/linux/netDevices/enabled", "netdev/move-rename-addresses"),
    (
        "/linux/seccomp/supportedFlags:SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        "extensions/seccomp-notify-wait-killable",
    ),
    (
        "/linux/mountExtensions/idmap/enabled",
        "idmap/mount-mappings",
    ),
    ("mountOptions:idmap", "idmap/mount-mappings"),
    ("mountOptions:ridmap", "idmap/ridmap-submount"),
    (
        "/linux/memoryPolicy/modes:MPOL_DEFAULT",
        "sched/memory-policy",
    ),
    ("/linux/memoryPolicy/modes:MPOL_BIND", "sched/memory-policy"),
    (
        "/linux/memoryPolicy/modes:MPOL_INTERLEAVE",
        "sched/memory-policy",
    ),
    (
        "/linux/memoryPolicy/modes:MPOL_WEIGHTED_INTERLEAVE",
        "sched/memory-policy",
    ),
    (
        "/linux/memoryPolicy/modes:MPOL_PREFERRED",
        "sched/memory-policy",
    ),
    (
        "/linux/memoryPolicy/modes:MPOL_PREFERRED_MANY",
        "sched/memory-policy",
    ),
    (
        "/linux/memoryPolicy/modes:MPOL_LOCAL",
        "sched/memory-policy",
    ),
    (
        "/linux/memoryPolicy/flags:MPOL_F_NUMA_BALANCING",
        "sched/memory-policy",
    ),
    (
        "/linux/memoryPolicy/flags:MPOL_F_RELATIVE_NODES",
        "sched/memory-policy",
    ),
    (
        "/linux/memoryPolicy/flags:MPOL_F_STATIC_NODES",
        "sched/memory-policy",
    ),
];

/// Whether `features` lists `opt` among its mount options.
pub fn claims_mount_option(ctx: &Ctx, opt: &str) -> bool {
    ctx.features
        .as_ref()
        .and_then(|f| f["mountOptions"].as_array().cloned())
        .is_some_and(|l| l.iter().any(|o| o == opt))
}

fn need_options(ctx: &Ctx, opts: &[&str]) -> Result<()> {
    for o in opts {
        if !claims_mount_option(ctx, o) {
            return Err(skip(format!(
                "runtime does not list mount option {o:?} in its features"
            )));
        }
    }
    Ok(())
}

/// Whether a claim (an entry of CLAIMS) is made by `features`.
fn claimed(f: &Value, claim: &str) -> bool {
    if let Some(opt) = claim.strip_prefix("mountOptions:") {
        return f["mountOptions"]
            .as_array()
            .is_some_and(|l| l.iter().any(|o| o == opt));
    }
    let (ptr, item) = claim.split_once(':').unwrap_or((claim, ""));
    match f.pointer(ptr) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Array(a)) => a.iter().any(|x| x == item),
        _ => false,
    }
}

/// A source tree holding its own tmpfs submount, as the recursive options
/// must reach it: `f`, `link -> f`, `sub/` (tmpfs) with `g`, `link -> g`.
fn tree_with_submount(ct: &Ct, name: &str, data: &str) -> Result<std::path::PathBuf> {
    let src = ct.dir().join(name);
    fs::create_dir_all(src.join("sub"))?;
    fs::write(src.join("f"), "top")?;
    std::os::unix::fs::symlink("f", src.join("link"))?;
    // Unmounted by Ct's drop, which lifts every mount below its directory.
    nix::mount::mount(
        Some("tmpfs"),
        &src.join("sub"),
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some(data),
    )
    .map_err(|e| anyhow!("mount tmpfs in {}: {e}", src.display()))?;
    fs::write(src.join("sub/g"), "sub")?;
    std::os::unix::fs::symlink("g", src.join("sub/link"))?;
    Ok(src)
}

fn opts_of(report: &Value, target: &str) -> Result<Vec<String>> {
    let mi = report["mountinfo"].as_array().cloned().unwrap_or_default();
    let line = host::mountinfo_lines(&mi, target)
        .last()
        .map(|s| s.to_string())
        .ok_or_else(|| anyhow!("{target} is not a mount point in the container"))?;
    Ok(host::mount_opts(&line)
        .into_iter()
        .map(String::from)
        .collect())
}

fn recursive_attrs(ctx: &Ctx) -> Result<()> {
    need_options(ctx, RECURSIVE)?;
    let mut ct = Ct::new(
        ctx,
        &[
            "write=/r1/x",
            "write=/r1/sub/x",
            "read=/r2/sub/link",
            "read=/r2/link",
            "read=/r2/sub/g",
            "write=/r3/sub/x",
            "read=/r3/sub/link",
            "report",
        ],
    )?;
    let src = tree_with_submount(&ct, "tree", "size=1m")?;
    // Its submount has every flag a positive recursive option clears.
    let locked = tree_with_submount(&ct, "locked", "size=1m")?;
    let flags = nix::mount::MsFlags::from_bits_retain(
        libc::MS_RDONLY
            | libc::MS_NOSUID
            | libc::MS_NODEV
            | libc::MS_NOEXEC
            | libc::MS_NODIRATIME
            | MS_NOSYMFOLLOW,
    );
    nix::mount::mount::<str, _, str, str>(
        None,
        &locked.join("sub"),
        None,
        flags | nix::mount::MsFlags::MS_REMOUNT | nix::mount::MsFlags::MS_BIND,
        None,
    )
    .map_err(|e| anyhow!("remount {}/sub: {e}", locked.display()))?;
    let mounts = ct.config["mounts"].as_array_mut().unwrap();
    for (dest, src, opts) in [
        (
            "/r1",
            &src,
            json!([
                "rbind",
                "rro",
                "rnosuid",
                "rnodev",
                "rnoexec",
                "rnoatime",
                "rnodiratime"
            ]),
        ),
        (
            "/r2",
            &src,
            json!(["rbind", "rnosymfollow", "rstrictatime"]),
        ),
        (
            "/r3",
            &locked,
            json!([
                "rbind",
                "rrw",
                "rsuid",
                "rdev",
                "rexec",
                "rdiratime",
                "rsymfollow"
            ]),
        ),
    ] {
        mounts.push(json!({"destination": dest, "type": "bind", "source": src, "options": opts}));
    }
    ct.run()?;
    for p in ["/r1/x", "/r1/sub/x"] {
        let w = ct.record_for("write", p)?;
        ensure!(
            w["ok"] == false && w["errno"] == EROFS,
            "write {p} under rro: {w}, want EROFS"
        );
    }
    for p in ["/r2/sub/link", "/r2/link"] {
        let r = ct.record_for("read", p)?;
        ensure!(
            r["ok"] == false && r["errno"] == ELOOP,
            "read of symlink {p} under rnosymfollow: {r}, want ELOOP"
        );
    }
    ensure!(
        ct.record_for("read", "/r2/sub/g")?["ok"] == true,
        "a plain file under rnosymfollow must stay readable"
    );
    ensure!(
        ct.record_for("write", "/r3/sub/x")?["ok"] == true,
        "rrw: a read-only submount must become writable"
    );
    ensure!(
        ct.record_for("read", "/r3/sub/link")?["ok"] == true,
        "rsymfollow: a nosymfollow submount must follow symlinks again"
    );
    let r = ct.report()?;
    let has = |t: &str, o: &str| -> Result<bool> { Ok(opts_of(&r, t)?.iter().any(|x| x == o)) };
    for t in ["/r1", "/r1/sub"] {
        for o in ["ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime"] {
            ensure!(has(t, o)?, "{t} lacks {o}: {:?}", opts_of(&r, t)?);
        }
    }
    for t in ["/r2", "/r2/sub"] {
        // strictatime is the absence of both other modes.
        ensure!(
            !has(t, "relatime")? && !has(t, "noatime")?,
            "{t} is not strictatime: {:?}",
            opts_of(&r, t)?
        );
    }
    ensure!(has("/r2/sub", "nosymfollow")?, "/r2/sub lacks nosymfollow");
    for o in [
        "ro",
        "nosuid",
        "nodev",
        "noexec",
        "nodiratime",
        "nosymfollow",
    ] {
        ensure!(
            !has("/r3/sub", o)?,
            "/r3/sub keeps {o}: {:?}",
            opts_of(&r, "/r3/sub")?
        );
    }
    Ok(())
}

/// Two opposite options: the last one wins, as with mount(8); and the atime
/// modes, of which a mount has exactly one.
fn recursive_last_wins(ctx: &Ctx) -> Result<()> {
    need_options(ctx, RECURSIVE)?;
    let mut ct = Ct::new(ctx, &["write=/o1/sub/x", "report"])?;
    let src = tree_with_submount(&ct, "tree", "size=1m")?;
    let mounts = ct.config["mounts"].as_array_mut().unwrap();
    for (dest, opts) in [
        (
            "/o1",
            json!([
                "rbind",
                "rro",
                "rrw",
                "rnosuid",
                "rsuid",
                "rnodiratime",
                "rdiratime",
                "rnoexec",
                "rexec",
                "rnodev",
                "rdev",
                "rnosymfollow",
                "rsymfollow"
            ]),
        ),
        ("/o2", json!(["rbind", "rnoatime", "rrelatime"])),
        ("/o3", json!(["rbind", "rnoatime", "ratime"])),
        ("/o4", json!(["rbind", "rstrictatime", "rnostrictatime"])),
        ("/o5", json!(["rbind", "rnoatime", "rnorelatime"])),
    ] {
        mounts.push(json!({"destination": dest, "type": "bind", "source": src, "options": opts}));
    }
    ct.run()?;
    ensure!(
        ct.record_for("write", "/o1/sub/x")?["ok"] == true,
        "rrw after rro: the submount must be writable"
    );
    let r = ct.report()?;
    let opts = |t: &str| opts_of(&r, t);
    for o in [
        "ro",
        "nosuid",
        "nodiratime",
        "noexec",
        "nodev",
        "nosymfollow",
    ] {
        ensure!(
            !opts("/o1/sub")?.iter().any(|x| x == o),
            "/o1/sub has {o} though its opposite came last: {:?}",
            opts("/o1/sub")?
        );
    }
    for t in ["/o2/sub", "/o3/sub", "/o4/sub"] {
        // atime and nostrictatime leave the kernel's default, relatime.
        ensure!(
            opts(t)?.iter().any(|x| x == "relatime"),
            "{t} is not relatime: {:?}",
            opts(t)?
        );
    }
    // norelatime: neither relatime nor noatime, i.e. strictatime.
    ensure!(
        !opts("/o5/sub")?
            .iter()
            .any(|x| x == "relatime" || x == "noatime"),
        "/o5/sub: rnorelatime after rnoatime gives {:?}",
        opts("/o5/sub")?
    );
    Ok(())
}

/// The recursive options of config.md's table.
pub const RECURSIVE: &[&str] = &[
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "rnoatime",
    "ratime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
];

fn nosymfollow(ctx: &Ctx) -> Result<()> {
    need_options(ctx, &["nosymfollow", "symfollow"])?;
    let mut ct = Ct::new(
        ctx,
        &[
            "read=/n1/link",
            "read=/n1/f",
            "read=/n2/link",
            "read=/n3/link",
            "report",
        ],
    )?;
    let src = ct.dir().join("plain");
    fs::create_dir_all(&src)?;
    fs::write(src.join("f"), "x")?;
    std::os::unix::fs::symlink("f", src.join("link"))?;
    let mounts = ct.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/n1", "type": "bind", "source": src, "options": ["bind", "nosymfollow"]}));
    mounts.push(json!({"destination": "/n2", "type": "bind", "source": src, "options": ["bind", "nosymfollow", "symfollow"]}));
    mounts.push(json!({"destination": "/n3", "type": "tmpfs", "source": "tmpfs", "options": ["nosymfollow"]}));
    ct.run()?;
    let r = ct.record_for("read", "/n1/link")?;
    ensure!(
        r["ok"] == false && r["errno"] == ELOOP,
        "read of a symlink under nosymfollow: {r}, want ELOOP"
    );
    ensure!(
        ct.record_for("read", "/n1/f")?["ok"] == true,
        "a plain file under nosymfollow must stay readable"
    );
    ensure!(
        ct.record_for("read", "/n2/link")?["ok"] == true,
        "symfollow after nosymfollow: the symlink must be followed"
    );
    let rep = ct.report()?;
    ensure!(
        opts_of(&rep, "/n3")?.iter().any(|o| o == "nosymfollow"),
        "tmpfs with nosymfollow: {:?}",
        opts_of(&rep, "/n3")?
    );
    Ok(())
}

fn claims_are_tested(ctx: &Ctx) -> Result<()> {
    let Some(f) = &ctx.features else {
        return Err(skip("runtime has no features command"));
    };
    let names: Vec<&str> = crate::tests::all().iter().map(|c| c.name).collect();
    for (claim, test) in CLAIMS {
        ensure!(
            names.contains(test),
            "claim {claim} names test {test}, which does not exist"
        );
    }
    // The extensions this suite knows: each one claimed must map to a test.
    let mut known: Vec<String> = RECURSIVE
        .iter()
        .map(|o| format!("mountOptions:{o}"))
        .collect();
    known.extend([
        "mountOptions:nosymfollow".into(),
        "mountOptions:symfollow".into(),
        "mountOptions:idmap".into(),
        "mountOptions:ridmap".into(),
    ]);
    known.extend(EXTENSION_POINTERS.iter().map(|s| s.to_string()));
    for k in &known {
        if claimed(f, k) {
            ensure!(
                CLAIMS.iter().any(|(c, _)| c == k),
                "features claims {k}, which no test of this suite proves"
            );
        }
    }
    Ok(())
}

/// Claims made through a boolean or a list in `features` that this suite
/// checks; filled in as the extensions gain tests.
pub const EXTENSION_POINTERS: &[&str] = &[
    "/linux/mountExtensions/idmap/enabled",
    "/linux/netDevices/enabled",
    "/linux/intelRdt/enabled",
    "/linux/seccomp/actions:SCMP_ACT_NOTIFY",
    "/linux/seccomp/supportedFlags:SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    "/linux/memoryPolicy/modes:MPOL_DEFAULT",
    "/linux/memoryPolicy/modes:MPOL_BIND",
    "/linux/memoryPolicy/modes:MPOL_INTERLEAVE",
    "/linux/memoryPolicy/modes:MPOL_WEIGHTED_INTERLEAVE",
    "/linux/memoryPolicy/modes:MPOL_PREFERRED",
    "/linux/memoryPolicy/modes:MPOL_PREFERRED_MANY",
    "/linux/memoryPolicy/modes:MPOL_LOCAL",
    "/linux/memoryPolicy/flags:MPOL_F_NUMA_BALANCING",
    "/linux/memoryPolicy/flags:MPOL_F_RELATIVE_NODES",
    "/linux/memoryPolicy/flags:MPOL_F_STATIC_NODES",
];

fn need_notify(ctx: &Ctx) -> Result<()> {
    let claimed = ctx
        .features
        .as_ref()
        .is_some_and(|f| claimed(f, "/linux/seccomp/actions:SCMP_ACT_NOTIFY"));
    if !claimed {
        return Err(skip(
            "runtime does not list SCMP_ACT_NOTIFY among its seccomp actions in features",
        ));
    }
    Ok(())
}

fn notify_profile(listener: Option<&Path>) -> Value {
    let mut s = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
        "listenerMetadata": "berth-spec-meta",
    });
    if let Some(p) = listener {
        s["listenerPath"] = json!(p);
    }
    s
}

/// The agent answers the container's first mkdir with EXDEV and its second
/// with success (so the directory never appears: the kernel never ran it),
/// and an `exec`'s mkdir with EXDEV through a second listener. With
/// `nnp` the filter is one an unprivileged process could install; without,
/// the runtime installs it while it still holds CAP_SYS_ADMIN.
fn notify_wait_killable(ctx: &Ctx) -> Result<()> {
    let flag = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV";
    let listed = ctx
        .features
        .as_ref()
        .is_some_and(|f| claimed(f, &format!("/linux/seccomp/supportedFlags:{flag}")));
    if !listed {
        return Err(skip(format!("runtime does not list {flag} as supported")));
    }
    notify_with(ctx, true, &[flag])
}

fn seccomp_notify(ctx: &Ctx, nnp: bool) -> Result<()> {
    notify_with(ctx, nnp, &[])
}

fn notify_with(ctx: &Ctx, nnp: bool, flags: &[&str]) -> Result<()> {
    need_notify(ctx)?;
    let mut ct = Ct::new(
        ctx,
        &[
            "mkdir=/out/a",
            "mkdir=/out/b",
            "touch=/out/ready",
            "wait=/out/go",
        ],
    )?;
    let sock = ct.dir().join("agent.sock");
    let agent = crate::agent::Agent::start(
        &sock,
        vec![
            crate::agent::Reply::Errno(libc::EXDEV),
            crate::agent::Reply::Success(0),
            crate::agent::Reply::Errno(libc::EXDEV),
        ],
    )?;
    ct.config["process"]["noNewPrivileges"] = json!(nnp);
    ct.config["linux"]["seccomp"] = notify_profile(Some(&sock));
    if !flags.is_empty() {
        ct.config["linux"]["seccomp"]["flags"] = json!(flags);
    }
    ct.create()?;
    ct.start()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !ct.out().join("ready").exists() {
        ensure!(
            std::time::Instant::now() < deadline,
            "container never got past its mkdirs; output: {}",
            ct.raw_output()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let ex = ct.call(&[
        "exec",
        &ct.id,
        crate::container::HELPER_IN_CT,
        "mkdir=/out/c",
    ])?;
    fs::write(ct.out().join("go"), "")?;
    ct.wait_status("stopped", std::time::Duration::from_secs(15))?;
    ct.delete()?;
    let seen = agent.finish()?;
    let a = ct.record_for("mkdir", "/out/a")?;
    ensure!(
        a["ok"] == false && a["errno"] == libc::EXDEV,
        "mkdir /out/a: {a}, want the agent's EXDEV"
    );
    ensure!(
        ct.record_for("mkdir", "/out/b")?["ok"] == true,
        "mkdir /out/b: the agent's success must reach the container"
    );
    ensure!(
        !ct.out().join("b").exists() && !ct.out().join("a").exists(),
        "a notified mkdir ran in the kernel though the agent answered it"
    );
    ensure!(
        ex.ok,
        "exec under a notify filter failed: {}",
        ex.describe()
    );
    ensure!(
        ex.stdout.contains("\"errno\":18") && !ct.out().join("c").exists(),
        "exec's mkdir did not get the agent's EXDEV: {}",
        ex.describe()
    );
    let mk = [libc::SYS_mkdir as i32, libc::SYS_mkdirat as i32];
    ensure!(
        seen.syscalls.len() == 3 && seen.syscalls.iter().all(|n| mk.contains(n)),
        "agent answered syscalls {:?}, want three mkdirs",
        seen.syscalls
    );
    ensure!(
        seen.states.len() == 2,
        "agent got {} listener fds, want 2 (create and exec)",
        seen.states.len()
    );
    for s in &seen.states {
        ensure!(s["fds"] == json!(["seccompFd"]), "state fds: {s}");
        ensure!(s["metadata"] == "berth-spec-meta", "state metadata: {s}");
        ensure!(s["state"]["id"] == json!(ct.id), "state id: {s}");
        ensure!(s["pid"].as_i64().unwrap_or(0) > 0, "state pid: {s}");
        ensure!(s["ociVersion"].is_string(), "state ociVersion: {s}");
    }
    Ok(())
}

fn refused_at_create(ct: &mut Ct, what: &str) -> Result<()> {
    let c = ct.try_create()?;
    ensure!(!c.ok, "create with {what} succeeded");
    ensure!(
        !ct.try_state()?.ok,
        "a failed create ({what}) left the container behind"
    );
    Ok(())
}

fn notify_without_path(ctx: &Ctx) -> Result<()> {
    need_notify(ctx)?;
    let mut ct = Ct::new(ctx, &["mkdir=/out/a"])?;
    ct.config["linux"]["seccomp"] = notify_profile(None);
    refused_at_create(&mut ct, "SCMP_ACT_NOTIFY and no listenerPath")
}

fn notify_listener_missing(ctx: &Ctx) -> Result<()> {
    need_notify(ctx)?;
    let mut ct = Ct::new(ctx, &["mkdir=/out/a"])?;
    let sock = ct.dir().join("nobody.sock");
    ct.config["linux"]["seccomp"] = notify_profile(Some(&sock));
    refused_at_create(&mut ct, "a listenerPath nobody listens on")
}
