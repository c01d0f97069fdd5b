//! A request's query string, as docker's handlers read it.

use super::body::ApiError;
use std::collections::BTreeMap;

#[derive(Default, Debug)]
pub struct Query(BTreeMap<String, String>, Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(q.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Query(pairs.iter().cloned().collect(), pairs)
    }

    /// Every value of a repeated key (`names=a&names=b`).
    pub fn all(&self, k: &str) -> Vec<String> {
        self.1
            .iter()
            .filter(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// docker's boolean form values: "1", "true", "True"; "0", "false" and
    /// absent are false.
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some(v) if !matches!(v, "0" | "false" | "False" | "FALSE"))
    }

    pub fn num<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>, ApiError> {
        self.get(k)
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::bad(format!("invalid value for {k}: {v:?}")))
            })
            .transpose()
    }

    /// `filters={"status":["exited"],"label":{"a=b":true}}`: both of the
    /// shapes docker's clients send, as KEY=VALUE pairs.
    pub fn filters(&self) -> Result<Vec<(String, String)>, ApiError> {
        let Some(f) = self.get("filters") else {
            return Ok(Vec::new());
        };
        let v: serde_json::Value =
            serde_json::from_str(f).map_err(|e| ApiError::bad(format!("invalid filter: {e}")))?;
        let mut out = Vec::new();
        let Some(m) = v.as_object() else {
            return Err(ApiError::bad("invalid filter: expected an object"));
        };
        for (k, vals) in m {
            match vals {
                serde_json::Value::Array(a) => {
                    for x in a {
                        if let Some(s) = x.as_str() {
                            out.push((k.clone(), s.to_string()));
                        }
                    }
                }
                serde_json::Value::Object(o) => {
                    for (x, on) in o {
                        if on.as_bool() == Some(true) {
                            out.push((k.clone(), x.clone()));
                        }
                    }
                }
                _ => return Err(ApiError::bad(format!("invalid filter {k:?}"))),
            }
        }
        Ok(out)
    }
}
