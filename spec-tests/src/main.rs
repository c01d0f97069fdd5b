//! berth-spec-tests: an OCI runtime conformance suite.
//!
//! Every test writes its own bundle (busybox rootfs + our static helper),
//! drives the runtime through the spec's lifecycle with a private `--root`,
//! and checks the result from inside the container (through the helper) and
//! from the host. Output is TAP, closed by `N passed, N failed, N skipped`.

mod agent;
mod console;
mod container;
mod harness;
mod schema;
mod tests;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;

#[derive(Parser)]
#[command(name = "berth-spec-tests", about = "OCI runtime conformance tests")]
struct Args {
    /// The runtime binary under test (a path, or a name found in PATH).
    #[arg(long)]
    runtime: String,
    /// Run only the tests whose name contains this string.
    #[arg(long)]
    filter: Option<String>,
    /// Tests run at the same time.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// The helper run in every container (default: next to this binary).
    #[arg(long)]
    helper: Option<PathBuf>,
    /// Also enforce spec MUSTs that runc and crun knowingly do not follow.
    #[arg(long)]
    strict: bool,
    /// List the tests and their spec sections, run nothing.
    #[arg(long)]
    list: bool,
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    })
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth-spec-tests: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let args = Args::parse();
    let mut cases = tests::all();
    if let Some(f) = &args.filter {
        cases.retain(|c| c.name.contains(f.as_str()));
    }
    if args.list {
        for c in &cases {
            println!("{}\t{}", c.name, c.section);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = find_in_path(&args.runtime)
        .filter(|p| p.is_file())
        .with_context(|| format!("runtime {:?} not found", args.runtime))?;
    let runtime = std::fs::canonicalize(&runtime)?;
    let helper = match args.helper {
        Some(h) => h,
        None => std::env::current_exe()?
            .parent()
            .context("locate own directory")?
            .join("berth-testhelper"),
    };
    if !helper.is_file() {
        bail!(
            "helper {} not found (build the berth-testhelper binary, or pass --helper)",
            helper.display()
        );
    }
    if nix::unistd::geteuid().as_raw() != 0 {
        bail!("must run as root: the tests create namespaces, mounts and cgroups");
    }
    if !std::path::Path::new(test_support::BUSYBOX).is_file() {
        bail!(
            "{} not found: install busybox-static",
            test_support::BUSYBOX
        );
    }
    tests::host::prepare_cgroups()?;
    let features = tests::misc::features(&runtime);
    let ctx = harness::Ctx {
        runtime: runtime.clone(),
        helper,
        features,
        strict: args.strict,
    };
    println!("# runtime: {}", runtime.display());
    let sum = harness::run_all(&ctx, &cases, args.jobs);
    println!(
        "{} passed, {} failed, {} skipped",
        sum.passed, sum.failed, sum.skipped
    );
    Ok(if sum.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
