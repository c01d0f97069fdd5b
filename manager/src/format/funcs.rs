//! The functions a pipeline can call: Go's builtins and docker's additions.

use super::eval::{cmp, plain, truthy};
use serde_json::Value;

pub(super) fn call(f: &str, a: Vec<Value>) -> Result<Value, String> {
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
