#[derive(clap::Args)]
pub struct Args {
    #[arg(short, long)]
    pub format: Option<String>,
}

pub fn run(g: &super::Globals, a: Args) -> anyhow::Result<()> {
    let rt = berth::container::commands::sibling("berth-runtime");
    let v = serde_json::json!({
        "Client": {"Version": env!("CARGO_PKG_VERSION"), "Os": "linux", "Arch": std::env::consts::ARCH},
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
                std::env::consts::ARCH
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
