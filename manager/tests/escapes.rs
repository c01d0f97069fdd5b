//! An attacker behind an image or inside a container tries to make berth read
//! or write the host's files through symlinks: an image's VOLUME, a user
//! lookup, and `cp` racing a symlink swap (CVE-2018-15664). Each test keeps a
//! canary on the host that must stay untouched.

mod common;

use common::containers::Env;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A host directory holding a secret the container must never see.
fn canary(e: &Env) -> PathBuf {
    let h = e.dir.path().join("host-secret");
    std::fs::create_dir_all(h.join("sub")).unwrap();
    std::fs::create_dir_all(h.join("etc")).unwrap();
    std::fs::write(h.join("secret.txt"), "HOST-SECRET\n").unwrap();
    std::fs::write(h.join("sub/secret.txt"), "HOST-SECRET\n").unwrap();
    std::fs::write(h.join("etc/passwd"), "evil:x:4242:4242::/:/bin/sh\n").unwrap();
    std::fs::write(h.join("etc/group"), "evil:x:4242:\n").unwrap();
    h
}

/// Imports busybox plus what `extra` adds to its rootfs, with `changes`.
fn image(e: &Env, name: &str, changes: &[&str], extra: impl FnOnce(&Path)) {
    let dir = e.dir.path().join(format!("img-{name}"));
    let rootfs = dir.join("rootfs");
    test_support::busybox_rootfs(&rootfs);
    extra(&rootfs);
    let tar = dir.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let mut args = vec!["import".to_string()];
    for c in changes {
        args.push("-c".into());
        args.push(c.to_string());
    }
    args.push(tar.to_str().unwrap().into());
    args.push(name.into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    e.ok(&args);
}

fn unchanged(h: &Path) {
    let mut names: Vec<_> = std::fs::read_dir(h)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["etc", "secret.txt", "sub"],
        "the host dir was written"
    );
    assert_eq!(
        std::fs::read_to_string(h.join("secret.txt")).unwrap(),
        "HOST-SECRET\n"
    );
}

#[test]
fn an_image_volume_through_a_symlink_never_copies_a_host_dir() {
    let e = Env::new();
    let h = canary(&e);
    let hs = h.to_str().unwrap().to_string();
    // data -> /host/dir, VOLUME /data
    image(&e, "vol-abs", &["VOLUME /data"], |r| {
        symlink(&hs, r.join("data")).unwrap()
    });
    // A relative link climbing out, with a named volume.
    let up = format!("../../../../../../../../..{hs}");
    image(&e, "vol-rel", &[], |r| {
        symlink(&up, r.join("data")).unwrap()
    });
    // An intermediate link: x -> /host/dir, VOLUME /x/sub
    image(&e, "vol-mid", &["VOLUME /x/sub"], |r| {
        symlink(&hs, r.join("x")).unwrap()
    });
    for (img, vol, path) in [
        ("vol-abs", None, "/data/secret.txt"),
        ("vol-rel", Some("named:/data"), "/data/secret.txt"),
        ("vol-mid", None, "/x/sub/secret.txt"),
    ] {
        let mut args = vec!["run", "--rm"];
        if let Some(v) = vol {
            args.extend(["-v", v]);
        }
        args.extend([img, "cat", path]);
        let o = e.berth(&args);
        assert!(
            !o.stdout.contains("HOST-SECRET"),
            "{img}: the host's file was copied into the volume: {}",
            o.stdout
        );
    }
    unchanged(&h);
    e.ok(&["volume", "rm", "named"]);
}

#[test]
fn a_user_lookup_never_reads_the_hosts_passwd() {
    let e = Env::new();
    let h = canary(&e);
    let hs = h.to_str().unwrap().to_string();
    // etc -> /host/dir/etc: the host's passwd would make `evil` uid 4242.
    image(&e, "user-etc", &[], |r| {
        std::fs::remove_dir_all(r.join("etc")).unwrap();
        symlink(format!("{hs}/etc"), r.join("etc")).unwrap();
    });
    let o = e.berth(&["run", "--rm", "--user", "evil", "user-etc", "id", "-u"]);
    assert_ne!(o.stdout.trim(), "4242", "the host's /etc/passwd was read");
    assert_ne!(o.code, 0, "evil is no user of the image: {}", o.stdout);
    // The image's own USER goes through the same lookup at create.
    image(&e, "user-cfg", &["USER evil"], |r| {
        std::fs::remove_dir_all(r.join("etc")).unwrap();
        symlink(format!("{hs}/etc"), r.join("etc")).unwrap();
    });
    let o = e.berth(&["run", "--rm", "user-cfg", "id", "-u"]);
    assert_ne!(o.stdout.trim(), "4242", "the host's /etc/passwd was read");
    // exec --user into a running container: the live root is read.
    e.ok(&["run", "-d", "--name", "u", "busybox", "sleep", "100"]);
    e.ok(&[
        "exec",
        "u",
        "sh",
        "-c",
        &format!("ln -sf {hs}/etc/passwd /etc/passwd && ln -sf {hs}/etc/group /etc/group"),
    ]);
    let o = e.berth(&["exec", "--user", "evil", "u", "id", "-u"]);
    assert_ne!(o.stdout.trim(), "4242", "the host's /etc/passwd was read");
    unchanged(&h);
}

/// Exchanges `a` and `b` (a directory and a symlink) as fast as it can.
fn swapper(a: PathBuf, b: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let ca = std::ffi::CString::new(a.to_str().unwrap()).unwrap();
        let cb = std::ffi::CString::new(b.to_str().unwrap()).unwrap();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: two valid C strings.
            // (musl has no renameat2 wrapper.)
            let r = unsafe {
                libc::syscall(
                    libc::SYS_renameat2,
                    libc::AT_FDCWD,
                    ca.as_ptr(),
                    libc::AT_FDCWD,
                    cb.as_ptr(),
                    libc::RENAME_EXCHANGE,
                )
            };
            assert_eq!(r, 0, "renameat2: {}", std::io::Error::last_os_error());
            n += 1;
        }
        n
    })
}

#[test]
fn cp_never_follows_a_symlink_swapped_in_while_it_runs() {
    let e = Env::new();
    let h = canary(&e);
    std::fs::write(h.join("marker"), "HOST-SECRET\n").unwrap();
    let hs = h.to_str().unwrap().to_string();
    e.ok(&["run", "-d", "--name", "race", "busybox", "sleep", "1000"]);
    e.ok(&[
        "exec",
        "race",
        "sh",
        "-c",
        &format!("mkdir /w && echo container > /w/marker && ln -s {hs} /wl"),
    ]);
    // The swap runs in the container's root (the same rename the container
    // could make itself), while cp reads from and writes to /w.
    let pid = e.ok(&["inspect", "-f", "{{.State.Pid}}", "race"]);
    let croot = PathBuf::from(format!("/proc/{}/root", pid.trim()));
    let stop = Arc::new(AtomicBool::new(false));
    let t = swapper(croot.join("w"), croot.join("wl"), stop.clone());
    let out = e.dir.path().join("out");
    let payload = e.dir.path().join("payload");
    std::fs::write(&payload, "payload\n").unwrap();
    let (mut reads, mut writes) = (0, 0);
    let end = Instant::now() + Duration::from_secs(4);
    while Instant::now() < end {
        let _ = std::fs::remove_file(&out);
        if e.berth(&["cp", "race:/w/marker", out.to_str().unwrap()])
            .code
            == 0
        {
            reads += 1;
            let got = std::fs::read_to_string(&out).unwrap();
            assert_eq!(got, "container\n", "cp read the host's file");
        }
        if e.berth(&["cp", payload.to_str().unwrap(), "race:/w/"]).code == 0 {
            writes += 1;
        }
        assert!(!h.join("payload").exists(), "cp wrote into the host's dir");
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = t.join().unwrap();
    assert!(swaps > 1000, "the swap barely ran ({swaps})");
    assert!(
        reads > 0 && writes > 0,
        "no copy got through ({reads}, {writes})"
    );
    std::fs::remove_file(h.join("marker")).unwrap();
    unchanged(&h);
}
