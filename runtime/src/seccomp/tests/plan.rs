//! Generated programs checked by a BPF interpreter against the plan they
//! were compiled from, and the profiles podman and docker hand us.

use super::*;
use serde_json::{json, Value};
use std::time::Instant;

#[test]
fn table_lookup() {
    assert_eq!(resolve("read"), Some([0, 3, X32_SYSCALL_BIT]));
    assert_eq!(
        resolve("socketcall"),
        Some([tables::NONE, 102, tables::NONE])
    );
    assert_eq!(resolve("no_such_syscall"), None);
    assert_eq!(resolve(""), None);
    for row in tables::SYSCALLS {
        assert_eq!(fnv1a(row.1), row.0, "{}", row.1);
        assert_eq!(resolve(row.1), Some(row.2));
    }
    assert!(tables::SYSCALLS.windows(2).all(|w| w[0].0 <= w[1].0));
}

/// A classic BPF interpreter for the instructions we emit; panics on anything else, on
/// out-of-range jumps and on falling off the end, so codegen bugs cannot go unnoticed.
fn interpret(prog: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u32; 16];
    data[0] = nr;
    data[1] = arch;
    for (i, a) in args.iter().enumerate() {
        data[4 + 2 * i] = *a as u32;
        data[5 + 2 * i] = (*a >> 32) as u32;
    }
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let i = prog[pc];
        pc += 1;
        let jump = |cond: bool| if cond { i.jt as usize } else { i.jf as usize };
        match i.code {
            BPF_LD_W_ABS => {
                assert!(i.k.is_multiple_of(4) && i.k < 64, "bad load offset {}", i.k);
                acc = data[i.k as usize / 4];
            }
            BPF_ALU_AND_K => acc &= i.k,
            BPF_JA => pc += i.k as usize,
            BPF_JEQ_K => pc += jump(acc == i.k),
            BPF_JGT_K => pc += jump(acc > i.k),
            BPF_JGE_K => pc += jump(acc >= i.k),
            BPF_RET_K => return i.k,
            other => panic!("unexpected opcode {other:#x}"),
        }
        assert!(pc < prog.len(), "jump past the end of the program");
    }
}

impl Cond {
    fn holds(&self, arg: u64) -> bool {
        use LinuxSeccompOperator::*;
        let v = self.value;
        match self.op {
            ScmpCmpEq => arg == v,
            ScmpCmpNe => arg != v,
            ScmpCmpLt => arg < v,
            ScmpCmpLe => arg <= v,
            ScmpCmpGe => arg >= v,
            ScmpCmpGt => arg > v,
            ScmpCmpMaskedEq => arg & v == self.value_two,
        }
    }
}

impl Plan {
    /// What the filter must return, computed from the plan without any BPF.
    fn expect(&self, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let (domain, args) = match arch {
            AUDIT_ARCH_X86_64 => {
                if !self.with_x32 && nr >= X32_SYSCALL_BIT && nr != u32::MAX {
                    return RET_KILL_THREAD;
                }
                (&self.x86_64, args)
            }
            AUDIT_ARCH_I386 => match &self.i386 {
                Some(d) => (d, args.map(|a| a & 0xffff_ffff)),
                None => return RET_KILL_THREAD,
            },
            _ => return RET_KILL_THREAD,
        };
        match domain.syscalls.get(&nr) {
            None => self.default,
            Some(Syscall::Always(a)) => *a,
            Some(Syscall::Conditional(rules)) => {
                let mut order: Vec<&Rule> = rules.iter().collect();
                order.sort_by_key(|r| std::cmp::Reverse(r.conds[0].index));
                order
                    .iter()
                    .find(|r| r.conds.iter().all(|c| c.holds(args[c.index as usize])))
                    .map_or(self.default, |r| r.action)
            }
        }
    }
}

/// Tiny deterministic generator, so failures reproduce.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 ^ (self.0 >> 29)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Values around the interesting edges of a datum: equal, ±1, other high word.
fn probes_around(v: u64) -> [u64; 7] {
    [
        v,
        v.wrapping_add(1),
        v.wrapping_sub(1),
        v ^ 0x1_0000_0000,
        v & 0xffff_ffff,
        v | 0xffff_ffff_0000_0000,
        0,
    ]
}

fn check_against_plan(s: &LinuxSeccomp, seed: u64) -> usize {
    let plan = Plan::new(s).unwrap();
    let prog = plan.emit();
    let mut rng = Lcg(seed);
    let mut checked = 0;
    let mut check = |arch: u32, nr: u32, args: [u64; 6]| {
        assert_eq!(
            interpret(&prog, arch, nr, args),
            plan.expect(arch, nr, args),
            "arch {arch:#x} nr {nr:#x} args {args:x?}"
        );
        checked += 1;
    };
    let domains = [
        (AUDIT_ARCH_X86_64, &plan.x86_64),
        (AUDIT_ARCH_I386, plan.i386.as_ref().unwrap_or(&plan.x86_64)),
    ];
    for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, 0xc000_00b7] {
        for nr in (0..1100).chain(X32_SYSCALL_BIT..X32_SYSCALL_BIT + 1100) {
            check(arch, nr, [0; 6]);
        }
        for nr in [X32_SYSCALL_BIT - 1, u32::MAX, u32::MAX - 1, 0x8000_0000] {
            check(arch, nr, [0; 6]);
        }
    }
    for (arch, domain) in domains {
        for (&nr, sc) in &domain.syscalls {
            let Syscall::Conditional(rules) = sc else {
                continue;
            };
            for rule in rules {
                for c in &rule.conds {
                    for p in probes_around(c.value)
                        .into_iter()
                        .chain(probes_around(c.value_two))
                    {
                        let mut args = [0u64; 6];
                        for a in &mut args {
                            *a = rng.next();
                        }
                        check(arch, nr, args);
                        args[c.index as usize] = p;
                        check(arch, nr, args);
                        // Make every other condition of the rule hold, when that is easy.
                        for o in &rule.conds {
                            if o.index != c.index && matches!(o.op, LinuxSeccompOperator::ScmpCmpEq)
                            {
                                args[o.index as usize] = o.value;
                            }
                        }
                        check(arch, nr, args);
                    }
                }
            }
        }
    }
    checked
}

#[test]
fn podman_profile_compiles_small_and_fast() {
    let Some(p) = podman_profile() else {
        eprintln!("skipped: {PODMAN_PROFILE} missing (Debian package containers-common)");
        return;
    };
    let start = Instant::now();
    let prog = compile(&p).unwrap();
    let took = start.elapsed();
    eprintln!("podman profile: {} instructions in {took:?}", prog.len());
    assert!(prog.len() <= BPF_MAXINSNS);
    // Generous for unoptimized builds; release takes a few tens of microseconds.
    assert!(took.as_millis() < 100, "compiling took {took:?}");
    let plan = Plan::new(&p).unwrap();
    let read = nr(0, "read").unwrap();
    assert_eq!(plan.expect(AUDIT_ARCH_X86_64, read, [0; 6]), RET_ALLOW);
    // Names only the i386 ABI has are resolved there, not dropped.
    let socketcall = nr(1, "socketcall").unwrap();
    assert_eq!(plan.expect(AUDIT_ARCH_I386, socketcall, [0; 6]), RET_ALLOW);
    // Without CAP_SYS_ADMIN, bpf gets podman's EPERM entry, not the default ENOSYS.
    let bpf = nr(0, "bpf").unwrap();
    assert_eq!(
        plan.expect(AUDIT_ARCH_X86_64, bpf, [0; 6]),
        errno(libc::EPERM)
    );
    let kexec = nr(0, "kexec_load").unwrap();
    assert_eq!(
        plan.expect(AUDIT_ARCH_X86_64, kexec, [0; 6]),
        errno(libc::EPERM)
    );
    let afs = nr(0, "afs_syscall").unwrap();
    assert_eq!(
        plan.expect(AUDIT_ARCH_X86_64, afs, [0; 6]),
        errno(libc::ENOSYS)
    );
    let checked = check_against_plan(&p, 1);
    eprintln!("podman profile: {checked} inputs agree with the plan");
}

#[test]
fn whole_podman_file_compiles_ignoring_includes() {
    // Every entry at once, including those for other arches and capabilities: the
    // largest program these files can produce must still fit.
    let Ok(text) = std::fs::read_to_string(PODMAN_PROFILE) else {
        return;
    };
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["architectures"] = json!([
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64"
    ]);
    for sc in v["syscalls"].as_array_mut().unwrap() {
        sc.as_object_mut().unwrap().retain(|_, v| !v.is_null());
    }
    let p = profile(v);
    let prog = compile(&p).unwrap();
    assert!(prog.len() <= BPF_MAXINSNS, "{}", prog.len());
    check_against_plan(&p, 2);
}

#[test]
fn docker_like_profile_compiles() {
    let Some(p) = docker_like_profile() else {
        return;
    };
    let prog = compile(&p).unwrap();
    assert!(prog.len() <= BPF_MAXINSNS);
    let plan = Plan::new(&p).unwrap();
    let clone = nr(0, "clone").unwrap();
    let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
    assert_eq!(
        plan.expect(AUDIT_ARCH_X86_64, clone, [thread, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    let newns = libc::CLONE_NEWNS as u64;
    assert_eq!(
        plan.expect(AUDIT_ARCH_X86_64, clone, [newns, 0, 0, 0, 0, 0]),
        errno(libc::EPERM)
    );
    check_against_plan(&p, 3);
}

/// Random profiles: many syscalls, every operator, shared and repeated arguments, far
/// jumps; the generated program must agree with the plan on every probe.
#[test]
fn random_profiles_agree_with_plan() {
    let ops = [
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ];
    let actions = [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_LOG",
    ];
    let names: Vec<&str> = tables::SYSCALLS
        .iter()
        .filter(|row| row.2[0] != tables::NONE)
        .map(|row| row.1)
        .collect();
    let mut rng = Lcg(42);
    for round in 0..40 {
        let mut syscalls = Vec::new();
        let entries = 1 + rng.below(if round % 4 == 0 { 300 } else { 40 });
        for _ in 0..entries {
            let n = 1 + rng.below(6);
            let names: Vec<&str> = (0..n)
                .map(|_| names[rng.below(names.len() as u64) as usize])
                .collect();
            let action = actions[rng.below(actions.len() as u64) as usize];
            let mut sc = json!({"names": names, "action": action});
            if action == "SCMP_ACT_ERRNO" {
                sc["errnoRet"] = json!(rng.below(200));
            }
            if rng.below(2) == 0 {
                let args: Vec<Value> = (0..1 + rng.below(3))
                    .map(|_| {
                        let value = match rng.below(3) {
                            0 => rng.below(16),
                            1 => rng.next() & 0xffff_ffff,
                            _ => rng.next(),
                        };
                        json!({"index": rng.below(6), "value": value,
                               "valueTwo": value & rng.next(),
                               "op": ops[rng.below(7) as usize]})
                    })
                    .collect();
                sc["args"] = Value::Array(args);
            }
            syscalls.push(sc);
        }
        let mut archs = vec!["SCMP_ARCH_X86_64"];
        if rng.below(2) == 0 {
            archs.push("SCMP_ARCH_X86");
        }
        if rng.below(2) == 0 {
            archs.push("SCMP_ARCH_X32");
        }
        let p = profile(
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "architectures": archs, "syscalls": syscalls}),
        );
        match Plan::new(&p) {
            Ok(_) => {
                check_against_plan(&p, round);
            }
            Err(SeccompError::Conflict { .. }) => {}
            Err(e) => panic!("round {round}: {e}"),
        }
    }
}

#[test]
fn long_jumps_are_used_and_correct() {
    // Syscalls with hundreds of argument rules push each other far away.
    let rules: Vec<Value> = (0..300u64)
        .map(|i| json!({"index": 1, "value": i * 7, "op": "SCMP_CMP_EQ"}))
        .collect();
    let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["fcntl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70, "args": rules},
        {"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 72, "args": rules},
        {"names": ["read", "getppid", "kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 71}]}));
    let prog = compile(&p).unwrap();
    assert!(prog
        .instructions()
        .iter()
        .any(|i| i.code == BPF_JA && i.k > 255));
    check_against_plan(&p, 5);
}

#[test]
fn rule_merging_follows_libseccomp() {
    let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        // First unconditional rule wins over a later one.
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2},
        // A later unconditional rule replaces conditional ones.
        {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3,
         "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]},
        {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4},
        // Same argument twice: crun makes it an OR.
        {"names": ["close"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
         "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 6, "op": "SCMP_CMP_EQ"}]},
        // Overlapping rules: the higher argument index is tried first.
        {"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 6,
         "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]},
        {"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7,
         "args": [{"index": 1, "value": 3, "op": "SCMP_CMP_EQ"}]},
        // Same action as the default: dropped, so it cannot shadow anything.
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 8}]}));
    let plan = Plan::new(&p).unwrap();
    let nr = |n| nr(0, n).unwrap();
    let x = |n, args| plan.expect(AUDIT_ARCH_X86_64, nr(n), args);
    assert_eq!(x("read", [0; 6]), errno(1));
    assert_eq!(x("write", [0; 6]), errno(4));
    assert_eq!(x("close", [5, 0, 0, 0, 0, 0]), errno(5));
    assert_eq!(x("close", [6, 0, 0, 0, 0, 0]), errno(5));
    assert_eq!(x("close", [7, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(x("dup3", [5, 3, 0, 0, 0, 0]), errno(7));
    assert_eq!(x("dup3", [5, 4, 0, 0, 0, 0]), errno(6));
    assert_eq!(x("getpid", [0; 6]), errno(8));
    check_against_plan(&p, 6);
}

#[test]
fn arch_handling_matches_libseccomp() {
    let rules = json!([{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 80}]);
    let only64 = Plan::new(&profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}),
    ))
    .unwrap();
    let getpid64 = nr(0, "getpid").unwrap();
    let getpid32 = nr(1, "getpid").unwrap();
    let getpid_x32 = nr(2, "getpid").unwrap();
    assert_eq!(getpid_x32, X32_SYSCALL_BIT | getpid64);
    let prog = only64.emit();
    let run = |prog: &[libc::sock_filter], arch, nr| interpret(prog, arch, nr, [0; 6]);
    assert_eq!(run(&prog, AUDIT_ARCH_X86_64, getpid64), errno(80));
    assert_eq!(run(&prog, AUDIT_ARCH_X86_64, getpid_x32), RET_KILL_THREAD);
    assert_eq!(run(&prog, AUDIT_ARCH_X86_64, u32::MAX), RET_ALLOW);
    assert_eq!(run(&prog, AUDIT_ARCH_I386, getpid32), RET_KILL_THREAD);
    assert_eq!(run(&prog, 0xc000_00b7, getpid64), RET_KILL_THREAD);

    let all = Plan::new(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"], "syscalls": rules}))).unwrap();
    let prog = all.emit();
    assert_eq!(run(&prog, AUDIT_ARCH_X86_64, getpid64), errno(80));
    assert_eq!(run(&prog, AUDIT_ARCH_X86_64, getpid_x32), errno(80));
    assert_eq!(
        run(&prog, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1000),
        RET_ALLOW
    );
    assert_eq!(run(&prog, AUDIT_ARCH_I386, getpid32), errno(80));
    assert_eq!(run(&prog, AUDIT_ARCH_I386, getpid64), RET_ALLOW);
}

#[test]
fn i386_compares_low_words_only() {
    let p = profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
            "args": [{"index": 1, "value": 0x1_0000_0005u64, "op": "SCMP_CMP_GT"}]}]}),
    );
    let prog = compile(&p).unwrap();
    let dup3_32 = nr(1, "dup3").unwrap();
    let dup3_64 = nr(0, "dup3").unwrap();
    assert_eq!(
        interpret(
            prog.instructions(),
            AUDIT_ARCH_I386,
            dup3_32,
            [0, 6, 0, 0, 0, 0]
        ),
        errno(5)
    );
    assert_eq!(
        interpret(
            prog.instructions(),
            AUDIT_ARCH_X86_64,
            dup3_64,
            [0, 6, 0, 0, 0, 0]
        ),
        RET_ALLOW
    );
}

#[test]
fn a_notify_rule_asks_for_a_listener() {
    let p = compile(&profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
    ))
    .unwrap();
    assert!(p.notify());
    assert_eq!(
        p.flags(),
        FLAG_TSYNC | notify::FLAG_NEW_LISTENER | notify::FLAG_TSYNC_ESRCH
    );
    assert!(p
        .instructions()
        .iter()
        .any(|i| i.code == BPF_RET_K && i.k == notify::RET_USER_NOTIF));
    let plain = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW"}))).unwrap();
    assert!(!plain.notify());
    let killable = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]})))
    .unwrap();
    assert_eq!(
        killable.flags(),
        notify::FLAG_NEW_LISTENER | notify::FLAG_WAIT_KILLABLE_RECV
    );
}

#[test]
fn bad_profiles_are_refused_with_clear_errors() {
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY"}),
            "seccomp defaultAction SCMP_ACT_NOTIFY",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 5}),
            "errno value 5 given for action SCMP_ACT_ALLOW",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 3}]}),
            "errno value 3 given for action SCMP_ACT_KILL",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}),
            "out of range",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_KILL"}]}),
            "entry 0 has no names",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL",
            "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
            "compares argument 6",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_KILL", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["read"], "action": "SCMP_ACT_TRAP", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
            "syscall read have the same arguments but different actions",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}),
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported",
        ),
    ];
    for (v, want) in cases {
        let err = compile(&profile(v.clone()))
            .expect_err(&v.to_string())
            .to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
        assert!(err.starts_with("seccomp "), "{err}");
    }
    // Unknown names are skipped, not refused.
    compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["no_such_syscall"], "action": "SCMP_ACT_KILL"}]})))
    .unwrap();
}

#[test]
fn flags_are_translated() {
    let p = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}))).unwrap();
    assert_eq!(p.flags(), 7);
    assert_eq!(supported_flags().len(), 3);
}
