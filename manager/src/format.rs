//! `--format` templates: the subset of Go templates scripts use with docker
//! (`{{.Id}}`, `{{.Config.Cmd}}`, `{{json .RootFS}}`, literal text around).

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("invalid --format template {0:?}: {1}")]
    Template(String, &'static str),
}

fn lookup<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let path = path.trim();
    if path == "." {
        return Some(v);
    }
    let mut cur = v;
    for key in path.strip_prefix('.')?.split('.') {
        cur = cur.get(key)?;
    }
    Some(cur)
}

/// Go's `%v` of a value: strings bare, arrays `[a b]`, maps `map[k:v]`.
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "<no value>".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => {
            format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" "))
        }
        serde_json::Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", plain(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

/// Renders `tpl` against `v`.
pub fn render(tpl: &str, v: &serde_json::Value) -> Result<String, FormatError> {
    let bad = |why| FormatError::Template(tpl.to_string(), why);
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").ok_or_else(|| bad("unclosed {{"))? + start;
        let action = rest[start + 2..end].trim();
        let (json, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        if !path.starts_with('.') {
            return Err(bad("only .Field paths and json .Field are supported"));
        }
        let val = lookup(v, path);
        match (json, val) {
            (true, Some(x)) => out.push_str(&x.to_string()),
            (true, None) => out.push_str("null"),
            (false, Some(x)) => out.push_str(&plain(x)),
            (false, None) => out.push_str("<no value>"),
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out.replace("\\n", "\n").replace("\\t", "\t"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let v = serde_json::json!({"Id": "sha256:ab", "Config": {"Cmd": ["/bin/sh", "-c"], "Env": null}, "Size": 3});
        assert_eq!(render("{{.Id}} {{.Size}}", &v).unwrap(), "sha256:ab 3");
        assert_eq!(render("{{.Config.Cmd}}", &v).unwrap(), "[/bin/sh -c]");
        assert_eq!(
            render("{{json .Config.Cmd}}", &v).unwrap(),
            r#"["/bin/sh","-c"]"#
        );
        assert_eq!(render("{{.Nope}}", &v).unwrap(), "<no value>");
        assert!(render("{{.Id", &v).is_err());
        assert!(render("{{range .X}}", &v).is_err());
    }
}
