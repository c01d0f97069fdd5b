//! `linux.resources` and `linux.devices`: the limits of --memory, --cpus,
//! --pids-limit... (for `create` and `update`) and the device rules.

use super::super::opts::{self, CreateOptions};
use super::super::{bad, Result};
use oci_spec::runtime::{
    LinuxCpu, LinuxCpuBuilder, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup,
    LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemory, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder,
};

/// linux.resources' memory, cpu and pids from --memory, --memory-swap,
/// --cpus, --cpu-shares, --cpuset-cpus and --pids-limit (for `create` and
/// `update`): only what was given.
pub fn resources(o: &CreateOptions) -> Result<LinuxResources> {
    let mut memory: Option<LinuxMemory> = None;
    if let Some((mem, swap)) = parse_memory(o)? {
        let m = memory.get_or_insert_with(Default::default);
        m.set_limit(Some(mem));
        m.set_swap(swap);
    }
    if let Some(r) = &o.memory_reservation {
        let v = opts::parse_size("--memory-reservation", r)? as i64;
        if memory.and_then(|m| m.limit()).is_some_and(|l| v > l) {
            return Err(bad("--memory-reservation", r, "must be at most --memory"));
        }
        memory
            .get_or_insert_with(Default::default)
            .set_reservation(Some(v));
    }
    let mut cpu: Option<LinuxCpu> = None;
    if let Some(c) = &o.cpus {
        let v: f64 = c
            .parse()
            .map_err(|_| bad("--cpus", c, "expected a number like 1.5"))?;
        if !(v > 0.0 && v <= 1024.0) {
            return Err(bad("--cpus", c, "must be between 0 and the number of CPUs"));
        }
        let c = cpu.get_or_insert_with(Default::default);
        c.set_period(Some(100_000));
        c.set_quota(Some((v * 100_000.0) as i64));
    }
    if let Some(s) = o.cpu_shares {
        cpu.get_or_insert_with(Default::default).set_shares(Some(s));
    }
    if let Some(s) = &o.cpuset_cpus {
        if s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '-')
        {
            return Err(bad("--cpuset-cpus", s, "expected a list like 0-1,3"));
        }
        cpu.get_or_insert_with(Default::default)
            .set_cpus(Some(s.clone()));
    }
    let mut res = LinuxResourcesBuilder::default().build().expect("resources");
    res.set_memory(memory);
    res.set_cpu(cpu);
    if let Some(p) = o.pids_limit {
        if p == 0 || p < -1 {
            return Err(bad(
                "--pids-limit",
                &p.to_string(),
                "must be positive or -1",
            ));
        }
        res.set_pids(Some(
            LinuxPidsBuilder::default().limit(p).build().expect("pids"),
        ));
    }
    Ok(res)
}

/// Whether `resources` was given no limit at all.
pub fn is_empty(r: &LinuxResources) -> bool {
    r.memory().is_none() && r.cpu().is_none() && r.pids().is_none()
}

/// `update`: the limits of `from` over those of `into`, field by field.
pub fn merge(into: &mut LinuxResources, from: &LinuxResources) {
    if let Some(f) = from.memory() {
        let mut m = into.memory().unwrap_or_default();
        if f.limit().is_some() {
            m.set_limit(f.limit());
        }
        if f.swap().is_some() {
            m.set_swap(f.swap());
        }
        if f.reservation().is_some() {
            m.set_reservation(f.reservation());
        }
        into.set_memory(Some(m));
    }
    if let Some(f) = from.cpu() {
        let mut c = into
            .cpu()
            .clone()
            .unwrap_or_else(|| LinuxCpuBuilder::default().build().expect("cpu"));
        if f.shares().is_some() {
            c.set_shares(f.shares());
        }
        if f.quota().is_some() {
            c.set_quota(f.quota());
        }
        if f.period().is_some() {
            c.set_period(f.period());
        }
        if f.cpus().is_some() {
            c.set_cpus(f.cpus().clone());
        }
        into.set_cpu(Some(c));
    }
    if from.pids().is_some() {
        into.set_pids(*from.pids());
    }
}

pub fn parse_memory(o: &CreateOptions) -> Result<Option<(i64, Option<i64>)>> {
    let mem = match &o.memory {
        Some(m) => opts::parse_size("--memory", m)? as i64,
        None => {
            if let Some(s) = &o.memory_swap {
                return Err(bad("--memory-swap", s, "needs --memory too"));
            }
            return Ok(None);
        }
    };
    if mem < 6 << 20 {
        return Err(bad(
            "--memory",
            o.memory.as_deref().unwrap_or(""),
            "the minimum is 6m",
        ));
    }
    let swap = match o.memory_swap.as_deref() {
        None => None,
        Some("-1") => Some(-1),
        Some(s) => {
            let v = opts::parse_size("--memory-swap", s)? as i64;
            if v < mem {
                return Err(bad("--memory-swap", s, "must be at least --memory"));
            }
            Some(v)
        }
    };
    Ok(Some((mem, swap)))
}

fn rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major_minor: Option<(i64, Option<i64>)>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access);
    if let Some(t) = typ {
        b = b.typ(t);
    }
    if let Some((maj, min)) = major_minor {
        b = b.major(maj);
        if let Some(min) = min {
            b = b.minor(min);
        }
    }
    b.build().expect("device rule")
}

/// Docker's device rules: nothing but mknod of any device, and the usual
/// character devices (null, zero, full, random, urandom, tty, console,
/// ptmx, tun, and any pty).
pub(super) fn default_devices_allow() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    let mut v = vec![
        rule(false, None, None, "rwm"),
        rule(true, Some(C), None, "m"),
        rule(true, Some(B), None, "m"),
    ];
    for (maj, min) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        v.push(rule(true, Some(C), Some((maj, Some(min))), "rwm"));
    }
    v.push(rule(true, Some(C), Some((136, None)), "rwm"));
    v
}

/// Every rule of --privileged: all devices.
pub(super) fn privileged_devices_allow() -> Vec<LinuxDeviceCgroup> {
    vec![rule(true, None, None, "rwm")]
}

/// --device HOST[:CONTAINER[:PERMS]]: the device nodes and their rules.
pub(super) fn devices(o: &CreateOptions) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>)> {
    let mut nodes = Vec::new();
    let mut rules = Vec::new();
    for d in &o.devices {
        let parts: Vec<&str> = d.split(':').collect();
        let host = parts[0];
        let ctr = parts.get(1).copied().unwrap_or(host);
        let perms = parts.get(2).copied().unwrap_or("rwm");
        let st = nix::sys::stat::stat(host)
            .map_err(|e| bad("--device", d, format!("cannot stat {host}: {e}")))?;
        let typ = match st.st_mode & libc::S_IFMT {
            libc::S_IFCHR => LinuxDeviceType::C,
            libc::S_IFBLK => LinuxDeviceType::B,
            _ => return Err(bad("--device", d, "not a device")),
        };
        let (maj, min) = (
            libc::major(st.st_rdev) as i64,
            libc::minor(st.st_rdev) as i64,
        );
        nodes.push(
            LinuxDeviceBuilder::default()
                .path(ctr)
                .typ(typ)
                .major(maj)
                .minor(min)
                .file_mode(st.st_mode & 0o777)
                .uid(0u32)
                .gid(0u32)
                .build()
                .expect("device"),
        );
        rules.push(rule(true, Some(typ), Some((maj, Some(min))), perms));
    }
    Ok((nodes, rules))
}
