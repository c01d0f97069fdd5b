//! The system calls that neither std nor nix wraps: clone3 with
//! CLONE_INTO_CGROUP, seccomp (filters, listeners, probes), bpf, keyctl,
//! ioprio, the tty ioctls, rt_sigaction, close_range, setdomainname, the
//! kernel's own getcwd, the new mount API (open_tree, move_mount,
//! mount_setattr), sched_setattr, sched_setaffinity of any length,
//! set_mempolicy; and the steps that must take ownership of a raw fd
//! (SCM_RIGHTS) or run code between fork and exec. Each is the one `unsafe`
//! block it needs, with the reason it is sound; every other call in the
//! runtime goes through nix or std. Outside this file only the init holds
//! `unsafe`: adopting the fds its runtime passed it, and its fork into a
//! joined pid namespace.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// struct clone_args of clone3(2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// clone3 with `flags` into the cgroup2 directory `cgroup`, as fork does
/// otherwise: the pid in the parent, 0 in the child.
pub fn clone3_into_cgroup(flags: i32, cgroup: BorrowedFd) -> io::Result<i32> {
    let args = CloneArgs {
        flags: flags as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: args is a valid clone_args of the size given, with no stack
    // (the child runs on a copy of ours, as after fork) and no pointers out.
    let pid = check(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    })?;
    Ok(pid as i32)
}

/// clone(2) with `flags` and no new stack: fork with new namespaces.
pub fn clone(flags: i32) -> io::Result<i32> {
    // SAFETY: no stack, tid or tls pointers: the child continues on a copy
    // of our stack exactly as after fork.
    let pid = check(unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    })?;
    Ok(pid as i32)
}

/// seccomp(SECCOMP_SET_MODE_FILTER) of `insns`: 0, or with
/// SECCOMP_FILTER_FLAG_TSYNC the id of a thread that could not be synced.
/// Makes no allocation, so it may run between fork and exec.
pub fn seccomp_set_mode_filter(insns: &[libc::sock_filter], flags: u32) -> io::Result<i64> {
    let prog = libc::sock_fprog {
        len: insns.len() as libc::c_ushort,
        filter: insns.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at `insns`, which outlive the call; the kernel
    // copies the filter and never writes through the pointer.
    check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flags as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    })
}

/// union bpf_attr for BPF_PROG_LOAD, up to expected_attach_type.
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// union bpf_attr for BPF_PROG_ATTACH.
#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;

/// A program to load with bpf(BPF_PROG_LOAD).
pub struct BpfProgram<'a> {
    pub prog_type: u32,
    pub expected_attach_type: u32,
    /// The instructions, 8 bytes each, as the kernel reads them.
    pub insns: &'a [u64],
    pub license: &'a CStr,
    pub name: [u8; 16],
}

/// Loads `p`; the verifier's log goes to `log` (NUL-terminated).
pub fn bpf_prog_load(p: &BpfProgram, log: &mut [u8]) -> io::Result<OwnedFd> {
    let attr = ProgLoad {
        prog_type: p.prog_type,
        insn_cnt: p.insns.len() as u32,
        insns: p.insns.as_ptr() as u64,
        license: p.license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        kern_version: 0,
        prog_flags: 0,
        prog_name: p.name,
        prog_ifindex: 0,
        expected_attach_type: p.expected_attach_type,
    };
    // SAFETY: every pointer in attr (instructions, license, log) is into a
    // live borrow of the size given; the kernel writes only into `log`.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    })?;
    // SAFETY: a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// bpf(BPF_PROG_ATTACH) of `prog` to `target` (a cgroup directory).
pub fn bpf_prog_attach(
    target: BorrowedFd,
    prog: BorrowedFd,
    attach_type: u32,
    flags: u32,
) -> io::Result<()> {
    let attr = ProgAttach {
        target_fd: target.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
        replace_bpf_fd: 0,
    };
    // SAFETY: attr holds only numbers, and is of the size given.
    check(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttach,
            std::mem::size_of::<ProgAttach>(),
        )
    })?;
    Ok(())
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a new session keyring.
pub fn join_session_keyring(name: &CStr) -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: name is a valid C string for the whole call.
    check(unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) })?;
    Ok(())
}

/// ioprio_set(IOPRIO_WHO_PROCESS, self, value).
pub fn ioprio_set_self(value: i32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    // SAFETY: numbers only.
    check(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) })?;
    Ok(())
}

/// ioctl(TIOCGPTPEER): the slave of this very pty master, opened without a
/// path lookup that could be raced.
pub fn open_pty_peer(master: BorrowedFd) -> io::Result<OwnedFd> {
    const TIOCGPTPEER: libc::Ioctl = 0x5441;
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes its flags by value and returns a new fd.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), TIOCGPTPEER, flags) };
    check(fd as libc::c_long)?;
    // SAFETY: a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// ioctl(TIOCSPTLCK) with 0: unlockpt(3) of a pty master.
pub fn unlock_pty(master: BorrowedFd) -> io::Result<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from &unlock.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } as libc::c_long)?;
    Ok(())
}

/// ioctl(TIOCGPTN): the number of a pty master's slave in its devpts.
pub fn pty_number(master: BorrowedFd) -> io::Result<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int into n.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } as libc::c_long)?;
    Ok(n)
}

/// ioctl(TIOCSCTTY): `tty` becomes our controlling terminal.
pub fn set_controlling_tty(tty: BorrowedFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int by value.
    check(unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) } as libc::c_long)?;
    Ok(())
}

/// ioctl(TIOCSWINSZ).
pub fn set_window_size(tty: BorrowedFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from &ws.
    check(unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) } as libc::c_long)?;
    Ok(())
}

/// ioctl(TIOCGWINSZ): (rows, columns).
pub fn window_size(tty: BorrowedFd) -> io::Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into ws.
    check(unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } as libc::c_long)?;
    Ok((ws.ws_row, ws.ws_col))
}

/// Sets signal `sig` back to its default action with the raw rt_sigaction:
/// libc refuses the signals it reserves for itself (32-34 on musl), yet a
/// caller may have left them ignored.
pub fn default_signal_action(sig: i32) -> io::Result<()> {
    // The kernel's struct sigaction for rt_sigaction(2).
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: a valid kernel sigaction of the size the kernel expects (the
    // 8-byte mask), no old action asked for; SIG_DFL runs no code of ours.
    check(unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &dfl as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            8,
        )
    })?;
    Ok(())
}

/// close_range(first, ~0, CLOSE_RANGE_CLOEXEC): every fd from `first` up
/// becomes close-on-exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: numbers only; no fd is closed, only marked.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) })?;
    Ok(())
}

/// setdomainname(2).
pub fn setdomainname(name: &[u8]) -> io::Result<()> {
    // SAFETY: the kernel reads exactly name.len() bytes from name.
    check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } as libc::c_long)?;
    Ok(())
}

/// The kernel's getcwd into `buf`, without libc's rewriting: a cwd the root
/// cannot reach comes back as "(unreachable)/...", which libc turns into
/// ENOENT. The length written, or the error.
pub fn kernel_getcwd(buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    let n = check(unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) })?;
    Ok(n as usize)
}

/// _exit(2): ends a forked child at once, running nothing of the parent's
/// (no atexit handlers, no buffered output flushed twice).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and never returns.
    unsafe { libc::_exit(code) }
}

/// kill(2) with any signal number: nix's `Signal` has no real-time
/// signals, which `kill` and `--all` must pass on too.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: numbers only.
    check(unsafe { libc::kill(pid, sig) } as libc::c_long)?;
    Ok(())
}

/// Installs `handler` for `sig`. The handler runs at any point of the
/// program: it must only do what is async-signal-safe (atomics, kill).
pub fn on_signal(sig: i32, handler: extern "C" fn(libc::c_int)) -> io::Result<()> {
    // SAFETY: a plain function pointer as the handler; what it may do is
    // the caller's contract above.
    let r = unsafe { libc::signal(sig, handler as *const () as libc::sighandler_t) };
    if r == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// seccomp(SECCOMP_SET_MODE_FILTER) of `insns` with `flags` and
/// SECCOMP_FILTER_FLAG_NEW_LISTENER: the filter's listener fd.
pub fn seccomp_new_listener(insns: &[libc::sock_filter], flags: u32) -> io::Result<OwnedFd> {
    const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 8;
    let fd = seccomp_set_mode_filter(insns, flags | SECCOMP_FILTER_FLAG_NEW_LISTENER)?;
    // SAFETY: with NEW_LISTENER a successful call returns a new fd that
    // nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, NULL): the kernel checks the
/// flags before it reads the program, so EFAULT means it knows them all
/// (EINVAL that it does not); nothing is ever installed.
pub fn seccomp_probe_filter_flags(flags: u32) -> io::Result<()> {
    // SAFETY: a null program: the kernel fails before installing anything.
    check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flags as libc::c_ulong,
            std::ptr::null::<libc::sock_fprog>(),
        )
    })?;
    Ok(())
}

/// seccomp(SECCOMP_GET_ACTION_AVAIL): whether the kernel takes `action`.
pub fn seccomp_action_available(action: u32) -> io::Result<()> {
    const SECCOMP_GET_ACTION_AVAIL: libc::c_ulong = 2;
    // SAFETY: the kernel reads one u32 from a pointer to a live local.
    check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        )
    })?;
    Ok(())
}

/// recvmsg(2) of one message into `buf` with MSG_CMSG_CLOEXEC: the first
/// fd it carried with SCM_RIGHTS (None if it carried none).
pub fn recv_fd(sock: BorrowedFd, buf: &mut [u8]) -> io::Result<Option<OwnedFd>> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut iov = [io::IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: SCM_RIGHTS installed this fd in our table just now:
                // nothing else owns it.
                return Ok(Some(unsafe { OwnedFd::from_raw_fd(*fd) }));
            }
        }
    }
    Ok(None)
}

/// `struct mount_attr` of linux/mount.h (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

/// mount_setattr(fd, "", AT_EMPTY_PATH | flags, attr): on the mount `fd`
/// names, or with None on fd -1, which fails (EBADF) before any effect.
pub fn mount_setattr(fd: Option<BorrowedFd>, attr: &MountAttr, flags: u32) -> io::Result<()> {
    // SAFETY: the path is a static empty C string, `attr` points to a live
    // struct of the size we pass, and the kernel only reads it.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.map_or(-1, |f| f.as_raw_fd()),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as u32 | flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(())
}

/// open_tree(AT_FDCWD, path, flags): with OPEN_TREE_CLONE a detached copy
/// of the mount tree at `path`.
pub fn open_tree(path: &CStr, flags: u32) -> io::Result<OwnedFd> {
    // SAFETY: a valid C path for the whole call.
    let fd =
        check(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) })?;
    // SAFETY: a new fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// move_mount(from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH |
/// MOVE_MOUNT_T_EMPTY_PATH): the mount `from` names onto `to`.
pub fn move_mount_fds(from: BorrowedFd, to: BorrowedFd) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
    // SAFETY: both fds are live; the empty paths are static C strings, which
    // with the EMPTY_PATH flags name the fds themselves.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })?;
    Ok(())
}

/// `struct sched_attr` of linux/sched/types.h (SCHED_ATTR_SIZE_VER1).
#[repr(C)]
#[derive(Default, Debug)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    pub util_min: u32,
    pub util_max: u32,
}

/// sched_setattr(2) on the calling thread.
pub fn sched_setattr_self(attr: &SchedAttr) -> io::Result<()> {
    // SAFETY: attr is a live sched_attr whose size field says how much the
    // kernel may read; pid 0 is the caller.
    check(unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *const SchedAttr, 0) })?;
    Ok(())
}

/// sched_setaffinity(2) of the calling thread to the CPUs whose bits are
/// set in `mask`. Not nix's: its CpuSet stops at CPU 1023, and the kernel
/// takes a mask of any length.
pub fn sched_setaffinity_self(mask: &[u64]) -> io::Result<()> {
    // SAFETY: the kernel reads mask.len() * 8 bytes of a live buffer; pid 0
    // is the caller.
    check(unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            0,
            std::mem::size_of_val(mask),
            mask.as_ptr(),
        )
    })?;
    Ok(())
}

/// set_mempolicy(2) with `mode` and the NUMA nodes whose bits are set in
/// `nodes` (none: a null mask).
pub fn set_mempolicy(mode: i32, nodes: &[u64]) -> io::Result<()> {
    let (ptr, maxnode) = if nodes.is_empty() {
        (std::ptr::null(), 0)
    } else {
        // The kernel counts one bit less than it is told (a historic
        // off-by-one every caller makes up for).
        (nodes.as_ptr(), nodes.len() * 64 + 1)
    };
    // SAFETY: the kernel reads maxnode-1 bits of a live buffer (or none).
    check(unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) })?;
    Ok(())
}

/// fork(2) of a child that unshares a user namespace and holds it: it
/// writes one byte to `ready` (1 if the unshare worked, 0 if not), then
/// waits until `go` reaches end of file and exits. `close` are the fds it
/// must not keep (the other ends of the two pipes). The child's pid.
pub fn fork_userns_holder(
    ready: BorrowedFd,
    go: BorrowedFd,
    close: [BorrowedFd; 2],
) -> io::Result<i32> {
    // SAFETY: the child calls only async-signal-safe functions on fds it
    // inherited, then _exit: it never returns into Rust code that could
    // touch state another thread of the parent held at the fork.
    let pid = check(unsafe { libc::fork() } as libc::c_long)? as i32;
    if pid == 0 {
        // SAFETY: as above: raw calls on inherited fds and a local byte.
        unsafe {
            for fd in close {
                libc::close(fd.as_raw_fd());
            }
            let ok = libc::unshare(libc::CLONE_NEWUSER) == 0;
            libc::write(ready.as_raw_fd(), [u8::from(ok)].as_ptr().cast(), 1);
            let mut b = [0u8; 1];
            // Returns at end of file: the parent closed its end or died.
            libc::read(go.as_raw_fd(), b.as_mut_ptr().cast(), 1);
            libc::_exit(0);
        }
    }
    Ok(pid)
}

/// Makes the child `cmd` spawns die (SIGKILL) when this process does: its
/// parent-death signal is set between fork and exec, and a child whose
/// parent died before that exits at once (nobody is left to notice it).
pub fn die_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as i32;
    // SAFETY: what runs between fork and exec here only makes system calls
    // (prctl, getppid, _exit): no allocation, no lock.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            if nix::unistd::getppid().as_raw() != parent {
                exit_now(1);
            }
            Ok(())
        })
    };
}
