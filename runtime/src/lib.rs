//! berth-runtime as a library: everything an OCI runtime does, one module per
//! concern. The binary in `main.rs` only parses arguments and calls in here.
//!
//! How `create` and `start` talk to the container's init (one picture, kept true):
//!
//! ```text
//!  create (P, host)                         init (C: clone of P, new namespaces)
//!  ───────────────                          ────────────────────────────────────
//!  mkdir state dir, mkfifo exec.fifo
//!  seal a memfd copy of our own binary
//!  clone(CLONE_NEW*) ─────────────────────▶ [userns] wait for Go
//!  [userns] write uid_map/gid_map
//!  [userns] send Go ──────────────────────▶ fexecve(memfd, "init")   (CVE-2019-5736:
//!  join the cgroup (pid)                      the container can only ever see the
//!  send Config ───────────────────────────▶   sealed copy, never our binary)
//!                                           setns joined namespaces, unshare cgroupns
//!                ◀─────────────────────────  Hook(createRuntime)  (and prestart)
//!  run hooks in the runtime namespace
//!  send HookDone ─────────────────────────▶ sysctl, hostname, mounts, devices,
//!                                           createContainer hooks, pivot_root,
//!                                           console, masked/readonly paths,
//!                                           rlimits, user, capabilities
//!                ◀─────────────────────────  Ready            (or Error{msg})
//!  write state.json + pid file, exit        open(exec.fifo, O_WRONLY): blocks
//!
//!  start (S)
//!  check state is `created`
//!  open(exec.fifo, O_RDONLY|O_NONBLOCK) ──▶ open returns; startContainer hooks;
//!  poll for the byte, watching the init     write(1 byte); seccomp; execve(process)
//!  pid, so a dead init fails fast
//!  unlink exec.fifo; poststart hooks        (status is now `running`)
//! ```
//!
//! A `created` container is one whose init is alive and whose exec.fifo still
//! exists; `running` once the fifo is gone; `stopped` once the init is dead or
//! its pid was reused (the start time we stored no longer matches).

pub mod cgroups;
pub mod config;
pub mod console;
pub mod container;
pub mod fault;
pub mod features;
pub mod hooks;
pub mod idmap;
pub mod init;
pub mod mountattr;
pub mod namespaces;
pub mod netdev;
pub mod process;
pub mod rootfs;
pub mod sched;
pub mod seccomp;
pub mod selfexe;
pub mod signal;
pub mod state;
pub mod sync;
pub mod utils;

pub use container::Error;
