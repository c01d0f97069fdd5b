//! The template text cut into text and actions, then actions into a tree:
//! pipelines of commands and the `range`/`if`/`with` blocks around them.

use super::lex::{lex, Tok};
use serde_json::Value;

#[derive(Debug, Clone)]
pub(super) enum Node {
    Text(String),
    Action(Pipe),
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
}

/// `$a, $b := cmd | cmd ...`
#[derive(Debug, Clone)]
pub(super) struct Pipe {
    pub(super) vars: Vec<String>,
    pub(super) cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
pub(super) enum Arg {
    /// `.A.B` on dot (an empty path is dot itself).
    Field(Vec<String>),
    /// `$x.A.B` (`$` alone is the root).
    Var(String, Vec<String>),
    Func(String),
    Lit(Value),
    /// `(pipe).A.B`
    Sub(Box<Pipe>, Vec<String>),
}

pub(super) const FUNCS: &[&str] = &[
    "json", "index", "len", "join", "split", "lower", "upper", "title", "print", "println",
    "printf", "not", "and", "or", "eq", "ne", "lt", "le", "gt", "ge", "truncate", "pad",
];

/// Splits the template into text and actions, honouring trim markers.
pub(super) fn split(tpl: &str) -> Result<Vec<(bool, String)>, String> {
    let mut parts: Vec<(bool, String)> = Vec::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_string();
        let mut inner = &rest[start + 2..];
        let end = inner.find("}}").ok_or("unclosed {{")?;
        let mut body = &inner[..end];
        if let Some(b) = body
            .strip_prefix("- ")
            .or(body.strip_prefix('-').filter(|b| b.is_empty()))
        {
            text = text.trim_end().to_string();
            body = b;
        }
        let mut trim_after = false;
        if let Some(b) = body.strip_suffix(" -") {
            trim_after = true;
            body = b;
        }
        parts.push((false, text));
        parts.push((true, body.trim().to_string()));
        inner = &inner[end + 2..];
        rest = if trim_after {
            inner.trim_start()
        } else {
            inner
        };
    }
    parts.push((false, rest.to_string()));
    Ok(parts)
}

pub(super) type Parts<'a> = std::iter::Peekable<std::slice::Iter<'a, (bool, String)>>;

/// Parses nodes up to an `end` or `else` (returned, with what follows it).
pub(super) fn parse_nodes(it: &mut Parts) -> Result<(Vec<Node>, Option<String>), String> {
    let mut out = Vec::new();
    while let Some((action, s)) = it.next() {
        if !action {
            if !s.is_empty() {
                out.push(Node::Text(s.clone()));
            }
            continue;
        }
        if s.starts_with("/*") {
            continue;
        }
        let (word, rest) = s.split_once(' ').unwrap_or((s.as_str(), ""));
        let rest = rest.trim();
        match word {
            "end" => return Ok((out, Some("end".into()))),
            "else" => return Ok((out, Some(format!("else {rest}").trim().to_string()))),
            "if" => {
                let mut arms = vec![];
                let mut cond = parse_pipe(&lex(rest)?)?;
                let otherwise = loop {
                    let (body, stop) = parse_nodes(it)?;
                    arms.push((cond, body));
                    match stop.as_deref() {
                        Some("end") => break vec![],
                        Some("else") => {
                            let (body, stop) = parse_nodes(it)?;
                            if stop.as_deref() != Some("end") {
                                return Err("if without end".into());
                            }
                            break body;
                        }
                        Some(e) if e.starts_with("else if ") => {
                            cond = parse_pipe(&lex(&e[8..])?)?;
                        }
                        _ => return Err("if without end".into()),
                    }
                };
                out.push(Node::If(arms, otherwise));
            }
            "range" | "with" => {
                let pipe = parse_pipe(&lex(rest)?)?;
                let (body, stop) = parse_nodes(it)?;
                let otherwise = match stop.as_deref() {
                    Some("end") => vec![],
                    Some("else") => {
                        let (b, stop) = parse_nodes(it)?;
                        if stop.as_deref() != Some("end") {
                            return Err(format!("{word} without end"));
                        }
                        b
                    }
                    _ => return Err(format!("{word} without end")),
                };
                out.push(if word == "range" {
                    Node::Range(pipe, body, otherwise)
                } else {
                    Node::With(pipe, body, otherwise)
                });
            }
            _ => out.push(Node::Action(parse_pipe(&lex(s)?)?)),
        }
    }
    Ok((out, None))
}

pub(super) fn parse_pipe(toks: &[Tok]) -> Result<Pipe, String> {
    let mut vars = Vec::new();
    let mut rest = toks;
    if let Some(d) = toks.iter().position(|t| *t == Tok::Decl) {
        for t in &toks[..d] {
            match t {
                Tok::Var(n, p) if p.is_empty() => vars.push(n.clone()),
                Tok::Comma => {}
                _ => return Err("only variables can be declared".into()),
            }
        }
        rest = &toks[d + 1..];
    }
    let mut cmds = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        match &rest[i] {
            Tok::Bar => cmds.push(std::mem::take(&mut cur)),
            Tok::Open => {
                let mut depth = 1;
                let mut j = i + 1;
                while j < rest.len() {
                    match rest[j] {
                        Tok::Open => depth += 1,
                        Tok::Close(_) => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                let Some(Tok::Close(p)) = rest.get(j) else {
                    return Err("unclosed (".into());
                };
                cur.push(Arg::Sub(Box::new(parse_pipe(&rest[i + 1..j])?), p.clone()));
                i = j;
            }
            Tok::Close(_) => return Err("unexpected )".into()),
            Tok::Field(p) => cur.push(Arg::Field(p.clone())),
            Tok::Var(n, p) => cur.push(Arg::Var(n.clone(), p.clone())),
            Tok::Ident(f) => {
                if !FUNCS.contains(&f.as_str()) {
                    return Err(format!("function {f:?} not defined"));
                }
                cur.push(Arg::Func(f.clone()))
            }
            Tok::Lit(v) => cur.push(Arg::Lit(v.clone())),
            Tok::Comma | Tok::Decl => return Err("unexpected , or :=".into()),
        }
        i += 1;
    }
    cmds.push(cur);
    if cmds.iter().any(|c| c.is_empty()) {
        return Err("missing value".into());
    }
    Ok(Pipe { vars, cmds })
}
