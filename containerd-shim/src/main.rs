//! containerd-shim-berth-v2: containerd's runtime v2 shim (`io.containerd.berth.v2`)
//! running containers with berth-runtime. One shim serves a whole pod: the
//! `start` subcommand groups containers by the CRI sandbox id annotation.

// musl's malloc returns freed memory to the kernel eagerly but is slow;
// dlmalloc keeps an idle shim small and fast.
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

mod cgroup;
mod reaper;
mod runtime;
mod service;
mod stdio;

use std::sync::Arc;

use containerd_shim::{
    api::DeleteResponse, publisher::RemotePublisher, spawn, util::write_address, Config,
    ExitSignal, Flags, Shim, StartOpts,
};

pub const RUNTIME_TYPE: &str = "io.containerd.berth.v2";
const SANDBOX_ID_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";

struct BerthShim {
    namespace: String,
    id: String,
    socket: String,
    exit: Arc<ExitSignal>,
}

impl Shim for BerthShim {
    type T = service::Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        BerthShim {
            namespace: args.namespace.clone(),
            id: args.id.clone(),
            socket: args.socket.clone(),
            exit: Arc::new(ExitSignal::default()),
        }
    }

    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        // containerd runs `start` in the bundle: its config.json says which
        // pod the container belongs to.
        let grouping = std::fs::read("config.json")
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v.get("annotations")?
                    .get(SANDBOX_ID_ANNOTATION)?
                    .as_str()
                    .map(str::to_owned)
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| opts.id.clone());
        let (_pid, address) = spawn(opts, &grouping, Vec::new())?;
        write_address(&address)?;
        Ok(address)
    }

    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        // The shim of this bundle is gone (containerd calls this after a
        // shim died): take down whatever of the container is left.
        let bundle =
            std::env::current_dir().map_err(|e| containerd_shim::Error::Other(e.to_string()))?;
        // The runtime commands' exits come through our reaper, here too.
        reaper::start(Box::new(|_, _| false))
            .map_err(|e| containerd_shim::Error::Other(format!("reaper: {e}")))?;
        runtime::cleanup_after_dead_shim(&bundle, &self.namespace, &self.id);
        let mut resp = DeleteResponse::new();
        resp.exit_status = 128 + libc::SIGKILL as u32;
        resp.exited_at = containerd_shim::protos::protobuf::MessageField::some(service::timestamp(
            std::time::SystemTime::now(),
        ));
        Ok(resp)
    }

    fn wait(&mut self) {
        self.exit.wait();
        // The crate would look for the socket through the `address` file of
        // the bundle it started in, which is gone when that container was
        // deleted before the others of its pod.
        let path = self.socket.strip_prefix("unix://").unwrap_or(&self.socket);
        let _ = std::fs::remove_file(path);
        std::process::exit(0);
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Self::T {
        service::Service::new(&self.namespace, publisher, self.exit.clone())
    }
}

fn main() {
    let config = Config {
        // Our own reaper: exits of runtime commands and of containers must
        // never be lost to one another (reaper.rs).
        no_reaper: true,
        ..Default::default()
    };
    containerd_shim::run::<BerthShim>(RUNTIME_TYPE, Some(config));
}
