//! The shim proper (P2): sets up the process's stdio, has the runtime create
//! it, then runs one poll loop until the process has exited:
//!
//! ```text
//! stdout/stderr pipes (or pty master) ──▶ log file + every attach client
//! attach clients ──▶ stdin pipe (or pty master), TIOCSWINSZ, kill(init)
//! signalfd: SIGCHLD ──▶ reap all; SIGTERM/INT/QUIT/USR1/USR2 ──▶ kill(init)
//!           SIGHUP ──▶ ignored (blocked rather than SIG_IGN so that the
//!                      runtime and the container do not inherit SIG_IGN)
//! ```
//!
//! Race handled: the init may exit before the loop starts (a `true` started
//! with --start); its SIGCHLD then waits in the signalfd, and the loop reaps
//! once before its first poll anyway. After the exit the loop goes on until
//! every output has hit EOF (pipes) or EIO (pty), so the last lines are never
//! lost, but for at most `DRAIN` in case some process outside the container's
//! pid namespace still holds them.

use crate::args::{Mode, RunOpts};
use crate::attach::{self, Request, Server};
use crate::daemon::{Report, Sync};
use crate::exit::{reap, ExitInfo};
use crate::log::{LogWriter, Stream};
use crate::runtime::{recv_pty, Runtime, Stdio3};
use crate::sock::{Dir, ATTACH, CONSOLE};
use anyhow::{anyhow, Context, Result};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{pipe2, Pid};
use std::ffi::OsString;
use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

pub const EXIT: &str = "exit";
pub const PID: &str = "pid";
pub const SHIM_PID: &str = "shim.pid";
pub const LOG: &str = "ctr.log";

const DRAIN: Duration = Duration::from_secs(2);
/// How long --hold-output waits for its first client: past that its caller
/// is taken to be gone, and the output goes to the log alone.
const HOLD: Duration = Duration::from_secs(30);
const MAX_STDIN_QUEUE: usize = 1 << 20;
const FORWARDED: [Signal; 5] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

struct Shim {
    outputs: Vec<(File, Stream)>,
    stdin: Option<File>,
    stdin_queue: Vec<u8>,
    close_stdin: bool,
    pty: Option<OwnedFd>,
    log: LogWriter,
    server: Server,
    sigfd: SignalFd,
    init: Pid,
    exit: Option<(ExitInfo, Instant)>,
    /// Until when the output is left unread for a first client (--hold-output).
    hold: Option<Instant>,
}

pub fn serve(opts: &RunOpts, sync: &mut Sync) -> Result<()> {
    let dir = Dir::open(&opts.dir)?;
    let rt = Runtime {
        path: opts.runtime.clone(),
        root: opts.runtime_root.clone(),
    };
    let mut mask = SigSet::empty();
    for s in FORWARDED.iter().chain(&[Signal::SIGCHLD, Signal::SIGHUP]) {
        mask.add(*s);
    }
    mask.thread_block().context("cannot block signals")?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .context("cannot create a signalfd")?;
    let server = Server::new(dir.bind(ATTACH)?);
    let log_path = opts.log_path.clone().unwrap_or_else(|| dir.file(LOG));
    let log = LogWriter::open(log_path.clone(), opts.log_max_size)
        .with_context(|| format!("cannot open log {}", log_path.display()))?;
    let pid_file = dir.file(PID);
    let _ = std::fs::remove_file(&pid_file);

    let mut args: Vec<OsString> = match opts.mode {
        Mode::Create => vec![
            "create".into(),
            "--bundle".into(),
            opts.bundle.clone().unwrap().into(),
            "--pid-file".into(),
            pid_file.clone().into(),
        ],
        Mode::Exec => vec![
            "exec".into(),
            "--process".into(),
            opts.process.clone().unwrap().into(),
            "--detach".into(),
            "--pid-file".into(),
            pid_file.clone().into(),
        ],
    };
    let null = || File::options().read(true).write(true).open("/dev/null");
    let (outputs, stdin, pty) = if opts.tty {
        let console = dir.bind(CONSOLE)?;
        if opts.mode == Mode::Exec {
            args.push("--tty".into());
        }
        args.push("--console-socket".into());
        args.push(dir.short_for_others(CONSOLE).into());
        args.push(opts.id.clone().into());
        let (err_r, err_w) = pipe()?;
        let stdio = Stdio3 {
            stdin: null()?.into(),
            stdout: err_w.try_clone()?,
            stderr: err_w,
        };
        let created = rt.run_detached(&args, stdio, err_r.as_raw_fd());
        dir.remove(CONSOLE);
        if let Err(text) = created {
            dir.remove(ATTACH);
            return Err(anyhow!(text));
        }
        let master = recv_pty(&console)?;
        set_nonblocking(master.as_raw_fd())?;
        let stdin = match opts.stdin {
            true => Some(File::from(master.try_clone()?)),
            false => None,
        };
        (
            vec![(File::from(master.try_clone()?), Stream::Stdout)],
            stdin,
            Some(master),
        )
    } else {
        args.push(opts.id.clone().into());
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (in_r, in_w): (OwnedFd, Option<OwnedFd>) = match opts.stdin {
            true => {
                let (r, w) = pipe2(OFlag::O_CLOEXEC)?;
                set_nonblocking(w.as_raw_fd())?;
                (r, Some(w))
            }
            false => (null()?.into(), None),
        };
        let stdio = Stdio3 {
            stdin: in_r,
            stdout: out_w,
            stderr: err_w,
        };
        if let Err(text) = rt.run_detached(&args, stdio, err_r.as_raw_fd()) {
            dir.remove(ATTACH);
            return Err(anyhow!(text));
        }
        let outputs = vec![
            (File::from(out_r), Stream::Stdout),
            (File::from(err_r), Stream::Stderr),
        ];
        (outputs, in_w.map(File::from), None)
    };

    let init = read_pid(&pid_file)?;
    let me = std::process::id() as i32;
    // A runc-like runtime has exited by now, so the kernel has re-parented
    // the process to us (the subreaper). If it has not, we could never wait
    // for it: refuse rather than record an exit we cannot see.
    let ppid = parent_of(init);
    if ppid != Some(me) {
        let _ = kill(init, Signal::SIGKILL);
        if opts.mode == Mode::Create {
            let _ = rt.run(&["delete", "--force", &opts.id]);
        }
        dir.remove(ATTACH);
        return Err(anyhow!(
            "process {init} is a child of {ppid:?}, not of the shim ({me}): the runtime must exit after create"
        ));
    }
    if opts.start {
        if let Err(text) = rt.run(&["start", &opts.id]) {
            let _ = kill(init, Signal::SIGKILL);
            let _ = rt.run(&["delete", "--force", &opts.id]);
            dir.remove(ATTACH);
            return Err(anyhow!(text));
        }
    }
    dir.write_atomic(SHIM_PID, me.to_string().as_bytes())?;
    sync.report(&Report {
        pid: Some(init.as_raw()),
        shim_pid: Some(me),
        error: None,
    });

    let mut shim = Shim {
        outputs,
        stdin,
        stdin_queue: Vec::new(),
        close_stdin: false,
        pty,
        log,
        server,
        sigfd,
        init,
        exit: None,
        hold: opts.hold_output.then(|| Instant::now() + HOLD),
    };
    shim.run();

    // The end: no new clients, the runtime's state gone (--rm), then the
    // exit file, so that a reader who sees it knows the shim is done.
    dir.remove(ATTACH);
    let (info, _) = shim.exit.take().expect("loop ends only after the exit");
    if opts.rm {
        if let Err(e) = rt.run(&["delete", "--force", &opts.id]) {
            log::warn!("runtime delete failed: {e}");
        }
    }
    let json = serde_json::to_vec(&info)?;
    dir.write_durable(EXIT, &json)?;
    shim.server.broadcast(attach::EXIT, &json);
    for c in &mut shim.server.clients {
        c.finish();
    }
    dir.remove(SHIM_PID);
    reap(init);
    Ok(())
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = pipe2(OFlag::O_CLOEXEC).context("cannot create a pipe")?;
    set_nonblocking(r.as_raw_fd())?;
    Ok((r, w))
}

fn set_nonblocking(fd: RawFd) -> Result<()> {
    let fl = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK))?;
    Ok(())
}

fn read_pid(p: &std::path::Path) -> Result<Pid> {
    let s = std::fs::read_to_string(p)
        .with_context(|| format!("the runtime wrote no pid file {}", p.display()))?;
    let n: i32 = s
        .trim()
        .parse()
        .with_context(|| format!("invalid pid {s:?} in {}", p.display()))?;
    Ok(Pid::from_raw(n))
}

fn parent_of(pid: Pid) -> Option<i32> {
    berth_common::procstat::Stat::read(pid.as_raw()).map(|s| s.ppid)
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

impl Shim {
    /// Ends the hold once a client is there or its time is up; whether the
    /// output is still held.
    fn holding(&mut self) -> bool {
        let Some(until) = self.hold else {
            return false;
        };
        if self.server.clients.is_empty() && Instant::now() < until {
            return true;
        }
        self.hold = None;
        // The drain after the exit counts from now: nothing was read before.
        if let Some((_, at)) = &mut self.exit {
            *at = Instant::now();
        }
        false
    }

    fn run(&mut self) {
        self.on_sigchld();
        loop {
            let holding = self.holding();
            let timeout = match (&self.exit, self.hold) {
                (_, Some(until)) => {
                    until.saturating_duration_since(Instant::now()).as_millis() as i32 + 1
                }
                (Some((_, at)), None) => {
                    let left = DRAIN.saturating_sub(at.elapsed());
                    if self.outputs.is_empty() || left.is_zero() {
                        return;
                    }
                    left.as_millis() as i32 + 1
                }
                (None, None) => -1,
            };
            let mut fds = vec![pollfd(self.sigfd.as_raw_fd(), libc::POLLIN)];
            for (f, _) in &self.outputs {
                // poll(2) skips a negative fd: a held output is not even
                // looked at (its hangup would wake us for nothing).
                let fd = if holding { -1 } else { f.as_raw_fd() };
                fds.push(pollfd(fd, libc::POLLIN));
            }
            let stdin_at = fds.len();
            if let Some(f) = self.stdin.as_ref().filter(|_| !self.stdin_queue.is_empty()) {
                fds.push(pollfd(f.as_raw_fd(), libc::POLLOUT));
            }
            let listen_at = fds.len();
            fds.push(pollfd(self.server.listener.as_raw_fd(), libc::POLLIN));
            let take_input = self.stdin_queue.len() < MAX_STDIN_QUEUE;
            for c in &self.server.clients {
                let mut ev = if take_input { libc::POLLIN } else { 0 };
                if c.wants_write() {
                    ev |= libc::POLLOUT;
                }
                fds.push(pollfd(c.fd(), ev));
            }
            // SAFETY: fds is a valid array of fds.len() pollfd structs.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != ErrorKind::Interrupted {
                    log::error!("poll: {e}");
                    return;
                }
                continue;
            }
            let ready = |i: usize| fds[i].revents != 0;
            if ready(0) {
                self.on_signals();
            }
            // Outputs before clients: a client's request never overtakes
            // output that was already there when it arrived.
            let mut closed = Vec::new();
            for i in 0..self.outputs.len() {
                if ready(1 + i) && self.read_output(i) {
                    closed.push(i);
                }
            }
            for i in closed.into_iter().rev() {
                self.outputs.remove(i);
            }
            if stdin_at < listen_at && ready(stdin_at) {
                self.write_stdin();
            }
            let n_clients = self.server.clients.len();
            for i in 0..n_clients {
                let pf = fds[listen_at + 1 + i];
                if pf.revents & libc::POLLOUT != 0 {
                    self.server.clients[i].flush();
                }
                if pf.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    for req in self.server.clients[i].read() {
                        self.on_request(req);
                    }
                }
            }
            if ready(listen_at) {
                self.server.accept();
            }
            self.server.prune();
        }
    }

    /// Returns true when the output is finished (EOF, or EIO from a pty).
    fn read_output(&mut self, i: usize) -> bool {
        use std::io::Read;
        let mut buf = [0u8; 8192];
        // A bounded number of reads so one chatty stream cannot starve the rest.
        for _ in 0..16 {
            let (f, stream) = &mut self.outputs[i];
            match f.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => {
                    let stream = *stream;
                    self.log.write(stream, &buf[..n]);
                    let kind = match stream {
                        Stream::Stdout => attach::STDOUT,
                        Stream::Stderr => attach::STDERR,
                    };
                    self.server.broadcast(kind, &buf[..n]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    if e.raw_os_error() != Some(libc::EIO) {
                        log::warn!("reading {}: {e}", stream.name());
                    }
                    return true;
                }
            }
        }
        false
    }

    fn write_stdin(&mut self) {
        use std::io::Write;
        let Some(f) = self.stdin.as_mut() else {
            return;
        };
        while !self.stdin_queue.is_empty() {
            match f.write(&self.stdin_queue) {
                Ok(n) => {
                    self.stdin_queue.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EPIPE: the container closed its stdin; nothing more to send.
                    log::debug!("writing stdin: {e}");
                    self.stdin = None;
                    self.stdin_queue = Vec::new();
                    return;
                }
            }
        }
        if self.close_stdin {
            self.stdin = None;
        }
    }

    fn on_request(&mut self, req: Request) {
        match req {
            Request::Stdin(data) => {
                if self.stdin.is_some() && !self.close_stdin {
                    self.stdin_queue.extend_from_slice(&data);
                    self.write_stdin();
                }
            }
            Request::CloseStdin => {
                if self.stdin.is_some() && self.pty.is_some() {
                    // A terminal has no EOF of its own: send its EOF character.
                    self.stdin_queue.push(0x04);
                    self.write_stdin();
                } else {
                    self.close_stdin = true;
                    self.write_stdin();
                }
            }
            Request::Resize { rows, cols } => {
                if let Some(pty) = &self.pty {
                    let ws = libc::winsize {
                        ws_row: rows,
                        ws_col: cols,
                        ws_xpixel: 0,
                        ws_ypixel: 0,
                    };
                    // SAFETY: TIOCSWINSZ reads one winsize from the pointer.
                    if unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
                        log::warn!("resize: {}", std::io::Error::last_os_error());
                    }
                }
            }
            Request::Signal(sig) => self.forward(sig),
        }
    }

    fn forward(&self, sig: i32) {
        if self.exit.is_some() {
            return;
        }
        match Signal::try_from(sig) {
            Ok(s) => {
                if let Err(e) = kill(self.init, s) {
                    log::warn!("cannot send {s} to {}: {e}", self.init);
                }
            }
            Err(_) => log::warn!("ignoring request for invalid signal {sig}"),
        }
    }

    fn on_signals(&mut self) {
        while let Ok(Some(si)) = self.sigfd.read_signal() {
            let signo = si.ssi_signo as i32;
            if signo == libc::SIGCHLD {
                self.on_sigchld();
            } else if signo != libc::SIGHUP {
                self.forward(signo);
            }
        }
    }

    fn on_sigchld(&mut self) {
        if let Some(info) = reap(self.init) {
            log::info!("init {} exited: {info:?}", self.init);
            self.exit = Some((info, Instant::now()));
        }
    }
}
