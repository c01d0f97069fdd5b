//! Named points where a test can have berth killed (SIGKILL, as by `kill -9`
//! or the OOM killer) to prove that whatever a dead berth left half done, the
//! next ordinary command finishes or undoes. `BERTH_FAULT=NAME` kills at the
//! point of that name; without it a point costs one env lookup.

/// Dies by SIGKILL here if `BERTH_FAULT` names this point.
pub fn point(name: &str) {
    if std::env::var_os("BERTH_FAULT").is_some_and(|v| v == name) {
        // SAFETY: kill(2) of ourselves.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}
