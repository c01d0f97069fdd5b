//! Netlink spoken over a raw socket: the socket, the message builder and the
//! reply reader shared by `route` (just enough rtnetlink to build a bridge
//! and a veth pair, address the container's end, and bring its lo up) and
//! `nftables` (the elements of the port maps, over nfnetlink). Every request
//! asks for an ACK, so each call either did its work or returns the kernel's
//! errno; replies are matched to their request by sequence number.
//!
//! A netlink socket belongs to the network namespace it was created in; to
//! talk to a container's namespace we create the socket from a short-lived
//! thread that has joined that namespace (setns of a netns is per thread).

mod nftables;
mod route;

pub use nftables::SetElem;
pub use route::lo_up_in;

use std::cell::Cell;
use std::fs::File;
use std::io;
use std::ops::RangeInclusive;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLA_F_NESTED: u16 = 0x8000;

/// The kernel answers at once; a reply this late means it never will.
const REPLY_TIMEOUT_SECS: i64 = 10;

/// A netlink message being built: header, fixed part, attributes.
struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    /// A request that asks for an ACK; its sequence number is set when it is sent.
    fn new(ty: u16, flags: u16) -> Msg {
        Msg::with_seq(ty, flags | NLM_F_ACK, 0)
    }

    fn with_seq(ty: u16, flags: u16, seq: u32) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set in finish
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel fills it
        Msg {
            buf,
            nests: Vec::new(),
        }
    }

    fn set_seq(&mut self, seq: u32) {
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    }

    fn align(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.align();
        self
    }

    fn attr_str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(ty, &d)
    }

    fn attr_u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    fn begin(&mut self, ty: u16) -> &mut Self {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self
    }

    fn end(&mut self) -> &mut Self {
        let start = self.nests.pop().expect("netlink nest underflow");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn finish(&mut self) -> &[u8] {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        &self.buf
    }
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes(b[off..off + 2].try_into().expect("2 bytes"))
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// struct nlmsghdr.
#[derive(Debug, Clone, Copy)]
struct Header {
    len: usize,
    ty: u16,
    seq: u32,
}

impl Header {
    const SIZE: usize = 16;

    fn parse(b: &[u8]) -> Option<Header> {
        (b.len() >= Header::SIZE).then(|| Header {
            len: u32_at(b, 0) as usize,
            ty: u16_at(b, 4),
            seq: u32_at(b, 8),
        })
    }
}

/// What one message of a reply says.
enum Reply {
    /// struct nlmsgerr with error 0.
    Ack,
    /// struct nlmsgerr with the kernel's negative errno.
    Error(i32),
    /// Any other message: its payload, after the header.
    Data(Vec<u8>),
}

impl Reply {
    fn parse(h: &Header, payload: &[u8]) -> io::Result<Reply> {
        if h.ty != NLMSG_ERROR {
            return Ok(Reply::Data(payload.to_vec()));
        }
        if payload.len() < 4 {
            return Err(io::Error::other("truncated netlink error message"));
        }
        Ok(match u32_at(payload, 0) as i32 {
            0 => Reply::Ack,
            e => Reply::Error(e),
        })
    }
}

pub struct Netlink {
    fd: OwnedFd,
    /// The sequence number of the last request sent.
    seq: Cell<u32>,
}

fn sys(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        Netlink::open_protocol(libc::NETLINK_ROUTE)
    }

    fn open_protocol(protocol: libc::c_int) -> io::Result<Netlink> {
        // SAFETY: plain socket/setsockopt/bind calls on a descriptor we own from here on.
        unsafe {
            let fd = sys(libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            ))?;
            let fd = OwnedFd::from_raw_fd(fd);
            let tv = libc::timeval {
                tv_sec: REPLY_TIMEOUT_SECS,
                tv_usec: 0,
            };
            sys(libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            ))?;
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            sys(libc::bind(
                fd.as_raw_fd(),
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            ))?;
            Ok(Netlink {
                fd,
                seq: Cell::new(0),
            })
        }
    }

    /// A socket in the network namespace `ns` (an open /proc/<pid>/ns/net).
    pub fn open_in(ns: &File) -> io::Result<Netlink> {
        let nsfd = ns.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: only this thread changes namespace, and it ends right after.
                sys(unsafe { libc::setns(nsfd, libc::CLONE_NEWNET) })?;
                Netlink::open()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netlink thread panicked")))
        })
    }

    /// Reserves `n` sequence numbers; the first of them.
    fn next_seqs(&self, n: u32) -> u32 {
        let first = self.seq.get().wrapping_add(1);
        self.seq.set(first.wrapping_add(n - 1));
        first
    }

    /// Sends one request and returns the payload of the first non-ACK reply, if any.
    fn request(&self, msg: &mut Msg) -> io::Result<Option<Vec<u8>>> {
        let seq = self.next_seqs(1);
        msg.set_seq(seq);
        self.send_and_wait(msg.finish(), seq..=seq)
    }

    /// Sends `data` (one message or a batch of them, numbered `seqs`) and
    /// waits for the first ACK or error of one of them, returning the
    /// payload of the first other reply to them seen before it. Replies to
    /// other sequence numbers (an earlier request's leftovers) are skipped.
    fn send_and_wait(&self, data: &[u8], seqs: RangeInclusive<u32>) -> io::Result<Option<Vec<u8>>> {
        // SAFETY: send on our own socket of a buffer we own.
        sys(unsafe {
            libc::send(self.fd.as_raw_fd(), data.as_ptr().cast(), data.len(), 0) as i32
        })?;
        let mut buf = vec![0u8; 16384];
        let mut reply = None;
        loop {
            // SAFETY: recv on our own socket into a buffer we own.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("netlink: no answer in {REPLY_TIMEOUT_SECS} s"),
                        ))
                    }
                    _ => return Err(e),
                }
            }
            let got = &buf[..n as usize];
            let mut off = 0usize;
            while let Some(h) = got.get(off..).and_then(Header::parse) {
                if h.len < Header::SIZE || off + h.len > got.len() {
                    return Err(io::Error::other("truncated netlink reply"));
                }
                let payload = &got[off + Header::SIZE..off + h.len];
                off += (h.len + 3) & !3;
                if !seqs.contains(&h.seq) {
                    log::debug!("netlink: skipping a reply to request {}", h.seq);
                    continue;
                }
                match Reply::parse(&h, payload)? {
                    Reply::Ack => return Ok(reply),
                    Reply::Error(e) => return Err(io::Error::from_raw_os_error(-e)),
                    Reply::Data(d) => {
                        reply.get_or_insert(d);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a thread of its own in a new, empty network namespace.
    fn in_new_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: only this thread changes namespace, and it ends after `f`.
                assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
                f()
            })
            .join()
            .unwrap()
        })
    }

    /// Whether 127.0.0.1 is reachable (a UDP connect sends nothing; it
    /// fails with ENETUNREACH while lo is down).
    fn loopback_reachable() -> bool {
        std::net::UdpSocket::bind("0.0.0.0:0")
            .and_then(|s| s.connect("127.0.0.1:9"))
            .is_ok()
    }

    #[test]
    fn replies_to_an_earlier_request_are_skipped() {
        in_new_netns(|| {
            let nl = Netlink::open().unwrap();
            // A request whose reply (the link, then its ACK) nobody reads.
            let mut stale = Msg::with_seq(18, NLM_F_ACK, 1000); // RTM_GETLINK
            stale.buf.extend_from_slice(&[0; 16]);
            stale.attr_str(3, "lo"); // IFLA_IFNAME
            let data = stale.finish();
            // SAFETY: send on our own socket of a buffer we own.
            let n = unsafe { libc::send(nl.fd.as_raw_fd(), data.as_ptr().cast(), data.len(), 0) };
            assert_eq!(n as usize, data.len());
            // Read in order, the stale link reply would answer this one.
            assert_eq!(nl.link_index("nosuchlink").unwrap(), None);
            assert_eq!(nl.link_index("lo").unwrap(), Some(1));
        });
    }

    #[test]
    fn lo_comes_up_in_another_namespace() {
        in_new_netns(|| {
            assert!(!loopback_reachable(), "lo of a new namespace is down");
            let ns = File::open("/proc/thread-self/ns/net").unwrap();
            lo_up_in(&ns).unwrap();
            assert!(loopback_reachable());
        });
    }

    #[test]
    fn a_kernel_error_is_returned_as_its_errno() {
        in_new_netns(|| {
            let nl = Netlink::open().unwrap();
            // lo exists already: NLM_F_EXCL makes the kernel refuse.
            let e = nl.create_bridge("lo").unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EEXIST), "{e}");
        });
    }
}
