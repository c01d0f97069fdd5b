//! `logs`: the shim's CRI log (`ctr.log.1` then `ctr.log`), partial
//! records joined, replayed to stdout/stderr by stream.

use super::store::{shim_alive, ContainerStore};
use super::{ContainerError, Result};
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

fn emit(lines: &[Line], o: &LogOptions) {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for l in lines {
        if o.since.is_some_and(|s| time_of(l) < s) {
            continue;
        }
        let w: &mut dyn Write = if l.stderr { &mut err } else { &mut out };
        if o.timestamps {
            let _ = write!(w, "{} ", l.time);
        }
        let _ = w.write_all(&l.text);
    }
    let _ = out.flush();
}

pub fn show(root: &Path, name: &str, o: &LogOptions) -> Result<()> {
    let cs = ContainerStore::open(root)?;
    let c = cs.find(name)?;
    let shim = cs.shim_dir(&c.id);
    let log = shim.join("ctr.log");
    let mut parser = Parser::default();
    let mut lines = Vec::new();
    let mut rest = Vec::new();
    for f in [shim.join("ctr.log.1"), log.clone()] {
        if let Ok(b) = fs::read(&f) {
            rest.extend_from_slice(&b);
        }
    }
    let mut offset = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let consume = |buf: &mut Vec<u8>, out: &mut Vec<Line>, parser: &mut Parser| {
        let mut at = 0;
        while let Some(nl) = buf[at..].iter().position(|b| *b == b'\n') {
            parser.feed(&buf[at..at + nl], out);
            at += nl + 1;
        }
        buf.drain(..at);
    };
    consume(&mut rest, &mut lines, &mut parser);
    if let Some(n) = o.tail {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    emit(&lines, o);
    if !o.follow {
        return Ok(());
    }
    loop {
        let alive = shim_alive(&shim);
        let len = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        if len < offset {
            // Rotated: the new file starts from zero.
            offset = 0;
        }
        if len > offset {
            use std::io::{Read, Seek, SeekFrom};
            let mut f = fs::File::open(&log)
                .map_err(|e| ContainerError::Other(format!("reading the log: {e}")))?;
            let _ = f.seek(SeekFrom::Start(offset));
            let mut b = Vec::new();
            let _ = f.read_to_end(&mut b);
            offset += b.len() as u64;
            rest.extend_from_slice(&b);
            let mut new = Vec::new();
            consume(&mut rest, &mut new, &mut parser);
            emit(&new, o);
        } else if !alive {
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
