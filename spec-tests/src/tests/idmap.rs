//! config.md's id-mapped mounts: `idmap`/`ridmap` and a mount's own
//! uidMappings/gidMappings, checked by the owners the container sees.

use std::fs;
use std::os::unix::fs::chown;

use anyhow::{anyhow, ensure, Result};
use serde_json::{json, Value};

use crate::container::Ct;
use crate::harness::{case, skip, Case, Ctx};

pub fn cases() -> Vec<Case> {
    vec![
        case(
            "idmap/mount-mappings",
            "config.md#posix-platform-mounts",
            mount_mappings,
        ),
        case(
            "idmap/ridmap-submount",
            "config.md#linux-mount-options",
            ridmap,
        ),
        case(
            "idmap/container-user-namespace",
            "config.md#linux-mount-options",
            container_userns,
        ),
        case(
            "idmap/no-mapping-no-userns",
            "config.md#linux-mount-options",
            no_mapping,
        ),
    ]
}

fn need_idmap(ctx: &Ctx) -> Result<()> {
    let on = ctx
        .features
        .as_ref()
        .and_then(|f| f.pointer("/linux/mountExtensions/idmap/enabled")?.as_bool())
        .unwrap_or(false);
    if !on {
        return Err(skip(
            "runtime does not claim mountExtensions.idmap in its features",
        ));
    }
    Ok(())
}

/// The running kernel's (major, minor).
fn kernel() -> (u32, u32) {
    let r = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut it = r.split(['.', '-']).map(|p| p.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// Skips where the test's own directory sits on a filesystem that cannot
/// be idmapped (an initramfs, or tmpfs before Linux 6.3): a fact of the
/// host, not of the runtime.
fn need_idmappable(dir: &std::path::Path) -> Result<()> {
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let t = nix::sys::statfs::statfs(dir)?.filesystem_type().0 as i64;
    if t == RAMFS_MAGIC || (t == TMPFS_MAGIC && kernel() < (6, 3)) {
        return Err(skip(format!(
            "{} is on a filesystem this kernel cannot idmap",
            dir.display()
        )));
    }
    Ok(())
}

/// A source dir with `f` (0:0), `g` (5:6), `o` (50:50, outside a 10-id map).
fn source(ct: &Ct, name: &str) -> Result<std::path::PathBuf> {
    let src = ct.dir().join(name);
    fs::create_dir_all(&src)?;
    need_idmappable(&src)?;
    for (f, u, g) in [("f", 0, 0), ("g", 5, 6), ("o", 50, 50)] {
        fs::write(src.join(f), "x")?;
        chown(src.join(f), Some(u), Some(g))?;
    }
    Ok(src)
}

fn owner(ct: &Ct, path: &str) -> Result<(i64, i64)> {
    let s = ct.record_for("stat", path)?;
    ensure!(s["ok"] == true, "stat {path} in the container: {s}");
    Ok((
        s["uid"].as_i64().unwrap_or(-1),
        s["gid"].as_i64().unwrap_or(-1),
    ))
}

fn maps(uid_host: u32, gid_host: u32) -> (Value, Value) {
    (
        json!([{"containerID": 0, "hostID": uid_host, "size": 10}]),
        json!([{"containerID": 0, "hostID": gid_host, "size": 10}]),
    )
}

/// A file owned by id k on disk shows as hostID + (k - containerID) in the
/// mount; ids outside the map as the overflow id.
fn mount_mappings(ctx: &Ctx) -> Result<()> {
    need_idmap(ctx)?;
    let mut ct = Ct::new(ctx, &["stat=/m/f", "stat=/m/g", "stat=/m/o", "stat=/p/f"])?;
    let src = source(&ct, "src")?;
    let (u, g) = maps(1000, 2000);
    let mounts = ct.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/m", "type": "bind", "source": src,
        "options": ["rbind", "idmap"], "uidMappings": u, "gidMappings": g}));
    // Mappings alone (no option) still map, as older configs write them.
    mounts.push(json!({"destination": "/p", "type": "bind", "source": src,
        "options": ["rbind", "ro"], "uidMappings": u, "gidMappings": g}));
    ct.run()?;
    for (p, want) in [
        ("/m/f", (1000, 2000)),
        ("/m/g", (1005, 2006)),
        ("/m/o", (65534, 65534)),
        ("/p/f", (1000, 2000)),
    ] {
        let got = owner(&ct, p)?;
        ensure!(got == want, "{p} shows owner {got:?}, want {want:?}");
    }
    let md = fs::metadata(src.join("f"))?;
    ensure!(
        std::os::unix::fs::MetadataExt::uid(&md) == 0,
        "the idmapped mount changed the file on the host"
    );
    Ok(())
}

fn ridmap(ctx: &Ctx) -> Result<()> {
    need_idmap(ctx)?;
    let mut ct = Ct::new(ctx, &["stat=/r/sub/h", "stat=/n/sub/h", "stat=/n/f"])?;
    let src = source(&ct, "src")?;
    fs::create_dir_all(src.join("sub"))?;
    nix::mount::mount(
        Some("tmpfs"),
        &src.join("sub"),
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    )
    .map_err(|e| anyhow!("mount tmpfs: {e}"))?;
    need_idmappable(&src.join("sub"))?;
    fs::write(src.join("sub/h"), "x")?;
    let (u, g) = maps(1000, 2000);
    let mounts = ct.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/r", "type": "bind", "source": src,
        "options": ["rbind", "ridmap"], "uidMappings": u, "gidMappings": g}));
    mounts.push(json!({"destination": "/n", "type": "bind", "source": src,
        "options": ["rbind", "idmap"], "uidMappings": u, "gidMappings": g}));
    ct.run()?;
    let r = owner(&ct, "/r/sub/h")?;
    ensure!(r == (1000, 2000), "ridmap: the submount's file shows {r:?}");
    let n = owner(&ct, "/n/sub/h")?;
    ensure!(
        n == (0, 0),
        "idmap (not recursive) mapped the submount too: {n:?}"
    );
    let f = owner(&ct, "/n/f")?;
    ensure!(f == (1000, 2000), "idmap: the top shows {f:?}");
    Ok(())
}

/// No mappings on the mount: the container's user namespace gives them, so
/// the host's root-owned file is root's inside (not the overflow id).
fn container_userns(ctx: &Ctx) -> Result<()> {
    need_idmap(ctx)?;
    let mut ct = Ct::new(ctx, &["stat=/m/f", "stat=/m/g", "stat=/u/f"])?;
    let src = source(&ct, "src")?;
    // Made up front: the container's root may not write the host's rootfs.
    for d in ["m", "u"] {
        fs::create_dir_all(ct.rootfs().join(d))?;
    }
    let list = ct.config["linux"]["namespaces"].as_array_mut().unwrap();
    list.retain(|n| n["type"] != "user");
    list.push(json!({"type": "user"}));
    ct.config["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    ct.config["linux"]["gidMappings"] =
        json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    let mounts = ct.config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["type"] != "cgroup");
    mounts.push(json!({"destination": "/m", "type": "bind", "source": src,
        "options": ["rbind", "idmap"]}));
    mounts.push(json!({"destination": "/u", "type": "bind", "source": src,
        "options": ["rbind"]}));
    ct.run()?;
    for (p, want) in [("/m/f", (0, 0)), ("/m/g", (5, 6)), ("/u/f", (65534, 65534))] {
        let got = owner(&ct, p)?;
        ensure!(got == want, "{p} shows owner {got:?}, want {want:?}");
    }
    Ok(())
}

fn no_mapping(ctx: &Ctx) -> Result<()> {
    need_idmap(ctx)?;
    let mut ct = Ct::new(ctx, &["stat=/m/f"])?;
    let src = source(&ct, "src")?;
    ct.config["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/m", "type": "bind", "source": src, "options": ["rbind", "idmap"]}),
    );
    let c = ct.try_create()?;
    ensure!(
        !c.ok,
        "idmap with no mappings and no user namespace was accepted"
    );
    ensure!(!ct.try_state()?.ok, "a failed create left the container");
    Ok(())
}
