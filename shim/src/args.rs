//! Command-line parsing, by hand: clap would cost more resident memory than
//! the rest of the shim, and every idle container pays for it.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

pub const USAGE: &str = "\
usage:
  berth-shim create --id ID --bundle DIR --runtime PATH --dir DIR [options]
  berth-shim exec   --id ID --process FILE --runtime PATH --dir DIR [options]
  berth-shim attach DIR [--no-stdin] [--close-stdin] [--size ROWSxCOLS]
  berth-shim kill   DIR SIGNAL
options of create and exec:
  --runtime-root DIR     passed to the runtime as its global --root
  -t, --tty              the process has a terminal (must match process.terminal)
  -i, --interactive      keep the process's stdin open for attach clients
  --start                run `RUNTIME start ID` after create (create only)
  --rm                   run `RUNTIME delete --force ID` when the init exits (create only)
  --hold-output          read no output until the first attach client (at most 30 s),
                         so that a short process's output all reaches it
  --log-path FILE        container log (default DIR/ctr.log), CRI format
  --log-max-size BYTES   rotate the log to FILE.1 past this size (default 0: never)
  --exit-command PATH    run PATH once the init has exited and the exit is recorded
                         (create only; for restart policies)
  --exit-command-arg A   an argument of it (repeatable)
  --exit-command-mntns F run it in this mount namespace (opened at start), not ours";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Exec,
}

#[derive(Debug)]
pub struct RunOpts {
    pub mode: Mode,
    pub id: String,
    pub bundle: Option<PathBuf>,
    pub process: Option<PathBuf>,
    pub runtime: PathBuf,
    pub runtime_root: Option<PathBuf>,
    pub dir: PathBuf,
    pub tty: bool,
    pub stdin: bool,
    pub start: bool,
    pub rm: bool,
    /// Leave the output unread until the first attach client (bounded).
    pub hold_output: bool,
    pub log_path: Option<PathBuf>,
    pub log_max_size: u64,
    pub exit_command: Option<PathBuf>,
    pub exit_command_args: Vec<String>,
    pub exit_command_mntns: Option<PathBuf>,
}

#[derive(Debug)]
pub struct AttachOpts {
    pub dir: PathBuf,
    pub no_stdin: bool,
    pub close_stdin: bool,
    pub size: Option<(u16, u16)>,
}

#[derive(Debug)]
pub enum Command {
    Help,
    Run(Box<RunOpts>),
    Attach(AttachOpts),
    Kill { dir: PathBuf, signal: i32 },
}

pub fn parse(argv: &[String]) -> Result<Command> {
    let Some(sub) = argv.first() else {
        bail!("missing command");
    };
    let rest = &argv[1..];
    match sub.as_str() {
        "-h" | "--help" | "help" => Ok(Command::Help),
        "create" => parse_run(Mode::Create, rest).map(|o| Command::Run(Box::new(o))),
        "exec" => parse_run(Mode::Exec, rest).map(|o| Command::Run(Box::new(o))),
        "attach" => parse_attach(rest).map(Command::Attach),
        "kill" => match rest {
            [dir, sig] => Ok(Command::Kill {
                dir: PathBuf::from(dir),
                signal: parse_signal(sig)?,
            }),
            _ => bail!("kill takes exactly a container dir and a signal"),
        },
        other => bail!("unknown command {other:?}"),
    }
}

fn parse_run(mode: Mode, argv: &[String]) -> Result<RunOpts> {
    let (mut id, mut bundle, mut process, mut runtime, mut runtime_root, mut dir) =
        (None, None, None, None, None, None);
    let (mut tty, mut stdin, mut start, mut rm) = (false, false, false, false);
    let mut hold_output = false;
    let (mut log_path, mut log_max_size) = (None, 0u64);
    let (mut exit_command, mut exit_command_args, mut exit_command_mntns) = (None, vec![], None);
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = || -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .cloned()
                    .with_context(|| format!("{flag} needs a value")),
            }
        };
        match flag {
            "--id" => id = Some(value()?),
            "--bundle" => bundle = Some(PathBuf::from(value()?)),
            "--process" => process = Some(PathBuf::from(value()?)),
            "--runtime" => runtime = Some(PathBuf::from(value()?)),
            "--runtime-root" => runtime_root = Some(PathBuf::from(value()?)),
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--log-path" => log_path = Some(PathBuf::from(value()?)),
            "--log-max-size" => {
                let v = value()?;
                log_max_size = v.parse().with_context(|| {
                    format!("invalid --log-max-size {v:?}: want a number of bytes")
                })?;
            }
            "-t" | "--tty" => tty = true,
            "-i" | "--interactive" => stdin = true,
            "-it" | "-ti" => {
                tty = true;
                stdin = true
            }
            "--exit-command" if mode == Mode::Create => {
                exit_command = Some(PathBuf::from(value()?))
            }
            "--exit-command-arg" if mode == Mode::Create => exit_command_args.push(value()?),
            "--exit-command-mntns" if mode == Mode::Create => {
                exit_command_mntns = Some(PathBuf::from(value()?))
            }
            "--start" if mode == Mode::Create => start = true,
            "--rm" if mode == Mode::Create => rm = true,
            "--hold-output" => hold_output = true,
            other => bail!("unknown option {other:?}"),
        }
    }
    let id = id.context("missing --id")?;
    if id.is_empty() || id.contains('/') {
        bail!("invalid container id {id:?}");
    }
    match mode {
        Mode::Create if bundle.is_none() => bail!("missing --bundle"),
        Mode::Exec if process.is_none() => bail!("missing --process"),
        _ => {}
    }
    Ok(RunOpts {
        mode,
        id,
        bundle,
        process,
        runtime: runtime.context("missing --runtime")?,
        runtime_root,
        dir: dir.context("missing --dir")?,
        tty,
        hold_output,
        stdin,
        start,
        rm,
        log_path,
        log_max_size,
        exit_command,
        exit_command_args,
        exit_command_mntns,
    })
}

fn parse_attach(argv: &[String]) -> Result<AttachOpts> {
    let mut dir = None;
    let (mut no_stdin, mut close_stdin, mut size) = (false, false, None);
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--no-stdin" => no_stdin = true,
            "--close-stdin" => close_stdin = true,
            "--size" => {
                let v = it.next().context("--size needs a value")?;
                size = Some(parse_size(v)?);
            }
            s if s.starts_with('-') => bail!("unknown option {s:?}"),
            s if dir.is_none() => dir = Some(PathBuf::from(s)),
            s => bail!("unexpected argument {s:?}"),
        }
    }
    Ok(AttachOpts {
        dir: dir.context("missing container dir")?,
        no_stdin,
        close_stdin,
        size,
    })
}

fn parse_size(v: &str) -> Result<(u16, u16)> {
    let bad = || format!("invalid size {v:?}: want ROWSxCOLS");
    let (r, c) = v.split_once('x').with_context(bad)?;
    Ok((r.parse().with_context(bad)?, c.parse().with_context(bad)?))
}

/// A signal by number (`9`) or name (`KILL`, `SIGKILL`, case-insensitive).
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Some(n) = berth_common::signal::parse(s) {
        return Ok(n);
    }
    if s.parse::<i32>().is_ok() {
        bail!("invalid signal {s:?}: out of range");
    }
    bail!("invalid signal {s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_create() {
        let Command::Run(o) = parse(&v(
            "create --id c1 --bundle /b --runtime /usr/bin/crun --runtime-root=/r --dir /d -it --rm --log-max-size 100",
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(o.id, "c1");
        assert!(o.tty && o.stdin && o.rm && !o.start);
        assert_eq!(o.runtime_root.unwrap(), PathBuf::from("/r"));
        assert_eq!(o.log_max_size, 100);
        assert!(o.exit_command.is_none());
        let Command::Run(o) = parse(&v(
            "create --id c1 --bundle /b --runtime r --dir /d --exit-command /bin/berth --exit-command-arg a --exit-command-arg=b",
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(o.exit_command.unwrap(), PathBuf::from("/bin/berth"));
        assert_eq!(o.exit_command_args, ["a", "b"]);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(&v("create --id c1 --runtime x --dir d")).is_err());
        assert!(parse(&v("exec --id c1 --runtime x --dir d --rm --process p")).is_err());
        assert!(parse(&v("create --id a/b --bundle b --runtime x --dir d")).is_err());
        assert!(parse(&v("kill d NOPE")).is_err());
        assert!(parse(&v("attach d --size 10")).is_err());
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("USR1").unwrap(), libc::SIGUSR1);
        assert!(parse_signal("0").is_err());
    }
}
