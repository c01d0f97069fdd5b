//! `--format` templates: the part of Go's text/template that scripts use with
//! docker and podman, evaluated over the JSON that `inspect` and the list
//! commands print: fields (`{{.State.Pid}}`), `range` (with `$i, $v :=`),
//! `if`/`else if`/`else`, `with`, variables, pipelines (`{{.X | json}}`),
//! parentheses, trim markers (`{{-`, `-}}`) and the functions docker adds
//! (json, join, split, lower, upper, title, ...). A `table` prefix prints
//! aligned columns under a header, as docker's list commands do.

use eval::Cx;
use parse::{parse_nodes, split, Arg, Node};
use serde_json::Value;

mod eval;
mod funcs;
mod lex;
mod parse;
pub mod table;

pub use table::TabWriter;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("invalid --format template {0:?}: {1}")]
    Template(String, String),
    #[error("--format template {0:?}: {1}")]
    Exec(String, String),
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

/// `table` templates: docker's tabwriter settings.
fn align(text: &str) -> String {
    TabWriter::TEMPLATE.layout_text(text)
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
