//! A terminal container: the pty master arrives on --console-socket
//! (SCM_RIGHTS, as runc's docs/terminals.md describes) and is a real pty.

mod common;
use common::*;
use serde_json::json;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

fn recv_fd(sock: &std::os::unix::net::UnixStream) -> OwnedFd {
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no fd received");
}

#[test]
fn console_socket_receives_a_working_pty() {
    let c = Ctr::with(
        "tty; stty size; test -t 0 && echo stdin-is-tty; ls -l /dev/console | cut -c1",
        |c| {
            c["process"]["terminal"] = json!(true);
            c["process"]["consoleSize"] = json!({"height": 33, "width": 101});
        },
    );
    let sock_path = c.root.path().join("console.sock");
    let l = UnixListener::bind(&sock_path).unwrap();
    let mut cmd = c.cmd();
    cmd.args(["create", "--console-socket"])
        .arg(&sock_path)
        .arg("--bundle")
        .arg(c.bundle.path())
        .arg(&c.id);
    let h = std::thread::spawn(move || {
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap()
    });
    let (s, _) = l.accept().unwrap();
    let master = recv_fd(&s);
    let o = h.join().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(c.out(&["start", &c.id]).status.success());
    let mut f = std::fs::File::from(master);
    let mut out = String::new();
    let mut buf = [0u8; 1024];
    // Read until the pty hangs up (EIO) when the process exits.
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let out = out.replace('\r', "");
    assert!(out.starts_with("/dev/pts/"), "{out}");
    assert!(out.contains("33 101"), "{out}");
    assert!(out.contains("stdin-is-tty"), "{out}");
    assert!(out.contains("\nc\n"), "/dev/console is the pty: {out}");
}
