//! Runs the tree over a JSON value: fields, variables, blocks, pipelines.

use super::funcs::call;
use super::parse::{Arg, Node, Pipe};
use serde_json::Value;

pub(super) struct Cx<'a> {
    pub(super) root: &'a Value,
    pub(super) vars: Vec<(String, Value)>,
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

    pub(super) fn nodes(
        &mut self,
        nodes: &[Node],
        dot: &Value,
        out: &mut String,
    ) -> Result<(), String> {
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

pub(super) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

pub(super) fn walk(mut v: Value, path: &[String]) -> Value {
    for k in path {
        v = v.get(k).cloned().unwrap_or(Value::Null);
    }
    v
}

/// Go's `%v` of a value: strings bare, arrays `[a b]`, maps `map[k:v]`.
pub(super) fn plain(v: &Value) -> String {
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

pub(super) fn cmp(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .ok_or_else(|| "incomparable numbers".to_string()),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => Err(format!("cannot compare {} and {}", plain(a), plain(b))),
    }
}
