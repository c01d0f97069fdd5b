//! fstab-style mount options: the flags, propagation and data they stand for.

/// Mount flags and data parsed from fstab-style options.
#[derive(Default, Debug)]
pub struct MountOptions {
    pub flags: u64,
    pub propagation: Vec<u64>,
    pub data: Vec<String>,
    pub bind: bool,
}

pub fn parse_options(opts: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in opts {
        let (set, clear): (u64, u64) = match opt.as_str() {
            "defaults" => (0, 0),
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "suid" => (0, libc::MS_NOSUID),
            "nosuid" => (libc::MS_NOSUID, 0),
            "dev" => (0, libc::MS_NODEV),
            "nodev" => (libc::MS_NODEV, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "noexec" => (libc::MS_NOEXEC, 0),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "remount" => (libc::MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "lazytime" => (libc::MS_LAZYTIME, 0),
            "nolazytime" => (0, libc::MS_LAZYTIME),
            "iversion" => (libc::MS_I_VERSION, 0),
            "noiversion" => (0, libc::MS_I_VERSION),
            "silent" => (libc::MS_SILENT, 0),
            "nosymfollow" => (crate::mountattr::MS_NOSYMFOLLOW, 0),
            "symfollow" => (0, crate::mountattr::MS_NOSYMFOLLOW),
            // Applied after the mount, to it and all below (mountattr.rs).
            r if crate::mountattr::is_recursive(r) => (0, 0),
            "loud" => (0, libc::MS_SILENT),
            "bind" => {
                o.bind = true;
                (libc::MS_BIND, 0)
            }
            "rbind" => {
                o.bind = true;
                (libc::MS_BIND | libc::MS_REC, 0)
            }
            p @ ("private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
            | "unbindable" | "runbindable") => {
                o.propagation.push(propagation_flag(p).unwrap_or(0));
                (0, 0)
            }
            // Options the kernel must not see, and that we implement nowhere.
            "tmpcopyup" | "idmap" | "ridmap" | "copy-symlink" => (0, 0),
            other => {
                o.data.push(other.to_string());
                (0, 0)
            }
        };
        o.flags = (o.flags | set) & !clear;
    }
    o
}

pub fn propagation_flag(p: &str) -> Option<u64> {
    Some(match p {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

// statvfs f_flag bit; the libc crate has it for glibc only.
pub(super) const ST_RELATIME: libc::c_ulong = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = parse_options(&[
            "ro".into(),
            "nosuid".into(),
            "rbind".into(),
            "rslave".into(),
            "size=1k".into(),
            "rw".into(),
        ]);
        assert_eq!(o.flags & libc::MS_RDONLY, 0);
        assert!(o.bind);
        assert_ne!(o.flags & libc::MS_NOSUID, 0);
        assert_eq!(o.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert_eq!(o.data, vec!["size=1k".to_string()]);
    }
}
