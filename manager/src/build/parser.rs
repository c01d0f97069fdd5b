//! The Dockerfile's syntax, as the Dockerfile reference describes it:
//! parser directives (`# syntax`, `# escape`) at the very top, comments,
//! line continuations with the escape character, heredocs (`<<EOF`,
//! `<<-EOF`, quoted words) for RUN, COPY and ADD, leading `--flag[=value]`
//! words, and the JSON (exec) form against the shell form. What the words
//! mean is the builder's business; variables are expanded there (see
//! `shell`), since their values change as the file goes on.

use super::BuildError;

#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    /// The word after `<<` (quotes removed).
    pub name: String,
    pub content: String,
    /// `<<"EOF"` or `<<'EOF'`: the content is not expanded.
    pub quoted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// The 1-based line the instruction starts on.
    pub line: usize,
    /// The keyword in lower case (`run`, `copy`...).
    pub keyword: String,
    /// `--name=value` (or `--name`) words before the arguments.
    pub flags: Vec<(String, Option<String>)>,
    /// Everything after the keyword and the flags, continuations joined.
    pub rest: String,
    /// `rest` as a JSON array of strings, when it is one (the exec form).
    pub json: Option<Vec<String>>,
    pub heredocs: Vec<Heredoc>,
    /// The logical line after the keyword, flags included (ONBUILD keeps it).
    pub original: String,
}

impl Instruction {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or("true"))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    pub escape: char,
    pub syntax: Option<String>,
    pub instructions: Vec<Instruction>,
}

const KEYWORDS: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

fn err(line: usize, msg: impl Into<String>) -> BuildError {
    BuildError::Parse {
        line,
        msg: msg.into(),
    }
}

/// `# key=value` at the top of the file, or None.
fn directive(line: &str) -> Option<(String, String)> {
    let body = line.trim_start().strip_prefix('#')?;
    let (k, v) = body.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    if !k.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

/// The line without its trailing escape (and the blanks after it), if it continues.
fn continues(line: &str, escape: char) -> Option<&str> {
    let t = line.trim_end_matches([' ', '\t']);
    t.strip_suffix(escape)
}

/// The heredoc words of a logical line: (name, strip tabs, quoted).
fn heredoc_words(s: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None if c == b'<' && b[i..].starts_with(b"<<<") => {
                while b.get(i) == Some(&b'<') {
                    i += 1;
                }
                continue;
            }
            None if c == b'<' && b.get(i + 1) == Some(&b'<') => {
                let mut j = i + 2;
                let strip = b.get(j) == Some(&b'-');
                if strip {
                    j += 1;
                }
                let q = b.get(j).copied().filter(|c| *c == b'"' || *c == b'\'');
                if q.is_some() {
                    j += 1;
                }
                let start = j;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'-')
                {
                    j += 1;
                }
                if j > start {
                    let name = s[start..j].to_string();
                    if let Some(q) = q {
                        if b.get(j) != Some(&q) {
                            i = j;
                            continue;
                        }
                        j += 1;
                    }
                    out.push((name, strip, q.is_some()));
                    i = j;
                    continue;
                }
            }
            None => {}
        }
        i += 1;
    }
    out
}

/// Splits `--a=b --c rest` into flags and the rest. A flag word ends at
/// the first blank; its value may not hold one (as in BuildKit).
fn split_flags(s: &str) -> (Vec<(String, Option<String>)>, &str) {
    let mut flags = Vec::new();
    let mut rest = s.trim_start();
    while let Some(f) = rest.strip_prefix("--") {
        let end = f.find([' ', '\t']).unwrap_or(f.len());
        let word = &f[..end];
        if word.is_empty() {
            break;
        }
        match word.split_once('=') {
            Some((n, v)) => flags.push((n.to_ascii_lowercase(), Some(v.to_string()))),
            None => flags.push((word.to_ascii_lowercase(), None)),
        }
        rest = f[end..].trim_start();
    }
    (flags, rest)
}

/// A JSON array of strings, the exec form; anything else is the shell form.
pub fn json_array(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

pub fn parse(text: &str) -> Result<Dockerfile, BuildError> {
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let mut escape = '\\';
    let mut syntax = None;
    let mut i = 0;
    // Directives: only before anything else, each at most once.
    let mut seen = Vec::new();
    while i < lines.len() {
        let Some((k, v)) = directive(lines[i]) else {
            break;
        };
        if seen.contains(&k) {
            return Err(err(
                i + 1,
                format!("only one {k} parser directive can be used"),
            ));
        }
        match k.as_str() {
            "escape" => {
                escape = match v.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(err(
                            i + 1,
                            format!("invalid escape token {v:?}: it must be ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => syntax = Some(v),
            _ => {}
        }
        seen.push(k);
        i += 1;
    }
    let mut out = Vec::new();
    while i < lines.len() {
        let first = i;
        let l = lines[i].trim_start();
        i += 1;
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        // The logical line: continuations joined, comment and blank lines
        // inside it dropped, as the reference says.
        let mut logical = String::new();
        let mut cur = l.to_string();
        loop {
            match continues(&cur, escape) {
                Some(head) => {
                    logical.push_str(head);
                    let mut next = None;
                    while i < lines.len() {
                        let n = lines[i];
                        i += 1;
                        let t = n.trim_start();
                        if t.starts_with('#') || t.is_empty() {
                            continue;
                        }
                        next = Some(n.to_string());
                        break;
                    }
                    match next {
                        Some(n) => cur = n,
                        None => break,
                    }
                }
                None => {
                    logical.push_str(&cur);
                    break;
                }
            }
        }
        let (kw, after) = match logical.find([' ', '\t']) {
            Some(p) => (&logical[..p], logical[p..].trim_start()),
            None => (logical.as_str(), ""),
        };
        let keyword = kw.to_ascii_lowercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(err(
                first + 1,
                format!("unknown instruction: {}", kw.to_ascii_uppercase()),
            ));
        }
        let (flags, rest) = split_flags(after);
        let mut heredocs = Vec::new();
        if matches!(keyword.as_str(), "run" | "copy" | "add") && json_array(rest).is_none() {
            for (name, strip, quoted) in heredoc_words(rest) {
                let mut content = String::new();
                let mut ended = false;
                while i < lines.len() {
                    let n = lines[i];
                    i += 1;
                    let n = if strip { n.trim_start_matches('\t') } else { n };
                    if n == name {
                        ended = true;
                        break;
                    }
                    content.push_str(n);
                    content.push('\n');
                }
                if !ended {
                    return Err(err(first + 1, format!("unterminated heredoc {name}")));
                }
                heredocs.push(Heredoc {
                    name,
                    content,
                    quoted,
                });
            }
        }
        out.push(Instruction {
            line: first + 1,
            keyword,
            flags,
            rest: rest.trim_end().to_string(),
            json: json_array(rest),
            heredocs,
            original: after.trim_end().to_string(),
        });
    }
    Ok(Dockerfile {
        escape,
        syntax,
        instructions: out,
    })
}

/// Splits on blanks outside quotes, quotes and escapes kept (the words of
/// ENV and LABEL before expansion, docker's parseWords).
pub fn raw_words(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut w = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == escape && quote != Some('\'') {
            w.push(c);
            if let Some(n) = chars.next() {
                w.push(n);
            }
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c.is_whitespace() => {
                if !w.is_empty() {
                    words.push(std::mem::take(&mut w));
                }
                continue;
            }
            _ => {}
        }
        w.push(c);
    }
    if !w.is_empty() {
        words.push(w);
    }
    words
}

/// ENV's and LABEL's `k=v k2="v 2"` words, or the legacy `k v w` (one pair,
/// the value the rest of the line). Keys and values still unexpanded.
pub fn name_values(
    keyword: &str,
    line: usize,
    rest: &str,
    escape: char,
) -> Result<Vec<(String, String)>, BuildError> {
    let words = raw_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(err(
            line,
            format!(
                "{} requires at least one argument",
                keyword.to_ascii_uppercase()
            ),
        ));
    };
    if !first.contains('=') {
        let value = rest.trim_start()[first.len()..].trim_start();
        if value.is_empty() {
            return Err(err(
                line,
                format!("{} must have two arguments", keyword.to_ascii_uppercase()),
            ));
        }
        return Ok(vec![(first.clone(), value.to_string())]);
    }
    words
        .iter()
        .map(|w| {
            let (k, v) = w.split_once('=').ok_or_else(|| {
                err(
                    line,
                    format!(
                        "{}: syntax error - can't find = in {w:?}. Must be of the form: name=value",
                        keyword.to_ascii_uppercase()
                    ),
                )
            })?;
            if k.is_empty() {
                return Err(err(
                    line,
                    format!("{} names can not be blank", keyword.to_ascii_uppercase()),
                ));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Instruction {
        let d = parse(text).unwrap();
        assert_eq!(d.instructions.len(), 1, "{:?}", d.instructions);
        d.instructions.into_iter().next().unwrap()
    }

    #[test]
    fn reference_continuation_and_comments() {
        // The reference's example: comment lines inside a continued
        // instruction are removed before it is read.
        let d = parse("RUN echo hello \\\n# comment\nworld\n").unwrap();
        assert_eq!(d.instructions[0].rest, "echo hello world");
        let d = parse("# comment\n  RUN echo x\n\n\t# another\nCMD [\"a\",\"b\"]\n").unwrap();
        assert_eq!(d.instructions.len(), 2);
        assert_eq!(d.instructions[0].line, 2);
        assert_eq!(d.instructions[1].json, Some(vec!["a".into(), "b".into()]));
        // A continuation with blanks after the escape still continues.
        assert_eq!(one("RUN a \\  \n b").rest, "a  b");
    }

    #[test]
    fn reference_escape_directive() {
        // The reference's Windows example: with ` as the escape, \ is literal.
        let d =
            parse("# escape=`\n\nFROM x\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n  /s\n").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.instructions[1].rest, "testfile.txt c:\\");
        assert_eq!(d.instructions[2].rest, "dir c:\\   /s");
        // Without it the same file continues the COPY line into the RUN.
        let d = parse("FROM x\nCOPY testfile.txt c:\\\nRUN dir c:\\\n").unwrap();
        assert_eq!(d.instructions.len(), 2);
        assert_eq!(d.instructions[1].rest, "testfile.txt c:RUN dir c:");
    }

    #[test]
    fn reference_directives_only_at_the_top() {
        // Once a comment, blank line or instruction is seen, `# escape=` is a comment.
        let d = parse("# about my dockerfile\n# escape=`\nFROM x\n").unwrap();
        assert_eq!(d.escape, '\\');
        let d = parse("FROM x\n# escape=`\n").unwrap();
        assert_eq!(d.escape, '\\');
        let d = parse("# syntax=docker/dockerfile:1\n#escape = `\nFROM x\n").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        // Unknown directives are ignored, a repeated one is an error.
        assert!(parse("# unknowndirective=value\nFROM x\n").is_ok());
        assert!(parse("# escape=\\\n# escape=`\nFROM x\n").is_err());
        assert!(parse("# escape=x\nFROM x\n").is_err());
    }

    #[test]
    fn flags_and_forms() {
        let i = one("COPY --from=build --chown=1:2 a b");
        assert_eq!(i.flag("from"), Some("build"));
        assert_eq!(i.flag("chown"), Some("1:2"));
        assert_eq!(i.rest, "a b");
        let i = one("run [\"echo\", \"a b\"]");
        assert_eq!(i.keyword, "run");
        assert_eq!(i.json, Some(vec!["echo".into(), "a b".into()]));
        // Not valid JSON: the shell form, brackets and all.
        let i = one("RUN [ \"echo\", 'x' ]");
        assert_eq!(i.json, None);
        assert!(parse("FOO bar").is_err());
    }

    #[test]
    fn reference_heredocs() {
        let i = one("RUN <<EOF\napt-get update\napt-get install -y curl\nEOF\n");
        assert_eq!(
            i.heredocs[0].content,
            "apt-get update\napt-get install -y curl\n"
        );
        assert_eq!(i.rest, "<<EOF");
        let d = parse("RUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2\nCMD x\n").unwrap();
        let h = &d.instructions[0].heredocs;
        assert_eq!(
            (h[0].name.as_str(), h[0].content.as_str()),
            ("FILE1", "I am\nfirst\n")
        );
        assert_eq!(
            (h[1].name.as_str(), h[1].content.as_str()),
            ("FILE2", "I am\nsecond\n")
        );
        assert_eq!(d.instructions[1].keyword, "cmd");
        let i = one("COPY <<-\"EOT\" /app/x\n\tline $X\n\tEOT\n");
        assert!(i.heredocs[0].quoted);
        assert_eq!(i.heredocs[0].content, "line $X\n");
        assert!(parse("RUN <<EOF\nnever ends\n").is_err());
        // `<<<` is a here-string, not a heredoc.
        assert!(one("RUN cat <<<word").heredocs.is_empty());
    }

    #[test]
    fn env_pairs() {
        let p = name_values(
            "env",
            1,
            "MY_NAME=\"John Doe\" MY_DOG=Rex\\ The\\ Dog MY_CAT=fluffy",
            '\\',
        )
        .unwrap();
        assert_eq!(p[0], ("MY_NAME".into(), "\"John Doe\"".into()));
        assert_eq!(p[1], ("MY_DOG".into(), "Rex\\ The\\ Dog".into()));
        assert_eq!(p[2], ("MY_CAT".into(), "fluffy".into()));
        let p = name_values("env", 1, "MY_VAR my-value and more", '\\').unwrap();
        assert_eq!(p, vec![("MY_VAR".into(), "my-value and more".into())]);
        assert!(name_values("env", 1, "A=1 B", '\\').is_err());
        assert!(name_values("env", 1, "ONLY", '\\').is_err());
    }
}
