//! create, start, stop, kill, rm, wait: the container's life, driven
//! through berth-shim and the OCI runtime's command line. One file per
//! operation; `exec` sessions live in `super::exec`, the command lines of
//! the runtime and the shim in `super::commands`.
//!
//! ```text
//!  berth start                        berth-shim (daemon)           runtime
//!  ───────────                        ───────────────────           ───────
//!  unshare(NEWNS), mount overlay
//!  fill new volumes from the rootfs
//!  berth-shim create ──────────────▶  RUNTIME create ───────────▶  init waits
//!  ◀─── {"pid":N} ──────────────────
//!  setns back to the host's mounts
//!  lo up in the netns (none)
//!  connect to DIR/shim/attach (if attached: before start, no output lost)
//!  RUNTIME start ─────────────────────────────────────────────▶  exec's the process
//!  pump stdio ◀───── frames ───────▶  output → log + clients
//!                                     init exits → exit file (last)
//!                                     berth internal-exited ──▶ exit::on_exit
//! ```
//!
//! Who calls whom, so that no file imports back the one importing it:
//! `create`; `rootfs` ← `start` ← `stop` ← `remove` ← `exit`.

mod create;
mod exit;
mod remove;
mod rootfs;
mod start;
mod stop;

pub use create::create;
pub use exit::{finish_attached, on_exit, wait};
pub use remove::{prune, reap_auto_removed, remove};
pub use rootfs::with_rootfs;
pub use start::{start, start_as, Attach, Started};
pub use stop::{kill, pause, restart, stop, unpause, update, wait_stopped};

use super::store::Container;
use std::path::Path;

/// A container event for `berth events`, with docker's attributes: name,
/// image and the container's labels.
fn event(root: &Path, c: &Container, action: &str, extra: &[(&str, &str)]) {
    let mut attrs: Vec<(&str, &str)> = vec![("name", &c.name), ("image", &c.image)];
    attrs.extend(c.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    attrs.extend_from_slice(extra);
    crate::events::emit(root, "container", action, &c.id, &attrs);
}
