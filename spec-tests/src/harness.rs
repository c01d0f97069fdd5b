//! Test cases, outcomes, and the parallel runner that prints TAP.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use serde_json::Value;

/// What every test gets: the runtime under test and what it told us about itself.
pub struct Ctx {
    pub runtime: PathBuf,
    pub helper: PathBuf,
    /// `runtime features` output, if the runtime has that command.
    pub features: Option<Value>,
    /// Also run the checks where runc and crun knowingly differ from the spec.
    pub strict: bool,
}

impl Ctx {
    /// Whether `features` (if the runtime has it) lists `ns` among its
    /// namespaces; `None` when the runtime cannot say.
    pub fn feature_namespace(&self, ns: &str) -> Option<bool> {
        let list = self
            .features
            .as_ref()?
            .pointer("/linux/namespaces")?
            .as_array()?;
        Some(list.iter().any(|v| v == ns))
    }
}

/// A reason the test does not apply here; reported as skipped, never passed.
#[derive(Debug)]
pub struct Skip(pub String);

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for Skip {}

pub fn skip(reason: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Skip(reason.into()))
}

pub type TestFn = fn(&Ctx) -> anyhow::Result<()>;

pub struct Case {
    pub name: &'static str,
    /// The spec section the test checks, as `file.md#anchor`.
    pub section: &'static str,
    pub run: TestFn,
    /// Set when runc or crun (the references the suite is proven against)
    /// knowingly break this MUST: the test then runs only with --strict,
    /// and is otherwise skipped with this note.
    pub deviation: Option<&'static str>,
}

pub const fn case(name: &'static str, section: &'static str, run: TestFn) -> Case {
    Case {
        name,
        section,
        run,
        deviation: None,
    }
}

impl Case {
    pub const fn deviates(mut self, note: &'static str) -> Case {
        self.deviation = Some(note);
        self
    }
}

pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

fn run_one(ctx: &Ctx, c: &Case) -> Outcome {
    if let (Some(note), false) = (c.deviation, ctx.strict) {
        return Outcome::Skip(format!(
            "reference runtimes deviate ({note}); checked only with --strict"
        ));
    }
    // A panicking test (a bug in the suite or a wild runtime) is a failure
    // of that test only, not of the whole run.
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (c.run)(ctx)));
    match res {
        Ok(Ok(())) => Outcome::Pass,
        Ok(Err(e)) => match e.downcast_ref::<Skip>() {
            Some(s) => Outcome::Skip(s.0.clone()),
            None => Outcome::Fail(format!("{e:#}")),
        },
        Err(p) => Outcome::Fail(format!(
            "test panicked: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    }
}

pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Runs `cases` on `jobs` threads and prints TAP in case order as results
/// arrive.
pub fn run_all(ctx: &Ctx, cases: &[Case], jobs: usize) -> Summary {
    println!("TAP version 13");
    println!("1..{}", cases.len());
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Outcome, f64)>();
    let mut sum = Summary {
        passed: 0,
        failed: 0,
        skipped: 0,
    };
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(c) = cases.get(i) else { break };
                let t = Instant::now();
                let o = run_one(ctx, c);
                if tx.send((i, o, t.elapsed().as_secs_f64())).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut pending: Vec<Option<(Outcome, f64)>> = (0..cases.len()).map(|_| None).collect();
        let mut printed = 0;
        for (i, o, secs) in rx {
            pending[i] = Some((o, secs));
            while printed < cases.len() {
                let Some((o, secs)) = pending[printed].take() else {
                    break;
                };
                let c = &cases[printed];
                let n = printed + 1;
                let label = format!("{} [{}] ({secs:.1}s)", c.name, c.section);
                match o {
                    Outcome::Pass => {
                        sum.passed += 1;
                        println!("ok {n} - {label}");
                    }
                    Outcome::Skip(r) => {
                        sum.skipped += 1;
                        println!("ok {n} - {label} # SKIP {}", one_line(&r));
                    }
                    Outcome::Fail(r) => {
                        sum.failed += 1;
                        println!("not ok {n} - {label}");
                        for l in r.lines() {
                            println!("  # {l}");
                        }
                    }
                }
                printed += 1;
            }
        }
    });
    sum
}

fn one_line(s: &str) -> String {
    s.lines().collect::<Vec<_>>().join(" / ")
}
