//! `logs`: the shim's CRI log (`ctr.log.1` then `ctr.log`), partial
//! records joined, replayed to stdout/stderr by stream.

use super::store::{shim_alive, ContainerStore};
use super::Result;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

pub struct LogOptions {
    pub follow: bool,
    pub tail: Option<usize>,
    /// Unix seconds (fractional).
    pub since: Option<f64>,
    pub timestamps: bool,
}

/// One complete line: (timestamp, stream, text with its newline).
#[derive(Debug, PartialEq)]
pub struct Line {
    pub time: String,
    pub stderr: bool,
    pub text: Vec<u8>,
}

/// Parses records into lines; a trailing partial record stays in `pending`.
#[derive(Default)]
pub struct Parser {
    pending: [Option<(String, Vec<u8>)>; 2],
}

impl Parser {
    pub fn feed(&mut self, record: &[u8], out: &mut Vec<Line>) {
        let mut it = record.splitn(4, |b| *b == b' ');
        let (Some(t), Some(s), Some(tag)) = (it.next(), it.next(), it.next()) else {
            return;
        };
        let text = it.next().unwrap_or(b"");
        let stderr = s == b"stderr";
        let slot = &mut self.pending[stderr as usize];
        let (time, mut buf) = slot
            .take()
            .unwrap_or_else(|| (String::from_utf8_lossy(t).into_owned(), Vec::new()));
        buf.extend_from_slice(text);
        if tag == b"P" {
            *slot = Some((time, buf));
        } else {
            buf.push(b'\n');
            out.push(Line {
                time,
                stderr,
                text: buf,
            });
        }
    }
}

/// `10m`, `1h30m`, `45s` ago, an RFC 3339 time or unix seconds → unix seconds.
pub fn parse_since(s: &str) -> Result<f64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    if let Some(t) = crate::image::time::parse_rfc3339(s) {
        // Keep the fraction: `--since` a line's own `-t` time must include that line.
        return Ok(t as f64 + fraction(s));
    }
    if let Ok(v) = s.parse::<f64>() {
        return Ok(v);
    }
    let mut total = 0f64;
    let mut num = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() || ch == '.' {
            num.push(ch);
            continue;
        }
        let n: f64 = num.parse().map_err(|_| {
            super::bad(
                "--since",
                s,
                "expected 10m, 1h, an RFC 3339 time or unix seconds",
            )
        })?;
        num.clear();
        total += n * match ch {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86400.0,
            _ => return Err(super::bad("--since", s, "units are s, m, h or d")),
        };
    }
    if !num.is_empty() {
        return Err(super::bad("--since", s, "a duration needs a unit (10m)"));
    }
    Ok(now - total)
}

/// The `.123456789` of an RFC 3339 time, as seconds.
fn fraction(t: &str) -> f64 {
    t.split_once('.')
        .map(|(_, f)| f.trim_end_matches(|c: char| !c.is_ascii_digit()))
        .map(|f| f.split(|c: char| !c.is_ascii_digit()).next().unwrap_or(""))
        .and_then(|f| format!("0.{f}").parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn time_of(line: &Line) -> f64 {
    crate::image::time::parse_rfc3339(&line.time).unwrap_or(0) as f64 + fraction(&line.time)
}

/// Where `stream` puts each line (already filtered by `since`): the line
/// and its text as `logs` prints it (with the timestamp if asked for).
/// Returns false when the reader has gone, which ends a follow.
pub type Sink<'a> = dyn FnMut(&Line, &[u8]) -> bool + 'a;

fn emit(lines: &[Line], o: &LogOptions, sink: &mut Sink) -> bool {
    for l in lines {
        if o.since.is_some_and(|s| time_of(l) < s) {
            continue;
        }
        let text = if o.timestamps {
            let mut t = format!("{} ", l.time).into_bytes();
            t.extend_from_slice(&l.text);
            t
        } else {
            l.text.clone()
        };
        if !sink(l, &text) {
            return false;
        }
    }
    true
}

/// A record longer than this is cut: the shim writes partial records long
/// before, so only a damaged log has one.
const MAX_RECORD: u64 = 1 << 20;

/// The log files, oldest first, read as one: (file, its length then).
struct Logs(Vec<(fs::File, u64)>);

impl Logs {
    fn open(shim: &Path) -> Logs {
        let mut v = Vec::new();
        for f in [shim.join("ctr.log.1"), shim.join("ctr.log")] {
            if let Ok(f) = fs::File::open(&f) {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                v.push((f, len));
            }
        }
        Logs(v)
    }

    fn len(&self) -> u64 {
        self.0.iter().map(|f| f.1).sum()
    }

    /// Reads the bytes before `end` (of the whole) into the tail of `buf`.
    fn read_before(&self, end: u64, buf: &mut [u8]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut at = end - buf.len() as u64;
        let mut done = 0;
        let mut base = 0;
        for (f, len) in &self.0 {
            if at < base + len && done < buf.len() {
                let n = ((base + len - at) as usize).min(buf.len() - done);
                f.read_exact_at(&mut buf[done..done + n], at - base)?;
                done += n;
                at += n as u64;
            }
            base += len;
        }
        Ok(())
    }

    /// The offset (of the whole) where the last `records` records begin, or 0.
    fn records_from_end(&self, records: usize) -> u64 {
        let mut end = self.len();
        let mut seen = 0;
        // The log ends with a newline: it ends the last record, not one before it.
        let mut skip_last = true;
        let mut buf = vec![0u8; 64 << 10];
        while end > 0 {
            let n = (buf.len() as u64).min(end) as usize;
            let block = &mut buf[..n];
            if self.read_before(end, block).is_err() {
                return 0;
            }
            for (i, b) in block.iter().enumerate().rev() {
                if *b != b'\n' {
                    continue;
                }
                if std::mem::take(&mut skip_last) {
                    continue;
                }
                seen += 1;
                if seen == records {
                    return end - n as u64 + i as u64 + 1;
                }
            }
            skip_last = false;
            end -= n as u64;
        }
        0
    }

    /// Parses every complete record from `from` (of the whole) on; `f` gets
    /// the lines each record completes, with the record's offset. With
    /// `mid_record`, `from` may fall inside a record, which is skipped. The
    /// offset after the last complete record: a record still being written
    /// is left for the next call.
    fn parse_from(
        &self,
        from: u64,
        mid_record: bool,
        parser: &mut Parser,
        f: &mut dyn FnMut(u64, Vec<Line>),
    ) -> std::io::Result<u64> {
        use std::io::{BufRead, Read, Seek, SeekFrom};
        let mut base = 0;
        let mut at = from;
        let mut rec = Vec::new();
        for (file, len) in &self.0 {
            if at < base + len {
                let mut file = file;
                file.seek(SeekFrom::Start(at - base))?;
                let mut r = std::io::BufReader::new(file.take(base + len - at));
                if at == from && mid_record && from > 0 {
                    at += r.skip_until(b'\n')? as u64;
                }
                loop {
                    rec.clear();
                    let n = (&mut r).take(MAX_RECORD).read_until(b'\n', &mut rec)?;
                    if n == 0 {
                        break;
                    }
                    let start = at;
                    if rec.last() == Some(&b'\n') {
                        rec.pop();
                    } else if n as u64 == MAX_RECORD {
                        // Drop the rest of an overlong record.
                        at += r.skip_until(b'\n')? as u64;
                    } else {
                        // Not complete yet.
                        return Ok(at);
                    }
                    at += n as u64;
                    let mut out = Vec::new();
                    parser.feed(&rec, &mut out);
                    if !out.is_empty() {
                        f(start, out);
                    }
                }
            }
            base += len;
        }
        Ok(at)
    }
}

/// The last `n` lines of the logs, read from their end: the work and the
/// memory go with `n`, not with the log's size. Also where the parse ended
/// and its state, for a follow to go on from.
fn tail(logs: &Logs, n: usize) -> (Vec<Line>, u64, Parser) {
    if n == 0 {
        return (Vec::new(), logs.len(), Parser::default());
    }
    let mut records = n + 1;
    loop {
        let from = logs.records_from_end(records);
        // A line's first (partial) records may lie before `from`: parsing
        // begins up to one record's bound earlier, and keeps the lines that
        // end at or after `from`.
        let pre = from.saturating_sub(MAX_RECORD);
        let mut ring = std::collections::VecDeque::with_capacity(n + 1);
        let mut parser = Parser::default();
        let end = logs
            .parse_from(pre, true, &mut parser, &mut |at, lines| {
                if at < from {
                    return;
                }
                for l in lines {
                    if ring.len() == n {
                        ring.pop_front();
                    }
                    ring.push_back(l);
                }
            })
            .unwrap_or(logs.len());
        if ring.len() >= n || from == 0 {
            return (ring.into(), end, parser);
        }
        records *= 2;
    }
}

/// `berth logs`: to our stdout and stderr.
pub fn show(root: &Path, name: &str, o: &LogOptions) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    stream(root, name, o, &|| false, &mut |l, text| {
        let w: &mut dyn Write = if l.stderr { &mut err } else { &mut out };
        // A closed stdout ends a follow quietly, as docker's.
        w.write_all(text).and_then(|_| w.flush()).is_ok()
    })
}

/// The container's log lines to `sink`, then (with `follow`) what comes
/// until the shim has gone, the sink says stop or `gone` says its reader
/// left while nothing was written.
pub fn stream(
    root: &Path,
    name: &str,
    o: &LogOptions,
    gone: &dyn Fn() -> bool,
    sink: &mut Sink,
) -> Result<()> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let shim = cs.shim_dir(&c.id);
    let log = shim.join("ctr.log");
    let logs = Logs::open(&shim);
    let read = |e: std::io::Error| super::ioe("reading the log")(e);
    let mut open = true;
    let (end, mut parser) = match o.tail {
        Some(n) => {
            let (lines, end, parser) = tail(&logs, n);
            open = emit(&lines, o, sink);
            (end, parser)
        }
        None => {
            let mut parser = Parser::default();
            let end = logs
                .parse_from(0, false, &mut parser, &mut |_, lines| {
                    open = open && emit(&lines, o, sink)
                })
                .map_err(read)?;
            (end, parser)
        }
    };
    if !o.follow || !open {
        return Ok(());
    }
    // Go on in ctr.log (the last file) from the end of what was shown. The
    // file is read through a descriptor held across polls: a client may
    // remove the container the moment it exits (docker-py's run does,
    // before it reads the followed logs), and what the shim wrote last must
    // still come out of a file that no longer has a name.
    let mut offset = end.saturating_sub(logs.len() - logs.0.last().map(|f| f.1).unwrap_or(0));
    let mut held: Option<fs::File> = logs.0.into_iter().last().map(|(f, _)| f);
    loop {
        let alive = shim_alive(&shim);
        let named = fs::File::open(&log).ok();
        let before = offset;
        if let Some(f) = &held {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len < offset {
                // Truncated in place: it starts from zero.
                offset = 0;
            }
            if len > offset {
                let now = Logs(vec![(f.try_clone().map_err(read)?, len)]);
                offset = now
                    .parse_from(offset, false, &mut parser, &mut |_, lines| {
                        open = open && emit(&lines, o, sink)
                    })
                    .map_err(read)?;
            }
        }
        // Rotated (ctr.log is another file now) or made since: what the
        // held one had is shown, the new one is read from its start.
        if let Some(n) = named {
            let same = match (&held, n.metadata(), held.as_ref().map(|h| h.metadata())) {
                (Some(_), Ok(a), Some(Ok(b))) => {
                    use std::os::unix::fs::MetadataExt;
                    a.ino() == b.ino() && a.dev() == b.dev()
                }
                _ => false,
            };
            if !same && offset == before {
                held = Some(n);
                offset = 0;
                continue;
            }
        }
        // The shim gone and nothing more (a record it cut short stays unshown).
        if !open || offset == before && !alive {
            return Ok(());
        }
        if gone() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partials_are_joined() {
        let mut p = Parser::default();
        let mut out = Vec::new();
        p.feed(b"2024-01-01T00:00:00.1Z stdout P hel", &mut out);
        p.feed(b"2024-01-01T00:00:00.2Z stderr F oops", &mut out);
        p.feed(b"2024-01-01T00:00:00.3Z stdout F lo", &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].text, b"oops\n");
        assert_eq!(out[1].text, b"hello\n");
        assert_eq!(out[1].time, "2024-01-01T00:00:00.1Z");
    }

    fn logs_of(content: &[&str]) -> (test_dir::D, Logs) {
        let d = test_dir::D::new();
        let mut v = Vec::new();
        for (i, c) in content.iter().enumerate() {
            let p = d.0.join(format!("log{i}"));
            fs::write(&p, c).unwrap();
            v.push((fs::File::open(&p).unwrap(), c.len() as u64));
        }
        (d, Logs(v))
    }

    mod test_dir {
        pub struct D(pub std::path::PathBuf);
        impl D {
            pub fn new() -> D {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = std::env::temp_dir().join(format!("berth-logs-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&p).unwrap();
                D(p)
            }
        }
        impl Drop for D {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(&l.text).into_owned())
            .collect()
    }

    #[test]
    fn tail_reads_from_the_end_across_rotation_and_partials() {
        let t = "2024-01-01T00:00:00.1Z";
        let old = format!("{t} stdout F a\n{t} stdout F b\n{t} stdout P c1\n");
        let new = format!(
            "{t} stderr F e1\n{t} stdout F c2\n{t} stdout P d1\n{t} stderr F e2\n{t} stdout F d2\n"
        );
        let (_d, logs) = logs_of(&[&old, &new]);
        let tail = |n| tail(&logs, n).0;
        assert_eq!(texts(&tail(1)), ["d1d2\n"]);
        assert_eq!(texts(&tail(2)), ["e2\n", "d1d2\n"]);
        assert_eq!(texts(&tail(4)), ["e1\n", "c1c2\n", "e2\n", "d1d2\n"]);
        assert_eq!(tail(100).len(), 6);
        assert!(tail(0).is_empty());
        let mut all = Vec::new();
        logs.parse_from(0, false, &mut Parser::default(), &mut |_, l| all.extend(l))
            .unwrap();
        assert_eq!(texts(&all), texts(&tail(6)));
    }

    #[test]
    fn since() {
        assert!(parse_since("10m").is_ok());
        assert_eq!(parse_since("2024-01-01T00:00:00Z").unwrap(), 1704067200.0);
        assert_eq!(
            parse_since("2024-01-01T00:00:00.25Z").unwrap(),
            1704067200.25
        );
        assert!(parse_since("10x").is_err());
        assert!(parse_since("10").is_ok());
    }
}
