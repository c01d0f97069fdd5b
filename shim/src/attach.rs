//! The attach socket, DIR/attach: a unix stream socket any number of clients
//! can connect to at once. The frames both ways are drawn in
//! `berth_common::attach`.
//!
//! Clients get the output produced while they are connected (the past is in
//! the log). A client that cannot keep up (more than `MAX_BACKLOG` bytes
//! queued) is disconnected rather than allowed to stall the container.
//! Detach keys are the client's business: it just disconnects.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};

pub use berth_common::attach::{
    frame, take_frames, CLOSE_STDIN, EXIT, RESIZE, SIGNAL, STDERR, STDOUT, TO_STDIN,
};

const MAX_BACKLOG: usize = 4 << 20;

#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Stdin(Vec<u8>),
    Resize { rows: u16, cols: u16 },
    CloseStdin,
    Signal(i32),
}

fn parse_request(kind: u8, p: Vec<u8>) -> Result<Request, String> {
    Ok(match (kind, p.len()) {
        (TO_STDIN, _) => Request::Stdin(p),
        (RESIZE, 4) => Request::Resize {
            rows: u16::from_be_bytes([p[0], p[1]]),
            cols: u16::from_be_bytes([p[2], p[3]]),
        },
        (CLOSE_STDIN, 0) => Request::CloseStdin,
        (SIGNAL, 4) => Request::Signal(u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as i32),
        _ => {
            return Err(format!(
                "invalid frame of kind {kind} and length {}",
                p.len()
            ))
        }
    })
}

pub struct Client {
    stream: UnixStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    pub dead: bool,
}

impl Client {
    pub fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    pub fn wants_write(&self) -> bool {
        !self.wbuf.is_empty()
    }

    /// Reads what the client sent; sets `dead` on EOF or error.
    pub fn read(&mut self) -> Vec<Request> {
        let mut buf = [0u8; 8192];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.dead = true;
                    break;
                }
                Ok(n) => self.rbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.dead = true;
                    break;
                }
            }
        }
        let frames = take_frames(&mut self.rbuf).and_then(|fs| {
            fs.into_iter()
                .map(|(k, p)| parse_request(k, p))
                .collect::<Result<Vec<_>, _>>()
        });
        match frames {
            Ok(r) => r,
            Err(e) => {
                log::warn!("dropping attach client: {e}");
                self.dead = true;
                Vec::new()
            }
        }
    }

    pub fn send(&mut self, kind: u8, payload: &[u8]) {
        if self.dead {
            return;
        }
        frame(&mut self.wbuf, kind, payload);
        self.flush();
        if self.wbuf.len() > MAX_BACKLOG {
            log::warn!("dropping attach client: it does not read its output");
            self.dead = true;
        }
    }

    pub fn flush(&mut self) {
        while !self.wbuf.is_empty() {
            match self.stream.write(&self.wbuf) {
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.dead = true;
                    self.wbuf = Vec::new();
                    break;
                }
            }
        }
        if self.wbuf.is_empty() && self.wbuf.capacity() > 64 * 1024 {
            self.wbuf = Vec::new();
        }
    }

    /// Last words to a client: block (briefly) until they are written.
    pub fn finish(&mut self) {
        let _ = self.stream.set_nonblocking(false);
        let _ = self
            .stream
            .set_write_timeout(Some(std::time::Duration::from_secs(1)));
        let _ = self.stream.write_all(&self.wbuf);
        self.wbuf.clear();
    }
}

pub struct Server {
    pub listener: UnixListener,
    pub clients: Vec<Client>,
}

impl Server {
    pub fn new(listener: UnixListener) -> Server {
        Server {
            listener,
            clients: Vec::new(),
        }
    }

    pub fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_ok() {
                        self.clients.push(Client {
                            stream,
                            rbuf: Vec::new(),
                            wbuf: Vec::new(),
                            dead: false,
                        });
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    }

    pub fn broadcast(&mut self, kind: u8, payload: &[u8]) {
        for c in &mut self.clients {
            c.send(kind, payload);
        }
    }

    pub fn prune(&mut self) {
        self.clients.retain(|c| !c.dead);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_roundtrip_and_split() {
        let mut buf = Vec::new();
        frame(&mut buf, TO_STDIN, b"hello");
        frame(&mut buf, RESIZE, &[0, 24, 0, 80]);
        let tail = buf.split_off(buf.len() - 2);
        let f = take_frames(&mut buf).unwrap();
        assert_eq!(f, vec![(TO_STDIN, b"hello".to_vec())]);
        buf.extend_from_slice(&tail);
        let f = take_frames(&mut buf).unwrap();
        let (k, p) = f.into_iter().next().unwrap();
        assert_eq!(
            parse_request(k, p).unwrap(),
            Request::Resize { rows: 24, cols: 80 }
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_garbage() {
        let mut buf = vec![9, 0xff, 0xff, 0xff, 0xff];
        assert!(take_frames(&mut buf).is_err());
        assert!(parse_request(RESIZE, vec![1]).is_err());
    }
}
