//! A process's stdio, from the FIFOs containerd gives. Without a terminal
//! stdout and stderr are the FIFOs themselves (no copying, no thread; the
//! process holds them, so the reader sees EOF when it and its children are
//! gone); stdin goes through a pipe of ours so that CloseIO can end it.
//! With a terminal, the pty master comes over --console-socket and two
//! threads copy between it and the FIFOs.

use std::fs::{File, OpenOptions};
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

const THREAD_STACK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("open {0}: {1}")]
    Open(String, std::io::Error),
    #[error("console socket: {0}")]
    Console(std::io::Error),
}

/// What the runtime command gets: its stdio and, with a terminal, the
/// console socket to send the pty master to.
pub struct Prepared {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
    pub console_socket: Option<PathBuf>,
    listener: Option<UnixListener>,
    stdin_fifo: String,
    stdout_fifo: String,
    stdin_pipe: Option<File>,
}

/// What the shim keeps of a process's stdio while it runs.
#[derive(Default)]
pub struct ProcIo {
    /// Where stdin goes (our pipe's write end, or the pty master): None
    /// once closed.
    stdin: Arc<Mutex<Option<File>>>,
    stdin_fifo: String,
    pub console: Option<File>,
    /// Fires when the terminal's output has all been copied.
    pub output_done: Option<Receiver<()>>,
}

fn open_fifo_rdwr(path: &str) -> Result<File, IoError> {
    // Read-write: opening does not wait for a reader, and the process never
    // gets SIGPIPE while containerd's side is away (a restart).
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| IoError::Open(path.to_owned(), e))
}

pub fn prepare(
    stdin: &str,
    stdout: &str,
    stderr: &str,
    terminal: bool,
) -> Result<Prepared, IoError> {
    let mut p = Prepared {
        stdin: Stdio::null(),
        stdout: Stdio::null(),
        stderr: Stdio::null(),
        console_socket: None,
        listener: None,
        stdin_fifo: stdin.to_owned(),
        stdout_fifo: stdout.to_owned(),
        stdin_pipe: None,
    };
    if terminal {
        // sun_path holds 108 bytes: bundle paths can be longer.
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!(".berth-shimv2-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).map_err(IoError::Console)?;
        p.listener = Some(l);
        p.console_socket = Some(path);
        return Ok(p);
    }
    if !stdout.is_empty() {
        p.stdout = Stdio::from(open_fifo_rdwr(stdout)?);
    }
    if !stderr.is_empty() {
        p.stderr = Stdio::from(open_fifo_rdwr(stderr)?);
    }
    if !stdin.is_empty() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| IoError::Open("pipe".into(), e.into()))?;
        p.stdin = Stdio::from(r);
        p.stdin_pipe = Some(File::from(w));
    }
    Ok(p)
}

impl Prepared {
    /// After the runtime command succeeded: start copying.
    pub fn start(mut self) -> Result<ProcIo, IoError> {
        let mut io = ProcIo {
            stdin_fifo: self.stdin_fifo.clone(),
            ..Default::default()
        };
        if let Some(l) = self.listener.take() {
            let master = receive_master(&l);
            if let Some(path) = &self.console_socket {
                let _ = std::fs::remove_file(path);
            }
            let master = master?;
            let out = if self.stdout_fifo.is_empty() {
                None
            } else {
                Some(open_fifo_rdwr(&self.stdout_fifo)?)
            };
            let (tx, rx) = channel();
            let reader = master.try_clone().map_err(IoError::Console)?;
            spawn("tty-out", move || {
                copy_out(reader, out);
                let _ = tx.send(());
            });
            io.output_done = Some(rx);
            *io.stdin.lock().unwrap() = Some(master.try_clone().map_err(IoError::Console)?);
            io.console = Some(master);
        } else if let Some(w) = self.stdin_pipe.take() {
            *io.stdin.lock().unwrap() = Some(w);
        }
        if !self.stdin_fifo.is_empty() {
            let fifo = self.stdin_fifo.clone();
            let sink = io.stdin.clone();
            let tty = io.console.is_some();
            spawn("stdin", move || copy_in(&fifo, sink, tty));
        }
        Ok(io)
    }
}

impl ProcIo {
    pub fn close_stdin(&self) {
        self.stdin.lock().unwrap().take();
    }

    /// Ends the stdin copier even when containerd never opened the FIFO's
    /// write side (it blocks in open until someone does).
    pub fn shutdown(&self) {
        self.close_stdin();
        if !self.stdin_fifo.is_empty() {
            let _ = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.stdin_fifo);
        }
    }

    pub fn resize(&self, width: u32, height: u32) -> std::io::Result<()> {
        let Some(c) = &self.console else {
            return Ok(());
        };
        let ws = libc::winsize {
            ws_row: height as u16,
            ws_col: width as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from the pointer.
        if unsafe { libc::ioctl(c.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new()
        .name(name.into())
        .stack_size(THREAD_STACK)
        .spawn(f)
    {
        log::error!("cannot start the {name} thread: {e}");
    }
}

fn receive_master(l: &UnixListener) -> Result<File, IoError> {
    // The runtime connected and sent the fd before `create`/`exec`
    // returned: the connection waits in the backlog.
    l.set_nonblocking(true).map_err(IoError::Console)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let stream = loop {
        match l.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(IoError::Console(e)),
        }
    };
    stream.set_nonblocking(false).map_err(IoError::Console)?;
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| IoError::Console(e.into()))?;
    for c in msg.cmsgs().map_err(|e| IoError::Console(e.into()))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just gave us this fd; nobody else owns it.
                for &extra in &fds[1..] {
                    drop(unsafe { OwnedFd::from_raw_fd(extra) });
                }
                return Ok(unsafe { File::from_raw_fd(fd) });
            }
        }
    }
    Err(IoError::Console(std::io::Error::other(
        "no pty master came over the console socket",
    )))
}

fn copy_out(mut master: File, mut out: Option<File>) {
    let mut buf = [0u8; 8192];
    loop {
        // EIO once the last holder of the pty's other side is gone.
        let n = match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(o) = out.as_mut() {
            if o.write_all(&buf[..n]).is_err() {
                out = None;
            }
        }
    }
}

fn copy_in(fifo: &str, sink: Arc<Mutex<Option<File>>>, tty: bool) {
    // Blocks until containerd's side opens the FIFO for writing.
    let mut src = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(fifo)
    {
        Ok(f) => f,
        Err(e) => {
            log::warn!("stdin {fifo}: {e}");
            return;
        }
    };
    let mut buf = [0u8; 8192];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut g = sink.lock().unwrap();
        let Some(w) = g.as_mut() else { return };
        if w.write_all(&buf[..n]).is_err() {
            return;
        }
    }
    // The writer went away: the process sees EOF on a pipe; a terminal
    // stays open (closing the master would hang the session up).
    if !tty {
        sink.lock().unwrap().take();
    }
}
