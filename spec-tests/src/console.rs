//! The receiving end of `--console-socket`: the runtime sends the pty
//! master over it (SCM_RIGHTS), and we keep everything the container writes.

use std::io::{IoSliceMut, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

pub struct Console {
    path: PathBuf,
    buf: Arc<Mutex<Vec<u8>>>,
    got_fd: Arc<Mutex<bool>>,
    done: Arc<Mutex<bool>>,
}

impl Console {
    pub fn listen(path: &Path) -> Result<Console> {
        let l = UnixListener::bind(path)
            .with_context(|| format!("bind console socket {}", path.display()))?;
        let buf = Arc::new(Mutex::new(Vec::new()));
        let got_fd = Arc::new(Mutex::new(false));
        let done = Arc::new(Mutex::new(false));
        let (b, g, d) = (buf.clone(), got_fd.clone(), done.clone());
        std::thread::spawn(move || {
            let Ok((s, _)) = l.accept() else { return };
            let mut data = [0u8; 4096];
            let mut iov = [IoSliceMut::new(&mut data)];
            let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
            let Ok(msg) = recvmsg::<()>(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                &mut iov,
                Some(&mut space),
                MsgFlags::empty(),
            ) else {
                return;
            };
            let mut master = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmRights(fds) = c {
                        // SAFETY: the fd was just received and is ours alone.
                        master = fds.first().map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) });
                    }
                }
            }
            let Some(master) = master else { return };
            *g.lock().unwrap() = true;
            let mut f = std::fs::File::from(master);
            let mut chunk = [0u8; 4096];
            // EIO once the last slave fd is closed: the container is gone.
            while let Ok(n) = f.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                b.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
            *d.lock().unwrap() = true;
        });
        Ok(Console {
            path: path.to_path_buf(),
            buf,
            got_fd,
            done,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn received_master(&self) -> bool {
        *self.got_fd.lock().unwrap()
    }

    /// What the container wrote so far, with the tty's CRLF turned back into LF.
    pub fn output(&self) -> String {
        // The reader may still be draining the master: give it until the
        // pty reports the container gone, within reason.
        for _ in 0..100 {
            if *self.done.lock().unwrap() || !self.received_master() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        String::from_utf8_lossy(&self.buf.lock().unwrap()).replace("\r\n", "\n")
    }
}
