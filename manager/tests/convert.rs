//! The library API the container code uses: resolve an image, get its
//! overlay lower dirs, and convert its config to runtime settings.

mod common;

use berth::image::config;
use berth::image::import::{self, ImportOptions};
use berth::image::store::Store;
use common::*;

#[test]
fn image_to_runtime_config_resolves_users_through_layers() {
    let env = Env::new("convert");
    let store = Store::open(&env.root()).unwrap();
    let base = TarBuf::new()
        .dir("etc/", 0o755)
        .file(
            "etc/passwd",
            b"root:x:0:0::/root:/bin/sh\nold:x:7:7::/:/bin/sh\n",
        )
        .file("etc/group", b"root:x:0:\n")
        .finish();
    let opts = ImportOptions {
        changes: vec![],
        message: None,
        names: vec!["localhost/base:1".into()],
    };
    let base_img = import::import(&store, &base[..], &opts).unwrap();
    // An upper layer replaces passwd and adds groups, as an app image would.
    let upper = TarBuf::new()
        .dir("etc/", 0o755)
        .file(
            "etc/passwd",
            b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .file("etc/group", b"root:x:0:\napp:x:1000:\naudio:x:29:app\n")
        .finish();
    let top = Built::new(
        vec![Layer::plain(base), Layer::gzip(upper)],
        &["serve"],
        false,
    );
    let mut cfg: serde_json::Value = serde_json::from_slice(&top.config).unwrap();
    cfg["config"]["User"] = "app".into();
    cfg["config"]["Entrypoint"] = serde_json::json!(["/bin/app"]);
    cfg["config"]["WorkingDir"] = "/srv".into();
    cfg["config"]["ExposedPorts"] = serde_json::json!({"8080/tcp": {}});
    cfg["config"]["Volumes"] = serde_json::json!({"/data": {}});
    cfg["config"]["StopSignal"] = "SIGTERM".into();
    cfg["config"]["Labels"] = serde_json::json!({"l": "v"});
    let top = top.with_config(serde_json::to_vec(&cfg).unwrap());
    let arch = env.path("app.tar");
    top.oci_archive("localhost/app:1", &arch);
    env.ok(&["load", "-i", arch.to_str().unwrap()]);

    let img = store.resolve("localhost/app:1").unwrap();
    let dirs = store.layer_dirs(&img);
    assert_eq!(dirs.len(), 2);
    // The base layer is shared with the imported image (same chain id).
    assert_eq!(dirs[1], store.layer_dirs(&base_img)[0]);
    let passwd = store
        .read_image_file(&img, "/etc/passwd")
        .map(|b| String::from_utf8(b).unwrap());
    let group = store
        .read_image_file(&img, "etc/group")
        .map(|b| String::from_utf8(b).unwrap());
    let rc = store.runtime_config(&img).unwrap();
    assert_eq!(rc.args, ["/bin/app", "serve"]);
    assert_eq!(
        (rc.uid, rc.gid, rc.additional_gids.clone()),
        (1000, 1000, vec![29])
    );
    assert_eq!(rc.cwd, "/srv");
    assert_eq!(rc.volumes, ["/data"]);
    assert_eq!(
        rc.annotations["org.opencontainers.image.exposedPorts"],
        "8080/tcp"
    );
    assert_eq!(
        rc.annotations["org.opencontainers.image.stopSignal"],
        "SIGTERM"
    );
    assert_eq!(rc.annotations["l"], "v");
    // "old" lived only in the lower layer's passwd: not a user of this image.
    let mut c2 = img.config.clone();
    c2.config.as_mut().unwrap().user = Some("old".into());
    let err = config::convert(&c2, passwd.as_deref(), group.as_deref()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "user \"old\" not found in the image's /etc/passwd"
    );

    // A container holding the image keeps rmi away until released.
    store.hold(&img.record.id, "ctr-9").unwrap();
    let err = env.fails(&["rmi", "localhost/app:1"]);
    assert!(err.contains("in use by ctr-9"), "{err}");
    store.release(&img.record.id, "ctr-9").unwrap();
    assert!(!env.root().join("holds").join(img.record.id.hex()).exists());
    env.ok(&["rmi", "localhost/app:1"]);
    assert!(
        store.layer_dirs(&base_img)[0].is_dir(),
        "shared layer kept for the base image"
    );
}
