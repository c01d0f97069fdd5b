//! Pull and push against a real registry (Debian's docker-registry on 127.0.0.1).

mod common;

use berth::image::digest::Digest;
use common::registry::{Mode, Proxy, Registry};
use common::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

fn lowers(env: &Env, r: &str) -> Vec<PathBuf> {
    env.image_json(r)["GraphDriver"]["Data"]["LowerDirs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| PathBuf::from(v.as_str().unwrap()))
        .collect()
}

fn two_layer_image(docker: bool, tag: &str) -> Built {
    let l1 = TarBuf::new()
        .file("a", tag.as_bytes())
        .file("gone", b"x")
        .finish();
    let l2 = TarBuf::new()
        .file(".wh.gone", b"")
        .file("b", b"second")
        .finish();
    Built::new(vec![Layer::gzip(l1), Layer::gzip(l2)], &["/bin/sh"], docker)
}

#[test]
fn pull_oci_docker_manifests_and_index() {
    let reg = Registry::start();
    let env = Env::new("pull");
    let oci = two_layer_image(false, "oci");
    let docker = two_layer_image(true, "docker");
    reg.upload("t/img", "oci", &oci);
    reg.upload("t/img", "docker", &docker);
    // An index with an arm64 entry first: berth must pick amd64.
    let arm = Built::new(
        vec![Layer::gzip(TarBuf::new().file("arm", b"arm").finish())],
        &["/arm"],
        false,
    );
    reg.upload("t/img", "arm", &arm);
    let amd = Built::new(
        vec![Layer::zstd(TarBuf::new().file("amd", b"amd").finish())],
        &["/amd"],
        false,
    );
    reg.upload("t/img", "amd", &amd);
    let entry = |b: &Built, arch: &str| {
        serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": b.manifest_digest().to_string(), "size": b.manifest.len(), "platform": {"os": "linux", "architecture": arch}})
    };
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&arm, "arm64"), entry(&amd, "amd64")]}))
    .unwrap();
    reg.put_manifest(
        "t/img",
        "multi",
        "application/vnd.oci.image.index.v1+json",
        &index,
    );

    // The same as a Docker manifest list.
    let list = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [entry(&arm, "arm64"), entry(&amd, "amd64")]}))
    .unwrap();
    reg.put_manifest(
        "t/img",
        "list",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        &list,
    );

    let h = reg.host();
    env.ok(&["pull", &format!("{h}/t/img:list")]);
    assert_eq!(
        env.image_json(&format!("{h}/t/img:list"))["Id"],
        amd.id().to_string()
    );
    for (tag, b) in [("oci", &oci), ("docker", &docker)] {
        let r = format!("{h}/t/img:{tag}");
        let out = env.ok(&["pull", &r]);
        assert_eq!(out.trim(), r);
        let img = env.image_json(&r);
        assert_eq!(img["Id"], b.id().to_string(), "{tag}");
        assert_eq!(img["Digest"], b.manifest_digest().to_string(), "{tag}");
        assert_eq!(
            img["RepoDigests"][0],
            format!("{h}/t/img@{}", b.manifest_digest())
        );
        let l = lowers(&env, &r);
        assert_eq!(std::fs::read(l[1].join("a")).unwrap(), tag.as_bytes());
        let wh = std::fs::symlink_metadata(l[0].join("gone")).unwrap();
        assert!(
            wh.file_type().is_char_device() && wh.rdev() == 0,
            "whiteout in overlay form"
        );
    }
    let r = format!("{h}/t/img:multi");
    env.ok(&["pull", &r]);
    let img = env.image_json(&r);
    assert_eq!(img["Id"], amd.id().to_string());
    let rd = img["RepoDigests"].as_array().unwrap();
    assert!(
        rd.contains(&format!("{h}/t/img@{}", Digest::of(&index)).into()),
        "{rd:?}"
    );
    assert!(
        rd.contains(&format!("{h}/t/img@{}", Digest::of(&list)).into()),
        "{rd:?}"
    );
    assert_eq!(
        std::fs::read(lowers(&env, &r)[0].join("amd")).unwrap(),
        b"amd"
    );

    // By digest; then a second pull of the same content downloads nothing.
    let by_digest = format!("{h}/t/img@{}", oci.manifest_digest());
    env.ok(&["pull", &by_digest]);
    assert_eq!(env.image_json(&by_digest)["Id"], oci.id().to_string());
    let o = env.run(&["pull", &format!("{h}/t/img:oci")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Already exists"), "{err}");
    let o = env.run(&["pull", &format!("{h}/t/img:oci")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("Status: Image is up to date for {h}/t/img:oci")),
        "{err}"
    );
    // A short name resolves to the configured default registry.
    env.ok(&["--default-registry", &h, "pull", "t/img:docker"]);
    let err = env.fails(&["pull", &format!("{h}/t/img:nope")]);
    assert!(err.contains("manifest unknown"), "{err}");
    let wrong = format!("{h}/t/img@{}", Digest::of(b"nothing"));
    env.fails(&["pull", &wrong]);
}

#[test]
fn push_then_pull_back_gives_equal_digests() {
    let reg = Registry::start();
    let a = Env::new("push-a");
    let tar = busybox_tar(a.dir.path(), &[]);
    a.ok(&[
        "import",
        "-c",
        "CMD [\"/bin/sh\"]",
        tar.to_str().unwrap(),
        "localhost/bb:1",
    ]);
    let target = format!("{}/lib/bb:v1", reg.host());
    a.ok(&["tag", "localhost/bb:1", &target]);
    let out = a.ok(&["push", &target]);
    let src = a.image_json(&target);
    assert!(out.contains(src["Digest"].as_str().unwrap()), "{out}");
    // The registry serves the very bytes we hold.
    let r = ureq::head(&reg.url("/v2/lib/bb/manifests/v1"))
        .set("Accept", "application/vnd.oci.image.manifest.v1+json")
        .call()
        .unwrap();
    assert_eq!(
        r.header("docker-content-digest").unwrap(),
        src["Digest"].as_str().unwrap()
    );
    // Pushing again finds every layer there already.
    let o = a.run(&["push", &target]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("Layer already exists"));

    let b = Env::new("push-b");
    b.ok(&["pull", &target]);
    let back = b.image_json(&target);
    assert_eq!(back["Digest"], src["Digest"]);
    assert_eq!(back["Id"], src["Id"]);
    assert_eq!(back["RootFS"], src["RootFS"]);
    assert!(lowers(&b, &target)[0].join("bin/busybox").is_file());
    // Chunked upload (PATCH with Content-Range), through a logging proxy.
    let proxy = Proxy::start(
        reg.port,
        Mode::DropFirst {
            path: "/never".into(),
            after: 0,
        },
    );
    let chunked = format!("{}/lib/chunked:v1", proxy.host());
    a.ok(&["tag", &target, &chunked]);
    a.ok(&["push", "--chunk-size", "300000", &chunked]);
    let patches = proxy
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("PATCH /v2/lib/chunked/blobs/uploads/"))
        .count();
    assert!(patches >= 3, "{:?}", proxy.log.lock().unwrap());
    let c = Env::new("push-c");
    c.ok(&["pull", &chunked]);
    assert_eq!(c.image_json(&chunked)["Digest"], src["Digest"]);
    // Pushing an image that is not there fails cleanly.
    let err = a.fails(&["push", &format!("{}/lib/none:1", reg.host())]);
    assert!(err.contains("no such image"), "{err}");
}

#[test]
fn bearer_token_auth_with_login_and_logout() {
    let reg = Registry::start();
    let b = Built::new(
        vec![Layer::gzip(TarBuf::new().file("secret", b"s").finish())],
        &["/s"],
        false,
    );
    reg.upload("priv/img", "1", &b);
    let proxy = Proxy::start(
        reg.port,
        Mode::Token {
            user: "alice".into(),
            password: "wonder".into(),
            token: "tok-123".into(),
        },
    );
    let env = Env::new("auth");
    let r = format!("{}/priv/img:1", proxy.host());
    let err = env.fails(&["pull", &r]);
    assert!(
        err.contains("unauthorized") || err.contains("authentication required"),
        "{err}"
    );
    let err = env.fails(&["login", "-u", "alice", "-p", "wrong", &proxy.host()]);
    assert!(err.contains("unauthorized"), "{err}");
    assert!(
        !env.root().join("auth.json").exists(),
        "failed login stores nothing"
    );
    let out = env.ok(&["login", "-u", "alice", "-p", "wonder", &proxy.host()]);
    assert!(out.contains("Login Succeeded"));
    let auth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.root().join("auth.json")).unwrap()).unwrap();
    assert_eq!(
        auth["auths"][proxy.host()]["auth"],
        "YWxpY2U6d29uZGVy",
        "docker config.json form"
    );
    env.ok(&["pull", &r]);
    assert_eq!(env.image_json(&r)["Id"], b.id().to_string());
    // Push goes through the same token flow.
    let pushed = format!("{}/priv/copy:2", proxy.host());
    env.ok(&["tag", &r, &pushed]);
    env.ok(&["push", &pushed]);
    assert!(proxy
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with("PUT /v2/priv/copy/manifests/2")));
    env.ok(&["logout", &proxy.host()]);
    env.ok(&["rmi", &r]);
    let err = env.fails(&["pull", &r]);
    assert!(err.contains("authentication required"), "{err}");
    let err = env.fails(&["logout", &proxy.host()]);
    assert!(err.contains("not logged in"), "{err}");
}

#[test]
fn dropped_connection_mid_layer_is_resumed() {
    let reg = Registry::start();
    // Incompressible, so the blob is big enough to be cut in the middle.
    let mut data = vec![0u8; 3 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let b = Built::new(
        vec![Layer::gzip(TarBuf::new().file("big", &data).finish())],
        &["/big"],
        false,
    );
    reg.upload("r/big", "1", &b);
    let blob = Digest::of(&b.layers[0].blob);
    let proxy = Proxy::start(
        reg.port,
        Mode::DropFirst {
            path: format!("/blobs/{blob}"),
            after: 1 << 20,
        },
    );
    let env = Env::new("resume");
    let r = format!("{}/r/big:1", proxy.host());
    env.ok(&["pull", &r]);
    assert_eq!(
        std::fs::read(lowers(&env, &r)[0].join("big")).unwrap(),
        data
    );
    let log = proxy.log.lock().unwrap().clone();
    let gets: Vec<&String> = log
        .iter()
        .filter(|l| l.contains(&format!("/blobs/{blob}")))
        .collect();
    assert_eq!(gets.len(), 2, "one cut, one resumed: {log:?}");
    assert!(
        gets[1].contains("bytes="),
        "resumed with a Range request: {log:?}"
    );
}

#[test]
fn corrupt_blob_in_registry_is_rejected() {
    let reg = Registry::start();
    let b = Built::new(
        vec![Layer::gzip(
            TarBuf::new().file("f", &vec![7u8; 100_000]).finish(),
        )],
        &["/f"],
        false,
    );
    reg.upload("c/img", "1", &b);
    let blob = Digest::of(&b.layers[0].blob);
    let f = reg.blob_file(&blob);
    let mut bytes = std::fs::read(&f).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    std::fs::write(&f, bytes).unwrap();
    let env = Env::new("corrupt-pull");
    let err = env.fails(&["pull", &format!("{}/c/img:1", reg.host())]);
    assert!(
        err.contains("does not match its digest") || err.contains("corrupt"),
        "{err}"
    );
    assert_eq!(env.ok(&["images", "-q"]), "");
    assert!(tree(&env.root().join("layers")).is_empty());
    assert!(
        tree(&env.root().join("tmp")).is_empty(),
        "{:?}",
        tree(&env.root().join("tmp"))
    );
    assert!(!env.root().join("blobs/sha256").join(blob.hex()).exists());
}

#[test]
fn escaping_layers_from_a_registry_are_rejected() {
    let reg = Registry::start();
    let env = Env::new("evil-pull");
    let evil = [
        (
            "dotdot",
            TarBuf::new()
                .file("../../../../tmp/berth-evil", b"x")
                .finish(),
            "contains \"..\"",
        ),
        (
            "symlink",
            TarBuf::new()
                .link(tar::EntryType::Symlink, "etc", "/etc")
                .file("etc/berth-evil", b"x")
                .finish(),
            "through a symlink",
        ),
    ];
    for (name, layer, why) in evil {
        let b = Built::new(vec![Layer::gzip(layer)], &["/x"], false);
        reg.upload("e/img", name, &b);
        let err = env.fails(&["pull", &format!("{}/e/img:{name}", reg.host())]);
        assert!(
            err.contains("unsafe layer entry") && err.contains(why),
            "{name}: {err}"
        );
        assert!(
            !std::path::Path::new("/etc/berth-evil").exists()
                && !std::path::Path::new("/tmp/berth-evil").exists()
        );
    }
    assert_eq!(env.ok(&["images", "-q"]), "");
    assert!(
        tree(&env.root().join("layers")).is_empty() && tree(&env.root().join("tmp")).is_empty()
    );
}

#[test]
fn a_pull_killed_midway_leaves_no_image_and_prune_cleans_up() {
    let reg = Registry::start();
    // Noise (xorshift), so that the gzipped layer stays about 2 MB, well
    // past the proxy's stall: a pattern gzips to a few KB and would be
    // through before the stall.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let big: Vec<u8> = (0..2_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    let small = Layer::gzip(TarBuf::new().file("small", b"s").finish());
    let b = Built::new(
        vec![small, Layer::gzip(TarBuf::new().file("big", &big).finish())],
        &["/x"],
        false,
    );
    reg.upload("k/img", "1", &b);
    let blob = Digest::of(&b.layers[1].blob);
    assert!(
        b.layers[1].blob.len() > 1_000_000,
        "the big layer compressed"
    );
    let proxy = Proxy::start(
        reg.port,
        Mode::Stall {
            path: format!("/blobs/{blob}"),
            after: 300_000,
        },
    );
    let env = Env::new("killed");
    let r = format!("{}/k/img:1", proxy.host());
    let mut child = env
        .cmd(&["pull", &r])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the proxy holds the big layer back (the pull cannot
    // finish from then on) and the pull has begun writing it, then kill -9.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while tree(&env.root().join("tmp"))
        .iter()
        .filter(|p| p.contains("layer-"))
        .count()
        == 0
        || proxy.stalled.load(std::sync::atomic::Ordering::SeqCst) == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "pull never reached the big layer"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before the stall"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(proxy
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains(&blob.to_string())));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(env.ok(&["images", "-q"]), "", "no half-visible image");
    env.fails(&["image", "inspect", &r]);
    assert!(
        !tree(&env.root().join("tmp")).is_empty(),
        "the kill left work in progress"
    );
    env.ok(&["image", "prune"]);
    assert!(tree(&env.root().join("tmp")).is_empty());
    drop(proxy);
    env.ok(&["pull", &format!("{}/k/img:1", reg.host())]);
    assert_eq!(
        env.image_json(&format!("{}/k/img:1", reg.host()))["Id"],
        b.id().to_string()
    );
}

#[test]
fn concurrent_pulls_and_tags_share_one_store() {
    let reg = Registry::start();
    let shared = Layer::gzip(TarBuf::new().file("shared", &vec![1u8; 500_000]).finish());
    let shared2 = Layer::gzip(TarBuf::new().file("shared", &vec![1u8; 500_000]).finish());
    let a = Built::new(
        vec![shared, Layer::gzip(TarBuf::new().file("a", b"a").finish())],
        &["/a"],
        false,
    );
    let b = Built::new(
        vec![shared2, Layer::gzip(TarBuf::new().file("b", b"b").finish())],
        &["/b"],
        false,
    );
    reg.upload("c/a", "1", &a);
    reg.upload("c/b", "1", &b);
    let env = Env::new("concurrent");
    let h = reg.host();
    let kids: Vec<_> = ["a", "b", "a", "b"]
        .iter()
        .map(|n| {
            env.cmd(&["pull", "-q", &format!("{h}/c/{n}:1")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for k in kids {
        let o = k.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let tags: Vec<_> = (0..6)
        .map(|i| {
            env.cmd(&["tag", &format!("{h}/c/a:1"), &format!("localhost/t:{i}")])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut t in tags {
        assert!(t.wait().unwrap().success());
    }
    let img = env.image_json(&format!("{h}/c/a:1"));
    assert_eq!(
        img["RepoTags"].as_array().unwrap().len(),
        7,
        "no tag lost: {}",
        img["RepoTags"]
    );
    assert_eq!(
        env.image_json(&format!("{h}/c/b:1"))["Id"],
        b.id().to_string()
    );
    // Three distinct layers: the shared one is stored once.
    assert_eq!(
        std::fs::read_dir(env.root().join("layers"))
            .unwrap()
            .count(),
        3
    );
    assert!(tree(&env.root().join("tmp")).is_empty());
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with openssl.
fn make_certs(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    let sh = |args: &[&str]| {
        let o = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=berth test ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ];
    ca.extend(ec);
    sh(&ca);
    let mut csr = vec![
        "req",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
    ];
    csr.extend(ec);
    sh(&csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    sh(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "srv.crt",
    ]);
    (dir.join("ca.crt"), dir.join("srv.crt"), dir.join("srv.key"))
}

#[test]
fn tls_registry_with_its_own_ca_in_certs_d() {
    let certs = test_support::TempDir::new("berth-certs");
    let (ca, crt, key) = make_certs(certs.path());
    let reg = Registry::start_with(Some((crt, key)));
    let env = Env::new("tls");
    let b = Built::new(
        vec![Layer::gzip(TarBuf::new().file("tls", b"secure").finish())],
        &["/tls"],
        false,
    );
    let arch = env.path("img.tar");
    b.oci_archive("localhost/tls:1", &arch);
    env.ok(&["load", "-i", arch.to_str().unwrap()]);
    let target = format!("{}/sec/img:1", reg.host());
    env.ok(&["tag", "localhost/tls:1", &target]);
    // TLS is verified for real: another CA does not vouch for this server.
    let other_ca = test_support::TempDir::new("berth-certs-other");
    let (wrong_ca, _, _) = make_certs(other_ca.path());
    let d = env.root().join("certs.d").join(reg.host());
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(&wrong_ca, d.join("ca.crt")).unwrap();
    let err = env.fails(&["push", &target]);
    assert!(
        err.contains("https://") && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    std::fs::copy(&ca, d.join("ca.crt")).unwrap();
    env.ok(&["push", &target]);
    let other = Env::new("tls-pull");
    std::fs::create_dir_all(other.root().join("certs.d")).unwrap();
    let od = other.root().join("certs.d").join(reg.host());
    std::fs::create_dir_all(&od).unwrap();
    std::fs::copy(&ca, od.join("ca.crt")).unwrap();
    other.ok(&["pull", &target]);
    assert_eq!(
        other.image_json(&target)["Digest"],
        b.manifest_digest().to_string()
    );
}

/// skopeo, an independent implementation, on both sides of the registry.
#[test]
fn skopeo_pushed_images_pull_and_berth_pushed_images_copy() {
    let reg = Registry::start();
    let env = Env::new("skopeo");
    let tar = busybox_tar(env.dir.path(), &[]);
    env.ok(&[
        "import",
        "-c",
        "CMD [\"/bin/sh\"]",
        tar.to_str().unwrap(),
        "localhost/bb:1",
    ]);
    let arch = env.path("bb.tar");
    env.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        arch.to_str().unwrap(),
        "localhost/bb:1",
    ]);
    let skopeo = |args: &[&str]| {
        let o = std::process::Command::new("skopeo")
            .args(args)
            .output()
            .expect("skopeo");
        assert!(
            o.status.success(),
            "skopeo {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    // skopeo converts to a Docker v2s2 manifest and recompresses on its own.
    let v2s2 = format!("{}/sk/bb:v2s2", reg.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
        &format!("oci-archive:{}", arch.display()),
        &format!("docker://{v2s2}"),
    ]);
    let other = Env::new("skopeo-pull");
    other.ok(&["pull", &v2s2]);
    let img = other.image_json(&v2s2);
    assert_eq!(
        img["ManifestMediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        img["RootFS"],
        env.image_json("localhost/bb:1")["RootFS"],
        "same diff ids"
    );
    // And skopeo reads what berth pushed, verifying every digest on the way.
    let pushed = format!("{}/sk/pushed:1", reg.host());
    env.ok(&["tag", "localhost/bb:1", &pushed]);
    env.ok(&["push", &pushed]);
    let out = env.path("oci-dir");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{pushed}"),
        &format!("oci:{}:x", out.display()),
    ]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"],
        env.image_json(&pushed)["Digest"]
    );
}

#[test]
fn run_and_create_pull_a_missing_image_as_docker_does() {
    let reg = Registry::start();
    let src = Env::new("autopull-src");
    let tar = busybox_tar(src.dir.path(), &[]);
    let r = format!("{}/t/bb:1", reg.host());
    src.ok(&["import", tar.to_str().unwrap(), &r]);
    src.ok(&["push", &r]);

    let env = Env::new("autopull");
    let run = |extra: &[&str], args: &[&str]| {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend_from_slice(extra);
        a.extend_from_slice(args);
        env.run(&a)
    };
    let o = run(&[], &[&r, "echo", "hi"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hi\n");
    assert!(
        err.contains(&format!("Unable to find image '{r}' locally")),
        "{err}"
    );
    // Here now: no pull.
    let o = run(&[], &[&r, "true"]);
    assert!(o.status.success() && o.stderr.is_empty(), "{o:?}");
    // --pull always asks the registry again.
    let o = run(&["--pull", "always"], &[&r, "true"]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Status: "),
        "{o:?}"
    );
    let absent = format!("{}/t/absent:1", reg.host());
    let e = env.fails(&["run", "--pull", "never", &absent, "true"]);
    assert!(e.contains("no such image"), "{e}");
    assert!(env.fails(&["run", &absent, "true"]).contains("absent"));
    let e = env.fails(&["run", "--pull", "sometimes", &r, "true"]);
    assert!(e.contains("--pull"), "{e}");
    // create pulls too.
    env.ok(&["rmi", &r]);
    let id = env.ok(&["create", "--network", "none", &r, "true"]);
    assert_eq!(id.trim().len(), 64);
    env.ok(&["rm", id.trim()]);
    // Nothing is left of the failed ones.
    let ps = env.ok(&["ps", "-aq"]);
    assert!(ps.is_empty(), "{ps}");
}
