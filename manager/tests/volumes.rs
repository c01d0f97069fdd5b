//! Named and anonymous volumes: the volume verbs, filling from the image on
//! first use, and data outliving the containers that wrote it.

mod common;

use common::containers::Env;

#[test]
fn volume_verbs() {
    let e = Env::new();
    assert_eq!(
        e.ok(&["volume", "create", "-l", "team=a", "alpha"]),
        "alpha\n"
    );
    let anon = e.ok(&["volume", "create"]).trim().to_string();
    assert_eq!(anon.len(), 64, "a generated name: {anon}");
    let ls = e.ok(&["volume", "ls"]);
    let mut lines = ls.lines();
    let h = lines.next().unwrap();
    assert!(h.starts_with("DRIVER") && h.contains("VOLUME NAME"), "{ls}");
    assert!(
        ls.lines()
            .any(|l| l.starts_with("local") && l.ends_with("alpha")),
        "{ls}"
    );
    let mut q: Vec<String> = e
        .ok(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect();
    q.sort();
    let mut want = vec!["alpha".to_string(), anon.clone()];
    want.sort();
    assert_eq!(q, want);
    let j: serde_json::Value =
        serde_json::from_str(&e.ok(&["volume", "inspect", "alpha"])).unwrap();
    let v = &j[0];
    assert_eq!(v["Name"], "alpha");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"]["team"], "a");
    assert!(v["CreatedAt"].as_str().unwrap().starts_with("20"));
    let mp = v["Mountpoint"].as_str().unwrap();
    assert!(std::path::Path::new(mp).is_dir(), "{mp}");
    assert_eq!(
        e.ok(&["volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "alpha"]),
        "alpha local\n"
    );
    let j: serde_json::Value =
        serde_json::from_str(&e.ok(&["volume", "ls", "--format", "json"])).unwrap();
    assert_eq!(j.as_array().unwrap().len(), 2);

    e.fails(&["volume", "create", "alpha"], "already exists");
    e.fails(&["volume", "create", "bad/name"], "invalid volume name");
    e.fails(&["volume", "inspect", "ghost"], "no such volume");
    e.fails(&["volume", "rm", "ghost"], "no such volume");

    // In use: rm refuses (a created container counts), -f removes anyway.
    e.ok(&[
        "create",
        "--name",
        "user",
        "-v",
        "alpha:/data",
        "busybox",
        "true",
    ]);
    e.fails(&["volume", "rm", "alpha"], "in use");
    assert_eq!(
        e.ok(&["volume", "prune", "-a"]),
        format!("{anon}\n"),
        "prune skips used ones"
    );
    e.ok(&["rm", "user"]);
    assert_eq!(e.ok(&["volume", "rm", "alpha"]), "alpha\n");
    assert!(!std::path::Path::new(mp).exists());
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn named_volume_is_filled_from_the_image_once_and_outlives_containers() {
    let e = Env::new();
    // The image's /seed (hello.txt, root-owned 0644) fills an empty new volume.
    e.ok(&[
        "run",
        "--name",
        "w1",
        "-v",
        "data:/seed",
        "busybox",
        "sh",
        "-c",
        "stat -c '%a %u %n' /seed/hello.txt; echo mine > /seed/new.txt; rm /seed/hello.txt",
    ]);
    let mp = e.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "data"]);
    let mp = std::path::PathBuf::from(mp.trim());
    assert_eq!(
        std::fs::read_to_string(mp.join("new.txt")).unwrap(),
        "mine\n"
    );
    assert!(!mp.join("hello.txt").exists());
    assert_eq!(e.ok(&["logs", "w1"]), "644 0 /seed/hello.txt\n");
    e.ok(&["rm", "-v", "w1"]);
    // Named volumes survive rm -v; the deleted file is not filled back in.
    let out = e.ok(&["run", "--rm", "-v", "data:/seed", "busybox", "ls", "/seed"]);
    assert_eq!(out, "new.txt\n");
    // A volume that already holds data is never filled.
    e.ok(&["volume", "create", "pre"]);
    let pre = e.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "pre"]);
    std::fs::write(std::path::Path::new(pre.trim()).join("own.txt"), "own\n").unwrap();
    assert_eq!(
        e.ok(&["run", "--rm", "-v", "pre:/seed", "busybox", "ls", "/seed"]),
        "own.txt\n"
    );
    // Read-only use of a volume.
    let o = e.berth(&[
        "run",
        "--rm",
        "-v",
        "data:/d:ro",
        "busybox",
        "sh",
        "-c",
        "echo x > /d/y",
    ]);
    assert_ne!(o.code, 0);
    assert!(!mp.join("y").exists());
    // Two containers share one volume at the same time.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "writer",
        "-v",
        "data:/d",
        "busybox",
        "sh",
        "-c",
        "echo live > /d/live; sleep 60",
    ]);
    common::containers::wait_until(5, "the writer", || mp.join("live").exists());
    assert_eq!(
        e.ok(&["run", "--rm", "-v", "data:/r", "busybox", "cat", "/r/live"]),
        "live\n"
    );
    e.ok(&["rm", "-f", "writer"]);
    assert!(e.ok(&["volume", "ls", "-q"]).contains("data"));
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_prune() {
    let e = Env::new();
    e.ok(&[
        "run",
        "--name",
        "a1",
        "-v",
        "/seed",
        "busybox",
        "sh",
        "-c",
        "cat /seed/hello.txt > /seed/copy",
    ]);
    let j: serde_json::Value = serde_json::from_str(&e.ok(&["inspect", "a1"])).unwrap();
    assert_eq!(j[0]["Mounts"][0]["Type"], "volume");
    let name = j[0]["Mounts"][0]["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64);
    let mp = e.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", &name]);
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(mp.trim()).join("copy")).unwrap(),
        "from the image\n",
        "an anonymous volume is filled from the image too"
    );
    e.ok(&["rm", "-v", "a1"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "", "rm -v removes it");
    // Without -v it stays, and a plain prune (anonymous only) takes it; named ones stay.
    e.ok(&[
        "run", "--name", "a2", "-v", "/x", "-v", "named:/y", "busybox", "true",
    ]);
    e.ok(&["rm", "a2"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    let pruned = e.ok(&["volume", "prune", "-f"]);
    assert_eq!(pruned.lines().count(), 1);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "named\n");
    // A failed run leaves no volume behind.
    e.fails(
        &[
            "run",
            "--rm",
            "-v",
            "newvol:/v",
            "--memory",
            "bad",
            "busybox",
            "true",
        ],
        "--memory",
    );
    e.fails(
        &[
            "run", "--rm", "-v", "/anon", "-u", "ghost", "busybox", "true",
        ],
        "ghost",
    );
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "named\n");
    assert_eq!(e.container_dirs(), 0);
}
