//! Registry credentials, stored like docker's config.json
//! (`{"auths": {"<registry>": {"auth": base64("user:pass")}}}`), and the
//! WWW-Authenticate challenge parser.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("reading credentials {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("credentials file {path} is invalid: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("writing credentials {path}: {source}")]
    Write { path: String, source: io::Error },
    #[error("not logged in to {0}")]
    NotLoggedIn(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ConfigJson {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    /// Anything else docker keeps there survives our rewrite.
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

pub struct AuthFile {
    path: PathBuf,
}

impl AuthFile {
    pub fn new(path: &Path) -> AuthFile {
        AuthFile {
            path: path.to_path_buf(),
        }
    }

    fn load(&self) -> Result<ConfigJson, AuthError> {
        let p = self.path.display().to_string();
        match std::fs::read(&self.path) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|source| AuthError::Json { path: p, source })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ConfigJson::default()),
            Err(source) => Err(AuthError::Read { path: p, source }),
        }
    }

    fn save(&self, c: &ConfigJson) -> Result<(), AuthError> {
        use std::os::unix::fs::PermissionsExt;
        let werr = |source| AuthError::Write {
            path: self.path.display().to_string(),
            source,
        };
        if let Some(d) = self.path.parent() {
            std::fs::create_dir_all(d).map_err(werr)?;
        }
        super::store::write_durable(
            &self.path,
            &serde_json::to_vec_pretty(c).expect("auth json"),
        )
        .map_err(werr)?;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600)).map_err(werr)
    }

    pub fn get(&self, registry: &str) -> Result<Option<(String, String)>, AuthError> {
        let c = self.load()?;
        Ok(c.auths
            .get(registry)
            .and_then(|e| e.auth.as_deref())
            .and_then(|a| {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(a.trim())
                    .ok()?;
                let s = String::from_utf8(raw).ok()?;
                let (u, p) = s.split_once(':')?;
                Some((u.to_string(), p.to_string()))
            }))
    }

    pub fn set(&self, registry: &str, user: &str, password: &str) -> Result<(), AuthError> {
        let mut c = self.load()?;
        let e = c.auths.entry(registry.to_string()).or_default();
        e.auth =
            Some(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
        self.save(&c)
    }

    pub fn remove(&self, registry: &str) -> Result<(), AuthError> {
        let mut c = self.load()?;
        if c.auths.remove(registry).is_none() {
            return Err(AuthError::NotLoggedIn(registry.to_string()));
        }
        self.save(&c)
    }
}

pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A parsed `WWW-Authenticate: Scheme k="v", k2="v2"` header.
#[derive(Debug, PartialEq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(char::is_whitespace).unwrap_or((h, ""));
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n)
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        params.insert(key, val.trim().to_string());
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://a/token",service="reg",scope="repository:x/y:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://a/token");
        assert_eq!(c.params["scope"], "repository:x/y:pull,push");
        assert_eq!(
            parse_challenge(r#"Basic realm="r""#).unwrap().scheme,
            "basic"
        );
    }

    #[test]
    fn file_roundtrip() {
        let d = std::env::temp_dir().join(format!("berth-auth-{}", std::process::id()));
        let f = AuthFile::new(&d.join("auth.json"));
        f.set("h:1", "u", "p:w").unwrap();
        assert_eq!(f.get("h:1").unwrap(), Some(("u".into(), "p:w".into())));
        f.remove("h:1").unwrap();
        assert!(f.get("h:1").unwrap().is_none());
        assert!(f.remove("h:1").is_err());
        std::fs::remove_dir_all(d).unwrap();
    }
}
