//! config.json for a fixed set of `create` flags, against the documents in
//! `testdata/` (written by the untyped builder this module replaced): a key
//! misspelt or dropped on the way to the typed spec shows up here. Arrays
//! that are sets (capabilities) are compared sorted; what the host decides
//! (its rlimits, its bounding set, the default seccomp profile outside the
//! cases that check it) is replaced by a marker. `BERTH_BLESS=1` rewrites
//! the documents.

use super::*;
use crate::image::config::RuntimeConfig;
use serde_json::{json, Value};
use std::path::PathBuf;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home:/bin/sh\n";
const GROUP: &str = "root:x:0:\nuser:x:1000:\nwheel:x:10:user\n";
const SECCOMP: &str = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
  "syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
  {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]},
  {"names":["mount"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn image() -> RuntimeConfig {
    RuntimeConfig {
        args: strings(&["sh"]),
        env: strings(&[crate::image::config::DEFAULT_PATH, "IMG=1"]),
        cwd: "/".into(),
        volumes: strings(&["/imgvol"]),
        annotations: [("org.example.img".to_string(), "yes".to_string())].into(),
        ..Default::default()
    }
}

/// The cases: a name, the flags, and whether the default seccomp profile is compared in full.
fn cases(seccomp_file: &str) -> Vec<(&'static str, CreateOptions, bool)> {
    let o = CreateOptions::default;
    vec![
        ("plain", o(), true),
        (
            "ports",
            CreateOptions {
                network: Some("bridge".into()),
                publish: strings(&["127.0.0.1:18080:80"]),
                ..o()
            },
            false,
        ),
        (
            "vols",
            CreateOptions {
                volumes: strings(&["/tmp:/host:ro", "namedvol:/named", "/anon"]),
                mounts: strings(&["type=tmpfs,destination=/mt"]),
                ..o()
            },
            false,
        ),
        (
            "caps",
            CreateOptions {
                cap_add: strings(&["NET_ADMIN", "cap_sys_ptrace"]),
                cap_drop: strings(&["MKNOD"]),
                ..o()
            },
            true,
        ),
        (
            "dev",
            CreateOptions {
                devices: strings(&["/dev/null:/dev/mynull:rw", "/dev/zero"]),
                ..o()
            },
            false,
        ),
        (
            "mem",
            CreateOptions {
                memory: Some("64m".into()),
                memory_swap: Some("128m".into()),
                memory_reservation: Some("32m".into()),
                cpus: Some("1.5".into()),
                cpu_shares: Some(512),
                cpuset_cpus: Some("0".into()),
                pids_limit: Some(100),
                ..o()
            },
            false,
        ),
        (
            "swap-unlimited",
            CreateOptions {
                memory: Some("64m".into()),
                memory_swap: Some("-1".into()),
                pids_limit: Some(-1),
                ..o()
            },
            false,
        ),
        (
            "ulim",
            CreateOptions {
                ulimits: strings(&["nofile=1024:2048", "nproc=500", "core=0"]),
                ..o()
            },
            false,
        ),
        (
            "user",
            CreateOptions {
                user: Some("user".into()),
                group_add: strings(&["wheel"]),
                workdir: Some("/tmp".into()),
                env: strings(&["FOO=bar", "IMG=2"]),
                cmd: strings(&["sh", "-c", "true"]),
                ..o()
            },
            false,
        ),
        (
            "tty",
            CreateOptions {
                tty: true,
                interactive: true,
                ..o()
            },
            false,
        ),
        (
            "ro",
            CreateOptions {
                read_only: true,
                tmpfs: strings(&["/run:size=1m", "/scratch"]),
                ..o()
            },
            false,
        ),
        (
            "sysctl",
            CreateOptions {
                sysctls: strings(&["net.ipv4.ip_forward=1", "kernel.msgmax=65536"]),
                ..o()
            },
            false,
        ),
        (
            "seccomp",
            CreateOptions {
                security_opt: vec![
                    format!("seccomp={seccomp_file}"),
                    "no-new-privileges".into(),
                ],
                ..o()
            },
            true,
        ),
        (
            "unconfined",
            CreateOptions {
                security_opt: strings(&["seccomp=unconfined"]),
                ..o()
            },
            true,
        ),
        (
            "net-none",
            CreateOptions {
                network: Some("none".into()),
                ..o()
            },
            false,
        ),
        (
            "net-host",
            CreateOptions {
                network: Some("host".into()),
                hostname: Some("myhost".into()),
                ..o()
            },
            false,
        ),
        (
            "net-container",
            CreateOptions {
                network: Some("container:peer".into()),
                ipc: Some("container:peer".into()),
                ..o()
            },
            false,
        ),
        (
            "host-namespaces",
            CreateOptions {
                ipc: Some("host".into()),
                pid: Some("host".into()),
                uts: Some("host".into()),
                cgroupns: Some("host".into()),
                ..o()
            },
            false,
        ),
        (
            "privileged",
            CreateOptions {
                privileged: true,
                ..o()
            },
            true,
        ),
        (
            "misc",
            CreateOptions {
                init: true,
                oom_score_adj: Some(100),
                shm_size: Some("128m".into()),
                labels: strings(&["a=b", "c="]),
                stop_signal: Some("SIGINT".into()),
                entrypoint: Some("/bin/sh".into()),
                cmd: strings(&["-c", "echo hi"]),
                ..o()
            },
            false,
        ),
    ]
}

/// Takes out of `spec` what depends on the host rather than on the flags.
fn normalise(spec: &mut Value, full_seccomp: bool) {
    let mut host = Vec::new();
    for (name, res) in [
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
    ] {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills r.
        assert_eq!(unsafe { libc::getrlimit(res, &mut r) }, 0);
        host.push((name, r.rlim_max.min(1 << 20)));
    }
    for r in spec["process"]["rlimits"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        for (name, v) in &host {
            if r["type"] == *name && r["soft"] == *v && r["hard"] == *v {
                r["soft"] = json!("HOST");
                r["hard"] = json!("HOST");
            }
        }
    }
    let all = process::all_caps();
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        let v = &mut spec["process"]["capabilities"][set];
        if let Some(a) = v.as_array_mut() {
            let mut names: Vec<String> =
                a.iter().map(|x| x.as_str().unwrap().to_string()).collect();
            names.sort();
            let mut every = all.clone();
            every.sort();
            *v = if names == every {
                json!("HOST-BOUNDING-SET")
            } else {
                json!(names)
            };
        }
    }
    if !full_seccomp && spec["linux"]["seccomp"].is_object() {
        spec["linux"]["seccomp"] = json!("DEFAULT-PROFILE");
    }
}

#[test]
fn config_json_for_fixed_flags() {
    let tmp = std::env::temp_dir().join(format!("berth-spec-test-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let seccomp_file = tmp.join("seccomp.json");
    std::fs::write(&seccomp_file, SECCOMP).unwrap();
    let testdata = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/container/spec/testdata");
    let bless = std::env::var_os("BERTH_BLESS").is_some();
    let rc = image();
    let volume_dir = |name: &str, anonymous: bool| -> Result<String> {
        Ok(match anonymous {
            true => "/vols/ANONYMOUS".to_string(),
            false => format!("/vols/{name}"),
        })
    };
    let peer_pid = |name: &str| -> Result<i32> {
        assert_eq!(name, "peer");
        Ok(4242)
    };
    let mut failed = Vec::new();
    for (name, o, full_seccomp) in cases(seccomp_file.to_str().unwrap()) {
        let inp = BuildInput {
            id: ID,
            dir: Path::new("/bundle-dir"),
            rc: &rc,
            entrypoint: vec![],
            cmd: rc.args.clone(),
            passwd: Some(PASSWD.into()),
            group: Some(GROUP.into()),
            volume_dir: &volume_dir,
            peer_pid: &peer_pid,
        };
        let built = build(&o, &inp).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut got = json!({
            "config.json": serde_json::to_value(&built.spec).unwrap(),
            "HostConfig": built.host_config,
            "user": built.user,
            "hostname": built.hostname,
            "stop_signal": built.stop_signal,
            "mounts": built.mounts.iter().map(|m| json!({
                "kind": format!("{:?}", m.kind), "source": m.source,
                "destination": m.destination, "rw": m.rw,
            })).collect::<Vec<_>>(),
        });
        normalise(&mut got["config.json"], full_seccomp);
        // The profile's path is the test's own: unique per run.
        for o in got["HostConfig"]["SecurityOpt"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if *o == format!("seccomp={}", seccomp_file.display()) {
                *o = json!("seccomp=SECCOMP-FILE");
            }
        }
        let file = testdata.join(format!("{name}.json"));
        if bless {
            std::fs::create_dir_all(&testdata).unwrap();
            let mut s = serde_json::to_string_pretty(&got).unwrap();
            s.push('\n');
            std::fs::write(&file, s).unwrap();
            continue;
        }
        let want: Value = serde_json::from_slice(
            &std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
        )
        .unwrap();
        if got != want {
            eprintln!(
                "{name}: got\n{}\nwant\n{}",
                serde_json::to_string_pretty(&got).unwrap(),
                serde_json::to_string_pretty(&want).unwrap()
            );
            failed.push(name);
        }
    }
    std::fs::remove_dir_all(&tmp).unwrap();
    assert!(failed.is_empty(), "config.json differs for {failed:?}");
}

#[test]
fn bad_flags_are_refused() {
    let rc = image();
    let volume_dir = |_: &str, _: bool| -> Result<String> { Ok("/vols/x".into()) };
    let peer_pid = |_: &str| -> Result<i32> { Ok(1) };
    for (o, want) in [
        (
            CreateOptions {
                sysctls: strings(&["novalue"]),
                ..Default::default()
            },
            "--sysctl",
        ),
        (
            CreateOptions {
                oom_score_adj: Some(1001),
                ..Default::default()
            },
            "--oom-score-adj",
        ),
        (
            CreateOptions {
                cgroupns: Some("other".into()),
                ..Default::default()
            },
            "--cgroupns",
        ),
        (
            CreateOptions {
                cap_add: strings(&["NOT_A_CAP"]),
                ..Default::default()
            },
            "--cap-add",
        ),
        (
            CreateOptions {
                security_opt: strings(&["seccomp=/nonexistent/profile.json"]),
                ..Default::default()
            },
            "--security-opt",
        ),
    ] {
        let inp = BuildInput {
            id: ID,
            dir: Path::new("/bundle-dir"),
            rc: &rc,
            entrypoint: vec![],
            cmd: rc.args.clone(),
            passwd: None,
            group: None,
            volume_dir: &volume_dir,
            peer_pid: &peer_pid,
        };
        let e = build(&o, &inp).err().expect(want).to_string();
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn a_stored_config_json_is_edited_in_place() {
    let rc = image();
    let volume_dir = |_: &str, _: bool| -> Result<String> { Ok("/vols/x".into()) };
    let peer_pid = |_: &str| -> Result<i32> { Ok(4242) };
    let o = CreateOptions {
        network: Some("container:peer".into()),
        memory: Some("64m".into()),
        user: Some("user".into()),
        ..Default::default()
    };
    let inp = BuildInput {
        id: ID,
        dir: Path::new("/bundle-dir"),
        rc: &rc,
        entrypoint: vec![],
        cmd: rc.args.clone(),
        passwd: Some(PASSWD.into()),
        group: Some(GROUP.into()),
        volume_dir: &volume_dir,
        peer_pid: &peer_pid,
    };
    let spec = serde_json::to_value(build(&o, &inp).unwrap().spec).unwrap();
    let tmp = std::env::temp_dir().join(format!("berth-bundle-test-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let path = tmp.join("config.json");
    std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();

    // Read and written back unchanged, each part is what it was.
    let mut b = Bundle::load(&path).unwrap();
    let p = b.process().unwrap();
    assert_eq!(serde_json::to_value(&p).unwrap(), spec["process"]);
    let nss = b.namespaces().unwrap();
    assert_eq!(
        serde_json::to_value(&nss).unwrap(),
        spec["linux"]["namespaces"]
    );
    let mut res = b.resources().unwrap();
    assert_eq!(
        serde_json::to_value(&res).unwrap(),
        spec["linux"]["resources"]
    );

    // An update of the memory limit keeps the device rules and the rest.
    merge(
        &mut res,
        &resources(&CreateOptions {
            memory: Some("128m".into()),
            ..Default::default()
        })
        .unwrap(),
    );
    b.set_resources(&res).unwrap();
    b.save().unwrap();
    let after: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(after["linux"]["resources"]["memory"]["limit"], 128 << 20);
    assert_eq!(
        after["linux"]["resources"]["devices"],
        spec["linux"]["resources"]["devices"]
    );
    let mut want = spec.clone();
    want["linux"]["resources"]["memory"]["limit"] = json!(128 << 20);
    assert_eq!(after, want);
    std::fs::remove_dir_all(&tmp).unwrap();
}
