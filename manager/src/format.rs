//! `--format` templates: the part of Go's text/template that scripts use with
//! docker and podman, evaluated over the JSON that `inspect` and the list
//! commands print: fields (`{{.State.Pid}}`), `range` (with `$i, $v :=`),
//! `if`/`else if`/`else`, `with`, variables, pipelines (`{{.X | json}}`),
//! parentheses, trim markers (`{{-`, `-}}`) and the functions docker adds
//! (json, join, split, lower, upper, title, ...). A `table` prefix prints
//! aligned columns under a header, as docker's list commands do.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("invalid --format template {0:?}: {1}")]
    Template(String, String),
    #[error("--format template {0:?}: {1}")]
    Exec(String, String),
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
}

/// `$a, $b := cmd | cmd ...`
#[derive(Debug, Clone)]
struct Pipe {
    vars: Vec<String>,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` on dot (an empty path is dot itself).
    Field(Vec<String>),
    /// `$x.A.B` (`$` alone is the root).
    Var(String, Vec<String>),
    Func(String),
    Lit(Value),
    /// `(pipe).A.B`
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
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

fn lex(s: &str) -> Result<Vec<Tok>, String> {
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

fn parse_pipe(toks: &[Tok]) -> Result<Pipe, String> {
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

const FUNCS: &[&str] = &[
    "json", "index", "len", "join", "split", "lower", "upper", "title", "print", "println",
    "printf", "not", "and", "or", "eq", "ne", "lt", "le", "gt", "ge", "truncate", "pad",
];

/// Splits the template into text and actions, honouring trim markers.
fn split(tpl: &str) -> Result<Vec<(bool, String)>, String> {
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

type Parts<'a> = std::iter::Peekable<std::slice::Iter<'a, (bool, String)>>;

/// Parses nodes up to an `end` or `else` (returned, with what follows it).
fn parse_nodes(it: &mut Parts) -> Result<(Vec<Node>, Option<String>), String> {
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

/// A parsed template, to render many rows with.
pub struct Template {
    src: String,
    nodes: Vec<Node>,
    /// `table ...`: print a header and align the columns.
    pub table: bool,
}

impl Template {
    pub fn parse(tpl: &str) -> Result<Template, FormatError> {
        // As docker does: the two escapes people type in shells.
        let src = tpl.replace("\\t", "\t").replace("\\n", "\n");
        let (table, body) = match src.strip_prefix("table") {
            Some(b) if b.is_empty() || b.starts_with(char::is_whitespace) => (true, b.trim_start()),
            _ => (false, src.as_str()),
        };
        let bad = |e: String| FormatError::Template(tpl.to_string(), e);
        let parts = split(body).map_err(bad)?;
        let (nodes, stop) = parse_nodes(&mut parts.iter().peekable()).map_err(bad)?;
        if let Some(s) = stop {
            return Err(bad(format!("unexpected {{{{{s}}}}}")));
        }
        Ok(Template {
            src: tpl.to_string(),
            nodes,
            table,
        })
    }

    pub fn render(&self, v: &Value) -> Result<String, FormatError> {
        let mut cx = Cx {
            root: v,
            vars: vec![],
        };
        let mut out = String::new();
        cx.nodes(&self.nodes, v, &mut out)
            .map_err(|e| FormatError::Exec(self.src.clone(), e))?;
        Ok(out)
    }

    /// The header row of a table: each field's column name, from `header`
    /// (given the field's name), or the name in capitals.
    pub fn header(&self, header: &dyn Fn(&str) -> Option<&'static str>) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let name = match p.cmds.last().and_then(|c| c.first()) {
                        Some(Arg::Field(f)) => f.join("."),
                        _ => String::new(),
                    };
                    out.push_str(
                        &header(&name)
                            .map(String::from)
                            .unwrap_or_else(|| caps(&name)),
                    );
                }
                _ => {}
            }
        }
        out
    }
}

/// `CreatedAt` -> `CREATED AT`.
fn caps(name: &str) -> String {
    let mut s = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_uppercase() && prev_lower {
            s.push(' ');
        }
        prev_lower = c.is_lowercase();
        s.extend(c.to_uppercase());
    }
    s
}

/// Renders `tpl` against `v` once.
pub fn render(tpl: &str, v: &Value) -> Result<String, FormatError> {
    Template::parse(tpl)?.render(v)
}

/// Prints `rows` with `tpl`: one line each, or under a `table` header with
/// the tab-separated cells padded into columns.
pub fn print_rows(
    tpl: &str,
    rows: &[Value],
    header: &dyn Fn(&str) -> Option<&'static str>,
) -> Result<(), FormatError> {
    let t = Template::parse(tpl)?;
    let mut lines = Vec::new();
    if t.table {
        lines.push(t.header(header));
    }
    for r in rows {
        lines.push(t.render(r)?);
    }
    let text = lines.join("\n");
    if t.table {
        print!("{}", align(&text));
    } else if !rows.is_empty() {
        println!("{text}");
    }
    Ok(())
}

/// Go's tabwriter as docker sets it up: cells end at tabs, columns are as
/// wide as their widest cell plus 3 spaces, at least 10.
fn align(text: &str) -> String {
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            let w = c.chars().count();
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(w);
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                let w = (widths[i] + 3).max(10);
                line.push_str(&" ".repeat(w - c.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

struct Cx<'a> {
    root: &'a Value,
    vars: Vec<(String, Value)>,
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn walk(mut v: Value, path: &[String]) -> Value {
    for k in path {
        v = v.get(k).cloned().unwrap_or(Value::Null);
    }
    v
}

/// Go's `%v` of a value: strings bare, arrays `[a b]`, maps `map[k:v]`.
fn plain(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", plain(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

fn cmp(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .ok_or_else(|| "incomparable numbers".to_string()),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => Err(format!("cannot compare {} and {}", plain(a), plain(b))),
    }
}

fn call(f: &str, a: Vec<Value>) -> Result<Value, String> {
    let want = |n: usize| {
        if a.len() == n {
            Ok(())
        } else {
            Err(format!("{f} wants {n} arguments, got {}", a.len()))
        }
    };
    let s = |v: &Value| plain(v);
    Ok(match f {
        "json" => {
            want(1)?;
            Value::String(a[0].to_string())
        }
        "len" => {
            want(1)?;
            let n = match &a[0] {
                Value::Array(x) => x.len(),
                Value::Object(m) => m.len(),
                Value::String(t) => t.len(),
                Value::Null => 0,
                v => return Err(format!("len of {}", plain(v))),
            };
            Value::from(n)
        }
        "index" => {
            let Some((first, keys)) = a.split_first() else {
                return Err("index wants arguments".into());
            };
            let mut cur = first.clone();
            for k in keys {
                cur = match (&cur, k) {
                    (Value::Object(m), Value::String(key)) => {
                        m.get(key).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(x), Value::Number(n)) => {
                        let i = n.as_u64().ok_or("index must be a number")? as usize;
                        x.get(i)
                            .cloned()
                            .ok_or_else(|| format!("index {i} out of range (len {})", x.len()))?
                    }
                    (Value::Null, _) => Value::Null,
                    (c, k) => return Err(format!("cannot index {} with {}", plain(c), plain(k))),
                };
            }
            cur
        }
        "join" => {
            want(2)?;
            let items: Vec<String> = match &a[0] {
                Value::Array(x) => x.iter().map(s).collect(),
                Value::Null => vec![],
                v => vec![s(v)],
            };
            Value::String(items.join(&s(&a[1])))
        }
        "split" => {
            want(2)?;
            Value::Array(
                s(&a[0])
                    .split(&s(&a[1]))
                    .map(|x| Value::String(x.into()))
                    .collect(),
            )
        }
        "lower" => {
            want(1)?;
            Value::String(s(&a[0]).to_lowercase())
        }
        "upper" => {
            want(1)?;
            Value::String(s(&a[0]).to_uppercase())
        }
        "title" => {
            want(1)?;
            let t = s(&a[0]);
            let mut c = t.chars();
            Value::String(match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => t,
            })
        }
        "truncate" => {
            want(2)?;
            let n = a[1].as_u64().ok_or("truncate wants a length")? as usize;
            Value::String(s(&a[0]).chars().take(n).collect())
        }
        "pad" => {
            want(3)?;
            let l = a[1].as_u64().unwrap_or(0) as usize;
            let r = a[2].as_u64().unwrap_or(0) as usize;
            Value::String(format!("{}{}{}", " ".repeat(l), s(&a[0]), " ".repeat(r)))
        }
        // Go's Sprint: a space between operands when neither is a string.
        "print" => {
            let mut out = String::new();
            for (i, v) in a.iter().enumerate() {
                if i > 0 && !v.is_string() && !a[i - 1].is_string() {
                    out.push(' ');
                }
                out.push_str(&s(v));
            }
            Value::String(out)
        }
        "println" => Value::String(a.iter().map(s).collect::<Vec<_>>().join(" ") + "\n"),
        "printf" => {
            let Some((fmt, args)) = a.split_first() else {
                return Err("printf wants a format".into());
            };
            let fmt = s(fmt);
            let mut args = args.iter();
            let mut out = String::new();
            let mut cs = fmt.chars();
            while let Some(c) = cs.next() {
                if c != '%' {
                    out.push(c);
                    continue;
                }
                match cs.next() {
                    Some('%') => out.push('%'),
                    Some('q') => out.push_str(
                        &Value::String(args.next().map(s).unwrap_or_default()).to_string(),
                    ),
                    Some('s' | 'v' | 'd') => {
                        out.push_str(&args.next().map(s).unwrap_or_else(|| "%!v(MISSING)".into()))
                    }
                    other => {
                        return Err(format!(
                            "printf: unsupported verb %{}",
                            other.unwrap_or(' ')
                        ))
                    }
                }
            }
            Value::String(out)
        }
        "not" => {
            want(1)?;
            Value::Bool(!truthy(&a[0]))
        }
        // Go's and/or return the deciding operand.
        "and" => a
            .iter()
            .find(|v| !truthy(v))
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => a
            .iter()
            .find(|v| truthy(v))
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Null),
        "eq" => {
            let Some((x, rest)) = a.split_first() else {
                return Err("eq wants arguments".into());
            };
            Value::Bool(
                rest.iter()
                    .any(|y| x == y || cmp(x, y).is_ok_and(|o| o.is_eq())),
            )
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(2)?;
            let o = cmp(&a[0], &a[1]);
            Value::Bool(match f {
                "ne" => a[0] != a[1] && !o.is_ok_and(|o| o.is_eq()),
                "lt" => o?.is_lt(),
                "le" => o?.is_le(),
                "gt" => o?.is_gt(),
                _ => o?.is_ge(),
            })
        }
        _ => return Err(format!("function {f:?} not defined")),
    })
}

impl Cx<'_> {
    fn var(&self, n: &str) -> Result<Value, String> {
        if n.is_empty() {
            return Ok(self.root.clone());
        }
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("undefined variable ${n}"))
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, String> {
        Ok(match a {
            Arg::Field(p) => walk(dot.clone(), p),
            Arg::Var(n, p) => walk(self.var(n)?, p),
            Arg::Lit(v) => v.clone(),
            Arg::Sub(pipe, p) => walk(self.pipe(pipe, dot, false)?, p),
            Arg::Func(f) => call(f, vec![])?,
        })
    }

    /// Runs a pipeline; with `declare`, its variables are set (range sets its own).
    fn pipe(&mut self, p: &Pipe, dot: &Value, declare: bool) -> Result<Value, String> {
        let mut prev: Option<Value> = None;
        for cmd in &p.cmds {
            let v = match &cmd[0] {
                Arg::Func(f) => {
                    let mut args = Vec::new();
                    for a in &cmd[1..] {
                        args.push(self.arg(a, dot)?);
                    }
                    args.extend(prev.take());
                    call(f, args)?
                }
                first => {
                    if cmd.len() > 1 || prev.is_some() {
                        return Err("a value cannot take arguments".into());
                    }
                    self.arg(first, dot)?
                }
            };
            prev = Some(v);
        }
        let v = prev.unwrap_or(Value::Null);
        if declare {
            if let Some(n) = p.vars.first() {
                self.vars.push((n.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
        let depth = self.vars.len();
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot, true)?;
                    if p.vars.is_empty() {
                        out.push_str(&plain(&v));
                    }
                }
                Node::If(arms, otherwise) => {
                    let mut done = false;
                    for (cond, body) in arms {
                        if truthy(&self.pipe(cond, dot, true)?) {
                            self.nodes(body, dot, out)?;
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        self.nodes(otherwise, dot, out)?;
                    }
                }
                Node::With(p, body, otherwise) => {
                    let v = self.pipe(p, dot, true)?;
                    if truthy(&v) {
                        self.nodes(body, &v, out)?;
                    } else {
                        self.nodes(otherwise, dot, out)?;
                    }
                }
                Node::Range(p, body, otherwise) => {
                    let v = self.pipe(p, dot, false)?;
                    let items: Vec<(Value, Value)> = match v {
                        Value::Array(a) => a
                            .into_iter()
                            .enumerate()
                            .map(|(i, x)| (Value::from(i), x))
                            .collect(),
                        Value::Object(m) => {
                            let mut kv: Vec<(String, Value)> = m.into_iter().collect();
                            kv.sort_by(|a, b| a.0.cmp(&b.0));
                            kv.into_iter().map(|(k, x)| (Value::String(k), x)).collect()
                        }
                        Value::Null => vec![],
                        Value::Number(n) if n.as_u64().is_some() => (0..n.as_u64().unwrap_or(0))
                            .map(|i| (Value::from(i), Value::from(i)))
                            .collect(),
                        other => return Err(format!("range can't iterate over {}", plain(&other))),
                    };
                    if items.is_empty() {
                        self.nodes(otherwise, dot, out)?;
                    }
                    for (k, x) in items {
                        let mark = self.vars.len();
                        match p.vars.as_slice() {
                            [] => {}
                            [v] => self.vars.push((v.clone(), x.clone())),
                            [kv, vv, ..] => {
                                self.vars.push((kv.clone(), k));
                                self.vars.push((vv.clone(), x.clone()));
                            }
                        }
                        self.nodes(body, &x, out)?;
                        self.vars.truncate(mark);
                    }
                }
            }
        }
        self.vars.truncate(depth);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: &Value) -> String {
        render(t, v).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn fields_json_and_text() {
        let v = json!({"Id": "sha256:ab", "Config": {"Cmd": ["/bin/sh", "-c"], "Env": null}, "Size": 3});
        assert_eq!(r("{{.Id}} {{.Size}}", &v), "sha256:ab 3");
        assert_eq!(r("{{.Config.Cmd}}", &v), "[/bin/sh -c]");
        assert_eq!(r("{{json .Config.Cmd}}", &v), r#"["/bin/sh","-c"]"#);
        assert_eq!(r("{{.Config.Cmd | json}}", &v), r#"["/bin/sh","-c"]"#);
        assert_eq!(r("{{.Nope}}", &v), "<no value>");
        assert_eq!(r("a\\tb\\n", &v), "a\tb\n");
        assert!(render("{{.Id", &v).is_err());
        assert!(render("{{range .X}}", &v).is_err());
        assert!(render("{{nosuch .X}}", &v).is_err());
        assert!(render("{{end}}", &v).is_err());
    }

    #[test]
    fn range_if_with_and_variables() {
        let v = json!({
            "NetworkSettings": {"Networks": {"b": {"IPAddress": "10.0.0.3"}, "a": {"IPAddress": "10.0.0.2"}},
                "Ports": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}},
            "Config": {"Labels": {"x": "1", "y": "2"}, "Env": ["A=1", "B=2"]},
            "State": {"Running": true, "Pid": 42, "ExitCode": 0},
        });
        assert_eq!(
            r(
                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                &v
            ),
            "10.0.0.2 10.0.0.3 "
        );
        assert_eq!(
            r(
                "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
                &v
            ),
            "x=1;y=2;"
        );
        assert_eq!(
            r(
                "{{range $i, $e := .Config.Env}}{{if $i}},{{end}}{{$e}}{{end}}",
                &v
            ),
            "A=1,B=2"
        );
        assert_eq!(
            r(
                r#"{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}"#,
                &v
            ),
            "8080"
        );
        assert_eq!(r(r#"{{index .Config.Labels "y"}}"#, &v), "2");
        assert_eq!(
            r(
                "{{if .State.Running}}up {{.State.Pid}}{{else}}down{{end}}",
                &v
            ),
            "up 42"
        );
        assert_eq!(
            r(
                "{{if eq .State.ExitCode 1}}one{{else if eq .State.ExitCode 0}}zero{{end}}",
                &v
            ),
            "zero"
        );
        assert_eq!(r("{{with .State}}{{.Pid}}{{end}}", &v), "42");
        assert_eq!(r("{{range .Missing}}x{{else}}none{{end}}", &v), "none");
        assert_eq!(r("{{$p := .State.Pid}}{{$p}}/{{$.State.Pid}}", &v), "42/42");
        assert_eq!(
            r(r#"{{join .Config.Env ","}} {{len .Config.Env}}"#, &v),
            "A=1,B=2 2"
        );
        assert_eq!(r("{{lower \"AB\"}}{{upper `cd`}}", &v), "abCD");
        assert_eq!(r(r#"{{printf "%s:%d" "a" 3}}"#, &v), "a:3");
        assert_eq!(r("{{- \"x\" -}}  \n{{\"y\"}}", &v), "xy");
        assert_eq!(
            r("{{if and .State.Running (not .Nope)}}ok{{end}}", &v),
            "ok"
        );
        assert_eq!(r("{{json .}}", &json!({"a": 1})), r#"{"a":1}"#);
    }

    #[test]
    fn tables_have_a_header_and_columns() {
        let t = Template::parse("table {{.ID}}\\t{{.Names}}\\t{{.CreatedAt}}").unwrap();
        assert!(t.table);
        let h = |f: &str| (f == "ID").then_some("CONTAINER ID");
        assert_eq!(t.header(&h), "CONTAINER ID\tNAMES\tCREATED AT");
        assert_eq!(
            align("CONTAINER ID\tNAMES\nab\tx\n"),
            "CONTAINER ID   NAMES\nab             x\n"
        );
        assert_eq!(align("A\tB\nc\td"), "A         B\nc         d\n");
    }
}
