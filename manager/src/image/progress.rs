//! Pull/push progress like docker's: one bar per layer on a terminal,
//! plain status lines otherwise (logs, CI, tests).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Read};

/// Where progress goes instead of stderr (the Engine API's JSON stream):
/// (the layer's short id, or none for a whole-pull line; its status).
pub type Sink = std::sync::Arc<dyn Fn(Option<&str>, &str) + Send + Sync>;

#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
    quiet: bool,
    sink: Option<Sink>,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let multi = (!quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress {
            multi,
            quiet,
            sink: None,
        }
    }

    pub fn to_sink(sink: Sink) -> Progress {
        Progress {
            multi: None,
            quiet: false,
            sink: Some(sink),
        }
    }

    pub fn line(&self, msg: &str) {
        if let Some(s) = &self.sink {
            return s(None, msg);
        }
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => eprintln!("{msg}"),
        }
    }

    /// A bar (or plain lines) for one layer, named by its short digest.
    pub fn item(&self, id: &str, total: u64) -> Item {
        let bar = self.multi.as_ref().map(|m| {
            let b = m.add(ProgressBar::new(total));
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix}: {msg:<16} [{bar:40}] {bytes}/{total_bytes}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            b.set_prefix(id.to_string());
            b
        });
        let it = Item {
            bar,
            id: id.to_string(),
            quiet: self.quiet,
            sink: self.sink.clone(),
        };
        it.status("Waiting");
        it
    }
}

pub struct Item {
    bar: Option<ProgressBar>,
    id: String,
    quiet: bool,
    sink: Option<Sink>,
}

impl Item {
    pub fn status(&self, msg: &str) {
        if let Some(s) = &self.sink {
            return s(Some(&self.id), msg);
        }
        match &self.bar {
            Some(b) => b.set_message(msg.to_string()),
            None if !self.quiet => eprintln!("{}: {msg}", self.id),
            None => {}
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    pub fn reset(&self) {
        if let Some(b) = &self.bar {
            b.set_position(0);
        }
    }

    pub fn done(&self, msg: &str) {
        if let Some(s) = &self.sink {
            return s(Some(&self.id), msg);
        }
        match &self.bar {
            Some(b) => b.finish_with_message(msg.to_string()),
            None if !self.quiet => eprintln!("{}: {msg}", self.id),
            None => {}
        }
    }
}

/// Counts bytes into a progress item as they are read.
pub struct Counting<'a, R> {
    pub inner: R,
    pub item: &'a Item,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.item.inc(n as u64);
        Ok(n)
    }
}
