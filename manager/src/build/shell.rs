//! Variable substitution in the instructions that take it (ADD, COPY, ENV,
//! EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG), by the
//! reference's rules: `$name`, `${name}`, `${name:-word}`, `${name-word}`,
//! `${name:+word}`, `${name+word}`, `${name:?msg}`; single quotes keep
//! everything literal, double quotes keep blanks; the escape character
//! makes the next character literal (inside double quotes only before `"`,
//! `$` and itself). Unquoted values split into words where words are asked for.

use std::collections::BTreeMap;

pub type Vars = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ShellError {
    #[error("unterminated quote in {0:?}")]
    Quote(String),
    #[error("missing '}}' in {0:?}")]
    Brace(String),
    #[error("{0}")]
    Required(String),
    #[error("unsupported modifier in {0:?}")]
    Modifier(String),
}

struct Lexer<'a> {
    s: Vec<char>,
    i: usize,
    vars: &'a Vars,
    escape: char,
    src: &'a str,
}

/// Words under construction: `split` makes unquoted blanks end a word.
struct Words {
    out: Vec<String>,
    cur: String,
    in_word: bool,
}

impl Words {
    fn push(&mut self, c: char, split: bool) {
        if split && c.is_whitespace() {
            if self.in_word {
                self.out.push(std::mem::take(&mut self.cur));
                self.in_word = false;
            }
        } else {
            self.cur.push(c);
            self.in_word = true;
        }
    }
    fn push_raw(&mut self, s: &str) {
        self.cur.push_str(s);
        self.in_word = true;
    }
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.i += 1;
        c
    }

    /// Reads up to `stop` (not consumed) or the end.
    fn run(&mut self, w: &mut Words, split: bool, stop: Option<char>) -> Result<(), ShellError> {
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                return Ok(());
            }
            self.i += 1;
            if c == self.escape {
                if let Some(n) = self.next() {
                    w.push_raw(&n.to_string());
                }
                continue;
            }
            match c {
                '\'' => {
                    w.in_word = true;
                    loop {
                        match self.next() {
                            Some('\'') => break,
                            Some(x) => w.cur.push(x),
                            None => return Err(ShellError::Quote(self.src.into())),
                        }
                    }
                }
                '"' => {
                    w.in_word = true;
                    loop {
                        match self.next() {
                            Some('"') => break,
                            Some('$') => {
                                let v = self.dollar()?;
                                w.cur.push_str(&v);
                            }
                            Some(x) if x == self.escape => match self.peek() {
                                Some(n) if n == '"' || n == '$' || n == self.escape => {
                                    self.i += 1;
                                    w.cur.push(n);
                                }
                                Some(_) => w.cur.push(x),
                                None => return Err(ShellError::Quote(self.src.into())),
                            },
                            Some(x) => w.cur.push(x),
                            None => return Err(ShellError::Quote(self.src.into())),
                        }
                    }
                }
                '$' => {
                    let v = self.dollar()?;
                    for ch in v.chars() {
                        w.push(ch, split);
                    }
                }
                _ => w.push(c, split),
            }
        }
        Ok(())
    }

    fn name(&mut self) -> String {
        let mut n = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                n.push(c);
                self.i += 1;
            } else {
                break;
            }
        }
        n
    }

    /// After a `$`: the value it stands for.
    fn dollar(&mut self) -> Result<String, ShellError> {
        if self.peek() != Some('{') {
            let n = self.name();
            if n.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.vars.get(&n).cloned().unwrap_or_default());
        }
        self.i += 1;
        let n = self.name();
        let set = self.vars.get(&n);
        match self.next() {
            Some('}') => Ok(set.cloned().unwrap_or_default()),
            Some(c) => {
                let colon = c == ':';
                let op = if colon { self.next() } else { Some(c) };
                let op = op.ok_or_else(|| ShellError::Brace(self.src.into()))?;
                if !matches!(op, '-' | '+' | '?') {
                    return Err(ShellError::Modifier(self.src.into()));
                }
                let mut w = Words {
                    out: vec![],
                    cur: String::new(),
                    in_word: false,
                };
                self.run(&mut w, false, Some('}'))?;
                if self.next() != Some('}') {
                    return Err(ShellError::Brace(self.src.into()));
                }
                let word = w.cur;
                let present = match set {
                    Some(v) => !colon || !v.is_empty(),
                    None => false,
                };
                Ok(match op {
                    '-' if present => set.cloned().unwrap_or_default(),
                    '-' => word,
                    '+' if present => word,
                    '+' => String::new(),
                    _ if present => set.cloned().unwrap_or_default(),
                    _ => {
                        return Err(ShellError::Required(if word.is_empty() {
                            format!("{n}: is not allowed to be unset")
                        } else {
                            format!("{n}: {word}")
                        }))
                    }
                })
            }
            None => Err(ShellError::Brace(self.src.into())),
        }
    }
}

fn lex<'a>(s: &'a str, vars: &'a Vars, escape: char) -> Lexer<'a> {
    Lexer {
        s: s.chars().collect(),
        i: 0,
        vars,
        escape,
        src: s,
    }
}

/// One word: quotes removed, variables substituted, blanks kept.
pub fn word(s: &str, vars: &Vars, escape: char) -> Result<String, ShellError> {
    let mut w = Words {
        out: vec![],
        cur: String::new(),
        in_word: false,
    };
    lex(s, vars, escape).run(&mut w, false, None)?;
    Ok(w.cur)
}

/// Words split at unquoted blanks (those of substituted values too).
pub fn words(s: &str, vars: &Vars, escape: char) -> Result<Vec<String>, ShellError> {
    let mut w = Words {
        out: vec![],
        cur: String::new(),
        in_word: false,
    };
    lex(s, vars, escape).run(&mut w, true, None)?;
    if w.in_word {
        w.out.push(w.cur);
    }
    Ok(w.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [
            ("FOO", "/bar"),
            ("EMPTY", ""),
            ("SP", "a b"),
            ("abc", "hello"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn reference_examples() {
        let v = vars();
        let w = |s| word(s, &v, '\\').unwrap();
        // The reference's: WORKDIR ${FOO} -> /bar, ADD . $FOO, COPY \$FOO /quux.
        assert_eq!(w("${FOO}"), "/bar");
        assert_eq!(w("$FOO"), "/bar");
        assert_eq!(w("\\$FOO"), "$FOO");
        assert_eq!(w("${FOO}/x"), "/bar/x");
        assert_eq!(w("${UNSET:-default}"), "default");
        assert_eq!(w("${FOO:-default}"), "/bar");
        assert_eq!(w("${EMPTY:-d}"), "d");
        assert_eq!(w("${EMPTY-d}"), "");
        assert_eq!(w("${FOO:+set}"), "set");
        assert_eq!(w("${UNSET:+set}"), "");
        assert_eq!(w("${EMPTY+set}"), "set");
        assert_eq!(w("'$FOO'"), "$FOO");
        assert_eq!(w("\"$FOO x\""), "/bar x");
        assert_eq!(w("\"a\\\"b\\q\""), "a\"b\\q");
        assert_eq!(w("$"), "$");
        assert_eq!(w("a$-b"), "a$-b");
        assert_eq!(w("${abc:-${FOO}}"), "hello");
        assert_eq!(w("${UNSET:-${FOO}}"), "/bar");
        assert_eq!(w("Rex\\ The\\ Dog"), "Rex The Dog");
        assert!(word("${UNSET:?needed}", &v, '\\').is_err());
        assert!(word("${FOO", &v, '\\').is_err());
        assert!(word("\"open", &v, '\\').is_err());
        assert!(word("${FOO/a/b}", &v, '\\').is_err());
    }

    #[test]
    fn word_splitting() {
        let v = vars();
        assert_eq!(
            words("a  $SP \"$SP\" 'c d'", &v, '\\').unwrap(),
            ["a", "a", "b", "a b", "c d"]
        );
        assert_eq!(words("$EMPTY x", &v, '\\').unwrap(), ["x"]);
        assert_eq!(words("\"\" x", &v, '\\').unwrap(), ["", "x"]);
        assert_eq!(
            words("c:\\dir `$FOO", &v, '`').unwrap(),
            ["c:\\dir", "$FOO"]
        );
    }
}
