//! cgroup v2 has no devices.allow/deny: access to device nodes is decided by
//! an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the
//! cgroup. This module turns `linux.resources.devices` into that program.
//!
//! The rules are checked from the last to the first and the first that
//! matches decides, so a later rule overrides an earlier one, as in v1; a
//! request no rule matches is denied.

use crate::sys;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::io;
use std::os::fd::AsFd;

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
// access_type = (access << 16) | type.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Insn {
    code: u8,
    regs: u8, // dst in the low nibble, src in the high one
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}
const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const MOV64_K: u8 = 0xb7;
const AND32_K: u8 = 0x54;
const RSH32_K: u8 = 0x74;
const JNE_K: u8 = 0x55; // if dst != imm goto +off
const JSET_K: u8 = 0x45; // if dst & imm goto +off
const EXIT: u8 = 0x95;

fn rule_type(r: &LinuxDeviceCgroup) -> Option<i32> {
    match r.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => None,
        LinuxDeviceType::B => Some(DEV_BLOCK),
        _ => Some(DEV_CHAR),
    }
}

fn rule_access(r: &LinuxDeviceCgroup) -> i32 {
    let a = r.access().as_deref().unwrap_or("rwm");
    let mut m = 0;
    for c in a.chars() {
        m |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        };
    }
    m
}

/// The program for `rules` (in config order).
pub fn program(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    // r2 = type, r3 = access, r4 = major, r5 = minor
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let mut checks: Vec<(u8, u8, i32)> = Vec::new();
        if let Some(t) = rule_type(r) {
            checks.push((JNE_K, 2, t));
        }
        let acc = rule_access(r);
        if acc != ACC_READ | ACC_WRITE | ACC_MKNOD {
            // Every access asked for must be one the rule names.
            checks.push((JSET_K, 3, !acc & 0x7));
        }
        if let Some(m) = r.major().filter(|m| *m >= 0) {
            checks.push((JNE_K, 4, m as i32));
        }
        if let Some(m) = r.minor().filter(|m| *m >= 0) {
            checks.push((JNE_K, 5, m as i32));
        }
        // Each check jumps past the rest of the block (2 instructions of verdict) on mismatch.
        let n = checks.len();
        for (i, (op, reg, imm)) in checks.into_iter().enumerate() {
            let skip = (n - i - 1) as i16 + 2;
            p.push(insn(op, reg, 0, skip, imm));
        }
        p.push(insn(MOV64_K, 0, 0, 0, i32::from(r.allow())));
        p.push(insn(EXIT, 0, 0, 0, 0));
        if n == 0 {
            // A catch-all decides everything: the verifier rejects dead code after it.
            return p;
        }
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

impl Insn {
    /// The instruction as the kernel reads it: 8 bytes, in our byte order.
    fn word(&self) -> u64 {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_ne_bytes());
        b[4..8].copy_from_slice(&self.imm.to_ne_bytes());
        u64::from_ne_bytes(b)
    }
}

/// Loads `prog` and attaches it to the cgroup directory `cgroup`.
pub fn attach(cgroup: &std::path::Path, prog: &[Insn]) -> io::Result<()> {
    let mut log = vec![0u8; 64 * 1024];
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"berth_device");
    let insns: Vec<u64> = prog.iter().map(Insn::word).collect();
    let loaded = sys::bpf_prog_load(
        &sys::BpfProgram {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            expected_attach_type: BPF_CGROUP_DEVICE,
            insns: &insns,
            license: c"Apache",
            name,
        },
        &mut log,
    );
    let prog_fd = match loaded {
        Ok(fd) => fd,
        Err(e) => {
            let msg =
                String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)])
                    .trim()
                    .to_string();
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "load device program: {e}{}",
                    if msg.is_empty() {
                        String::new()
                    } else {
                        format!(": {msg}")
                    }
                ),
            ));
        }
    };
    let dir = std::fs::File::open(cgroup)?;
    sys::bpf_prog_attach(
        dir.as_fd(),
        prog_fd.as_fd(),
        BPF_CGROUP_DEVICE,
        BPF_F_ALLOW_MULTI,
    )
    .map_err(|e| io::Error::other(format!("attach device program: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::v1::default_allowed;

    fn rule(
        allow: bool,
        t: LinuxDeviceType,
        maj: Option<i64>,
        min: Option<i64>,
        acc: &str,
    ) -> LinuxDeviceCgroup {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(allow);
        d.set_typ(Some(t));
        d.set_major(maj);
        d.set_minor(min);
        d.set_access(Some(acc.into()));
        d
    }

    /// Runs the program the way the kernel would, on one request.
    fn eval(p: &[Insn], typ: i32, acc: i32, maj: i32, min: i32) -> bool {
        let mut r = [0i64; 11];
        let ctx = [((acc << 16) | typ) as u32, maj as u32, min as u32];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => {
                    assert_eq!(src, 1);
                    r[dst] = ctx[(i.off / 4) as usize] as i64;
                }
                AND32_K => r[dst] = (r[dst] as u32 & i.imm as u32) as i64,
                RSH32_K => r[dst] = ((r[dst] as u32) >> i.imm) as i64,
                MOV64_K => r[dst] = i.imm as i64,
                JNE_K => {
                    if r[dst] != i.imm as i64 {
                        pc += i.off as usize
                    }
                }
                JSET_K => {
                    if r[dst] & i.imm as i64 != 0 {
                        pc += i.off as usize
                    }
                }
                EXIT => return r[0] == 1,
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn last_rule_wins_and_default_is_deny() {
        use LinuxDeviceType::{A, B, C};
        let mut rules = vec![
            rule(false, A, None, None, "rwm"),
            rule(true, C, Some(1), Some(3), "rw"),
            rule(true, B, Some(8), None, "r"),
        ];
        rules.extend(default_allowed());
        let p = program(&rules);
        assert!(eval(&p, DEV_CHAR, ACC_READ, 1, 3));
        assert!(eval(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3));
        assert!(eval(&p, DEV_BLOCK, ACC_READ, 8, 16));
        assert!(!eval(&p, DEV_BLOCK, ACC_WRITE, 8, 16), "only r was allowed");
        assert!(
            !eval(&p, DEV_CHAR, ACC_READ, 10, 229),
            "fuse is not allowed"
        );
        assert!(
            eval(&p, DEV_CHAR, ACC_MKNOD, 10, 229),
            "mknod of anything is, as runc does"
        );
        let p = program(&[
            rule(true, A, None, None, "rwm"),
            rule(false, C, Some(1), Some(5), "w"),
        ]);
        assert!(eval(&p, DEV_CHAR, ACC_READ, 1, 5));
        assert!(!eval(&p, DEV_CHAR, ACC_WRITE, 1, 5));
        assert!(!eval(&program(&[]), DEV_CHAR, ACC_READ, 1, 3));
    }

    /// For real, on the cgroup2 tree of this host (hybrid hosts have one too):
    /// a child in a cgroup with the program can open /dev/null but not /dev/zero.
    #[test]
    fn enforced_by_the_kernel() {
        let root = if crate::cgroups::hierarchy() == crate::cgroups::Hierarchy::Unified {
            crate::cgroups::ROOT
        } else {
            crate::cgroups::UNIFIED_ROOT
        };
        if unsafe { libc::geteuid() } != 0
            || !std::path::Path::new(root).join("cgroup.procs").exists()
        {
            eprintln!("skipped: needs root and a cgroup2 mount");
            return;
        }
        let dir = std::path::Path::new(root).join(format!("berth-devtest-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let p = program(&[
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rw"),
        ]);
        let r = attach(&dir, &p);
        let outcome = r.as_ref().ok().map(|_| unsafe {
            let pid = libc::fork();
            if pid == 0 {
                let me = std::ffi::CString::new(format!("{}", libc::getpid())).unwrap();
                let f =
                    std::ffi::CString::new(dir.join("cgroup.procs").to_string_lossy().as_bytes())
                        .unwrap();
                let fd = libc::open(f.as_ptr(), libc::O_WRONLY);
                libc::write(fd, me.as_ptr().cast(), me.as_bytes().len());
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) >= 0;
                let zero = libc::open(c"/dev/zero".as_ptr(), libc::O_RDONLY) >= 0;
                libc::_exit(i32::from(null) | (i32::from(zero) << 1));
            }
            let mut st = 0;
            libc::waitpid(pid, &mut st, 0);
            libc::WEXITSTATUS(st)
        });
        let _ = std::fs::remove_dir(&dir);
        r.unwrap();
        assert_eq!(outcome, Some(1), "null allowed, zero denied");
    }
}
