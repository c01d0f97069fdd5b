//! Named points where a test can have the runtime killed (SIGKILL, as by
//! `kill -9` or the OOM killer) to prove that whatever a dead command left
//! half done, the next ordinary one (`delete --force`, a `create` of the same
//! id) undoes. `BERTH_RUNTIME_FAULT=NAME` kills at the point of that name.
//! The variable is read once per process: a point is then one comparison.

use std::sync::OnceLock;

fn armed_at() -> Option<&'static str> {
    static F: OnceLock<Option<String>> = OnceLock::new();
    F.get_or_init(|| std::env::var("BERTH_RUNTIME_FAULT").ok())
        .as_deref()
}

/// Whether any point is armed (to skip building a point's name).
pub fn armed() -> bool {
    armed_at().is_some()
}

/// Dies by SIGKILL here if `BERTH_RUNTIME_FAULT` names this point.
pub fn point(name: &str) {
    if armed_at() == Some(name) {
        let _ = crate::sys::kill(std::process::id() as i32, libc::SIGKILL);
    }
}
