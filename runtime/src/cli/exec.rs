use super::Global;
use berth_runtime::config;
use berth_runtime::container::{self, ExecOpts};
use oci_spec::runtime::{Capability, Process};
use std::path::PathBuf;
use std::str::FromStr;

#[derive(clap::Args)]
pub struct Args {
    /// JSON file with the process to run (config.json's `process` object)
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-terminal
    #[arg(short, long)]
    pub tty: bool,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Do not wait for the process to exit
    #[arg(short, long)]
    pub detach: bool,
    /// Working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables (KEY=VALUE)
    #[arg(short, long)]
    pub env: Vec<String>,
    /// UID[:GID] to run as
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional gids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Capabilities to add
    #[arg(short, long)]
    pub cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
    /// The command and its arguments (unless --process is given)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let mut p: Process = match &a.process {
        Some(f) => {
            let raw = if f.as_os_str() == "-" {
                config::read_bounded(std::io::stdin(), std::path::Path::new("standard input"))?
            } else {
                config::read_input(f)?
            };
            berth_runtime::sched::parse_json(&raw, "")
                .map_err(|e| anyhow::anyhow!("invalid process {}: {e}", f.display()))?
        }
        None => {
            if a.command.is_empty() {
                anyhow::bail!("exec: no command given (and no --process)");
            }
            let mut p = container::base_process(&g.root, &a.id)?;
            p.set_args(Some(a.command.clone()));
            p.set_terminal(Some(a.tty));
            p
        }
    };
    if a.tty {
        p.set_terminal(Some(true));
    }
    if let Some(c) = &a.cwd {
        p.set_cwd(c.clone());
    }
    if !a.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for e in &a.env {
            let key = e.split('=').next().unwrap_or("");
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(u) = &a.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        let mut user = p.user().clone();
        user.set_uid(
            uid.parse()
                .map_err(|_| anyhow::anyhow!("invalid --user {u:?}: want UID[:GID]"))?,
        );
        user.set_gid(
            gid.parse()
                .map_err(|_| anyhow::anyhow!("invalid --user {u:?}: want UID[:GID]"))?,
        );
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for c in &a.cap {
            let cap = Capability::from_str(c.to_ascii_uppercase().trim_start_matches("CAP_"))
                .map_err(|_| anyhow::anyhow!("unknown capability {c:?}"))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    let code = container::exec(ExecOpts {
        root: &g.root,
        id: &a.id,
        process: p,
        console_socket: a.console_socket.as_deref(),
        pid_file: a.pid_file.as_deref(),
        detach: a.detach,
        preserve_fds: a.preserve_fds,
    })?;
    Ok(code)
}
