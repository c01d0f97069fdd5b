//! Messages between the runtime (parent) and the container's init over a
//! socketpair: a u32 length then JSON. The picture of the exchange is in lib.rs.

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

#[derive(Debug, Serialize, Deserialize)]
pub enum Msg {
    /// Parent → init: user namespace mappings are written.
    Go,
    /// Parent → init: everything the init needs (see `init::InitConfig`).
    Config(Box<crate::init::InitConfig>),
    /// Init → parent: run these hook kinds in the runtime namespace now.
    Hooks(Vec<crate::hooks::HookKind>),
    /// Parent → init: hooks done (or the error that failed them).
    HooksDone(Option<String>),
    /// Init → parent: a joined pid namespace forced one more fork; this is the
    /// container's real init, as the parent sees it.
    Pid(i32),
    /// Init → parent: a seccomp listener fd follows, for the agent at
    /// linux.seccomp.listenerPath (seccomp/notify.rs).
    SeccompFd,
    /// Parent → init: the agent has the fd (or the error why not).
    SeccompDone(Option<String>),
    /// Parent → init: detached idmapped trees follow, one fd for each of
    /// these mount indexes (idmap.rs).
    MountFds(Vec<usize>),
    /// Init → parent: set up, blocked before exec.
    Ready,
    /// Init → parent: setup failed; the text is the user's error.
    Error(String),
}

pub struct Channel(pub UnixStream);

impl Channel {
    pub fn pair() -> io::Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair()?;
        Ok((Channel(a), Channel(b)))
    }

    /// # Safety
    /// `fd` must be an open socket that nothing else owns.
    pub unsafe fn from_raw_fd(fd: i32) -> Channel {
        Channel(UnixStream::from(OwnedFd::from_raw_fd(fd)))
    }

    pub fn fd(&self) -> i32 {
        self.0.as_raw_fd()
    }

    pub fn send(&mut self, m: &Msg) -> io::Result<()> {
        let body = serde_json::to_vec(m).map_err(io::Error::other)?;
        let mut buf = Vec::with_capacity(body.len() + 4);
        buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
        buf.extend_from_slice(&body);
        self.0.write_all(&buf)
    }

    /// Blocks for the next message; EOF (the peer died) is `UnexpectedEof`.
    pub fn recv(&mut self) -> io::Result<Msg> {
        let mut len = [0u8; 4];
        self.0.read_exact(&mut len)?;
        let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
        self.0.read_exact(&mut body)?;
        serde_json::from_slice(&body).map_err(io::Error::other)
    }
}
