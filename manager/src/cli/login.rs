use anyhow::Context;
use std::io::BufRead;

#[derive(clap::Args)]
pub struct Args {
    /// Registry host[:port]
    pub registry: String,
    #[arg(short, long)]
    pub username: Option<String>,
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let store = g.store()?;
    let stdin = std::io::stdin();
    let line = || -> anyhow::Result<String> {
        let mut s = String::new();
        stdin.lock().read_line(&mut s).context("reading stdin")?;
        Ok(s.trim_end_matches(['\r', '\n']).to_string())
    };
    let user = match a.username {
        Some(u) => u,
        None => {
            eprint!("Username: ");
            line()?
        }
    };
    let password = match (a.password, a.password_stdin) {
        (Some(_), true) => anyhow::bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => p,
        (None, _) => {
            if !a.password_stdin {
                eprint!("Password: ");
            }
            line()?
        }
    };
    anyhow::ensure!(
        !user.is_empty() && !password.is_empty(),
        "username and password must not be empty"
    );
    berth::image::registry::login(&store, &a.registry, &user, &password, &g.auth_file())?;
    println!("Login Succeeded");
    Ok(())
}
