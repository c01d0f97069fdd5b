//! `linux.seccomp` → classic BPF, installed with our own seccomp(2) call.
//!
//! We generate the program ourselves instead of using libseccomp or seccompiler: seccompiler has
//! one match action and one architecture per filter, and linking libseccomp statically is what we
//! want to avoid. Engines write profiles against crun/runc + libseccomp 2.5, so every rule below
//! copies what that pair does with the same profile:
//!
//! - The native architecture (x86_64) is always filtered; `architectures` adds i386 and x32 (other
//!   architectures cannot issue syscalls on this host and are ignored). A syscall from any other
//!   ABI gets libseccomp's "bad arch" action, KILL_THREAD. Without x32 in the profile, x32 syscall
//!   numbers (bit 30 set) are killed too, except nr -1 (a tracer's "skip"), as libseccomp does.
//! - A rule whose action equals the default action is dropped (crun); unknown syscall names are
//!   skipped with a warning (crun, runc); a name is resolved separately for every filtered ABI, so
//!   `socketcall` or `stat64` only affect i386.
//! - For one syscall: the first unconditional rule wins and later ones are ignored; an
//!   unconditional rule after conditional ones replaces them; conditional rules with identical
//!   conditions but different actions are an error (libseccomp's EEXIST). When one rule compares
//!   the same argument twice, crun turns each comparison into a rule of its own (OR, not AND).
//! - Comparisons are unsigned and 64-bit (high word, then low word). On i386 only the low word
//!   exists and the datum is truncated, as libseccomp does. SCMP_CMP_MASKED_EQ follows runc:
//!   `value` is the mask and `valueTwo` the datum, `(arg & value) == valueTwo`.
//! - Overlapping conditional rules with different actions: the rule whose first compared argument
//!   has the highest index is tried first, then profile order (libseccomp orders its decision
//!   tree by argument). Real profiles (podman's, Docker's) only overlap with equal actions.
//!
//! Program layout, forward order:
//!
//! ```text
//!   ld arch
//!   jeq AUDIT_ARCH_X86_64 ──► ld nr; binary search over nr ranges ──► leaf
//!   jeq AUDIT_ARCH_I386   ──► ld nr; binary search over nr ranges ──► leaf
//!   ret KILL_THREAD                          leaf: ret ACTION, or argument checks ──► ret
//! ```
//!
//! Conditional jumps only reach 255 instructions ahead, so the program is assembled backwards
//! (every target exists before the jump to it) and a target that is too far is reached through
//! a `ja` (32-bit offset) placed right after the conditional jump.

use std::collections::btree_map::Entry as MapEntry;
use std::collections::{BTreeMap, HashMap};
use std::io;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

pub mod notify;
mod tables;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Offsets in struct seccomp_data.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_ARGS: u32 = 16;

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0x0000_0000;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_ALU_AND_K: u16 = 0x54;
const BPF_JA: u16 = 0x05;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGT_K: u16 = 0x25;
const BPF_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;
const BPF_MAXINSNS: usize = 4096;

const FLAG_TSYNC: u32 = 1;
const FLAG_LOG: u32 = 2;
const FLAG_SPEC_ALLOW: u32 = 4;

/// A compiled filter, ready for [`install`].
pub struct Program {
    insns: Vec<libc::sock_filter>,
    flags: u32,
}

impl Program {
    pub fn instructions(&self) -> &[libc::sock_filter] {
        &self.insns
    }

    pub fn len(&self) -> usize {
        self.insns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Whether installing it gives a listener fd for a seccomp agent.
    pub fn notify(&self) -> bool {
        self.flags & notify::FLAG_NEW_LISTENER != 0
    }

    /// SECCOMP_FILTER_FLAG_* bits passed to seccomp(2).
    pub fn flags(&self) -> u32 {
        self.flags
    }
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("instructions", &self.insns.len())
            .field("flags", &self.flags)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp defaultAction SCMP_ACT_NOTIFY is not allowed: the runtime's own last syscalls would wait for the agent")]
    NotifyDefault,
    #[error("seccomp flag {0} is not supported: it only applies to seccomp notify")]
    UnsupportedFlag(String),
    #[error("seccomp errno value {value} given for action {action}, which takes no errno")]
    ErrnoNotAllowed { action: String, value: u32 },
    #[error("seccomp errno value {0} is out of range (at most 65535)")]
    ErrnoOutOfRange(u32),
    #[error("seccomp syscalls entry {entry} has no names")]
    NoNames { entry: usize },
    #[error(
        "seccomp syscalls entry {entry} compares argument {index}: syscalls have arguments 0 to 5"
    )]
    ArgIndex { entry: usize, index: usize },
    #[error("seccomp rules for syscall {name} have the same arguments but different actions")]
    Conflict { name: String },
    #[error("seccomp program needs {0} instructions, more than the kernel's limit of 4096")]
    TooLarge(usize),
    #[error("seccomp is only supported on x86_64 hosts")]
    UnsupportedHost,
    #[error("seccomp(SECCOMP_SET_MODE_FILTER): {0}")]
    Install(#[source] io::Error),
    #[error("seccomp(SECCOMP_SET_MODE_FILTER) with SECCOMP_FILTER_FLAG_TSYNC: thread {0} cannot be synchronized")]
    Tsync(i64),
}

/// Actions that [`compile`] accepts, for `features`.
pub fn supported_actions() -> &'static [&'static str] {
    &[
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_LOG",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_TRAP",
    ]
}

/// Argument comparison operators, for `features`.
pub fn supported_operators() -> &'static [&'static str] {
    &[
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_LE",
        "SCMP_CMP_LT",
        "SCMP_CMP_MASKED_EQ",
        "SCMP_CMP_NE",
    ]
}

/// Architectures whose syscalls the generated filter tells apart, for `features`.
pub fn supported_archs() -> &'static [&'static str] {
    if cfg!(target_arch = "x86_64") {
        &["SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"]
    } else {
        &[]
    }
}

/// seccomp(2) flags, for `features`.
pub fn supported_flags() -> &'static [&'static str] {
    &[
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_TSYNC",
    ]
}

/// Installs `p` on the calling thread (all threads with SECCOMP_FILTER_FLAG_TSYNC).
///
/// The caller sets no_new_privs first when the config asks for it; otherwise it must still hold
/// CAP_SYS_ADMIN. Does not allocate, so it is safe between fork and exec.
pub fn install(p: &Program) -> Result<(), SeccompError> {
    let rc = match crate::sys::seccomp_set_mode_filter(&p.insns, p.flags) {
        Ok(rc) => rc,
        Err(e) => return Err(SeccompError::Install(e)),
    };
    match rc {
        0 => Ok(()),
        rc => Err(SeccompError::Tsync(rc)),
    }
}

/// Translates the profile into a BPF program, validating it on the way.
pub fn compile(s: &LinuxSeccomp) -> Result<Program, SeccompError> {
    let plan = Plan::new(s)?;
    let insns = plan.emit();
    if insns.len() > BPF_MAXINSNS {
        return Err(SeccompError::TooLarge(insns.len()));
    }
    Ok(Program {
        insns,
        flags: plan.flags,
    })
}

/// The profile resolved to syscall numbers, before code generation.
struct Plan {
    flags: u32,
    default: u32,
    with_x32: bool,
    x86_64: Domain,
    i386: Option<Domain>,
}

impl Plan {
    fn new(s: &LinuxSeccomp) -> Result<Plan, SeccompError> {
        if !cfg!(target_arch = "x86_64") {
            return Err(SeccompError::UnsupportedHost);
        }
        if s.default_action() == LinuxSeccompAction::ScmpActNotify {
            return Err(SeccompError::NotifyDefault);
        }
        let mut flags = filter_flags(s)?;
        if notify::uses_notify(s) {
            flags |= notify::FLAG_NEW_LISTENER;
            if flags & FLAG_TSYNC != 0 {
                flags |= notify::FLAG_TSYNC_ESRCH;
            }
        }
        let default = action_value(s.default_action(), s.default_errno_ret())?;

        let mut with_i386 = false;
        let mut with_x32 = false;
        for arch in s.architectures().iter().flatten() {
            match arch {
                Arch::ScmpArchNative | Arch::ScmpArchX86_64 => {}
                Arch::ScmpArchX86 => with_i386 = true,
                Arch::ScmpArchX32 => with_x32 = true,
                other => {
                    log::debug!("seccomp architecture {other} cannot run on this host, ignored")
                }
            }
        }

        let mut x86_64 = Domain::new(true);
        let mut i386 = Domain::new(false);
        for (entry, sc) in s.syscalls().iter().flatten().enumerate() {
            if sc.names().is_empty() {
                return Err(SeccompError::NoNames { entry });
            }
            let action = action_value(sc.action(), sc.errno_ret())?;
            let args = sc.args().as_deref().unwrap_or_default();
            let mut seen = [false; 6];
            let mut repeated = false;
            for a in args {
                let index = a.index();
                if index >= 6 {
                    return Err(SeccompError::ArgIndex { entry, index });
                }
                repeated |= std::mem::replace(&mut seen[index], true);
            }
            if action == default {
                continue;
            }
            let conds: Vec<Cond> = args
                .iter()
                .map(|a| Cond {
                    index: a.index() as u32,
                    op: a.op(),
                    value: a.value(),
                    value_two: a.value_two().unwrap_or(0),
                })
                .collect();
            // crun splits a rule comparing one argument twice into one rule per comparison.
            let rules: Vec<Vec<Cond>> = if repeated {
                conds.into_iter().map(|c| vec![c]).collect()
            } else {
                vec![conds]
            };
            for name in sc.names() {
                let mut known = false;
                if let Some([nr64, nr32, nrx32]) = resolve(name) {
                    for (nr, enabled, is_i386) in [
                        (nr64, true, false),
                        // x32 shares AUDIT_ARCH_X86_64; its numbers carry X32_SYSCALL_BIT.
                        (nrx32, with_x32, false),
                        (nr32, with_i386, true),
                    ] {
                        if enabled && nr != tables::NONE {
                            known = true;
                            let domain = if is_i386 { &mut i386 } else { &mut x86_64 };
                            domain.add_all(nr, &rules, action, name)?;
                        }
                    }
                }
                if !known {
                    log::warn!("unknown seccomp syscall {name:?} ignored");
                }
            }
        }
        Ok(Plan {
            flags,
            default,
            with_x32,
            x86_64,
            i386: with_i386.then_some(i386),
        })
    }

    fn emit(&self) -> Vec<libc::sock_filter> {
        let mut asm = Asm::default();
        // The last instruction of a classic BPF program must be a return.
        asm.ret(RET_KILL_THREAD);
        let i386_entry = self
            .i386
            .as_ref()
            .map(|d| d.emit(&mut asm, self.default, false));
        let x86_64_entry = self.x86_64.emit(&mut asm, self.default, !self.with_x32);
        let other = match i386_entry {
            Some(entry) => {
                let bad = asm.ret(RET_KILL_THREAD);
                asm.jump(BPF_JEQ_K, AUDIT_ARCH_I386, entry, bad)
            }
            None => asm.ret(RET_KILL_THREAD),
        };
        let dispatch = asm.jump(BPF_JEQ_K, AUDIT_ARCH_X86_64, x86_64_entry, other);
        asm.load(DATA_ARCH, dispatch);
        asm.finish()
    }
}

fn filter_flags(s: &LinuxSeccomp) -> Result<u32, SeccompError> {
    let mut flags = 0;
    for flag in s.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if notify::uses_notify(s) => {
                notify::FLAG_WAIT_KILLABLE_RECV
            }
            other => return Err(SeccompError::UnsupportedFlag(other.to_string())),
        };
    }
    Ok(flags)
}

fn action_value(action: LinuxSeccompAction, errno: Option<u32>) -> Result<u32, SeccompError> {
    use LinuxSeccompAction::*;
    if let Some(value) = errno {
        if !matches!(action, ScmpActErrno | ScmpActTrace) {
            return Err(SeccompError::ErrnoNotAllowed {
                action: action.to_string(),
                value,
            });
        }
        if value > 0xffff {
            return Err(SeccompError::ErrnoOutOfRange(value));
        }
    }
    let data = errno.unwrap_or(libc::EPERM as u32);
    Ok(match action {
        ScmpActKill | ScmpActKillThread => RET_KILL_THREAD,
        ScmpActKillProcess => RET_KILL_PROCESS,
        ScmpActTrap => RET_TRAP,
        ScmpActErrno => RET_ERRNO | data,
        ScmpActTrace => RET_TRACE | data,
        ScmpActLog => RET_LOG,
        ScmpActAllow => RET_ALLOW,
        ScmpActNotify => notify::RET_USER_NOTIF,
    })
}

/// The x86_64, i386 and x32 numbers of a syscall (`tables::NONE` where an ABI lacks it).
fn resolve(name: &str) -> Option<[u32; 3]> {
    let hash = fnv1a(name);
    let table = tables::SYSCALLS;
    let start = table.partition_point(|row| row.0 < hash);
    table[start..]
        .iter()
        .take_while(|row| row.0 == hash)
        .find(|row| row.1 == name)
        .map(|row| row.2)
}

/// FNV-1a, 64-bit: the key tables.rs is sorted by (gen-tables.py computes the same).
fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cond {
    index: u32,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

impl Cond {
    fn key(&self) -> (u32, u32, u64, u64) {
        (self.index, self.op as u32, self.value, self.value_two)
    }
}

#[derive(Debug)]
struct Rule {
    /// Sorted by [`Cond::key`], so equal condition sets compare equal.
    conds: Vec<Cond>,
    action: u32,
}

#[derive(Debug)]
enum Syscall {
    Always(u32),
    Conditional(Vec<Rule>),
}

/// The rules for one AUDIT_ARCH value, keyed by the syscall number the kernel reports.
struct Domain {
    wide_args: bool,
    syscalls: BTreeMap<u32, Syscall>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Ret(u32),
    Block(Label),
}

impl Domain {
    fn new(wide_args: bool) -> Self {
        Domain {
            wide_args,
            syscalls: BTreeMap::new(),
        }
    }

    fn add(
        &mut self,
        nr: u32,
        conds: &[Cond],
        action: u32,
        name: &str,
    ) -> Result<(), SeccompError> {
        let mut conds = conds.to_vec();
        if !self.wide_args {
            // 32-bit ABIs have 32-bit arguments: libseccomp compares the low words only.
            for c in &mut conds {
                c.value &= 0xffff_ffff;
                c.value_two &= 0xffff_ffff;
            }
        }
        conds.sort_by_key(Cond::key);
        conds.dedup();
        match self.syscalls.entry(nr) {
            MapEntry::Vacant(v) => {
                v.insert(if conds.is_empty() {
                    Syscall::Always(action)
                } else {
                    Syscall::Conditional(vec![Rule { conds, action }])
                });
            }
            MapEntry::Occupied(mut o) => match o.get_mut() {
                Syscall::Always(_) => {}
                Syscall::Conditional(_) if conds.is_empty() => {
                    o.insert(Syscall::Always(action));
                }
                Syscall::Conditional(rules) => match rules.iter().find(|r| r.conds == conds) {
                    Some(r) if r.action != action => {
                        return Err(SeccompError::Conflict {
                            name: name.to_string(),
                        })
                    }
                    Some(_) => {}
                    None => rules.push(Rule { conds, action }),
                },
            },
        }
        Ok(())
    }

    fn add_all(
        &mut self,
        nr: u32,
        rules: &[Vec<Cond>],
        action: u32,
        name: &str,
    ) -> Result<(), SeccompError> {
        rules
            .iter()
            .try_for_each(|conds| self.add(nr, conds, action, name))
    }

    /// Emits `ld nr` and the search over syscall numbers; returns its entry.
    fn emit(&self, asm: &mut Asm, default: u32, kill_x32: bool) -> Label {
        // The number space cut into ranges [start, next start), each with one outcome.
        let mut ranges: Vec<(u32, Leaf)> = Vec::new();
        fn push(ranges: &mut Vec<(u32, Leaf)>, start: u32, leaf: Leaf) {
            if ranges.last().is_some_and(|r| r.0 == start) {
                ranges.pop();
            }
            if ranges.last().is_some_and(|r| r.1 == leaf) {
                return;
            }
            ranges.push((start, leaf));
        }
        push(&mut ranges, 0, Leaf::Ret(default));
        for (&nr, syscall) in &self.syscalls {
            let leaf = match syscall {
                Syscall::Always(action) => Leaf::Ret(*action),
                Syscall::Conditional(rules) => Leaf::Block(self.emit_rules(asm, rules, default)),
            };
            push(&mut ranges, nr, leaf);
            if nr < u32::MAX {
                push(&mut ranges, nr + 1, Leaf::Ret(default));
            }
        }
        if kill_x32 {
            push(&mut ranges, X32_SYSCALL_BIT, Leaf::Ret(RET_KILL_THREAD));
            push(&mut ranges, u32::MAX, Leaf::Ret(default));
        }
        let entry = search(asm, &ranges);
        asm.load(DATA_NR, entry)
    }

    fn emit_rules(&self, asm: &mut Asm, rules: &[Rule], default: u32) -> Label {
        let mut order: Vec<&Rule> = rules.iter().collect();
        order.sort_by_key(|r| std::cmp::Reverse(r.conds[0].index));
        let mut next = asm.ret(default);
        for rule in order.iter().rev() {
            let mut entry = asm.ret(rule.action);
            for c in rule.conds.iter().rev() {
                entry = self.emit_cond(asm, c, entry, next);
            }
            next = entry;
        }
        next
    }

    /// Emits one comparison: continues at `yes` when it holds, at `no` otherwise.
    fn emit_cond(&self, asm: &mut Asm, c: &Cond, yes: Label, no: Label) -> Label {
        use LinuxSeccompOperator::*;
        let lo_off = DATA_ARGS + 8 * c.index;
        let hi_off = lo_off + 4;
        let wide = self.wide_args;
        let lo = |v: u64| v as u32;
        let hi = |v: u64| (v >> 32) as u32;
        let equal = |asm: &mut Asm, yes: Label, no: Label| {
            let l = asm.jump(BPF_JEQ_K, lo(c.value), yes, no);
            let l = asm.load(lo_off, l);
            if !wide {
                return l;
            }
            let h = asm.jump(BPF_JEQ_K, hi(c.value), l, no);
            asm.load(hi_off, h)
        };
        // Unsigned 64-bit `arg OP value` for OP in {>, >=}: decide on the high word unless equal.
        let greater = |asm: &mut Asm, code: u16, yes: Label, no: Label| {
            let l = asm.jump(code, lo(c.value), yes, no);
            let l = asm.load(lo_off, l);
            if !wide {
                return l;
            }
            let eq = asm.jump(BPF_JEQ_K, hi(c.value), l, no);
            let gt = asm.jump(BPF_JGT_K, hi(c.value), yes, eq);
            asm.load(hi_off, gt)
        };
        match c.op {
            ScmpCmpEq => equal(asm, yes, no),
            ScmpCmpNe => equal(asm, no, yes),
            ScmpCmpGt => greater(asm, BPF_JGT_K, yes, no),
            ScmpCmpGe => greater(asm, BPF_JGE_K, yes, no),
            ScmpCmpLe => greater(asm, BPF_JGT_K, no, yes),
            ScmpCmpLt => greater(asm, BPF_JGE_K, no, yes),
            ScmpCmpMaskedEq => {
                let (mask, datum) = (c.value, c.value_two);
                let l = masked(asm, lo_off, lo(mask), lo(datum), yes, no);
                if !wide {
                    return l;
                }
                masked(asm, hi_off, hi(mask), hi(datum), l, no)
            }
        }
    }
}

/// `(word & mask) == datum` on one 32-bit word.
fn masked(asm: &mut Asm, off: u32, mask: u32, datum: u32, yes: Label, no: Label) -> Label {
    if mask == 0 {
        return if datum == 0 { yes } else { no };
    }
    let l = asm.jump(BPF_JEQ_K, datum, yes, no);
    let l = if mask == u32::MAX {
        l
    } else {
        asm.then(BPF_ALU_AND_K, mask, l)
    };
    asm.load(off, l)
}

/// Binary search over `ranges` (sorted starts, the first at 0) with `jge`.
fn search(asm: &mut Asm, ranges: &[(u32, Leaf)]) -> Label {
    if ranges.len() == 1 {
        return match ranges[0].1 {
            Leaf::Ret(action) => asm.ret(action),
            Leaf::Block(label) => label,
        };
    }
    let mid = ranges.len() / 2;
    let upper = search(asm, &ranges[mid..]);
    let lower = search(asm, &ranges[..mid]);
    asm.jump(BPF_JGE_K, ranges[mid].0, upper, lower)
}

/// Position of an instruction, counted from the end of the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Label(usize);

/// Assembles a program backwards, so every jump target already exists when the jump is emitted.
#[derive(Default)]
struct Asm {
    rev: Vec<libc::sock_filter>,
    /// The closest `ret` for each action, reused while a jump can still reach it.
    rets: HashMap<u32, Label>,
}

impl Asm {
    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> Label {
        self.rev.push(libc::sock_filter { code, jt, jf, k });
        Label(self.rev.len() - 1)
    }

    fn stmt(&mut self, code: u16, k: u32) -> Label {
        self.push(code, 0, 0, k)
    }

    /// A non-jump instruction that continues at `next`: falls through when `next` is the last
    /// instruction emitted, otherwise a `ja` bridges the gap.
    fn then(&mut self, code: u16, k: u32, next: Label) -> Label {
        if next.0 + 1 != self.rev.len() {
            self.ja(next);
        }
        self.stmt(code, k)
    }

    fn load(&mut self, off: u32, next: Label) -> Label {
        self.then(BPF_LD_W_ABS, off, next)
    }

    fn ret(&mut self, action: u32) -> Label {
        if let Some(&l) = self.rets.get(&action) {
            // A jump emitted next may sit two trampolines further away.
            if self.rev.len() + 2 - l.0 - 1 <= 255 {
                return l;
            }
        }
        let l = self.stmt(BPF_RET_K, action);
        self.rets.insert(action, l);
        l
    }

    fn ja(&mut self, to: Label) -> Label {
        let k = (self.rev.len() - to.0 - 1) as u32;
        self.stmt(BPF_JA, k)
    }

    fn jump(&mut self, code: u16, k: u32, yes: Label, no: Label) -> Label {
        if yes == no {
            return yes;
        }
        // At most two trampolines go between here and the jump: decide with that worst case.
        let far = |len: usize, to: Label| len + 2 - to.0 - 1 > 255;
        let len = self.rev.len();
        let yes = if far(len, yes) { self.ja(yes) } else { yes };
        let no = if far(len, no) { self.ja(no) } else { no };
        let p = self.rev.len();
        self.push(code, (p - yes.0 - 1) as u8, (p - no.0 - 1) as u8, k)
    }

    fn finish(mut self) -> Vec<libc::sock_filter> {
        self.rev.reverse();
        self.rev
    }
}

#[cfg(test)]
mod tests;
