//! config.md#mounts, config.md#root, config-linux.md masked/readonly paths
//! and runtime-linux.md's /dev symlinks.

use std::fs;

use anyhow::{anyhow, ensure, Result};
use serde_json::{json, Value};

use crate::container::Ct;
use crate::harness::{case, skip, Case, Ctx};
use crate::tests::host;

const EROFS: i64 = libc::EROFS as i64;

pub fn cases() -> Vec<Case> {
    vec![
        case("mounts/bind-rw", "config.md#mounts", bind_rw),
        case("mounts/bind-ro", "config.md#linux-mount-options", bind_ro),
        case(
            "mounts/tmpfs-options",
            "config.md#linux-mount-options",
            tmpfs_options,
        ),
        case("mounts/order", "config.md#mounts", order),
        case(
            "mounts/relative-destination",
            "config.md#mounts",
            relative_destination,
        ),
        case(
            "mounts/propagation-rslave",
            "config.md#linux-mount-options",
            |c| propagation(c, "rslave"),
        )
        .deviates("crun 1.8 ignores propagation options of bind mounts"),
        case(
            "mounts/propagation-rprivate",
            "config.md#linux-mount-options",
            |c| propagation(c, "rprivate"),
        ),
        case(
            "mounts/propagation-rshared",
            "config.md#linux-mount-options",
            |c| propagation(c, "rshared"),
        )
        .deviates("crun 1.8 ignores propagation options of bind mounts"),
        case(
            "mounts/propagation-runbindable",
            "config.md#linux-mount-options",
            |c| propagation(c, "runbindable"),
        )
        .deviates("crun 1.8 ignores propagation options of bind mounts"),
        case(
            "mounts/rootfs-propagation-shared",
            "config-linux.md#rootfs-mount-propagation",
            |c| rootfs_propagation(c, "shared"),
        )
        .deviates("runc 1.1 leaves the root private"),
        case(
            "mounts/rootfs-propagation-unbindable",
            "config-linux.md#rootfs-mount-propagation",
            |c| rootfs_propagation(c, "unbindable"),
        )
        .deviates("runc 1.1 fails create (it binds the rootfs in the unbindable tree)"),
        case("mounts/root-readonly", "config.md#root", root_readonly),
        case("mounts/root-readwrite", "config.md#root", root_readwrite),
        case(
            "mounts/masked-paths",
            "config-linux.md#masked-paths",
            masked_paths,
        ),
        case(
            "mounts/readonly-paths",
            "config-linux.md#readonly-paths",
            readonly_paths,
        ),
        case(
            "mounts/dev-symlinks",
            "runtime-linux.md#dev-symbolic-links",
            dev_symlinks,
        ),
    ]
}

fn add_mount(ct: &mut Ct, m: Value) {
    ct.config["mounts"].as_array_mut().unwrap().push(m);
}

fn mountinfo(r: &Value) -> Vec<Value> {
    r["mountinfo"].as_array().cloned().unwrap_or_default()
}

fn last_mount(mi: &[Value], target: &str) -> Result<String> {
    host::mountinfo_lines(mi, target)
        .last()
        .map(|s| s.to_string())
        .ok_or_else(|| anyhow!("{target} is not a mount point in the container"))
}

fn bind_rw(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["read=/data/in", "write=/data/out", "report"])?;
    let src = ct.dir().join("data");
    fs::create_dir_all(&src)?;
    fs::write(src.join("in"), "from-host")?;
    add_mount(
        &mut ct,
        json!({"destination": "/data", "type": "bind", "source": src, "options": ["bind"]}),
    );
    ct.run()?;
    let rd = ct.record_for("read", "/data/in")?;
    ensure!(rd["data"] == "from-host", "bind mount shows {rd}");
    ensure!(
        ct.record_for("write", "/data/out")?["ok"] == true,
        "write into an rw bind mount failed"
    );
    ensure!(
        fs::read_to_string(src.join("out"))? == "berth\n",
        "write did not reach the host directory"
    );
    Ok(())
}

fn bind_ro(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["read=/data/in", "write=/data/out", "report"])?;
    let src = ct.dir().join("data");
    fs::create_dir_all(&src)?;
    fs::write(src.join("in"), "x")?;
    add_mount(
        &mut ct,
        json!({"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "ro"]}),
    );
    ct.run()?;
    ensure!(
        ct.record_for("read", "/data/in")?["ok"] == true,
        "read of a ro bind mount failed"
    );
    let w = ct.record_for("write", "/data/out")?;
    ensure!(
        w["ok"] == false && w["errno"] == EROFS,
        "write into a ro bind mount: {w}, want EROFS"
    );
    let r = ct.report()?;
    let l = last_mount(&mountinfo(&r), "/data")?;
    let l = l.as_str();
    ensure!(
        host::mount_opts(l).contains(&"ro"),
        "mountinfo of /data lacks ro: {l}"
    );
    Ok(())
}

fn tmpfs_options(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["statfs=/scratch", "stat=/scratch", "report"])?;
    add_mount(
        &mut ct,
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "noexec", "noatime", "size=2m", "mode=710"]}),
    );
    ct.run()?;
    let r = ct.report()?;
    let l = last_mount(&mountinfo(&r), "/scratch")?;
    let l = l.as_str();
    ensure!(
        host::fs_type(l) == "tmpfs",
        "/scratch is {}, not tmpfs",
        host::fs_type(l)
    );
    let o = host::mount_opts(l);
    for want in ["nosuid", "nodev", "noexec", "noatime"] {
        ensure!(o.contains(&want), "mount option {want} missing: {l}");
    }
    let sf = ct.record("statfs")?;
    ensure!(
        sf["bytes"] == 2 * 1024 * 1024,
        "tmpfs size {} bytes, want 2 MiB",
        sf["bytes"]
    );
    let st = ct.record("stat")?;
    ensure!(
        st["mode"] == 0o710,
        "tmpfs root mode {:o}, want 710",
        st["mode"].as_u64().unwrap_or(0)
    );
    Ok(())
}

fn order(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["statfs=/m", "statfs=/m/sub", "report"])?;
    // Same destination twice: the later one must end up on top; a nested
    // destination needs its parent mounted first.
    add_mount(
        &mut ct,
        json!({"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    add_mount(
        &mut ct,
        json!({"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["size=3m"]}),
    );
    add_mount(
        &mut ct,
        json!({"destination": "/m/sub", "type": "tmpfs", "source": "tmpfs", "options": ["size=2m"]}),
    );
    ct.run()?;
    let sizes: Vec<Value> = ct
        .records("statfs")?
        .iter()
        .map(|s| s["bytes"].clone())
        .collect();
    ensure!(
        sizes == vec![json!(3 << 20), json!(2 << 20)],
        "sizes of /m and /m/sub: {sizes:?}, want 3 MiB and 2 MiB"
    );
    let r = ct.report()?;
    let mi = mountinfo(&r);
    let pos = |t: &str| {
        mi.iter()
            .position(|l| l.as_str().and_then(|l| l.split(' ').nth(4)) == Some(t))
    };
    ensure!(pos("/m") < pos("/m/sub"), "mounts not in listed order");
    Ok(())
}

fn relative_destination(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["report"])?;
    add_mount(
        &mut ct,
        json!({"destination": "reltmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    let c = ct.try_create()?;
    if !c.ok {
        return Err(skip(
            "runtime rejects relative mount destinations (accepting them is MAY)",
        ));
    }
    ct.start()?;
    ct.wait_status("stopped", std::time::Duration::from_secs(10))?;
    let r = ct.report()?;
    ensure!(
        !host::mountinfo_lines(&mountinfo(&r), "/reltmp").is_empty(),
        "relative destination not mounted at /reltmp"
    );
    Ok(())
}

fn propagation(ctx: &Ctx, mode: &str) -> Result<()> {
    let mut ct = Ct::new(
        ctx,
        &[
            "touch=/out/ready",
            "wait=/out/go",
            "stat=/prop/sub/marker",
            "report",
        ],
    )?;
    let shared = host::SharedTmpfs::new(ct.dir().join("shared"))?;
    add_mount(
        &mut ct,
        json!({"destination": "/prop", "type": "bind", "source": shared.path, "options": ["rbind", mode]}),
    );
    ct.create()?;
    ct.start()?;
    let ready = ct.out().join("ready");
    for _ in 0..400 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    // A mount made on the host after the container started.
    let sub = shared.mount_sub("sub")?;
    fs::write(sub.join("marker"), "x")?;
    fs::write(ct.out().join("go"), "")?;
    ct.wait_status("stopped", std::time::Duration::from_secs(10))?;
    let r = ct.report()?;
    let l = last_mount(&mountinfo(&r), "/prop")?;
    let l = l.as_str();
    let opt = host::optional_fields(l);
    let seen = ct.record("stat")?["ok"] == true;
    let has = |p: &str| opt.iter().any(|f| f.starts_with(p));
    match mode {
        "rslave" => {
            ensure!(
                has("master:") && !has("shared:"),
                "/prop is not a slave mount: {l}"
            );
            ensure!(seen, "host mount did not propagate into the rslave mount");
        }
        "rprivate" => {
            ensure!(opt.is_empty(), "/prop is not private: {l}");
            ensure!(!seen, "host mount propagated into an rprivate mount");
        }
        "rshared" => ensure!(has("shared:"), "/prop is not shared: {l}"),
        "runbindable" => ensure!(has("unbindable"), "/prop is not unbindable: {l}"),
        _ => unreachable!(),
    }
    Ok(())
}

/// pivot_root refuses a shared new root and an unbindable tree refuses the
/// rootfs's bind mount: a runtime must still get there, and the container's
/// root ends with the asked propagation.
fn rootfs_propagation(ctx: &Ctx, mode: &str) -> Result<()> {
    let mut ct = Ct::new(ctx, &["report"])?;
    ct.config["linux"]["rootfsPropagation"] = json!(mode);
    ct.run()?;
    let r = ct.report()?;
    let l = last_mount(&mountinfo(&r), "/")?;
    let opt = host::optional_fields(&l);
    let want = if mode == "shared" {
        "shared:"
    } else {
        "unbindable"
    };
    ensure!(
        opt.iter().any(|f| f.starts_with(want)),
        "root is not {mode}: {l}"
    );
    Ok(())
}

fn root_readonly(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["write=/rootfile", "write=/tmp/file", "report"])?;
    ct.config["root"]["readonly"] = json!(true);
    ct.run()?;
    let w = ct.record_for("write", "/rootfile")?;
    ensure!(
        w["ok"] == false && w["errno"] == EROFS,
        "write to / with root.readonly: {w}, want EROFS"
    );
    let r = ct.report()?;
    let l = last_mount(&mountinfo(&r), "/")?;
    let l = l.as_str();
    ensure!(
        host::mount_opts(l).contains(&"ro"),
        "/ is not mounted ro: {l}"
    );
    ensure!(
        !ct.rootfs().join("rootfile").exists(),
        "file appeared in the rootfs"
    );
    Ok(())
}

fn root_readwrite(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(ctx, &["write=/rootfile"])?;
    ct.config["root"]["readonly"] = json!(false);
    ct.run()?;
    let w = ct.record_for("write", "/rootfile")?;
    ensure!(w["ok"] == true, "write to / with root.readonly false: {w}");
    ensure!(
        ct.rootfs().join("rootfile").exists(),
        "write did not land in the rootfs"
    );
    Ok(())
}

fn masked_paths(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(
        ctx,
        &[
            "read=/proc/kcore",
            "read=/etc/secret",
            "ls=/etc/secretdir",
            "ls=/sys/firmware",
        ],
    )?;
    fs::write(ct.rootfs().join("etc/secret"), "hidden")?;
    fs::create_dir_all(ct.rootfs().join("etc/secretdir"))?;
    fs::write(ct.rootfs().join("etc/secretdir/f"), "hidden")?;
    ct.config["linux"]["maskedPaths"] = json!([
        "/proc/kcore",
        "/etc/secret",
        "/etc/secretdir",
        "/sys/firmware",
        "/does/not/exist"
    ]);
    ct.run()?;
    for p in ["/proc/kcore", "/etc/secret"] {
        let r = ct.record_for("read", p)?;
        ensure!(
            r["len"] == 0,
            "masked file {p} is readable: {} bytes",
            r["len"]
        );
    }
    for p in ["/etc/secretdir", "/sys/firmware"] {
        let l = ct.record_for("ls", p)?;
        ensure!(
            l["ok"] == false || l["entries"].as_array().is_some_and(|e| e.is_empty()),
            "masked directory {p} lists {}",
            l["entries"]
        );
    }
    Ok(())
}

fn readonly_paths(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(
        ctx,
        &[
            "write=/proc/sys/kernel/domainname",
            "write=/etc/rodir/f",
            "read=/etc/rodir/g",
        ],
    )?;
    fs::create_dir_all(ct.rootfs().join("etc/rodir"))?;
    fs::write(ct.rootfs().join("etc/rodir/g"), "keep")?;
    ct.config["linux"]["readonlyPaths"] = json!(["/proc/sys", "/etc/rodir", "/does/not/exist"]);
    ct.run()?;
    for p in ["/proc/sys/kernel/domainname", "/etc/rodir/f"] {
        let w = ct.record_for("write", p)?;
        ensure!(
            w["ok"] == false && w["errno"] == EROFS,
            "write to readonly path {p}: {w}, want EROFS"
        );
    }
    ensure!(
        ct.record_for("read", "/etc/rodir/g")?["data"] == "keep",
        "readonly path is no longer readable"
    );
    Ok(())
}

fn dev_symlinks(ctx: &Ctx) -> Result<()> {
    let mut ct = Ct::new(
        ctx,
        &[
            "readlink=/dev/fd",
            "readlink=/dev/stdin",
            "readlink=/dev/stdout",
            "readlink=/dev/stderr",
        ],
    )?;
    ct.run()?;
    for (p, want) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        let r = ct.record_for("readlink", p)?;
        ensure!(r["target"] == want, "{p} -> {}, want {want}", r["target"]);
    }
    Ok(())
}
