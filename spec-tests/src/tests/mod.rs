//! The test cases, one module per spec area.

pub mod cgroups;
pub mod devices;
pub mod extensions;
pub mod hooks;
pub mod host;
pub mod idmap;
pub mod lifecycle;
pub mod misc;
pub mod mounts;
pub mod namespaces;
pub mod netdev;
pub mod process;
pub mod sched;
pub mod seccomp;

use crate::harness::Case;

pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(lifecycle::cases());
    v.extend(hooks::cases());
    v.extend(namespaces::cases());
    v.extend(mounts::cases());
    v.extend(devices::cases());
    v.extend(process::cases());
    v.extend(cgroups::cases());
    v.extend(seccomp::cases());
    v.extend(misc::cases());
    v.extend(sched::cases());
    v.extend(netdev::cases());
    v.extend(idmap::cases());
    v.extend(extensions::cases());
    v
}
