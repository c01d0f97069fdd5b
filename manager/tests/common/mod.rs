//! Helpers for berth's integration tests: run the real binary against a
//! per-test store, and build layers and image archives byte by byte;
//! `containers` for the tests that run containers, `registry` for a
//! registry of their own.
#![allow(dead_code)]

use berth::image::digest::Digest;

pub mod containers;
pub mod net;
pub mod registry;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use test_support::TempDir;

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A store under a temp dir, removed with it.
pub struct Env {
    pub dir: TempDir,
}

impl Env {
    pub fn new(name: &str) -> Env {
        Env {
            dir: TempDir::new(&format!("berth-{name}")),
        }
    }
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("--root").arg(self.root()).args(args);
        c.env_remove("BERTH_DEFAULT_REGISTRY")
            .env_remove("BERTH_ROOT");
        c
    }
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }
    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "berth {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    /// Runs and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            !o.status.success(),
            "berth {args:?} should have failed: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8(o.stderr).unwrap()
    }
    pub fn image_json(&self, r: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["image", "inspect", r])).unwrap();
        v[0].clone()
    }
}

/// A tar built entry by entry, including entries `tar::Builder` refuses to write.
pub struct TarBuf {
    b: tar::Builder<Vec<u8>>,
}

impl Default for TarBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl TarBuf {
    pub fn new() -> TarBuf {
        TarBuf {
            b: tar::Builder::new(Vec::new()),
        }
    }
    fn header(name: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        // Written raw so that "../x" and "/x" go through unchanged.
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h
    }
    pub fn dir(mut self, name: &str, mode: u32) -> Self {
        let mut h = Self::header(name, tar::EntryType::Directory, 0, mode);
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }
    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.file_with(name, data, 0o644, 0, 0, 1_600_000_000)
    }
    pub fn file_with(
        mut self,
        name: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
    ) -> Self {
        let mut h = Self::header(name, tar::EntryType::Regular, data.len() as u64, mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }
    pub fn link(mut self, kind: tar::EntryType, name: &str, target: &str) -> Self {
        let mut h = Self::header(name, kind, 0, 0o777);
        let t = target.as_bytes();
        h.as_old_mut().linkname[..t.len()].copy_from_slice(t);
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }
    pub fn device(mut self, name: &str, kind: tar::EntryType, major: u32, minor: u32) -> Self {
        let mut h = Self::header(name, kind, 0, 0o660);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }
    /// A file with an xattr, carried in a PAX header like GNU tar writes it.
    pub fn file_xattr(mut self, name: &str, data: &[u8], key: &str, value: &str) -> Self {
        self.b
            .append_pax_extensions([(format!("SCHILY.xattr.{key}").as_str(), value.as_bytes())])
            .unwrap();
        self.file(name, data)
    }
    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    let mut c = std::process::Command::new("zstd")
        .args(["-q", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("zstd (apt install zstd)");
    let mut stdin = c.stdin.take().unwrap();
    let data = data.to_vec();
    let t = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let out = c.wait_with_output().unwrap();
    t.join().unwrap().unwrap();
    out.stdout
}

/// A layer blob: its bytes (as stored) and the digest of the uncompressed tar.
pub struct Layer {
    pub blob: Vec<u8>,
    pub diff_id: Digest,
    pub media_type: &'static str,
}

impl Layer {
    pub fn plain(tar: Vec<u8>) -> Layer {
        Layer {
            diff_id: Digest::of(&tar),
            blob: tar,
            media_type: "application/vnd.oci.image.layer.v1.tar",
        }
    }
    pub fn gzip(tar: Vec<u8>) -> Layer {
        Layer {
            diff_id: Digest::of(&tar),
            blob: gzip(&tar),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
        }
    }
    pub fn zstd(tar: Vec<u8>) -> Layer {
        Layer {
            diff_id: Digest::of(&tar),
            blob: zstd(&tar),
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// An image built in memory: config, manifest and blobs.
pub struct Built {
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    pub layers: Vec<Layer>,
}

impl Built {
    pub fn new(layers: Vec<Layer>, cmd: &[&str], docker_media: bool) -> Built {
        let config = serde_json::json!({
            "created": "2024-01-02T03:04:05Z",
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()},
            "history": layers.iter().map(|_| serde_json::json!({"created_by": "test"})).collect::<Vec<_>>(),
        });
        let config = serde_json::to_vec(&config).unwrap();
        let (mt, ct) = if docker_media {
            (
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.container.image.v1+json",
            )
        } else {
            (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
            )
        };
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": mt,
            "config": {"mediaType": ct, "digest": Digest::of(&config).to_string(), "size": config.len()},
            "layers": layers.iter().map(|l| serde_json::json!({
                "mediaType": if docker_media { "application/vnd.docker.image.rootfs.diff.tar.gzip" } else { l.media_type },
                "digest": Digest::of(&l.blob).to_string(), "size": l.blob.len()})).collect::<Vec<_>>(),
        });
        Built {
            manifest: serde_json::to_vec(&manifest).unwrap(),
            config,
            layers,
        }
    }
    /// The same layers under another config (the manifest is rebuilt to match).
    pub fn with_config(self, config: Vec<u8>) -> Built {
        let mut m: serde_json::Value = serde_json::from_slice(&self.manifest).unwrap();
        m["config"]["digest"] = Digest::of(&config).to_string().into();
        m["config"]["size"] = config.len().into();
        Built {
            manifest: serde_json::to_vec(&m).unwrap(),
            config,
            layers: self.layers,
        }
    }
    pub fn id(&self) -> Digest {
        Digest::of(&self.config)
    }
    pub fn manifest_digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }
    /// Every blob: layers, config, manifest.
    pub fn blobs(&self) -> Vec<(Digest, &[u8])> {
        let mut v: Vec<(Digest, &[u8])> = self
            .layers
            .iter()
            .map(|l| (Digest::of(&l.blob), &l.blob[..]))
            .collect();
        v.push((self.id(), &self.config[..]));
        v.push((self.manifest_digest(), &self.manifest[..]));
        v
    }
    /// An OCI archive (image layout in a tar) naming the image `name`.
    pub fn oci_archive(&self, name: &str, path: &Path) {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |p: &str, data: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, p, data).unwrap();
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        for (d, data) in self.blobs() {
            add(&format!("blobs/sha256/{}", d.hex()), data);
        }
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": self.manifest_digest().to_string(), "size": self.manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": name}}]});
        add("index.json", &serde_json::to_vec(&index).unwrap());
        std::fs::write(path, b.into_inner().unwrap()).unwrap();
    }
}

/// A rootfs tar of busybox-static (one symlink per applet, /etc/passwd...)
/// plus `extra` files, at `dir`/rootfs.tar.
pub fn busybox_tar(dir: &Path, extra: &[(&str, &str)]) -> PathBuf {
    let rootfs = dir.join("rootfs");
    test_support::busybox_rootfs(&rootfs);
    for (p, content) in extra {
        let f = rootfs.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, content).unwrap();
    }
    let tar = dir.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .args(["--numeric-owner", "-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_dir_all(&rootfs).unwrap();
    tar
}

/// Files under `dir`, relative, sorted: to show that nothing was left behind.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                out.push(p.strip_prefix(base).unwrap().display().to_string());
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    walk(base, &p, out);
                }
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}
