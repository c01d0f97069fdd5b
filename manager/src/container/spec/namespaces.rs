//! `linux.namespaces` from --pid, --ipc, --uts, --network and --cgroupns.

use super::super::opts::CreateOptions;
use super::super::{bad, Result};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType};

fn namespace(typ: LinuxNamespaceType, path: Option<String>) -> LinuxNamespace {
    let b = LinuxNamespaceBuilder::default().typ(typ);
    match path {
        Some(p) => b.path(p),
        None => b,
    }
    .build()
    .expect("namespace")
}

/// A namespace of its own (""), the runtime's ("host": none in the spec),
/// or another container's (`container:NAME`, by its init's pid).
fn ns_path(
    typ: LinuxNamespaceType,
    v: &str,
    flag: &'static str,
    peer_pid: &dyn Fn(&str) -> Result<i32>,
) -> Result<Option<LinuxNamespace>> {
    match v {
        "" | "private" => Ok(Some(namespace(typ, None))),
        "host" => Ok(None),
        _ => match v.strip_prefix("container:") {
            Some(c) => {
                let pid = peer_pid(c)?;
                let file = match typ {
                    LinuxNamespaceType::Network => "net",
                    LinuxNamespaceType::Pid => "pid",
                    LinuxNamespaceType::Ipc => "ipc",
                    LinuxNamespaceType::Uts => "uts",
                    _ => unreachable!("only pid, ipc, uts and network are shared"),
                };
                Ok(Some(namespace(typ, Some(format!("/proc/{pid}/ns/{file}")))))
            }
            None => Err(bad(flag, v, "expected private, host or container:NAME")),
        },
    }
}

pub(super) fn namespaces(
    o: &CreateOptions,
    peer_pid: &dyn Fn(&str) -> Result<i32>,
) -> Result<Vec<LinuxNamespace>> {
    let net = o.network.clone().unwrap_or_else(|| "none".into());
    // Every other name is a network of the network module, in a namespace of its own.
    let net_mode = match net.as_str() {
        "host" => "host",
        n if n.starts_with("container:") => n,
        _ => "",
    };
    let mut nss = Vec::new();
    for (typ, flag, v) in [
        (
            LinuxNamespaceType::Pid,
            "--pid",
            o.pid.as_deref().unwrap_or(""),
        ),
        (
            LinuxNamespaceType::Ipc,
            "--ipc",
            o.ipc.as_deref().unwrap_or(""),
        ),
        (
            LinuxNamespaceType::Uts,
            "--uts",
            o.uts.as_deref().unwrap_or(""),
        ),
        (LinuxNamespaceType::Network, "--network", net_mode),
    ] {
        let v = if v == "shareable" { "" } else { v };
        if let Some(n) = ns_path(typ, v, flag, peer_pid)? {
            nss.push(n);
        }
    }
    nss.push(namespace(LinuxNamespaceType::Mount, None));
    match o.cgroupns.as_deref() {
        None | Some("private") => nss.push(namespace(LinuxNamespaceType::Cgroup, None)),
        Some("host") => {}
        Some(v) => return Err(bad("--cgroupns", v, "expected private or host")),
    }
    Ok(nss)
}
