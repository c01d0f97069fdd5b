//! Store, layers, import/load/save and the listing verbs, with no registry.

mod common;

use common::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tar::EntryType;

fn xattr(p: &Path, key: &str) -> Option<Vec<u8>> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let k = std::ffi::CString::new(key).unwrap();
    let mut buf = [0u8; 256];
    let n = unsafe { libc::lgetxattr(c.as_ptr(), k.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

fn lower_dirs(env: &Env, r: &str) -> Vec<PathBuf> {
    env.image_json(r)["GraphDriver"]["Data"]["LowerDirs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| PathBuf::from(v.as_str().unwrap()))
        .collect()
}

/// An overlay mount of image layers, unmounted on drop.
struct Overlay(PathBuf);
impl Overlay {
    fn mount(lowers: &[PathBuf], at: &Path) -> Overlay {
        std::fs::create_dir_all(at).unwrap();
        let l: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        let st = std::process::Command::new("mount")
            .args([
                "-t",
                "overlay",
                "overlay",
                "-o",
                &format!("lowerdir={}", l.join(":")),
            ])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "overlay mount failed");
        Overlay(at.to_path_buf())
    }
}
impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn import_list_tag_history_rmi() {
    let env = Env::new("import");
    let tar = busybox_tar(env.dir.path(), &[]);
    let out = env.ok(&[
        "import",
        "-c",
        r#"CMD ["/bin/sh","-c","echo hi"]"#,
        "-c",
        "ENV A=1",
        "-c",
        "WORKDIR /srv",
        "-m",
        "first",
        tar.to_str().unwrap(),
        "localhost/bb:1",
    ]);
    let id = out.trim().to_string();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "import prints the id: {out}"
    );
    let img = env.image_json("localhost/bb:1");
    assert_eq!(img["Id"], id);
    assert_eq!(
        img["Config"]["Cmd"],
        serde_json::json!(["/bin/sh", "-c", "echo hi"])
    );
    assert_eq!(img["Config"]["Env"], serde_json::json!(["A=1"]));
    assert_eq!(img["Config"]["WorkingDir"], "/srv");
    let lowers = lower_dirs(&env, "localhost/bb:1");
    assert_eq!(lowers.len(), 1);
    assert!(lowers[0].join("bin/busybox").is_file());
    assert_eq!(
        std::fs::read_link(lowers[0].join("bin/sh")).unwrap(),
        Path::new("busybox")
    );

    // Table, -q, json; short id prefix and a second name.
    let table = env.ok(&["images"]);
    let mut lines = table.lines();
    let head = lines.next().unwrap();
    assert!(
        head.starts_with("REPOSITORY") && head.contains("IMAGE ID") && head.ends_with("SIZE"),
        "{table}"
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!((row[0], row[1], row[2]), ("localhost/bb", "1", &id[7..19]));
    env.ok(&["tag", &id[7..14], "example.org/x/bb:two"]);
    // One line per tag, as docker's -q.
    let q = format!("{}\n", &id[7..19]);
    assert_eq!(env.ok(&["images", "-q"]), q.repeat(2));
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["images", "--format", "json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    let line = env.ok(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
        "localhost/bb",
    ]);
    assert_eq!(line.trim(), format!("localhost/bb:1 {}", &id[7..19]));
    let cmd = env.ok(&[
        "inspect",
        "-f",
        "{{json .Config.Cmd}} {{.Config.WorkingDir}}",
        "localhost/bb:1",
    ]);
    assert_eq!(cmd.trim(), r#"["/bin/sh","-c","echo hi"] /srv"#);
    let hist = env.ok(&["history", "example.org/x/bb:two"]);
    assert!(
        !hist.contains("berth import") && hist.contains("first"),
        "{hist}"
    );

    // Several names: removing by id needs -f, by name only untags.
    let err = env.fails(&["rmi", &id]);
    assert!(err.contains("several names"), "{err}");
    assert_eq!(
        env.ok(&["rmi", "localhost/bb:1"]).trim(),
        "Untagged: localhost/bb:1"
    );
    env.fails(&["image", "inspect", "localhost/bb:1"]);

    // A holder (a container) keeps it: refused without -f.
    let holds = env.root().join("holds").join(&id[7..]);
    std::fs::create_dir_all(&holds).unwrap();
    std::fs::write(holds.join("ctr-1"), "").unwrap();
    let err = env.fails(&["rmi", "example.org/x/bb:two"]);
    assert!(err.contains("in use by ctr-1"), "{err}");
    std::fs::remove_file(holds.join("ctr-1")).unwrap();

    let out = env.ok(&["rmi", "example.org/x/bb:two"]);
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert_eq!(env.ok(&["images", "-q"]), "");
    assert!(
        tree(&env.root().join("blobs/sha256")).is_empty(),
        "blobs left: {:?}",
        tree(&env.root().join("blobs"))
    );
    assert!(tree(&env.root().join("layers")).is_empty());
    assert!(tree(&env.root().join("tmp")).is_empty());
    let err = env.fails(&["rmi", "nothere"]);
    assert!(err.contains("no such image: nothere"), "{err}");
}

#[test]
fn layers_keep_metadata_and_whiteouts_hide_lower_files() {
    let env = Env::new("whiteout");
    let l1 = TarBuf::new()
        .dir("etc/", 0o755)
        .file_with("etc/owned", b"o", 0o4750, 1234, 5678, 1_500_000_000)
        .file("gone", b"bye")
        .dir("opq/", 0o700)
        .file("opq/old", b"old")
        .file_xattr("attr", b"x", "user.berth", "yes")
        .file_xattr("sneaky", b"x", "trusted.overlay.redirect", "/etc")
        .link(EntryType::Link, "hard", "etc/owned")
        .link(EntryType::Symlink, "sym", "/etc/owned")
        .device("null", EntryType::Char, 1, 3)
        .device("fifo", EntryType::Fifo, 0, 0)
        .finish();
    let l2 = TarBuf::new()
        .file(".wh.gone", b"")
        .dir("opq/", 0o755)
        .file("opq/.wh..wh..opq", b"")
        .file("opq/new", b"new")
        .finish();
    let l3 = TarBuf::new().file("top", b"zstd layer").finish();
    let b = Built::new(
        vec![Layer::gzip(l1), Layer::plain(l2), Layer::zstd(l3)],
        &["/bin/sh"],
        false,
    );
    let arch = env.path("img.tar");
    b.oci_archive("localhost/wh:1", &arch);
    env.ok(&["load", "-i", arch.to_str().unwrap()]);
    let lowers = lower_dirs(&env, "localhost/wh:1");
    assert_eq!(lowers.len(), 3);
    let (top, mid, bottom) = (&lowers[0], &lowers[1], &lowers[2]);
    assert!(top.join("top").is_file());

    let m = std::fs::symlink_metadata(bottom.join("etc/owned")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777, m.mtime()),
        (1234, 5678, 0o4750, 1_500_000_000)
    );
    assert_eq!(m.nlink(), 2, "hardlink kept");
    assert_eq!(
        std::fs::symlink_metadata(bottom.join("hard"))
            .unwrap()
            .ino(),
        m.ino()
    );
    assert_eq!(
        std::fs::read_link(bottom.join("sym")).unwrap(),
        Path::new("/etc/owned")
    );
    let dev = std::fs::symlink_metadata(bottom.join("null")).unwrap();
    assert!(dev.file_type().is_char_device() && dev.rdev() == libc::makedev(1, 3));
    assert!(std::fs::symlink_metadata(bottom.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        xattr(&bottom.join("attr"), "user.berth").as_deref(),
        Some(&b"yes"[..])
    );
    assert_eq!(
        xattr(&bottom.join("sneaky"), "trusted.overlay.redirect"),
        None,
        "layers cannot steer overlayfs"
    );
    assert_eq!(
        std::fs::symlink_metadata(bottom.join("opq"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );

    // overlayfs form: a 0/0 char device and the opaque xattr.
    let wh = std::fs::symlink_metadata(mid.join("gone")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert!(!mid.join(".wh.gone").exists() && !mid.join("opq/.wh..wh..opq").exists());
    assert_eq!(
        xattr(&mid.join("opq"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );

    // And the kernel agrees: mounted, the whited-out files are gone.
    let mnt = Overlay::mount(&lowers, &env.path("merged"));
    assert!(!mnt.0.join("gone").exists());
    assert!(!mnt.0.join("opq/old").exists());
    assert_eq!(std::fs::read(mnt.0.join("opq/new")).unwrap(), b"new");
    assert_eq!(std::fs::read(mnt.0.join("etc/owned")).unwrap(), b"o");
}

#[test]
fn unsafe_layers_are_refused_and_leave_nothing() {
    let env = Env::new("unsafe");
    let outside = env.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let o = outside.display().to_string();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            TarBuf::new().file("a/../../escape", b"x").finish(),
            "contains \"..\"",
        ),
        (
            "absolute",
            TarBuf::new().file(&format!("{o}/abs"), b"x").finish(),
            "absolute path",
        ),
        (
            "symlink",
            TarBuf::new()
                .link(EntryType::Symlink, "out", &o)
                .file("out/through-link", b"x")
                .finish(),
            "through a symlink",
        ),
        (
            "hardlink",
            TarBuf::new()
                .link(EntryType::Link, "h", "../../../etc/passwd")
                .finish(),
            "hardlink target outside",
        ),
        (
            "hardlink-abs",
            TarBuf::new()
                .link(EntryType::Link, "h", "/etc/passwd")
                .finish(),
            "hardlink target outside",
        ),
    ];
    for (name, layer, why) in cases {
        let b = Built::new(vec![Layer::gzip(layer)], &["/bin/sh"], false);
        let arch = env.path(&format!("{name}.tar"));
        b.oci_archive(&format!("localhost/{name}:1"), &arch);
        let err = env.fails(&["load", "-i", arch.to_str().unwrap()]);
        assert!(
            err.contains("unsafe layer entry") && err.contains(why),
            "{name}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one error line: {err}");
        assert!(
            tree(&outside).is_empty(),
            "{name} wrote outside: {:?}",
            tree(&outside)
        );
        assert!(!env.dir.path().join("escape").exists());
        assert_eq!(env.ok(&["images", "-q"]), "");
        assert!(
            tree(&env.root().join("layers")).is_empty(),
            "{name}: layer left"
        );
        assert!(
            tree(&env.root().join("tmp")).is_empty(),
            "{name}: tmp left {:?}",
            tree(&env.root().join("tmp"))
        );
    }
}

#[test]
fn corrupt_archive_blob_is_refused() {
    let env = Env::new("corrupt");
    let mut b = Built::new(
        vec![Layer::gzip(TarBuf::new().file("f", b"data").finish())],
        &["/bin/sh"],
        false,
    );
    // The manifest still names the original digest; the bytes differ.
    let n = b.layers[0].blob.len();
    let good = b.layers[0].blob.clone();
    b.layers[0].blob[n - 5] ^= 0xff;
    let arch = env.path("c.tar");
    let mut b2 = Built::new(vec![], &[], false);
    b2.config = b.config.clone();
    b2.manifest = b.manifest.clone();
    b2.layers = vec![Layer {
        blob: b.layers[0].blob.clone(),
        diff_id: b.layers[0].diff_id.clone(),
        media_type: b.layers[0].media_type,
    }];
    // Store the corrupt bytes under the good digest's name.
    let mut tb = tar::Builder::new(Vec::new());
    let mut add = |p: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tb.append_data(&mut h, p, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add(
        &format!(
            "blobs/sha256/{}",
            berth::image::digest::Digest::of(&good).hex()
        ),
        &b2.layers[0].blob,
    );
    add(&format!("blobs/sha256/{}", b2.id().hex()), &b2.config);
    add(
        &format!("blobs/sha256/{}", b2.manifest_digest().hex()),
        &b2.manifest,
    );
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": b2.manifest_digest().to_string(), "size": b2.manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "localhost/c:1"}}]});
    add("index.json", &serde_json::to_vec(&index).unwrap());
    std::fs::write(&arch, tb.into_inner().unwrap()).unwrap();
    let err = env.fails(&["load", "-i", arch.to_str().unwrap()]);
    assert!(
        err.contains("does not match its digest")
            || err.contains("corrupt")
            || err.contains("invalid"),
        "{err}"
    );
    assert_eq!(env.ok(&["images", "-q"]), "");
    assert!(
        tree(&env.root().join("layers")).is_empty() && tree(&env.root().join("tmp")).is_empty()
    );
    assert!(tree(&env.root().join("blobs/sha256")).is_empty());
}

#[test]
fn save_and_load_roundtrip_both_formats_several_images() {
    let src = Env::new("save-src");
    let tar = busybox_tar(src.dir.path(), &[]);
    src.ok(&[
        "import",
        "-c",
        "CMD /bin/sh",
        tar.to_str().unwrap(),
        "localhost/one:1",
    ]);
    let b = Built::new(
        vec![Layer::gzip(TarBuf::new().file("hello", b"world").finish())],
        &["/hello"],
        false,
    );
    let arch = src.path("two.tar");
    b.oci_archive("localhost/two:2", &arch);
    src.ok(&["load", "-i", arch.to_str().unwrap()]);
    let id1 = src.image_json("localhost/one:1")["Id"].clone();
    let id2 = src.image_json("localhost/two:2")["Id"].clone();
    for fmt in ["docker-archive", "oci-archive"] {
        let out = src.path(&format!("{fmt}.tar"));
        src.ok(&[
            "save",
            "--format",
            fmt,
            "-o",
            out.to_str().unwrap(),
            "localhost/one:1",
            "localhost/two:2",
        ]);
        let dst = Env::new("save-dst");
        // From stdin, as `docker load < x.tar`.
        let o = dst
            .cmd(&["load"])
            .stdin(std::fs::File::open(&out).unwrap())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{fmt}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(
            s.contains("Loaded image: localhost/one:1")
                && s.contains("Loaded image: localhost/two:2"),
            "{fmt}: {s}"
        );
        assert_eq!(dst.image_json("localhost/one:1")["Id"], id1, "{fmt}");
        assert_eq!(dst.image_json("localhost/two:2")["Id"], id2, "{fmt}");
        let lowers = lower_dirs(&dst, "localhost/two:2");
        assert_eq!(std::fs::read(lowers[0].join("hello")).unwrap(), b"world");
        assert!(tree(&dst.root().join("tmp")).is_empty());
    }
    // Saving something that does not exist writes nothing.
    let out = src.path("none.tar");
    let err = src.fails(&["save", "-o", out.to_str().unwrap(), "localhost/none:1"]);
    assert!(err.contains("no such image"), "{err}");
    assert!(!out.exists());
}

#[test]
fn prune_removes_only_dangling_and_shares_layers() {
    let env = Env::new("prune");
    let layer = TarBuf::new().file("shared", b"s").finish();
    let a = Built::new(vec![Layer::gzip(layer.clone())], &["/a"], false);
    let b = Built::new(vec![Layer::gzip(layer)], &["/b"], false);
    for (n, img) in [("a", &a), ("b", &b)] {
        let arch = env.path(&format!("{n}.tar"));
        img.oci_archive(&format!("localhost/{n}:1"), &arch);
        env.ok(&["load", "-i", arch.to_str().unwrap()]);
    }
    // One unpacked layer serves both images.
    assert_eq!(
        std::fs::read_dir(env.root().join("layers"))
            .unwrap()
            .count(),
        1
    );
    // Loading b again under a's name leaves the old a dangling.
    let arch = env.path("b2.tar");
    b.oci_archive("localhost/a:1", &arch);
    env.ok(&["load", "-i", arch.to_str().unwrap()]);
    let out = env.ok(&["image", "prune"]);
    assert!(
        out.contains(&a.id().to_string()) && out.contains("Total images removed: 1"),
        "{out}"
    );
    assert_eq!(env.image_json("localhost/a:1")["Id"], b.id().to_string());
    assert_eq!(
        std::fs::read_dir(env.root().join("layers"))
            .unwrap()
            .count(),
        1
    );
    env.ok(&["image", "prune", "-a"]);
    assert_eq!(env.ok(&["images", "-q"]), "");
    assert!(tree(&env.root().join("layers")).is_empty());
}

#[test]
fn bad_input_gives_one_clear_line_and_leaves_nothing() {
    let env = Env::new("bad-input");
    let junk = env.path("junk.tar");
    std::fs::write(&junk, vec![b'j'; 1000]).unwrap();
    for (args, want) in [
        (vec!["import", junk.to_str().unwrap()], "reading layer tar"),
        (
            vec!["load", "-i", junk.to_str().unwrap()],
            "reading archive",
        ),
        (
            vec!["load", "-i", "/nonexistent/x.tar"],
            "opening archive /nonexistent/x.tar",
        ),
        (
            vec!["import", "-c", "RUN rm -rf /", junk.to_str().unwrap()],
            "invalid --change \"RUN rm -rf /\"",
        ),
        (vec!["pull", "NOT/Valid"], "invalid reference \"NOT/Valid\""),
        (vec!["tag", "nothere", "x:1"], "no such image: nothere"),
        (
            vec!["save", "--format", "zip", "-o", "/dev/null", "x"],
            "unknown format \"zip\"",
        ),
    ] {
        let err = env.fails(&args);
        assert!(
            err.starts_with("berth: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    assert_eq!(env.ok(&["images", "-q"]), "");
    assert!(
        tree(&env.root().join("tmp")).is_empty(),
        "{:?}",
        tree(&env.root().join("tmp"))
    );
    assert!(
        tree(&env.root().join("blobs/sha256")).is_empty()
            && tree(&env.root().join("layers")).is_empty()
    );
    // A rootfs tarball on stdin, compressed, works too.
    let tar = TarBuf::new().file("hi", b"there").finish();
    let mut child = env
        .cmd(&["import", "-", "localhost/stdin:1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &gzip(&tar)).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(
        std::fs::read(lower_dirs(&env, "localhost/stdin:1")[0].join("hi")).unwrap(),
        b"there"
    );
}

/// Images of up to 128 layers run (docker's limit), each layer's file
/// visible; the overlay's option string alone held ~43. Above the limit,
/// one clear line and nothing left.
#[test]
fn an_image_of_128_layers_runs_and_129_is_refused() {
    let env = Env::new("deep");
    let base = std::fs::read(busybox_tar(&env.path(""), &[])).unwrap();
    let mut layers = vec![Layer::plain(base)];
    for i in 1..129 {
        let content = format!("{i}\n");
        layers.push(Layer::plain(
            TarBuf::new()
                .file(&format!("layers/f{i}"), content.as_bytes())
                .finish(),
        ));
    }
    let top = layers.pop().unwrap();
    let b = Built::new(layers, &["/bin/sh"], false);
    let arch = env.path("deep.tar");
    b.oci_archive("localhost/deep:128", &arch);
    env.ok(&["load", "-i", arch.to_str().unwrap()]);
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/deep:128",
        "sh",
        "-c",
        "cat /layers/f1 /layers/f127; ls /layers | wc -l",
    ]);
    assert_eq!(out, "1\n127\n127\n");

    let mut layers = b.layers;
    layers.push(top);
    let b = Built::new(layers, &["/bin/sh"], false);
    b.oci_archive("localhost/deep:129", &arch);
    env.ok(&["load", "-i", arch.to_str().unwrap()]);
    let err = env.fails(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/deep:129",
        "true",
    ]);
    assert!(
        err.contains("129 layers") && err.contains("at most 128"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(env.ok(&["ps", "-aq"]).is_empty());
}

/// A GNU sparse member of 256 MiB holding a few bytes stays sparse on disk;
/// a gzip bomb fails at the store's max_layer_size, leaving nothing, and
/// loads without it (docker has no such bound by default).
#[test]
fn sparse_members_stay_sparse_and_max_layer_size_bounds_a_bomb() {
    let env = Env::new("amplify");
    let src = env.path("sparse-src");
    std::fs::create_dir_all(&src).unwrap();
    let f = std::fs::File::create(src.join("big")).unwrap();
    f.set_len(256 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, b"tail", (256 << 20) - 4).unwrap();
    drop(f);
    let tar = env.path("sparse.tar");
    let st = std::process::Command::new("tar")
        .args(["--sparse", "--format=gnu", "-C"])
        .arg(&src)
        .arg("-cf")
        .arg(&tar)
        .arg("big")
        .status()
        .unwrap();
    assert!(st.success());
    let data = std::fs::read(&tar).unwrap();
    assert!(data.len() < 64 << 10, "GNU tar made no sparse member");
    let b = Built::new(vec![Layer::gzip(data)], &["/x"], false);
    let arch = env.path("sparse-img.tar");
    b.oci_archive("localhost/sparse:1", &arch);
    env.ok(&["load", "-i", arch.to_str().unwrap()]);
    let file = lower_dirs(&env, "localhost/sparse:1")[0].join("big");
    let m = std::fs::metadata(&file).unwrap();
    assert_eq!(m.len(), 256 << 20);
    assert!(
        m.blocks() * 512 < 1 << 20,
        "256 MiB of holes took {} bytes on disk",
        m.blocks() * 512
    );
    let mut tail = [0u8; 4];
    std::os::unix::fs::FileExt::read_exact_at(
        &std::fs::File::open(&file).unwrap(),
        &mut tail,
        (256 << 20) - 4,
    )
    .unwrap();
    assert_eq!(&tail, b"tail");

    // 24 MiB of zeros gzip to ~24 KiB.
    let bomb = TarBuf::new().file("zeros", &vec![0u8; 24 << 20]).finish();
    let b = Built::new(vec![Layer::gzip(bomb)], &["/x"], false);
    assert!(b.layers[0].blob.len() < 1 << 20);
    b.oci_archive("localhost/bomb:1", &arch);
    std::fs::create_dir_all(env.root()).unwrap();
    std::fs::write(
        env.root().join("registries.json"),
        r#"{"max_layer_size": 8388608}"#,
    )
    .unwrap();
    let err = env.fails(&["load", "-i", arch.to_str().unwrap()]);
    assert!(err.contains("max_layer_size"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(tree(&env.root().join("tmp")), Vec::<String>::new());
    assert!(env.run(&["inspect", "localhost/bomb:1"]).status.code() != Some(0));
    std::fs::remove_file(env.root().join("registries.json")).unwrap();
    env.ok(&["load", "-i", arch.to_str().unwrap()]);
}

/// docker's `images` as the tutorials use it: short names for Docker Hub's,
/// `-q` one id per tag, and `--filter` dangling/label/before/since/reference,
/// so that `rmi $(images -q --filter dangling=true)` works.
#[test]
fn images_filters_and_short_names() {
    let env = Env::new("filters");
    let tar = busybox_tar(&env.path(""), &[]);
    let t = tar.to_str().unwrap();
    env.ok(&["import", t, "docker.io/library/busybox:1"]);
    env.ok(&["tag", "busybox:1", "docker.io/me/app:2"]);
    env.ok(&["import", "-c", "LABEL tier=web", t, "localhost/labelled:1"]);
    env.ok(&["import", t]); // dangling
    let repos = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut repos: Vec<&str> = repos.lines().collect();
    repos.sort();
    assert_eq!(
        repos,
        [
            "<none>:<none>",
            "busybox:1",
            "localhost/labelled:1",
            "me/app:2"
        ]
    );
    // An image with two tags: its id twice, as docker.
    let id = env.ok(&["images", "-q", "busybox"]);
    let q = env.ok(&["images", "-q"]);
    assert_eq!(q.lines().filter(|l| *l == id.trim()).count(), 2, "{q}");
    let f = |filter: &str| {
        let out = env.ok(&["images", "--format", "{{.Repository}}", "-f", filter]);
        let mut v: Vec<String> = out.lines().map(String::from).collect();
        v.sort();
        v
    };
    assert_eq!(f("dangling=true"), ["<none>"]);
    assert_eq!(f("label=tier=web"), ["localhost/labelled"]);
    assert_eq!(f("label=tier"), ["localhost/labelled"]);
    assert_eq!(f("reference=busy*"), ["busybox"]);
    assert_eq!(f("reference=me/*"), ["me/app"]);
    assert_eq!(f("since=localhost/labelled:1"), ["<none>"]);
    assert_eq!(f("before=localhost/labelled:1"), ["busybox", "me/app"]);
    let err = env.fails(&["images", "-f", "colour=red"]);
    assert!(err.contains("colour"), "{err}");
    let dangling = env.ok(&["images", "-q", "--filter", "dangling=true"]);
    env.ok(&["rmi", dangling.trim()]);
    assert_eq!(f("dangling=true"), Vec::<String>::new());
    assert_eq!(env.ok(&["rmi", "me/app:2"]), "Untagged: me/app:2\n");
}
