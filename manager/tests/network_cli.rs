//! `berth network ...` through the binary: output, errors, nothing left.

use berth::network::{self, NetRequest};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use test_support::{unique_id, TempDir};

struct Root(TempDir);

impl Drop for Root {
    fn drop(&mut self) {
        let _ = network::remove_all(self.0.path());
    }
}

fn berth(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(e.lines().count(), 1, "one error line: {e}");
    e
}

fn links(prefix: &str) -> usize {
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(prefix))
        .count()
}

#[test]
fn create_ls_inspect_rm_prune() {
    let root = Root(TempDir::new("berth-netcli"));
    let r = root.0.path();
    let prefix = format!("bc{:05x}", std::process::id() & 0xfffff);
    std::fs::create_dir_all(r.join("networks")).unwrap();
    std::fs::write(
        r.join("networks/config.json"),
        format!(r#"{{"bridge_prefix":"{prefix}","pool":"10.211.0.0/16"}}"#),
    )
    .unwrap();

    let id = ok(&berth(
        r,
        &[
            "network",
            "create",
            "--subnet",
            "10.211.5.0/24",
            "--gateway",
            "10.211.5.1",
            "app",
        ],
    ));
    assert_eq!(id.trim().len(), 64, "{id}");
    ok(&berth(r, &["network", "create", "spare"]));
    assert_eq!(links(&prefix), 2);
    let ls = ok(&berth(r, &["network", "ls"]));
    assert!(
        ls.starts_with("NETWORK ID     NAME      DRIVER    SCOPE\n"),
        "{ls}"
    );
    assert!(ls.contains("   app       bridge    local\n"), "{ls}");
    assert_eq!(
        ok(&berth(r, &["network", "ls", "--format", "{{.Name}}"])),
        "app\nbridge\nhost\nnone\nspare\n"
    );
    let j: serde_json::Value =
        serde_json::from_str(&ok(&berth(r, &["network", "inspect", "app"]))).unwrap();
    assert_eq!(j[0]["IPAM"]["Config"][0]["Subnet"], "10.211.5.0/24");
    assert_eq!(j[0]["IPAM"]["Config"][0]["Gateway"], "10.211.5.1");
    let spare = ok(&berth(
        r,
        &[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}}",
            "spare",
        ],
    ));
    assert_eq!(spare, "10.211.0.0/24\n");

    // Bad input: one line, exit 1 (docker's), nothing made.
    let e = err(&berth(
        r,
        &["network", "create", "--subnet", "10.211.5.64/26", "other"],
    ));
    assert_eq!(
        e,
        "berth: creating network other: subnet 10.211.5.64/26 overlaps network \"app\" (10.211.5.0/24)\n"
    );
    let e = err(&berth(r, &["network", "create", "app"]));
    assert!(e.contains("network app already exists"), "{e}");
    let e = err(&berth(
        r,
        &["network", "create", "--subnet", "10.211.9.0/33", "other"],
    ));
    assert!(e.contains("invalid subnet"), "{e}");
    let e = err(&berth(r, &["network", "rm", "nosuch"]));
    assert!(e.contains("no such network: nosuch"), "{e}");
    assert_eq!(links(&prefix), 2);
    assert_eq!(
        ok(&berth(r, &["network", "ls", "--format", "{{.Name}}"])),
        "app\nbridge\nhost\nnone\nspare\n"
    );

    // A member keeps its network from rm and prune; disconnect frees it.
    let cid = unique_id("c");
    std::fs::create_dir_all(r.join("containers").join(&cid)).unwrap();
    let mut ns = Command::new("unshare")
        .args(["-n", "sleep", "600"])
        .spawn()
        .unwrap();
    let pid = ns.id();
    while std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        != "sleep"
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let req = NetRequest {
        container_id: cid.clone(),
        name: "member".into(),
        network: "app".into(),
        ..Default::default()
    };
    let res = network::setup(r, &req, Path::new(&format!("/proc/{pid}/ns/net")));
    let e = err(&berth(r, &["network", "rm", "app"]));
    assert!(
        e.contains("network app is in use by container member"),
        "{e}"
    );
    assert_eq!(ok(&berth(r, &["network", "prune"])), "spare\n");
    ok(&berth(r, &["network", "disconnect", "app", "member"]));
    let _ = ns.kill();
    let _ = ns.wait();
    res.unwrap();
    assert_eq!(ok(&berth(r, &["network", "rm", "app"])), "app\n");
    assert_eq!(
        ok(&berth(r, &["network", "ls", "--format", "{{.Name}}"])),
        "bridge\nhost\nnone\n"
    );
    assert_eq!(links(&prefix), 0);
}
