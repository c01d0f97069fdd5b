//! The suite proves itself against crun: every test must pass or skip.

use std::path::Path;
use std::process::Command;

#[test]
fn suite_passes_against_crun() {
    let Some(crun) = ["/usr/bin/crun", "/usr/sbin/crun"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
    else {
        eprintln!("skipped: crun is not installed (apt-get install crun)");
        return;
    };
    if nix::unistd::geteuid().as_raw() != 0 {
        eprintln!("skipped: the suite needs root");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_berth-spec-tests"))
        .args([
            "--runtime",
            crun,
            "--helper",
            env!("CARGO_BIN_EXE_berth-testhelper"),
            "--jobs",
            "2",
        ])
        .output()
        .expect("run berth-spec-tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().to_string();
    assert!(
        out.status.success() && last.contains(" passed, 0 failed"),
        "suite against crun: {last}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A closing line exactly in the documented form.
    let nums: Vec<&str> = last.split(", ").collect();
    assert_eq!(nums.len(), 3, "closing line {last:?}");
    assert!(
        nums[0].ends_with(" passed")
            && nums[1].ends_with(" failed")
            && nums[2].ends_with(" skipped")
    );
}

#[test]
fn bad_runtime_is_one_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_berth-spec-tests"))
        .args(["--runtime", "/nonexistent/runtime"])
        .output()
        .expect("run berth-spec-tests");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("/nonexistent/runtime") && err.contains("not found"),
        "{err}"
    );
}
