//! berth-runtime as a library: everything an OCI runtime does, one module per
//! concern. The binary in `main.rs` only parses arguments and calls in here.
//!
//! How `create` and `start` talk to the container's init (one picture, kept true):
//!
//! ```text
//!  create (P, host)                          child (C) → init (the same process)
//!  ───────────────                           ───────────────────────────────────
//!  check the kernel has openat2
//!  mkdir state dir, mkfifo exec.fifo,
//!  save config.json (and the cgroup record)
//!  make the cgroup, set its resources
//!  [timens] unshare(CLONE_NEWTIME), offsets
//!  clone3(CLONE_NEW* | CLONE_INTO_CGROUP) ─▶ born in the cgroup2 cgroup; write "0"
//!    (plain clone, then a move by pid,         to each v1 `tasks` file P opened
//!     where the kernel has no clone3)          (a thread moving itself skips the
//!                                              kernel's global threadgroup lock)
//!  [userns] write uid_map/gid_map
//!  [userns] send Go ───────────────────────▶ [userns] setresuid/gid(0)
//!                                            own mount ns: bind our binary read-only,
//!                                              execveat it as `init create`
//!                                            else: execveat a sealed memfd copy
//!                                              (CVE-2019-5736: either way the
//!                                              container never reaches our binary)
//!  send Config ────────────────────────────▶ setns joined namespaces
//!                 ◀──────────────────────── [joined pid ns] fork; Pid(child), the
//!  reap the middle process, track the child    middle process exits
//!                                            unshare cgroupns, setsid, keyring,
//!                                            sysctl, hostname, mounts, devices
//!                 ◀──────────────────────── Hooks([prestart, createRuntime])
//!  run them in the runtime's namespaces        (only when the config has some)
//!  send HooksDone(error?) ─────────────────▶ createContainer hooks, pivot_root,
//!                                            console, masked/readonly paths,
//!                                            rlimits, cwd, [seccomp when no nnp],
//!                                            user, capabilities
//!                 ◀──────────────────────── Ready            (or Error{msg})
//!  [run] receive the pty master
//!  write state.json + pid file, exit         open(exec.fifo, O_WRONLY): blocks
//!
//!  start (S)
//!  check state is `created`
//!  open(exec.fifo, O_RDONLY|O_NONBLOCK) ───▶ open returns; startContainer hooks;
//!  poll for the byte, watching the init      write(1 byte); seccomp; execve(process)
//!  pid, so a dead init fails fast
//!  unlink exec.fifo; [poststart hooks: wait  (status is now `running`)
//!  for the fifo's EOF, the init's execve]
//! ```
//!
//! `exec` takes the same spawn path (`container/spawn.rs`) with less: it
//! enters the container's pid and time namespaces itself, clones into the
//! cgroup, and its child joins the other namespaces, then execveats a sealed
//! memfd copy made by the parent as `init exec`; that init sets the process up and sends
//! Ready, and its execve closes the channel (close-on-exec), which the parent
//! reads as "the program runs".
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
pub mod sys;
pub mod utils;

pub use container::Error;
