//! Inside `{{ }}`: the tokens of one action.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Lit(Value),
    Open,
    Close(Vec<String>),
    Bar,
    Comma,
    Decl,
}

pub(super) fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let path = |i: &mut usize| -> Vec<String> {
        let mut v = Vec::new();
        while *i < b.len() && b[*i] == '.' {
            let start = *i + 1;
            let mut j = start;
            while j < b.len() && (b[j].is_alphanumeric() || b[j] == '_') {
                j += 1;
            }
            if j == start {
                break;
            }
            v.push(b[start..j].iter().collect());
            *i = j;
        }
        v
    };
    while i < b.len() {
        let c = b[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                i += 1;
                out.push(Tok::Close(path(&mut i)));
            }
            '|' => {
                out.push(Tok::Bar);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            ':' if b.get(i + 1) == Some(&'=') => {
                out.push(Tok::Decl);
                i += 2;
            }
            '=' => {
                out.push(Tok::Decl);
                i += 1;
            }
            '.' => {
                let p = path(&mut i);
                if p.is_empty() {
                    i += 1;
                }
                out.push(Tok::Field(p));
            }
            '$' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && (b[j].is_alphanumeric() || b[j] == '_') {
                    j += 1;
                }
                let name: String = b[start..j].iter().collect();
                i = j;
                out.push(Tok::Var(name, path(&mut i)));
            }
            '"' => {
                let mut t = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('"') => break,
                        Some('\\') => {
                            i += 1;
                            t.push(match b.get(i) {
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some(&x) => x,
                                None => return Err("unterminated string".into()),
                            });
                        }
                        Some(&x) => t.push(x),
                    }
                    i += 1;
                }
                i += 1;
                out.push(Tok::Lit(Value::String(t)));
            }
            '`' => {
                let rest: String = b[i + 1..].iter().collect();
                let end = rest.find('`').ok_or("unterminated raw string")?;
                out.push(Tok::Lit(Value::String(rest[..end].to_string())));
                i += 1 + rest[..end].chars().count() + 1;
            }
            c if c.is_ascii_digit()
                || (c == '-' && b.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == '.') {
                    i += 1;
                }
                let t: String = b[start..i].iter().collect();
                let v: Value = serde_json::from_str(&t).map_err(|_| format!("bad number {t}"))?;
                out.push(Tok::Lit(v));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
                let w: String = b[start..i].iter().collect();
                out.push(match w.as_str() {
                    "true" => Tok::Lit(Value::Bool(true)),
                    "false" => Tok::Lit(Value::Bool(false)),
                    "nil" => Tok::Lit(Value::Null),
                    _ => Tok::Ident(w),
                });
            }
            c => return Err(format!("unexpected {c:?}")),
        }
    }
    Ok(out)
}
