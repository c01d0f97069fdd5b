//! Calls a few task service methods on a shim's socket directly, for what
//! ctr 1.6 cannot do (there is no `ctr task update` nor `ctr task wait`):
//!
//!   shimctl ADDRESS update ID RESOURCES.json   (specs.LinuxResources, JSON)
//!   shimctl ADDRESS wait ID [EXEC_ID]          prints the exit status
//!   shimctl ADDRESS connect ID                 prints shim pid and task pid
//!   shimctl ADDRESS resize ID WIDTH HEIGHT     ResizePty of the init's terminal

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::shim::shim::{
    ConnectRequest, ResizePtyRequest, UpdateTaskRequest, WaitRequest,
};
use containerd_shim::protos::shim::shim_ttrpc::TaskClient;
use containerd_shim::protos::ttrpc::{context, Client};

fn main() {
    if let Err(e) = run() {
        eprintln!("shimctl: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        return Err("usage: shimctl ADDRESS update|wait|connect|resize ID [ARG...]".into());
    }
    let client = Client::connect(&args[0]).map_err(|e| format!("{}: {e}", args[0]))?;
    let task = TaskClient::new(client);
    let ctx = || context::with_timeout(0);
    match args[1].as_str() {
        "update" => {
            let file = args.get(3).ok_or("update needs a resources file")?;
            let mut any = Any::new();
            any.type_url =
                "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources".into();
            any.value = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
            let mut req = UpdateTaskRequest::new();
            req.id = args[2].clone();
            req.resources = MessageField::some(any);
            task.update(ctx(), &req).map_err(|e| e.to_string())?;
        }
        "wait" => {
            let mut req = WaitRequest::new();
            req.id = args[2].clone();
            req.exec_id = args.get(3).cloned().unwrap_or_default();
            let r = task.wait(ctx(), &req).map_err(|e| e.to_string())?;
            println!("{}", r.exit_status);
        }
        "connect" => {
            let mut req = ConnectRequest::new();
            req.id = args[2].clone();
            let r = task.connect(ctx(), &req).map_err(|e| e.to_string())?;
            println!("{} {}", r.shim_pid, r.task_pid);
        }
        "resize" => {
            let num = |i: usize| -> Result<u32, String> {
                args.get(i)
                    .ok_or("resize needs WIDTH HEIGHT")?
                    .parse()
                    .map_err(|e| format!("{e}"))
            };
            let mut req = ResizePtyRequest::new();
            req.id = args[2].clone();
            req.width = num(3)?;
            req.height = num(4)?;
            task.resize_pty(ctx(), &req).map_err(|e| e.to_string())?;
        }
        other => return Err(format!("unknown method {other}")),
    }
    Ok(())
}
