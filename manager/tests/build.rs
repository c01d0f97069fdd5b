//! `berth build` driven for real: steps run in containers through the shim
//! and the runtime, layers land in the store, and the image then runs.
//! (hack/build-test.sh compares the results with docker's classic builder.)

mod common;

use common::containers::{wait_child, Env};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A context dir with these files (path, content).
fn context(e: &Env, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let d = e.dir.path().join(name);
    for (p, c) in files {
        let f = d.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
    d
}

fn build(e: &Env, args: &[&str], ctx: &Path) -> common::containers::Out {
    let mut a = vec!["build"];
    a.extend_from_slice(args);
    a.push(ctx.to_str().unwrap());
    e.berth(&a)
}

#[test]
fn build_config_copy_and_run_steps_then_run_the_image() {
    let e = Env::new();
    let ctx = context(
        &e,
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\nARG WHO=world\nENV GREETING=hello\nWORKDIR /app\n\
                 COPY hello.txt sub ./\n\
                 RUN echo \"$GREETING $WHO\" > /app/greeting && rm /seed/hello.txt\n\
                 USER 1000:1000\nEXPOSE 8080\nLABEL built.by=berth\nCMD [\"cat\", \"/app/greeting\"]\n",
            ),
            ("hello.txt", "copied\n"),
            ("sub/inner.txt", "inner\n"),
        ],
    );
    let iid = e.dir.path().join("iid");
    let o = build(
        &e,
        &[
            "-t",
            "built:1",
            "--build-arg",
            "WHO=berth",
            "--iidfile",
            iid.to_str().unwrap(),
        ],
        &ctx,
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("Step 1/10 : FROM busybox"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains(" ---> Running in "), "{}", o.stdout);
    assert!(
        o.stdout.contains("Successfully tagged built:1"),
        "{}",
        o.stdout
    );
    let short = o
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .unwrap()
        .to_string();
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(
        id.starts_with(&format!("sha256:{short}")),
        "{id} vs {short}"
    );

    // The image runs: RUN's file, COPY's files, the deleted one gone, the user.
    assert_eq!(e.ok(&["run", "--rm", "built:1"]), "hello berth\n");
    let out = e.ok(&[
        "run",
        "--rm",
        "built:1",
        "sh",
        "-c",
        "pwd; cat hello.txt inner.txt; test -e /seed/hello.txt || echo gone; id -u",
    ]);
    assert_eq!(out, "/app\ncopied\ninner\ngone\n1000\n");
    let cfg = e.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        "built:1",
    ]);
    let cfg: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(cfg["WorkingDir"], "/app");
    assert_eq!(cfg["User"], "1000:1000");
    assert_eq!(cfg["Labels"]["built.by"], "berth");
    assert!(cfg["ExposedPorts"]["8080/tcp"].is_object());
    // The build arg is not kept in the image's env.
    assert!(!cfg["Env"].to_string().contains("WHO"), "{}", cfg["Env"]);
    assert_eq!(e.container_dirs(), 0, "build containers are removed");
    // The steps' images are there for the cache, shown with -a only.
    assert_eq!(
        e.ok(&["images", "-q"]).lines().count(),
        2,
        "busybox and built:1"
    );
    assert_eq!(
        e.ok(&["images", "-aq"]).lines().count(),
        10,
        "busybox and 9 steps"
    );
}

#[test]
fn a_rebuild_is_cached_and_a_changed_file_rebuilds_from_its_step() {
    let e = Env::new();
    let ctx = context(
        &e,
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\nRUN echo one > /one\nCOPY f.txt /f.txt\nRUN cat /f.txt > /copy\nENV X=1\n",
            ),
            ("f.txt", "v1\n"),
        ],
    );
    let first = build(&e, &["-q"], &ctx);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let again = build(&e, &[], &ctx);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.stdout.matches(" ---> Using cache").count(),
        4,
        "{}",
        again.stdout
    );
    assert!(!again.stdout.contains("Running in"), "{}", again.stdout);
    assert_eq!(
        first.stdout.trim()[7..19],
        again
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("Successfully built "))
            .unwrap()
            .to_string()
    );

    // One changed byte in the copied file: the RUN before it stays cached,
    // the COPY and everything after are made again.
    std::fs::write(ctx.join("f.txt"), "v2\n").unwrap();
    let changed = build(&e, &["-t", "c:1"], &ctx);
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    assert_eq!(
        changed.stdout.matches(" ---> Using cache").count(),
        1,
        "{}",
        changed.stdout
    );
    assert_eq!(
        changed.stdout.matches("Running in").count(),
        1,
        "{}",
        changed.stdout
    );
    assert_eq!(e.ok(&["run", "--rm", "c:1", "cat", "/copy"]), "v2\n");

    let fresh = build(&e, &["--no-cache"], &ctx);
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    assert!(!fresh.stdout.contains("Using cache"), "{}", fresh.stdout);
}

#[test]
fn a_failing_run_exits_with_its_code_leaves_nothing_and_keeps_its_cache() {
    let e = Env::new();
    let ctx = context(
        &e,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo ok > /ok\nRUN echo failing; exit 7\n",
        )],
    );
    let o = build(&e, &["-t", "never:1"], &ctx);
    assert_eq!(o.code, 7, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("failing"),
        "RUN's output is shown: {}",
        o.stdout
    );
    assert!(
        o.stderr
            .contains("The command '/bin/sh -c echo failing; exit 7' returned a non-zero code: 7"),
        "{}",
        o.stderr
    );
    assert_eq!(
        e.container_dirs(),
        0,
        "the failed step's container is removed"
    );
    assert_eq!(
        e.berth(&["image", "inspect", "never:1"]).code,
        1,
        "no image named"
    );
    e.assert_nothing_left(&[]);

    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo ok > /ok\nRUN true\n",
    )
    .unwrap();
    let o = build(&e, &[], &ctx);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout.matches(" ---> Using cache").count(),
        1,
        "{}",
        o.stdout
    );
}

/// Starts a build whose RUN sleeps; returns once its container runs.
fn start_sleeping_build(e: &Env, ctx: &Path) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = e
        .cmd(&["build", ctx.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    loop {
        let l = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the build's RUN should start within 30 s");
        if l.contains("Running in") {
            break;
        }
    }
    (child, rx)
}

#[test]
fn an_interrupted_build_removes_its_container() {
    let e = Env::new();
    let ctx = context(&e, "ctx", &[("Dockerfile", "FROM busybox\nRUN sleep 60\n")]);
    let (mut child, _rx) = start_sleeping_build(&e, &ctx);
    assert_eq!(e.container_dirs(), 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let code = wait_child(&mut child, 20).expect("build ends after ctrl-c");
    assert_eq!(code, 130);
    assert_eq!(e.container_dirs(), 0, "no build container is left");
}

#[test]
fn a_killed_builds_container_goes_with_the_next_build() {
    let e = Env::new();
    let ctx = context(&e, "ctx", &[("Dockerfile", "FROM busybox\nRUN sleep 60\n")]);
    let (mut child, _rx) = start_sleeping_build(&e, &ctx);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(e.container_dirs(), 1, "kill -9 leaves the RUN's container");
    let other = context(&e, "other", &[("Dockerfile", "FROM busybox\nENV A=1\n")]);
    let o = build(&e, &[], &other);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(e.container_dirs(), 0, "the next build removed it");
}

#[test]
fn bad_dockerfiles_fail_with_one_line_and_make_nothing() {
    let e = Env::new();
    let before = e.ok(&["images", "-aq"]);
    for (df, want) in [
        (
            "FROM busybox\nFOO bar\n",
            "dockerfile parse error line 2: unknown instruction: FOO",
        ),
        ("RUN true\n", "no build stage in current context"),
        ("ENV A=1\nFROM busybox\n", "only ARG may come first"),
        (
            "FROM busybox\nCOPY missing.txt /\n",
            "file not found in build context",
        ),
        ("FROM busybox\nENV A=${B\n", "missing '}'"),
        ("FROM --platform=linux/arm64 busybox\n", "only linux/amd64"),
    ] {
        let ctx = context(&e, "bad", &[("Dockerfile", df)]);
        let o = build(&e, &["-t", "bad:1"], &ctx);
        assert_ne!(o.code, 0, "{df:?} should fail");
        let lines: Vec<&str> = o.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{df:?}: {:?}", o.stderr);
        assert!(
            lines[0].contains(want),
            "{df:?}: {:?} should say {want:?}",
            lines[0]
        );
    }
    assert_eq!(e.ok(&["images", "-aq"]), before, "no image was made");
    assert_eq!(e.berth(&["image", "inspect", "bad:1"]).code, 1);
    let tmp: Vec<_> = std::fs::read_dir(e.root.join("tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "nothing left in tmp: {tmp:?}");
}

#[test]
fn a_tar_context_on_stdin_honours_dockerignore() {
    let e = Env::new();
    let ctx = context(
        &e,
        "ctx",
        &[
            ("Dockerfile", "FROM busybox\nCOPY . /ctx/\n"),
            (".dockerignore", "*.secret\nlogs\n!logs/keep.log\n"),
            ("app.txt", "app\n"),
            ("key.secret", "no\n"),
            ("logs/a.log", "no\n"),
            ("logs/keep.log", "yes\n"),
        ],
    );
    let tar = e.dir.path().join("ctx.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&ctx)
        .args(["-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let o = e
        .cmd(&["build", "-t", "fromtar:1", "-"])
        .stdin(std::fs::File::open(&tar).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = e.ok(&["run", "--rm", "fromtar:1", "find", "/ctx", "-type", "f"]);
    let mut files: Vec<&str> = out.lines().collect();
    files.sort();
    assert_eq!(
        files,
        [
            "/ctx/.dockerignore",
            "/ctx/Dockerfile",
            "/ctx/app.txt",
            "/ctx/logs/keep.log"
        ]
    );
}

#[test]
fn heredocs_in_run_and_copy() {
    let e = Env::new();
    let ctx = context(
        &e,
        "ctx",
        &[(
            "Dockerfile",
            "# syntax=docker/dockerfile:1\nFROM busybox\nRUN <<EOF\necho one > /one\necho two >> /one\nEOF\n\
             RUN cat <<A > /a && cat <<-B > /b\nfirst\nA\n\tsecond\n\tB\n\
             COPY <<conf /etc/app.conf\nkey=value\nconf\n",
        )],
    );
    let o = build(&e, &["-t", "here:1"], &ctx);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let out = e.ok(&[
        "run",
        "--rm",
        "here:1",
        "cat",
        "/one",
        "/a",
        "/b",
        "/etc/app.conf",
    ]);
    assert_eq!(out, "one\ntwo\nfirst\nsecond\nkey=value\n");
}

#[test]
fn a_built_image_pushes_pulls_back_and_runs() {
    let reg = common::registry::Registry::start();
    let e = Env::new();
    let ctx = context(
        &e,
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY msg /msg\nRUN cat /msg > /copy && rm /bin/false\nCMD [\"cat\", \"/copy\"]\n",
            ),
            ("msg", "through the registry\n"),
        ],
    );
    let target = format!("{}/built/app:1", reg.host());
    let o = build(&e, &["-t", &target], &ctx);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    e.ok(&["push", &target]);
    let other = Env::new();
    other.ok(&["pull", &target]);
    assert_eq!(
        other.ok(&["run", "--rm", &target]),
        "through the registry\n"
    );
    assert_eq!(
        other
            .berth(&["run", "--rm", &target, "test", "-e", "/bin/false"])
            .code,
        1,
        "the RUN's whiteout came through"
    );
}

/// A base image only the registry has: the build pulls it (docker's classic
/// builder does), `--pull` pulls a newer one under the same tag, and without
/// it the store's copy is used.
#[test]
fn a_missing_base_is_pulled_and_pull_refreshes_it() {
    let reg = common::registry::Registry::start();
    let publisher = Env::new();
    let base = format!("{}/base/bb:1", reg.host());
    let publish = |msg: &str| {
        let ctx = context(
            &publisher,
            &format!("pub-{}", msg.len()),
            &[(
                "Dockerfile",
                &format!("FROM busybox\nRUN echo {msg} > /base\n"),
            )],
        );
        let o = build(&publisher, &["-t", &base], &ctx);
        assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
        publisher.ok(&["push", &base]);
    };
    publish("first");

    let e = Env::new();
    let ctx = context(
        &e,
        "ctx",
        &[(
            "Dockerfile",
            &format!("FROM {base}\nCMD [\"cat\", \"/base\"]\n"),
        )],
    );
    let o = build(&e, &["-t", "app:1"], &ctx);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("Status: Downloaded newer image for"),
        "the pull's lines are in the build's output: {}",
        o.stdout
    );
    assert_eq!(e.ok(&["run", "--rm", "app:1"]), "first\n");

    publish("second, longer");
    let o = build(&e, &["-t", "app:2"], &ctx);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(!o.stdout.contains("Pulling"), "{}", o.stdout);
    assert_eq!(
        e.ok(&["run", "--rm", "app:2"]),
        "first\n",
        "the store's copy"
    );
    let o = build(&e, &["--pull", "-t", "app:3"], &ctx);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(e.ok(&["run", "--rm", "app:3"]), "second, longer\n");

    let ctx = context(&e, "nobase", &[("Dockerfile", "FROM 127.0.0.1:1/none:1\n")]);
    let o = build(&e, &["-t", "x:1"], &ctx);
    assert_ne!(o.code, 0);
    let last = o.stderr.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("berth: ") && last.contains("127.0.0.1:1"),
        "{}",
        o.stderr
    );
    assert_eq!(e.ok(&["images", "-q", "x"]), "");
}

/// ADD --checksum (BuildKit's flag): the download must have that digest.
#[test]
fn add_checksum_is_checked() {
    let reg = common::registry::Registry::start();
    let d = reg.upload_blob("files/f", b"payload\n");
    let url = reg.url(&format!("/v2/files/f/blobs/{d}"));
    let e = Env::new();
    let ok = context(
        &e,
        "ok",
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox\nADD --checksum={d} {url} /payload\nCMD [\"cat\", \"/payload\"]\n"
            ),
        )],
    );
    let o = build(&e, &["-t", "sum:1"], &ok);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(e.ok(&["run", "--rm", "sum:1"]), "payload\n");

    let other = format!("sha256:{}", "0".repeat(64));
    for (name, line, want) in [
        (
            "bad",
            format!("ADD --checksum={other} {url} /p"),
            "digest mismatch",
        ),
        (
            "local",
            format!("ADD --checksum={d} Dockerfile /p"),
            "non-HTTP(S)",
        ),
        (
            "two",
            format!("ADD --checksum={d} {url} {url} /p/"),
            "multiple sources",
        ),
    ] {
        let ctx = context(
            &e,
            name,
            &[("Dockerfile", &format!("FROM busybox\n{line}\n"))],
        );
        let o = build(&e, &["-t", "sum:bad"], &ctx);
        assert_ne!(o.code, 0, "{name}: {}", o.stdout);
        assert!(o.stderr.contains(want), "{name}: {}", o.stderr);
        assert_eq!(e.ok(&["images", "-q", "sum:bad"]), "", "{name}");
        assert_eq!(e.ok(&["ps", "-aq"]), "", "{name}");
    }
}
