//! The task service: containerd's calls for every container of the pod.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use containerd_shim::api::{
    CloseIORequest, ConnectRequest, ConnectResponse, CreateTaskRequest, CreateTaskResponse,
    DeleteRequest, DeleteResponse, Empty, ExecProcessRequest, KillRequest, PauseRequest,
    PidsRequest, PidsResponse, ResizePtyRequest, ResumeRequest, ShutdownRequest, StartRequest,
    StartResponse, StateRequest, StateResponse, StatsRequest, StatsResponse, Status,
    UpdateTaskRequest, WaitRequest, WaitResponse,
};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim::events::{Envelope, ForwardRequest};
use containerd_shim::protos::ttrpc::{self, context::Context, Code};
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::protos::{topics, Client, EventsClient};
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{ExitSignal, Task, TtrpcContext};

use crate::runtime::Runtime;
use crate::{cgroup, reaper, stdio};

pub fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let mut ts = Timestamp::new();
    ts.seconds = d.as_secs() as i64;
    ts.nanos = d.subsec_nanos() as i32;
    ts
}

fn err(code: Code, msg: impl Into<String>) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg.into()))
}

fn not_found(what: &str) -> ttrpc::Error {
    err(Code::NOT_FOUND, format!("{what}: not found"))
}

fn internal(e: impl std::fmt::Display) -> ttrpc::Error {
    err(Code::UNKNOWN, e.to_string())
}

struct Proc {
    pid: u32,
    status: Status,
    exit_status: u32,
    exited_at: Option<SystemTime>,
    stdin: String,
    stdout: String,
    stderr: String,
    terminal: bool,
    io: Option<stdio::ProcIo>,
    /// An exec's process.json, waiting for Start.
    spec: Option<Any>,
}

impl Proc {
    fn new(stdin: &str, stdout: &str, stderr: &str, terminal: bool) -> Proc {
        Proc {
            pid: 0,
            status: Status::CREATED,
            exit_status: 0,
            exited_at: None,
            stdin: stdin.to_owned(),
            stdout: stdout.to_owned(),
            stderr: stderr.to_owned(),
            terminal,
            io: None,
            spec: None,
        }
    }
}

struct Container {
    bundle: PathBuf,
    rt: Runtime,
    init: Proc,
    execs: HashMap<String, Proc>,
    mounted: bool,
    oom: Option<cgroup::OomWatch>,
}

#[derive(Default)]
struct State {
    containers: HashMap<String, Container>,
}

impl State {
    fn container(&mut self, id: &str) -> ttrpc::Result<&mut Container> {
        self.containers
            .get_mut(id)
            .ok_or_else(|| not_found(&format!("container {id}")))
    }

    fn proc(&mut self, id: &str, exec_id: &str) -> ttrpc::Result<&mut Proc> {
        let c = self.container(id)?;
        if exec_id.is_empty() {
            Ok(&mut c.init)
        } else {
            c.execs
                .get_mut(exec_id)
                .ok_or_else(|| not_found(&format!("exec {exec_id} of {id}")))
        }
    }
}

struct Inner {
    state: Mutex<State>,
    exited: Condvar,
    events: Mutex<Sender<Outgoing>>,
    namespace: String,
    exit: Arc<ExitSignal>,
}

pub struct Service {
    inner: Arc<Inner>,
}

impl Service {
    pub fn new(namespace: &str, publisher: RemotePublisher, exit: Arc<ExitSignal>) -> Service {
        // Ours connects only when there is something to say (spawn_publisher).
        drop(publisher);
        let (tx, rx) = channel::<Outgoing>();
        let inner = Arc::new(Inner {
            state: Mutex::new(State::default()),
            exited: Condvar::new(),
            events: Mutex::new(tx),
            namespace: namespace.to_owned(),
            exit,
        });
        spawn_publisher(rx, namespace.to_owned());
        let weak = Arc::downgrade(&inner);
        let handler = Box::new(move |pid: i32, status: i32| match weak.upgrade() {
            Some(inner) => inner.on_exit(pid as u32, status),
            None => false,
        });
        if let Err(e) = reaper::start(handler) {
            log::error!("cannot start the reaper: {e}");
        }
        Service { inner }
    }
}

/// An event for containerd: its topic and its message as an Any.
pub struct Outgoing {
    topic: &'static str,
    event: Any,
    at: Timestamp,
}

/// The task events we publish, with containerd's topic and type name.
/// Encoding them through `Message` (not `MessageDyn`) keeps protobuf's
/// reflection, and its hundreds of KiB of code, out of the binary.
trait TaskEvent: Message {
    const TOPIC: &'static str;
    const TYPE_URL: &'static str;
}

macro_rules! task_event {
    ($($t:ident => $topic:ident),* $(,)?) => {$(
        impl TaskEvent for $t {
            const TOPIC: &'static str = topics::$topic;
            const TYPE_URL: &'static str = concat!("containerd.events.", stringify!($t));
        }
    )*};
}

task_event! {
    TaskCreate => TASK_CREATE_EVENT_TOPIC,
    TaskStart => TASK_START_EVENT_TOPIC,
    TaskDelete => TASK_DELETE_EVENT_TOPIC,
    TaskExit => TASK_EXIT_EVENT_TOPIC,
    TaskOOM => TASK_OOM_EVENT_TOPIC,
    TaskExecAdded => TASK_EXEC_ADDED_EVENT_TOPIC,
    TaskExecStarted => TASK_EXEC_STARTED_EVENT_TOPIC,
    TaskPaused => TASK_PAUSED_EVENT_TOPIC,
    TaskResumed => TASK_RESUMED_EVENT_TOPIC,
}

/// Events go out in order from one thread: a slow or restarting containerd
/// never holds up a call or the reaper. The connection lives only while
/// there is something to send: an idle shim keeps no client threads.
fn spawn_publisher(rx: std::sync::mpsc::Receiver<Outgoing>, namespace: String) {
    let address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
    let spawned = std::thread::Builder::new()
        .name("events".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut client: Option<EventsClient> = None;
                let mut next = Some(first);
                while let Some(ev) = next.take() {
                    publish(&address, &namespace, &mut client, ev);
                    next = rx.try_recv().ok();
                }
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot start the events thread: {e}");
    }
}

fn publish(address: &str, namespace: &str, client: &mut Option<EventsClient>, ev: Outgoing) {
    let mut envelope = Envelope::new();
    envelope.timestamp = MessageField::some(ev.at);
    envelope.namespace = namespace.to_owned();
    envelope.topic = ev.topic.to_owned();
    envelope.event = MessageField::some(ev.event);
    let mut req = ForwardRequest::new();
    req.envelope = MessageField::some(envelope);
    // containerd may be restarting: reconnect and retry for a while rather
    // than lose an exit.
    for attempt in 0..100 {
        if client.is_none() {
            *client = containerd_shim::util::connect(address)
                .ok()
                .and_then(|fd| Client::new(fd).ok())
                .map(EventsClient::new);
        }
        if let Some(c) = client.as_ref() {
            match c.forward(Context::default(), &req) {
                Ok(_) => return,
                Err(e) => {
                    if attempt == 0 {
                        log::warn!("publish {}: {e}", ev.topic);
                    }
                    *client = None;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    log::error!("gave up publishing {} to {address}", ev.topic);
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn send<E: TaskEvent>(&self, ev: E) {
        let mut event = Any::new();
        event.type_url = E::TYPE_URL.to_owned();
        match ev.write_to_bytes() {
            Ok(v) => event.value = v,
            Err(e) => {
                log::error!("encode {}: {e}", E::TYPE_URL);
                return;
            }
        }
        let out = Outgoing {
            topic: E::TOPIC,
            event,
            at: timestamp(SystemTime::now()),
        };
        let _ = self.events.lock().unwrap().send(out);
    }

    /// The reaper's news of `pid`: true if it is one of our processes.
    fn on_exit(self: &Arc<Self>, pid: u32, status: i32) -> bool {
        let mut st = self.lock();
        let found = st.containers.iter_mut().find_map(|(cid, c)| {
            if c.init.pid == pid && c.init.exited_at.is_none() {
                return Some((cid.clone(), String::new()));
            }
            c.execs
                .iter()
                .find(|(_, p)| p.pid == pid && p.exited_at.is_none())
                .map(|(eid, _)| (cid.clone(), eid.clone()))
        });
        let Some((cid, eid)) = found else {
            return false;
        };
        let output_done = st
            .proc(&cid, &eid)
            .ok()
            .and_then(|p| p.io.as_mut())
            .and_then(|io| io.output_done.take());
        drop(st);
        match output_done {
            // Let the terminal's last output reach the FIFO before anyone
            // hears of the exit; the reaper goes on meanwhile.
            Some(rx) => {
                let me = self.clone();
                let spawned = std::thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn(move || {
                        let _ = rx.recv_timeout(Duration::from_secs(2));
                        me.record_exit(&cid, &eid, pid, status);
                    });
                if let Err(e) = spawned {
                    log::warn!("exit of {pid}: {e}");
                }
            }
            None => self.record_exit(&cid, &eid, pid, status),
        }
        true
    }

    fn record_exit(&self, cid: &str, eid: &str, pid: u32, status: i32) {
        let now = SystemTime::now();
        let mut st = self.lock();
        // The OOM killer may have ended it, the cgroup is still there: say so
        // before the exit (the watching thread may come too late).
        let oom = eid.is_empty()
            && st
                .containers
                .get(cid)
                .and_then(|c| c.oom.as_ref())
                .is_some_and(|w| w.check());
        let Ok(p) = st.proc(cid, eid) else { return };
        if p.exited_at.is_some() {
            return;
        }
        p.status = Status::STOPPED;
        p.exit_status = status as u32;
        p.exited_at = Some(now);
        if let Some(io) = &p.io {
            io.close_stdin();
        }
        drop(st);
        self.exited.notify_all();
        if oom {
            let mut ev = TaskOOM::new();
            ev.container_id = cid.to_owned();
            self.send(ev);
        }
        let mut ev = TaskExit::new();
        ev.container_id = cid.to_owned();
        ev.id = if eid.is_empty() {
            cid.to_owned()
        } else {
            eid.to_owned()
        };
        ev.pid = pid;
        ev.exit_status = status as u32;
        ev.exited_at = MessageField::some(timestamp(now));
        self.send(ev);
    }

    /// A process we just learned the pid of may already have been reaped.
    fn claim_early_exit(&self, cid: &str, eid: &str, pid: u32) {
        if let Some(status) = reaper::take_unclaimed(pid as i32) {
            self.record_exit(cid, eid, pid, status);
        }
    }
}

fn read_pid(path: &std::path::Path) -> ttrpc::Result<u32> {
    std::fs::read_to_string(path)
        .map_err(|e| internal(format!("{}: {e}", path.display())))?
        .trim()
        .parse()
        .map_err(|e| internal(format!("{}: {e}", path.display())))
}

impl Task for Service {
    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> ttrpc::Result<CreateTaskResponse> {
        let inner = &self.inner;
        if inner.lock().containers.contains_key(&req.id) {
            return Err(err(
                Code::ALREADY_EXISTS,
                format!("container {} exists", req.id),
            ));
        }
        let bundle = PathBuf::from(&req.bundle);
        let rt = Runtime::from_options(req.options.as_ref(), &inner.namespace).map_err(internal)?;
        rt.save(&bundle);
        let rootfs = bundle.join("rootfs");
        let mut mounted = false;
        if !req.rootfs.is_empty() {
            let _ = std::fs::create_dir_all(&rootfs);
            for m in &req.rootfs {
                let src = (!m.source.is_empty()).then_some(m.source.as_str());
                let ty = (!m.type_.is_empty()).then_some(m.type_.as_str());
                if let Err(e) = containerd_shim::mount::mount_rootfs(ty, src, &m.options, &rootfs) {
                    crate::runtime::unmount_rootfs(&bundle);
                    return Err(internal(format!("mount rootfs: {e}")));
                }
                mounted = true;
            }
        }
        let fail = |e: ttrpc::Error| {
            if mounted {
                crate::runtime::unmount_rootfs(&bundle);
            }
            e
        };
        let prep = stdio::prepare(&req.stdin, &req.stdout, &req.stderr, req.terminal)
            .map_err(|e| fail(internal(e)))?;
        let pid_file = bundle.join("init.pid");
        let mut cmd = rt.command(&bundle);
        cmd.arg("create")
            .arg("--bundle")
            .arg(&bundle)
            .arg("--pid-file")
            .arg(&pid_file);
        if let Some(s) = &prep.console_socket {
            cmd.arg("--console-socket").arg(s);
        }
        cmd.arg(&req.id);
        let prep = take_stdio(&mut cmd, prep);
        if let Err(e) = rt.run(&bundle, "create", cmd, false) {
            drop(prep);
            return Err(fail(internal(e)));
        }
        let io = prep.start();
        let pid = read_pid(&pid_file);
        let (io, pid) = match (io, pid) {
            (Ok(io), Ok(pid)) => (io, pid),
            (io, pid) => {
                let _ = rt.simple(&bundle, &["delete", "--force", &req.id]);
                let e = pid.err().unwrap_or_else(|| {
                    internal(io.err().map(|e| e.to_string()).unwrap_or_default())
                });
                return Err(fail(e));
            }
        };
        let mut init = Proc::new(&req.stdin, &req.stdout, &req.stderr, req.terminal);
        init.pid = pid;
        init.io = Some(io);
        inner.lock().containers.insert(
            req.id.clone(),
            Container {
                bundle: bundle.clone(),
                rt,
                init,
                execs: HashMap::new(),
                mounted,
                oom: None,
            },
        );
        inner.claim_early_exit(&req.id, "", pid);
        let weak = Arc::downgrade(inner);
        let cid = req.id.clone();
        match cgroup::watch_oom(pid, move || {
            if let Some(inner) = weak.upgrade() {
                let mut ev = TaskOOM::new();
                ev.container_id = cid.clone();
                inner.send(ev);
            }
        }) {
            Ok(w) => {
                if let Some(c) = inner.lock().containers.get_mut(&req.id) {
                    c.oom = w;
                }
            }
            Err(e) => log::warn!("no OOM events for {}: {e}", req.id),
        }
        let mut ev = TaskCreate::new();
        ev.container_id = req.id.clone();
        ev.bundle = req.bundle.clone();
        ev.rootfs = req.rootfs.clone();
        let mut tio = TaskIO::new();
        tio.stdin = req.stdin.clone();
        tio.stdout = req.stdout.clone();
        tio.stderr = req.stderr.clone();
        tio.terminal = req.terminal;
        ev.io = MessageField::some(tio);
        ev.pid = pid;
        inner.send(ev);
        let mut resp = CreateTaskResponse::new();
        resp.pid = pid;
        Ok(resp)
    }

    fn start(&self, _ctx: &TtrpcContext, req: StartRequest) -> ttrpc::Result<StartResponse> {
        let inner = &self.inner;
        let (bundle, rt, pid) = {
            let mut st = inner.lock();
            let c = st.container(&req.id)?;
            (c.bundle.clone(), c.rt.clone(), c.init.pid)
        };
        let mut resp = StartResponse::new();
        if req.exec_id.is_empty() {
            rt.simple(&bundle, &["start", &req.id]).map_err(internal)?;
            {
                let mut st = inner.lock();
                let p = st.proc(&req.id, "")?;
                if p.status == Status::CREATED {
                    p.status = Status::RUNNING;
                }
            }
            let mut ev = TaskStart::new();
            ev.container_id = req.id.clone();
            ev.pid = pid;
            inner.send(ev);
            resp.pid = pid;
            return Ok(resp);
        }
        let (spec, stdin, stdout, stderr, terminal) = {
            let mut st = inner.lock();
            let p = st.proc(&req.id, &req.exec_id)?;
            if p.status != Status::CREATED {
                return Err(err(
                    Code::FAILED_PRECONDITION,
                    format!("exec {} already started", req.exec_id),
                ));
            }
            let spec = p
                .spec
                .take()
                .ok_or_else(|| internal("exec has no process spec"))?;
            (
                spec,
                p.stdin.clone(),
                p.stdout.clone(),
                p.stderr.clone(),
                p.terminal,
            )
        };
        let tag = format!("exec-{}", sanitize(&req.exec_id));
        let process_json = bundle.join(format!(".{tag}.json"));
        let pid_file = bundle.join(format!(".{tag}.pid"));
        std::fs::write(&process_json, &spec.value).map_err(internal)?;
        let result = (|| {
            let prep = stdio::prepare(&stdin, &stdout, &stderr, terminal).map_err(internal)?;
            let mut cmd = rt.command(&bundle);
            cmd.arg("exec").arg("--process").arg(&process_json);
            if let Some(s) = &prep.console_socket {
                cmd.arg("--console-socket").arg(s);
            }
            cmd.arg("--detach")
                .arg("--pid-file")
                .arg(&pid_file)
                .arg(&req.id);
            let prep = take_stdio(&mut cmd, prep);
            rt.run(&bundle, "exec", cmd, false).map_err(internal)?;
            let io = prep.start().map_err(internal)?;
            let pid = read_pid(&pid_file)?;
            Ok::<_, ttrpc::Error>((io, pid))
        })();
        let _ = std::fs::remove_file(&process_json);
        let _ = std::fs::remove_file(&pid_file);
        let (io, pid) = match result {
            Ok(v) => v,
            Err(e) => {
                // containerd deletes an exec that failed to start.
                if let Ok(p) = inner.lock().proc(&req.id, &req.exec_id) {
                    p.status = Status::STOPPED;
                    p.exited_at = Some(SystemTime::now());
                    p.exit_status = 255;
                }
                return Err(e);
            }
        };
        {
            let mut st = inner.lock();
            let p = st.proc(&req.id, &req.exec_id)?;
            p.pid = pid;
            p.status = Status::RUNNING;
            p.io = Some(io);
        }
        inner.claim_early_exit(&req.id, &req.exec_id, pid);
        let mut ev = TaskExecStarted::new();
        ev.container_id = req.id.clone();
        ev.exec_id = req.exec_id.clone();
        ev.pid = pid;
        inner.send(ev);
        resp.pid = pid;
        Ok(resp)
    }

    fn delete(&self, _ctx: &TtrpcContext, req: DeleteRequest) -> ttrpc::Result<DeleteResponse> {
        let inner = &self.inner;
        let mut resp = DeleteResponse::new();
        if !req.exec_id.is_empty() {
            let mut st = inner.lock();
            let c = st.container(&req.id)?;
            let p = c
                .execs
                .get(&req.exec_id)
                .ok_or_else(|| not_found(&format!("exec {}", req.exec_id)))?;
            if p.exited_at.is_none() && p.status != Status::CREATED {
                return Err(err(
                    Code::FAILED_PRECONDITION,
                    format!("exec {} is running", req.exec_id),
                ));
            }
            let p = c.execs.remove(&req.exec_id).expect("checked");
            if let Some(io) = &p.io {
                io.shutdown();
            }
            resp.pid = p.pid;
            resp.exit_status = p.exit_status;
            resp.exited_at = MessageField::from_option(p.exited_at.map(timestamp));
            return Ok(resp);
        }
        let (bundle, rt, running) = {
            let mut st = inner.lock();
            let c = st.container(&req.id)?;
            let running = c.init.exited_at.is_none() && c.init.status != Status::CREATED;
            (c.bundle.clone(), c.rt.clone(), running)
        };
        if running {
            return Err(err(
                Code::FAILED_PRECONDITION,
                format!("container {} is running", req.id),
            ));
        }
        // A created but never started container: its init waits, kill it.
        if let Err(e) = rt.simple(&bundle, &["delete", "--force", &req.id]) {
            log::warn!("delete {}: {e}", req.id);
        }
        let c = inner.lock().containers.remove(&req.id);
        let Some(c) = c else {
            return Err(not_found(&req.id));
        };
        for p in std::iter::once(&c.init).chain(c.execs.values()) {
            if let Some(io) = &p.io {
                io.shutdown();
            }
        }
        if c.mounted {
            crate::runtime::unmount_rootfs(&bundle);
        }
        let exited_at = c.init.exited_at.unwrap_or_else(SystemTime::now);
        resp.pid = c.init.pid;
        resp.exit_status = if c.init.exited_at.is_some() {
            c.init.exit_status
        } else {
            128 + 9
        };
        resp.exited_at = MessageField::some(timestamp(exited_at));
        let mut ev = TaskDelete::new();
        ev.container_id = req.id.clone();
        ev.id = req.id.clone();
        ev.pid = resp.pid;
        ev.exit_status = resp.exit_status;
        ev.exited_at = resp.exited_at.clone();
        inner.send(ev);
        Ok(resp)
    }

    fn exec(&self, _ctx: &TtrpcContext, req: ExecProcessRequest) -> ttrpc::Result<Empty> {
        let inner = &self.inner;
        {
            let mut st = inner.lock();
            let c = st.container(&req.id)?;
            if c.init.exited_at.is_some() {
                return Err(err(
                    Code::FAILED_PRECONDITION,
                    format!("container {} is not running", req.id),
                ));
            }
            if c.execs.contains_key(&req.exec_id) {
                return Err(err(
                    Code::ALREADY_EXISTS,
                    format!("exec {} exists", req.exec_id),
                ));
            }
            let mut p = Proc::new(&req.stdin, &req.stdout, &req.stderr, req.terminal);
            p.spec = req.spec.clone().into_option();
            if p.spec.is_none() {
                return Err(err(Code::INVALID_ARGUMENT, "exec without a process spec"));
            }
            c.execs.insert(req.exec_id.clone(), p);
        }
        let mut ev = TaskExecAdded::new();
        ev.container_id = req.id.clone();
        ev.exec_id = req.exec_id.clone();
        inner.send(ev);
        Ok(Empty::new())
    }

    fn state(&self, _ctx: &TtrpcContext, req: StateRequest) -> ttrpc::Result<StateResponse> {
        let mut st = self.inner.lock();
        let c = st.container(&req.id)?;
        let bundle = c.bundle.display().to_string();
        let p = st.proc(&req.id, &req.exec_id)?;
        let mut r = StateResponse::new();
        r.id = if req.exec_id.is_empty() {
            req.id.clone()
        } else {
            req.exec_id.clone()
        };
        r.exec_id = req.exec_id.clone();
        r.bundle = bundle;
        r.pid = p.pid;
        r.status = p.status.into();
        r.stdin = p.stdin.clone();
        r.stdout = p.stdout.clone();
        r.stderr = p.stderr.clone();
        r.terminal = p.terminal;
        r.exit_status = p.exit_status;
        r.exited_at = MessageField::from_option(p.exited_at.map(timestamp));
        Ok(r)
    }

    fn kill(&self, _ctx: &TtrpcContext, req: KillRequest) -> ttrpc::Result<Empty> {
        let (bundle, rt, pid, exited) = {
            let mut st = self.inner.lock();
            let c = st.container(&req.id)?;
            let (b, rt) = (c.bundle.clone(), c.rt.clone());
            let p = st.proc(&req.id, &req.exec_id)?;
            (b, rt, p.pid, p.exited_at.is_some())
        };
        if !req.exec_id.is_empty() {
            if exited || pid == 0 {
                return Err(not_found(&format!(
                    "process {} is not running",
                    req.exec_id
                )));
            }
            // SAFETY: plain kill(2) of a process we track and have not reaped.
            if unsafe { libc::kill(pid as i32, req.signal as i32) } < 0 {
                return Err(internal(std::io::Error::last_os_error()));
            }
            return Ok(Empty::new());
        }
        let sig = req.signal.to_string();
        let mut args = vec!["kill"];
        if req.all {
            args.push("--all");
        }
        args.push(&req.id);
        args.push(&sig);
        match rt.simple(&bundle, &args) {
            Ok(_) => Ok(Empty::new()),
            Err(_) if exited => Err(not_found(&format!("process {} already finished", req.id))),
            Err(e) => Err(internal(e)),
        }
    }

    fn pids(&self, _ctx: &TtrpcContext, req: PidsRequest) -> ttrpc::Result<PidsResponse> {
        let (bundle, rt, execs) = {
            let mut st = self.inner.lock();
            let c = st.container(&req.id)?;
            let execs: HashMap<u32, String> =
                c.execs.iter().map(|(k, p)| (p.pid, k.clone())).collect();
            (c.bundle.clone(), c.rt.clone(), execs)
        };
        let out = rt
            .simple(&bundle, &["ps", "--format", "json", &req.id])
            .map_err(internal)?;
        let pids: Vec<u32> = serde_json::from_slice(&out).map_err(internal)?;
        let mut resp = PidsResponse::new();
        for pid in pids {
            let mut info = ProcessInfo::new();
            info.pid = pid;
            if let Some(eid) = execs.get(&pid) {
                let mut d = containerd_shim::protos::shim::oci::ProcessDetails::new();
                d.exec_id = eid.clone();
                if let Ok(value) = d.write_to_bytes() {
                    let mut any = Any::new();
                    any.type_url = "containerd.runc.v1.ProcessDetails".into();
                    any.value = value;
                    info.info = MessageField::some(any);
                }
            }
            resp.processes.push(info);
        }
        Ok(resp)
    }

    fn pause(&self, _ctx: &TtrpcContext, req: PauseRequest) -> ttrpc::Result<Empty> {
        let (bundle, rt) = self.bundle_rt(&req.id)?;
        rt.simple(&bundle, &["pause", &req.id]).map_err(internal)?;
        if let Ok(p) = self.inner.lock().proc(&req.id, "") {
            p.status = Status::PAUSED;
        }
        let mut ev = TaskPaused::new();
        ev.container_id = req.id.clone();
        self.inner.send(ev);
        Ok(Empty::new())
    }

    fn resume(&self, _ctx: &TtrpcContext, req: ResumeRequest) -> ttrpc::Result<Empty> {
        let (bundle, rt) = self.bundle_rt(&req.id)?;
        rt.simple(&bundle, &["resume", &req.id]).map_err(internal)?;
        if let Ok(p) = self.inner.lock().proc(&req.id, "") {
            if p.status == Status::PAUSED {
                p.status = Status::RUNNING;
            }
        }
        let mut ev = TaskResumed::new();
        ev.container_id = req.id.clone();
        self.inner.send(ev);
        Ok(Empty::new())
    }

    fn resize_pty(&self, _ctx: &TtrpcContext, req: ResizePtyRequest) -> ttrpc::Result<Empty> {
        let mut st = self.inner.lock();
        let p = st.proc(&req.id, &req.exec_id)?;
        if let Some(io) = &p.io {
            io.resize(req.width, req.height).map_err(internal)?;
        }
        Ok(Empty::new())
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: CloseIORequest) -> ttrpc::Result<Empty> {
        let mut st = self.inner.lock();
        let p = st.proc(&req.id, &req.exec_id)?;
        if req.stdin {
            if let Some(io) = &p.io {
                io.close_stdin();
            }
        }
        Ok(Empty::new())
    }

    fn update(&self, _ctx: &TtrpcContext, req: UpdateTaskRequest) -> ttrpc::Result<Empty> {
        let (bundle, rt) = self.bundle_rt(&req.id)?;
        let Some(res) = req.resources.as_ref() else {
            return Err(err(Code::INVALID_ARGUMENT, "update without resources"));
        };
        // containerd sends specs.LinuxResources as JSON: what `update
        // --resources` reads.
        let file = bundle.join(format!(".update-{}.json", std::process::id()));
        std::fs::write(&file, &res.value).map_err(internal)?;
        let file_s = file.display().to_string();
        let r = rt.simple(&bundle, &["update", "--resources", &file_s, &req.id]);
        let _ = std::fs::remove_file(&file);
        r.map_err(internal)?;
        Ok(Empty::new())
    }

    fn wait(&self, _ctx: &TtrpcContext, req: WaitRequest) -> ttrpc::Result<WaitResponse> {
        let mut st = self.inner.lock();
        loop {
            let p = st.proc(&req.id, &req.exec_id)?;
            if let Some(at) = p.exited_at {
                let mut r = WaitResponse::new();
                r.exit_status = p.exit_status;
                r.exited_at = MessageField::some(timestamp(at));
                return Ok(r);
            }
            st = self.inner.exited.wait(st).unwrap();
        }
    }

    fn stats(&self, _ctx: &TtrpcContext, req: StatsRequest) -> ttrpc::Result<StatsResponse> {
        let pid = {
            let mut st = self.inner.lock();
            let p = st.proc(&req.id, "")?;
            if p.exited_at.is_some() {
                return Err(err(
                    Code::FAILED_PRECONDITION,
                    format!("container {} is not running", req.id),
                ));
            }
            p.pid
        };
        let (type_url, value) = cgroup::metrics(pid).map_err(internal)?;
        let mut any = Any::new();
        any.type_url = type_url.into();
        any.value = value;
        let mut r = StatsResponse::new();
        r.stats = MessageField::some(any);
        Ok(r)
    }

    fn connect(&self, _ctx: &TtrpcContext, req: ConnectRequest) -> ttrpc::Result<ConnectResponse> {
        let mut r = ConnectResponse::new();
        r.shim_pid = std::process::id();
        r.task_pid = self
            .inner
            .lock()
            .containers
            .get(&req.id)
            .map(|c| c.init.pid)
            .unwrap_or(0);
        r.version = env!("CARGO_PKG_VERSION").into();
        Ok(r)
    }

    fn shutdown(&self, _ctx: &TtrpcContext, _req: ShutdownRequest) -> ttrpc::Result<Empty> {
        // One shim serves the pod: it goes with the last container.
        if self.inner.lock().containers.is_empty() {
            // Give the pending events (the last TaskDelete) a moment to go.
            let exit = self.inner.exit.clone();
            let _ = std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    std::thread::sleep(Duration::from_millis(50));
                    exit.signal();
                });
        }
        Ok(Empty::new())
    }
}

impl Service {
    fn bundle_rt(&self, id: &str) -> ttrpc::Result<(PathBuf, Runtime)> {
        let mut st = self.inner.lock();
        let c = st.container(id)?;
        Ok((c.bundle.clone(), c.rt.clone()))
    }
}

/// Moves the prepared stdio into the command, keeping the rest.
fn take_stdio(cmd: &mut std::process::Command, mut prep: stdio::Prepared) -> stdio::Prepared {
    cmd.stdin(std::mem::replace(
        &mut prep.stdin,
        std::process::Stdio::null(),
    ));
    cmd.stdout(std::mem::replace(
        &mut prep.stdout,
        std::process::Stdio::null(),
    ));
    cmd.stderr(std::mem::replace(
        &mut prep.stderr,
        std::process::Stdio::null(),
    ));
    prep
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
