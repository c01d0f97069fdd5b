//! Unit tests: generated programs checked by an interpreter against the plan, and real
//! behaviour in forked children.

use super::*;
use serde_json::{json, Value};
use std::time::Instant;

const PODMAN_PROFILE: &str = "/usr/share/containers/seccomp.json";

fn profile(v: Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("test profile parses")
}

/// The number of `name` in ABI 0 (x86_64), 1 (i386) or 2 (x32).
fn nr(abi: usize, name: &str) -> Option<u32> {
    resolve(name)
        .map(|nrs| nrs[abi])
        .filter(|&n| n != tables::NONE)
}

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

fn errno(e: i32) -> u32 {
    RET_ERRNO | e as u32
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

/// podman's profile as podman hands it to the runtime: entries filtered by includes and
/// excludes for amd64 and podman's default capabilities, archMap resolved.
fn podman_profile() -> Option<LinuxSeccomp> {
    let text = std::fs::read_to_string(PODMAN_PROFILE).ok()?;
    let mut v: Value = serde_json::from_str(&text).unwrap();
    let caps = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETFCAP",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYS_CHROOT",
    ];
    let has = |list: &Value, what: &[&str]| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|x| what.contains(&x.as_str().unwrap())))
    };
    let all = |list: &Value, what: &[&str]| {
        list.as_array()
            .is_none_or(|l| l.iter().all(|x| what.contains(&x.as_str().unwrap())))
    };
    let syscalls: Vec<Value> = v["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|sc| {
            let inc = &sc["includes"];
            let exc = &sc["excludes"];
            all(&inc["caps"], &caps)
                && (inc["arches"].is_null() || has(&inc["arches"], &["amd64"]))
                && !has(&exc["caps"], &caps)
                && !has(&exc["arches"], &["amd64"])
        })
        .map(|sc| {
            let mut sc = sc.clone();
            let o = sc.as_object_mut().unwrap();
            o.remove("includes");
            o.remove("excludes");
            o.remove("comment");
            o.retain(|_, v| !v.is_null());
            sc
        })
        .collect();
    v["syscalls"] = Value::Array(syscalls);
    v["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    v.as_object_mut().unwrap().remove("archMap");
    Some(profile(v))
}

/// Docker's default profile has the same allow list as podman's, but EPERM as the default
/// errno, a MASKED_EQ rule on clone's flags (runc's value/mask order) and clone3 → ENOSYS.
fn docker_like_profile() -> Option<LinuxSeccomp> {
    let p = podman_profile()?;
    let mut v = serde_json::to_value(&p).unwrap();
    v["defaultErrnoRet"] = json!(1);
    let syscalls = v["syscalls"].as_array_mut().unwrap();
    for sc in syscalls.iter_mut() {
        let names = sc["names"].as_array_mut().unwrap();
        names.retain(|n| n != "clone" && n != "clone3");
    }
    syscalls.push(json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}));
    syscalls.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}));
    Some(profile(v))
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
fn bad_profiles_are_refused_with_clear_errors() {
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY"}),
            "seccomp notify is not supported",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}),
            "seccomp notify is not supported",
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

// ---- Real behaviour: install in a forked child and issue syscalls. ----

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
