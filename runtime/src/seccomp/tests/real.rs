//! Real behaviour: each filter installed in a forked child that then
//! issues the syscalls.

use super::*;
use serde_json::json;

#[derive(Clone, Copy)]
enum Probe {
    /// A native x86_64 syscall.
    Sys(libc::c_long, [u64; 6]),
    /// An i386 syscall through `int 0x80`, with one argument.
    Int80(u32, u32),
}

#[derive(Debug)]
struct ChildEnd {
    /// Per probe: the return value, or -errno.
    results: Vec<i64>,
    signal: Option<i32>,
    code: Option<i32>,
}

fn sys(nr: libc::c_long, args: &[u64]) -> Probe {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    Probe::Sys(nr, a)
}

fn int80(nr: u32, arg: u32) -> i64 {
    let ret: u32;
    // SAFETY: a plain i386 syscall; rbx is reserved by LLVM, so it is swapped in and out, and
    // the kernel zeroes r8-r11 on this path.
    unsafe {
        std::arch::asm!(
            "xchg {a:r}, rbx",
            "int 0x80",
            "xchg {a:r}, rbx",
            a = inout(reg) arg as u64 => _,
            inlateout("eax") nr => ret,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    ret as i32 as i64
}

/// Forks; the child sets no_new_privs, installs `prog` (if any), runs the probes and writes
/// each result to a pipe. The child neither allocates nor unwinds: the test harness has threads.
fn run_in_child(prog: Option<&Program>, probes: &[Probe]) -> ChildEnd {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (r, w) = (fds[0], fds[1]);
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        unsafe {
            if let Some(p) = prog {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || install(p).is_err() {
                    libc::_exit(100);
                }
            }
            for probe in probes {
                let v: i64 = match *probe {
                    Probe::Sys(nr, a) => {
                        let rc = libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
                        if rc == -1 {
                            -(*libc::__errno_location() as i64)
                        } else {
                            rc
                        }
                    }
                    Probe::Int80(nr, arg) => int80(nr, arg),
                };
                if libc::write(w, &v as *const i64 as *const libc::c_void, 8) != 8 {
                    libc::_exit(101);
                }
            }
            libc::_exit(0);
        }
    }
    unsafe { libc::close(w) };
    let mut out = Vec::new();
    let mut buf = [0u8; 8];
    loop {
        let n = unsafe { libc::read(r, buf.as_mut_ptr() as *mut libc::c_void, 8) };
        if n != 8 {
            break;
        }
        out.push(i64::from_ne_bytes(buf));
    }
    unsafe { libc::close(r) };
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    ChildEnd {
        results: out,
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
    }
}

/// The child must exit normally; returns its results.
fn results(prog: &Program, probes: &[Probe]) -> Vec<i64> {
    let end = run_in_child(Some(prog), probes);
    assert_eq!(end.code, Some(0), "child did not finish: {end:?}");
    end.results
}

const E: fn(i32) -> i64 = |e| -(e as i64);

#[test]
fn real_allow_eperm_enosys_errnoret_default_and_unknown_name() {
    let _ = env_logger::builder().is_test(true).try_init();
    let allow = json!(["write", "exit_group", "exit", "getpid", "no_such_syscall"]);
    let p = compile(&profile(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": allow, "action": "SCMP_ACT_ALLOW"},
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["getuid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99}]}),
    ))
    .unwrap();
    let probes = [
        sys(libc::SYS_getpid, &[]),
        sys(libc::SYS_getppid, &[]),
        sys(libc::SYS_getuid, &[]),
        sys(libc::SYS_getgid, &[]),
    ];
    let r = results(&p, &probes);
    assert!(r[0] > 0, "getpid allowed: {r:?}");
    assert_eq!(r[1..], [E(libc::ENOSYS), E(99), E(libc::EPERM)], "{r:?}");

    let p = compile(&profile(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]}),
    ))
    .unwrap();
    let r = results(&p, &probes);
    assert!(r[0] > 0);
    assert_eq!(r[1..], [E(libc::ENOSYS); 3], "defaultErrnoRet: {r:?}");
}

#[test]
fn real_argument_operators_and_masked_eq_order() {
    // Each operator guards a syscall that fails harmlessly on fd -1; a matching rule shows as
    // its own errno, anything else as what the kernel answers without a filter.
    let neg1 = u64::MAX;
    let big = 0x1_0000_0005u64;
    let rules = json!([
        {"names": ["fchmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70,
         "args": [{"index": 1, "value": big, "op": "SCMP_CMP_NE"}]},
        {"names": ["fcntl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 71,
         "args": [{"index": 1, "value": big, "op": "SCMP_CMP_LT"}]},
        {"names": ["lseek"], "action": "SCMP_ACT_ERRNO", "errnoRet": 72,
         "args": [{"index": 1, "value": big, "op": "SCMP_CMP_LE"}]},
        {"names": ["dup2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 73,
         "args": [{"index": 1, "value": big, "op": "SCMP_CMP_EQ"}]},
        {"names": ["flock"], "action": "SCMP_ACT_ERRNO", "errnoRet": 74,
         "args": [{"index": 1, "value": big, "op": "SCMP_CMP_GE"}]},
        {"names": ["fchown"], "action": "SCMP_ACT_ERRNO", "errnoRet": 75,
         "args": [{"index": 2, "value": big, "op": "SCMP_CMP_GT"}]},
        // runc's order: value is the mask, valueTwo the datum.
        {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 76,
         "args": [{"index": 1, "value": 0xffff_0000_0000_00f0u64, "valueTwo": 0x0001_0000_0000_0010u64,
                   "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77,
         "args": [{"index": 0, "value": 99, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 7, "op": "SCMP_CMP_EQ"}]},
        {"names": ["fstatfs"], "action": "SCMP_ACT_ERRNO", "errnoRet": 78,
         "args": [{"index": 0, "value": 1000, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 1001, "op": "SCMP_CMP_EQ"}]}
    ]);
    let p = compile(&profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}),
    ))
    .unwrap();

    let values = [
        0,
        4,
        5,
        6,
        big - 1,
        big,
        big + 1,
        0x2_0000_0000,
        0x2_0000_0005,
        u64::MAX,
        0xffff_ffff,
    ];
    type Expect = fn(u64) -> bool;
    let cases: [(libc::c_long, usize, i64, Expect); 6] = [
        (libc::SYS_fchmod, 1, 70, |v| v != 0x1_0000_0005),
        (libc::SYS_fcntl, 1, 71, |v| v < 0x1_0000_0005),
        (libc::SYS_lseek, 1, 72, |v| v <= 0x1_0000_0005),
        (libc::SYS_dup2, 1, 73, |v| v == 0x1_0000_0005),
        (libc::SYS_flock, 1, 74, |v| v >= 0x1_0000_0005),
        (libc::SYS_fchown, 2, 75, |v| v > 0x1_0000_0005),
    ];
    let mut probes = Vec::new();
    let mut expect: Vec<Option<i64>> = Vec::new();
    for (nr, index, custom, holds) in cases {
        for v in values {
            let mut a = [neg1, 0, 0, 0, 0, 0];
            a[index] = v;
            probes.push(Probe::Sys(nr, a));
            expect.push(holds(v).then_some(-custom));
        }
    }
    let masked = [
        (0x0001_0000_0000_0013u64, true),
        (0x0001_0000_0000_0010, true),
        (0x0001_ffff_0000_001f, true),
        (0x0000_0000_0000_0010, false),
        (0x0001_0000_0000_0020, false),
        (0x0002_0000_0000_0010, false),
        (0xffff_0000_0000_00f0, false),
    ];
    for (v, holds) in masked {
        probes.push(sys(libc::SYS_ioctl, &[neg1, v]));
        expect.push(holds.then_some(-76));
    }
    for (a0, a1, holds) in [(99, 7, true), (99, 8, false), (98, 7, false)] {
        probes.push(sys(libc::SYS_getpriority, &[a0, a1]));
        expect.push(holds.then_some(-77));
    }
    for (a0, holds) in [(1000, true), (1001, true), (1002, false)] {
        probes.push(sys(libc::SYS_fstatfs, &[a0, 0]));
        expect.push(holds.then_some(-78));
    }

    let baseline = run_in_child(None, &probes);
    assert_eq!(baseline.code, Some(0));
    let filtered = results(&p, &probes);
    for (i, want) in expect.iter().enumerate() {
        let want = want.unwrap_or(baseline.results[i]);
        let b = baseline.results[i];
        assert!(!(-78..=-70).contains(&b), "probe {i} without a filter: {b}");
        assert_eq!(
            filtered[i],
            want,
            "probe {i}: {:?}",
            match probes[i] {
                Probe::Sys(nr, a) => (nr, a),
                Probe::Int80(..) => unreachable!(),
            }
        );
    }
}

#[test]
fn real_kill_actions_end_the_child_with_sigsys() {
    for action in [
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
    ] {
        let p = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": action}]})))
        .unwrap();
        let end = run_in_child(
            Some(&p),
            &[sys(libc::SYS_getpid, &[]), sys(libc::SYS_getppid, &[])],
        );
        assert_eq!(end.signal, Some(libc::SIGSYS), "{action}: {end:?}");
        assert_eq!(
            end.results.len(),
            1,
            "{action}: getpid ran, getppid did not return"
        );
    }
    // Default action KILL_PROCESS with an allow list.
    let p = compile(&profile(
        json!({"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [
        {"names": ["write", "exit_group", "getpid"], "action": "SCMP_ACT_ALLOW"}]}),
    ))
    .unwrap();
    let end = run_in_child(
        Some(&p),
        &[sys(libc::SYS_getpid, &[]), sys(libc::SYS_getuid, &[])],
    );
    assert_eq!(end.signal, Some(libc::SIGSYS), "{end:?}");
    assert_eq!(end.results.len(), 1);
}

#[test]
fn real_log_trace_and_flags() {
    let p = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_LOG"},
                     {"names": ["getuid"], "action": "SCMP_ACT_TRACE"}]})))
    .unwrap();
    let r = results(
        &p,
        &[sys(libc::SYS_getppid, &[]), sys(libc::SYS_getuid, &[])],
    );
    assert!(r[0] > 0, "LOG lets the syscall run: {r:?}");
    // Without a tracer the kernel fails a SECCOMP_RET_TRACE syscall with ENOSYS.
    assert_eq!(r[1], E(libc::ENOSYS));
}

#[test]
fn real_i386_and_x32_abis() {
    const I386_GETPID: u32 = 20;
    const I386_GETPPID: u32 = 64;
    let getpid_x32 = (X32_SYSCALL_BIT as libc::c_long) | libc::SYS_getpid;
    let rules = json!([{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 80}]);

    // Only the native ABI filtered: i386 and x32 syscalls are a bad arch, KILL_THREAD.
    let native = compile(&profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}),
    ))
    .unwrap();
    let end = run_in_child(
        Some(&native),
        &[sys(libc::SYS_getppid, &[]), Probe::Int80(I386_GETPPID, 0)],
    );
    assert_eq!(
        (end.signal, end.results.len()),
        (Some(libc::SIGSYS), 1),
        "i386: {end:?}"
    );
    let end = run_in_child(
        Some(&native),
        &[sys(libc::SYS_getppid, &[]), sys(getpid_x32, &[])],
    );
    assert_eq!(
        (end.signal, end.results.len()),
        (Some(libc::SIGSYS), 1),
        "x32: {end:?}"
    );
    // nr -1 is not an x32 syscall: it gets the default action.
    let r = results(&native, &[sys(-1, &[])]);
    assert_eq!(r, [E(libc::ENOSYS)]);

    let all = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": rules})))
    .unwrap();
    let r = results(
        &all,
        &[
            sys(libc::SYS_getpid, &[]),
            Probe::Int80(I386_GETPID, 0),
            Probe::Int80(I386_GETPPID, 0),
            sys(getpid_x32, &[]),
        ],
    );
    assert_eq!(r[0], E(80), "{r:?}");
    assert_eq!(r[1], E(80), "{r:?}");
    assert!(r[2] > 0, "{r:?}");
    assert_eq!(r[3], E(80), "{r:?}");
}

#[test]
fn real_podman_profile() {
    let Some(p) = podman_profile() else {
        eprintln!("skipped: {PODMAN_PROFILE} missing (Debian package containers-common)");
        return;
    };
    let prog = compile(&p).unwrap();
    let probes = [
        sys(libc::SYS_getpid, &[]),
        sys(libc::SYS_kexec_load, &[]),
        sys(libc::SYS_afs_syscall, &[]),
        sys(libc::SYS_bpf, &[u64::MAX]),
        sys(libc::SYS_personality, &[0xffff_ffff]),
        sys(libc::SYS_personality, &[0x0040_0000]),
        sys(
            libc::SYS_socket,
            &[libc::AF_NETLINK as u64, libc::SOCK_RAW as u64, 9],
        ),
        sys(
            libc::SYS_socket,
            &[libc::AF_UNIX as u64, libc::SOCK_STREAM as u64, 0],
        ),
        sys(libc::SYS_clone3, &[0, 0]),
        Probe::Int80(20, 0),
    ];
    let r = results(&prog, &probes);
    assert!(r[0] > 0, "{r:?}");
    assert_eq!(r[1], E(libc::EPERM), "kexec_load: {r:?}");
    assert_eq!(r[2], E(libc::ENOSYS), "afs_syscall: {r:?}");
    assert_eq!(r[3], E(libc::EPERM), "bpf: {r:?}");
    assert!(r[4] >= 0, "personality query: {r:?}");
    assert_eq!(
        r[5],
        E(libc::ENOSYS),
        "personality(READ_IMPLIES_EXEC): {r:?}"
    );
    assert_eq!(r[6], E(libc::EINVAL), "audit socket: {r:?}");
    assert!(r[7] >= 0, "unix socket: {r:?}");
    // clone3 is allowed by this profile: the kernel sees the bad size.
    assert_eq!(r[8], E(libc::EINVAL), "clone3: {r:?}");
    assert!(r[9] > 0, "i386 getpid: {r:?}");
}
