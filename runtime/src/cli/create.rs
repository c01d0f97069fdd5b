use super::Global;
use berth_runtime::container::{self, CreateOpts};
use std::path::PathBuf;

/// Flags shared by `create` and `run`.
#[derive(clap::Args)]
pub struct CreateFlags {
    /// Bundle directory (default: the current directory)
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master of a terminal container
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// File to write the container's init pid to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

impl CreateFlags {
    pub fn opts<'a>(&'a self, g: &'a Global, id: &'a str) -> CreateOpts<'a> {
        CreateOpts {
            root: &g.root,
            id,
            bundle: &self.bundle,
            console_socket: self.console_socket.as_deref(),
            pid_file: self.pid_file.as_deref(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    container::create(&a.flags.opts(g, &a.id), false)?;
    Ok(0)
}
