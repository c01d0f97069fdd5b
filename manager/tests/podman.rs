//! Real interop: what `berth save` writes, `podman load` reads, and back.

mod common;

use common::registry::Registry;

use common::*;
use std::path::Path;
use std::process::Command;
use test_support::TempDir;

/// podman with a store, runroot and containers.conf of this test's own.
struct Podman {
    dir: TempDir,
}

impl Podman {
    fn new() -> Podman {
        let dir = TempDir::new("berth-podman");
        let d = dir.path();
        std::fs::create_dir_all(d.join("tmp")).unwrap();
        std::fs::write(
            d.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = \"{0}/events.log\"\nimage_copy_tmp_dir = \"{0}/tmp\"\n",
                d.display()
            ),
        )
        .unwrap();
        std::fs::write(d.join("registries.conf"), "").unwrap();
        Podman { dir }
    }

    fn run(&self, args: &[&str]) -> String {
        let d = self.dir.path();
        let o = Command::new("podman")
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", d.join("registries.conf"))
            .env("TMPDIR", d.join("tmp"))
            .output()
            .expect("podman");
        assert!(
            o.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn id(&self, r: &str) -> String {
        format!(
            "sha256:{}",
            self.run(&["image", "inspect", "--format", "{{.Id}}", r])
                .trim()
        )
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // vfs mounts nothing; make sure no storage lock holder lingers.
        let _ = Command::new("podman")
            .arg("--root")
            .arg(self.dir.path().join("root"))
            .arg("--runroot")
            .arg(self.dir.path().join("run"))
            .args(["--storage-driver", "vfs", "rmi", "-a", "-f"])
            .env("CONTAINERS_CONF", self.dir.path().join("containers.conf"))
            .output();
    }
}

fn setup(env: &Env) -> (String, String) {
    let tar = busybox_tar(env.dir.path(), &[]);
    env.ok(&[
        "import",
        "-c",
        "CMD [\"/bin/sh\"]",
        "-c",
        "ENV HELLO=world",
        tar.to_str().unwrap(),
        "localhost/bb:1",
    ]);
    let l1 = TarBuf::new().file("one", b"1").file("gone", b"x").finish();
    let l2 = TarBuf::new()
        .file(".wh.gone", b"")
        .file("two", b"2")
        .finish();
    let b = Built::new(vec![Layer::gzip(l1), Layer::zstd(l2)], &["/two"], false);
    let arch = env.path("two.tar");
    b.oci_archive("localhost/two:2", &arch);
    env.ok(&["load", "-i", arch.to_str().unwrap()]);
    (
        env.image_json("localhost/bb:1")["Id"]
            .as_str()
            .unwrap()
            .to_string(),
        env.image_json("localhost/two:2")["Id"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

#[test]
fn berth_save_loads_into_podman() {
    let env = Env::new("to-podman");
    let (id1, id2) = setup(&env);
    for fmt in ["docker-archive", "oci-archive"] {
        let out = env.path(&format!("{fmt}.tar"));
        let imgs: &[&str] = if fmt == "docker-archive" {
            &["localhost/bb:1", "localhost/two:2"]
        } else {
            &["localhost/bb:1"]
        };
        let mut args = vec!["save", "--format", fmt, "-o", out.to_str().unwrap()];
        args.extend(imgs);
        env.ok(&args);
        let p = Podman::new();
        let loaded = p.run(&["load", "-i", out.to_str().unwrap()]);
        assert!(loaded.contains("localhost/bb:1"), "{fmt}: {loaded}");
        assert_eq!(
            p.id("localhost/bb:1"),
            id1,
            "{fmt}: same image id in podman"
        );
        let env_json = p.run(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Env}}",
            "localhost/bb:1",
        ]);
        assert!(env_json.contains("HELLO=world"), "{env_json}");
        if fmt == "docker-archive" {
            assert_eq!(p.id("localhost/two:2"), id2);
        }
    }
}

#[test]
fn podman_save_loads_into_berth() {
    let env = Env::new("from-podman");
    let (id1, id2) = setup(&env);
    let out = env.path("seed.tar");
    env.ok(&[
        "save",
        "-o",
        out.to_str().unwrap(),
        "localhost/bb:1",
        "localhost/two:2",
    ]);
    let p = Podman::new();
    p.run(&["load", "-i", out.to_str().unwrap()]);
    for fmt in ["docker-archive", "oci-archive"] {
        let ps = env.path(&format!("podman-{fmt}.tar"));
        let mut args = vec!["save", "--format", fmt, "-o", ps.to_str().unwrap()];
        if fmt == "docker-archive" {
            args.extend(["-m", "localhost/bb:1", "localhost/two:2"]);
        } else {
            args.push("localhost/two:2");
        }
        p.run(&args);
        let fresh = Env::new("from-podman-load");
        let loaded = fresh.ok(&["load", "-i", ps.to_str().unwrap()]);
        assert!(loaded.contains("localhost/two:2"), "{fmt}: {loaded}");
        // podman rewrites an image's config when it converts it to OCI, so
        // the id to expect is the config digest inside podman's own archive.
        let want = if fmt == "docker-archive" {
            id2.clone()
        } else {
            archive_config_digest(&ps)
        };
        assert_eq!(fresh.image_json("localhost/two:2")["Id"], want, "{fmt}");
        let lowers =
            fresh.image_json("localhost/two:2")["GraphDriver"]["Data"]["LowerDirs"].clone();
        let top = Path::new(lowers[0].as_str().unwrap());
        assert_eq!(std::fs::read(top.join("two")).unwrap(), b"2");
        assert!(
            std::fs::symlink_metadata(top.join("gone")).is_ok(),
            "whiteout kept"
        );
        if fmt == "docker-archive" {
            assert_eq!(fresh.image_json("localhost/bb:1")["Id"], id1);
            let bb = fresh.image_json("localhost/bb:1")["GraphDriver"]["Data"]["LowerDirs"][0]
                .as_str()
                .unwrap()
                .to_string();
            assert!(Path::new(&bb).join("bin/busybox").is_file());
        }
    }
}

/// The config digest of the (single) image in an OCI archive.
fn archive_config_digest(path: &Path) -> String {
    let mut files = std::collections::HashMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(path).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut v).unwrap();
        files.insert(name, v);
    }
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let md = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let m: serde_json::Value =
        serde_json::from_slice(&files[&format!("blobs/sha256/{md}")]).unwrap();
    let cd = m["config"]["digest"].as_str().unwrap().to_string();
    cd
}

/// An image pulled with a Docker v2s2 manifest, saved as an OCI archive:
/// the manifest keeps its bytes (and digest), and podman takes it as is.
#[test]
fn docker_manifest_image_saved_as_oci_loads_into_podman() {
    let reg = Registry::start();
    let b = Built::new(
        vec![Layer::gzip(TarBuf::new().file("d", b"docker").finish())],
        &["/d"],
        true,
    );
    reg.upload("d/img", "1", &b);
    let env = Env::new("docker-to-oci");
    let r = format!("{}/d/img:1", reg.host());
    env.ok(&["pull", &r]);
    let out = env.path("oci.tar");
    env.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        out.to_str().unwrap(),
        &r,
    ]);
    let p = Podman::new();
    p.run(&["load", "-i", out.to_str().unwrap()]);
    assert_eq!(p.id(&r), b.id().to_string());
}
