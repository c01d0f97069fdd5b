//! `mounts`: docker's defaults, the /etc files, then volumes, binds and
//! tmpfs; a user's mount replaces a default at the same destination.

use super::super::opts::{self, CreateOptions, VolumeSpec};
use super::super::record::MountKind;
use super::super::store::MountRecord;
use super::super::{bad, ContainerError, Result};
use super::BuildInput;
use oci_spec::runtime::{Mount, MountBuilder};
use std::path::Path;

/// Where `--init` puts catatonit inside the container.
pub(super) const INIT_PATH: &str = "/run/berth-init";

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .expect("mount")
}

fn defaults(o: &CreateOptions) -> Result<Vec<Mount>> {
    let shm = match &o.shm_size {
        Some(s) => opts::parse_size("--shm-size", s)?,
        None => 64 << 20,
    };
    let sys_ro = if o.privileged { "rw" } else { "ro" };
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", sys_ro],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", sys_ro],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &[
                "nosuid",
                "noexec",
                "nodev",
                "mode=1777",
                &format!("size={shm}"),
            ],
        ),
    ])
}

/// The mounts, and what the record keeps of the user's ones.
pub(super) fn mounts(
    o: &CreateOptions,
    inp: &BuildInput,
) -> Result<(Vec<Mount>, Vec<MountRecord>)> {
    let dir = inp.dir;
    let mut mounts = defaults(o)?;
    // --ipc host comes with the host's /dev/shm, as in docker; --ipc
    // container:X with X's, which each start mounts at <dir>/shm.
    let shared_shm = match o.ipc.as_deref() {
        Some("host") => Some("/dev/shm".to_string()),
        Some(m) if m.starts_with("container:") => Some(dir.join("shm").display().to_string()),
        _ => None,
    };
    if let Some(src) = shared_shm {
        mounts.retain(|m| m.destination() != Path::new("/dev/shm"));
        mounts.push(mount("/dev/shm", "bind", &src, &["rbind", "rprivate"]));
    }
    for f in ["hostname", "hosts", "resolv.conf"] {
        mounts.push(mount(
            &format!("/etc/{f}"),
            "bind",
            &dir.join(f).display().to_string(),
            &["rbind", "rprivate"],
        ));
    }
    let mut records = Vec::new();
    let mut add = |m: Mount, rec: Option<MountRecord>| {
        mounts.retain(|x| x.destination() != m.destination());
        mounts.push(m);
        if let Some(r) = rec {
            records.retain(|x: &MountRecord| x.destination != r.destination);
            records.push(r);
        }
    };
    let record = |kind, name: String, source: &str, dest: &str, rw| MountRecord {
        kind,
        name,
        source: source.to_string(),
        destination: dest.to_string(),
        rw,
    };
    let mut vols: Vec<VolumeSpec> = Vec::new();
    for v in &inp.rc.volumes {
        vols.push(VolumeSpec::Anonymous { dest: v.clone() });
    }
    for v in &o.volumes {
        vols.push(opts::parse_volume(v)?);
    }
    for m in &o.mounts {
        let (kind, v, topts) = opts::parse_mount(m)?;
        if kind == "tmpfs" {
            if let VolumeSpec::Anonymous { dest } = &v {
                let mut mo = vec!["nosuid", "nodev"];
                mo.extend(topts.iter().map(String::as_str));
                add(
                    mount(dest, "tmpfs", "tmpfs", &mo),
                    Some(record(MountKind::Tmpfs, String::new(), "", dest, true)),
                );
            }
            continue;
        }
        vols.push(v);
    }
    for v in vols {
        match v {
            VolumeSpec::Bind { source, dest, ro } => {
                if !source.exists() {
                    return Err(bad(
                        "-v",
                        &source.display().to_string(),
                        "the host path does not exist",
                    ));
                }
                let mut mo = vec!["rbind", "rprivate"];
                if ro {
                    mo.push("ro");
                }
                let src = source.display().to_string();
                add(
                    mount(&dest, "bind", &src, &mo),
                    Some(record(MountKind::Bind, String::new(), &src, &dest, !ro)),
                );
            }
            VolumeSpec::Named { name, dest, ro } => {
                let src = (inp.volume_dir)(&name, false)?;
                let mut mo = vec!["rbind", "rprivate"];
                if ro {
                    mo.push("ro");
                }
                add(
                    mount(&dest, "bind", &src, &mo),
                    Some(record(MountKind::Volume, name, &src, &dest, !ro)),
                );
            }
            VolumeSpec::Anonymous { dest } => {
                let name = super::super::random_id();
                let src = (inp.volume_dir)(&name, true)?;
                add(
                    mount(&dest, "bind", &src, &["rbind", "rprivate"]),
                    Some(record(MountKind::Volume, name, &src, &dest, true)),
                );
            }
        }
    }
    for t in &o.tmpfs {
        let (dest, topts) = t.split_once(':').unwrap_or((t, ""));
        if !dest.starts_with('/') {
            return Err(bad("--tmpfs", t, "the container path must be absolute"));
        }
        let mut mo = vec!["nosuid", "nodev", "noexec"];
        mo.extend(topts.split(',').filter(|x| !x.is_empty()));
        add(
            mount(dest, "tmpfs", "tmpfs", &mo),
            Some(record(MountKind::Tmpfs, String::new(), "", dest, true)),
        );
    }
    if o.init {
        let init = Path::new("/usr/bin/catatonit");
        if !init.exists() {
            return Err(ContainerError::Other(
                "--init needs /usr/bin/catatonit (apt install catatonit), which is missing".into(),
            ));
        }
        add(
            mount(
                INIT_PATH,
                "bind",
                &init.display().to_string(),
                &["bind", "ro"],
            ),
            None,
        );
    }
    Ok((mounts, records))
}
