//! Validation against the runtime-spec's own JSON schemas (copied verbatim
//! into spec-tests/schema/ from the runtime-spec repository).
//!
//! Only the draft-04 keywords those schemas use are understood: type, enum,
//! required, properties, patternProperties, items, minimum, maximum,
//! pattern, allOf/anyOf/oneOf and `$ref` across the bundled files. An
//! unknown keyword is an error, so a newer schema cannot silently pass.

use serde_json::Value;

const FILES: &[(&str, &str)] = &[
    (
        "state-schema.json",
        include_str!("../schema/state-schema.json"),
    ),
    (
        "features-schema.json",
        include_str!("../schema/features-schema.json"),
    ),
    (
        "features-linux.json",
        include_str!("../schema/features-linux.json"),
    ),
    ("defs.json", include_str!("../schema/defs.json")),
    ("defs-linux.json", include_str!("../schema/defs-linux.json")),
];

fn file(name: &str) -> Result<Value, String> {
    let (_, text) = FILES
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| format!("schema file {name} is not bundled"))?;
    serde_json::from_str(text).map_err(|e| format!("schema {name}: {e}"))
}

/// Validates `v` against the schema file `name`; the error lists every
/// violation with its JSON path.
pub fn validate(v: &Value, name: &str) -> Result<(), String> {
    let root = file(name)?;
    let mut errs = Vec::new();
    check(v, &root, name, "$", &mut errs)?;
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

fn resolve(reference: &str, cur_file: &str) -> Result<(Value, String), String> {
    let (f, ptr) = reference.split_once('#').unwrap_or((reference, ""));
    let f = if f.is_empty() { cur_file } else { f };
    let doc = file(f)?;
    let node = doc
        .pointer(ptr)
        .cloned()
        .ok_or_else(|| format!("unresolvable $ref {reference} in {cur_file}"))?;
    Ok((node, f.to_string()))
}

fn type_ok(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        _ => false,
    }
}

/// The two patterns the bundled schemas use, checked by hand so the suite
/// needs no regex engine.
fn pattern_ok(pat: &str, s: &str) -> Result<bool, String> {
    match pat {
        ".{1,}" => Ok(!s.is_empty()),
        "^CAP_[A-Z_]+$" => Ok(s.len() > 4
            && s.starts_with("CAP_")
            && s[4..].chars().all(|c| c.is_ascii_uppercase() || c == '_')),
        "^[0-9]+$" => Ok(!s.is_empty() && s.chars().all(|c| c.is_ascii_digit())),
        _ => Err(format!(
            "schema pattern {pat:?} is not understood by this validator"
        )),
    }
}

fn check(
    v: &Value,
    s: &Value,
    cur: &str,
    path: &str,
    errs: &mut Vec<String>,
) -> Result<(), String> {
    let Some(obj) = s.as_object() else {
        return Ok(());
    };
    for (k, kv) in obj {
        match k.as_str() {
            "$ref" => {
                let (node, f) = resolve(kv.as_str().unwrap_or_default(), cur)?;
                check(v, &node, &f, path, errs)?;
            }
            "type" => {
                let ok = match kv {
                    Value::String(t) => type_ok(v, t),
                    Value::Array(ts) => ts
                        .iter()
                        .any(|t| type_ok(v, t.as_str().unwrap_or_default())),
                    _ => true,
                };
                if !ok {
                    errs.push(format!("{path}: {v} is not of type {kv}"));
                }
            }
            "enum" => {
                if !kv.as_array().is_some_and(|a| a.contains(v)) {
                    errs.push(format!("{path}: {v} is not one of {kv}"));
                }
            }
            "required" => {
                if let (Some(o), Some(req)) = (v.as_object(), kv.as_array()) {
                    for r in req.iter().filter_map(|r| r.as_str()) {
                        if !o.contains_key(r) {
                            errs.push(format!("{path}: required property {r:?} is missing"));
                        }
                    }
                }
            }
            "properties" => {
                if let (Some(o), Some(props)) = (v.as_object(), kv.as_object()) {
                    for (pk, ps) in props {
                        if let Some(pv) = o.get(pk) {
                            check(pv, ps, cur, &format!("{path}.{pk}"), errs)?;
                        }
                    }
                }
            }
            "patternProperties" => {
                if let (Some(o), Some(pats)) = (v.as_object(), kv.as_object()) {
                    for (pat, ps) in pats {
                        for (ok, ov) in o {
                            // Draft-04: keys matching no pattern are unconstrained.
                            if pattern_ok(pat, ok)? {
                                check(ov, ps, cur, &format!("{path}.{ok}"), errs)?;
                            }
                        }
                    }
                }
            }
            "items" => {
                if let Some(a) = v.as_array() {
                    for (i, iv) in a.iter().enumerate() {
                        check(iv, kv, cur, &format!("{path}[{i}]"), errs)?;
                    }
                }
            }
            "minimum" | "maximum" => {
                if let (Some(n), Some(lim)) = (v.as_f64(), kv.as_f64()) {
                    if (k == "minimum" && n < lim) || (k == "maximum" && n > lim) {
                        errs.push(format!("{path}: {n} violates {k} {lim}"));
                    }
                }
            }
            "pattern" => {
                if let Some(st) = v.as_str() {
                    if !pattern_ok(kv.as_str().unwrap_or_default(), st)? {
                        errs.push(format!("{path}: {st:?} does not match {kv}"));
                    }
                }
            }
            "allOf" => {
                for sub in kv.as_array().into_iter().flatten() {
                    check(v, sub, cur, path, errs)?;
                }
            }
            "anyOf" | "oneOf" => {
                let mut any = false;
                for sub in kv.as_array().into_iter().flatten() {
                    let mut e = Vec::new();
                    check(v, sub, cur, path, &mut e)?;
                    any |= e.is_empty();
                }
                if !any {
                    errs.push(format!("{path}: matches none of {k}"));
                }
            }
            "description"
            | "$schema"
            | "id"
            | "definitions"
            | "additionalProperties"
            | "minItems"
            | "uniqueItems" => {}
            other => {
                return Err(format!(
                    "schema keyword {other:?} is not understood by this validator"
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod t {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_examples() {
        let good = json!({"ociVersion": "1.0.2", "id": "a", "status": "running", "pid": 4, "bundle": "/b",
                          "annotations": {"k": "v"}});
        validate(&good, "state-schema.json").unwrap();
        let bad = json!({"ociVersion": "1.0.2", "id": "a", "status": "sleeping", "pid": -1, "annotations": {"k": 3}});
        let e = validate(&bad, "state-schema.json").unwrap_err();
        for frag in ["bundle", "sleeping", "minimum", "not of type"] {
            assert!(e.contains(frag), "{frag} missing in {e}");
        }
    }

    #[test]
    fn features_example() {
        let good = json!({"ociVersionMin": "1.0.0", "ociVersionMax": "1.1.0", "hooks": ["prestart"],
                          "linux": {"namespaces": ["pid"], "capabilities": ["CAP_KILL"],
                                    "seccomp": {"enabled": true, "actions": ["SCMP_ACT_ERRNO"]}}});
        validate(&good, "features-schema.json").unwrap();
        let bad = json!({"ociVersionMin": "1.0.0", "linux": {"namespaces": ["bogus"], "capabilities": ["kill"]}});
        let e = validate(&bad, "features-schema.json").unwrap_err();
        assert!(
            e.contains("ociVersionMax") && e.contains("bogus") && e.contains("kill"),
            "{e}"
        );
    }
}
