#[derive(clap::Args)]
pub struct Args {
    #[arg(short, long)]
    pub format: Option<String>,
}

/// Go's name of the architecture, which docker prints (amd64, not x86_64).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        a => a,
    }
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let rt = berth::container::commands::sibling("berth-runtime");
    let v = serde_json::json!({
        "Client": {"Version": env!("CARGO_PKG_VERSION"), "Os": "linux", "Arch": go_arch()},
        "Runtime": {"Path": rt, "Present": rt.exists()},
        "Root": g.root,
    });
    match a.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&v)?),
        Some(t) => println!("{}", berth::format::render(t, &v)?),
        None => {
            println!(
                "Client:\n Version:  {}\n OS/Arch:  linux/{}",
                env!("CARGO_PKG_VERSION"),
                go_arch()
            );
            println!(
                "Runtime:\n Path:     {}{}",
                rt.display(),
                if rt.exists() { "" } else { " (missing)" }
            );
        }
    }
    Ok(())
}
