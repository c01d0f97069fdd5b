//! Image references: `[registry[:port]/]repo/path[:tag][@sha256:...]`.

use super::digest::Digest;
use std::fmt;

/// Where short names ("busybox", "user/app") go when none is configured.
pub const DOCKER_HUB: &str = "docker.io";

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference {0:?}: {1}")]
    Invalid(String, &'static str),
    #[error(transparent)]
    Digest(#[from] super::digest::DigestError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ separated by '.', '_', '__' or runs of '-'.
    if c.is_empty()
        || !c
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return false;
    }
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    alnum(b[0])
        && alnum(b[b.len() - 1])
        && !c.contains("..")
        && !c.contains("___")
        && !c.contains("._")
        && !c.contains("_.")
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && (t.as_bytes()[0].is_ascii_alphanumeric() || t.as_bytes()[0] == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn looks_like_registry(s: &str) -> bool {
    s.contains('.')
        || s.contains(':')
        || s == "localhost"
        || s.bytes().any(|b| b.is_ascii_uppercase())
}

impl Reference {
    /// Parses a reference; short names get `default_registry` (and
    /// `library/` in front of one-component names on Docker Hub).
    pub fn parse(s: &str, default_registry: &str) -> Result<Reference, ReferenceError> {
        let bad = |why| ReferenceError::Invalid(s.to_string(), why);
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d)?)),
            None => (s, None),
        };
        // A ':' after the last '/' separates the tag; one before it is a port.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return Err(bad(
                    "tag must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
                ));
            }
        }
        if name.is_empty() {
            return Err(bad("empty name"));
        }
        let (registry, repo) = match name.split_once('/') {
            Some((first, rest)) if looks_like_registry(first) => {
                (first.to_string(), rest.to_string())
            }
            _ => (default_registry.to_string(), name.to_string()),
        };
        if registry.is_empty() {
            return Err(bad("empty registry"));
        }
        let repo = if registry == DOCKER_HUB && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo
        };
        if !repo.split('/').all(valid_component) {
            return Err(bad("repository must be lower-case [a-z0-9] components separated by '/', '.', '_' or '-'"));
        }
        if repo.len() + registry.len() >= 255 {
            return Err(bad("name longer than 255 characters"));
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository: repo,
            tag,
            digest,
        })
    }

    /// `registry/repo`, the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What an API path needs after /manifests/: the digest if pinned, else the tag.
    pub fn api_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The `name:tag` string under which an image record is kept, if tagged.
    pub fn tagged_name(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name()))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Splits a stored `registry/repo:tag` name into (repository, tag) for tables.
/// A name as docker shows it: Docker Hub's official images without
/// `docker.io/library/`, its other images without `docker.io/`.
pub fn familiar(name: &str) -> &str {
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
}

pub fn split_name(name: &str) -> (&str, &str) {
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], &name[last_slash + i + 1..]),
        None => (name, "<none>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn familiar_names() {
        assert_eq!(familiar("docker.io/library/ubuntu:14.04"), "ubuntu:14.04");
        assert_eq!(familiar("docker.io/me/app:1"), "me/app:1");
        assert_eq!(familiar("localhost:5000/app:1"), "localhost:5000/app:1");
    }

    #[test]
    fn parses() {
        let r = Reference::parse("busybox", DOCKER_HUB).unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        let r = Reference::parse("127.0.0.1:5000/a/b:v1", DOCKER_HUB).unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "a/b", Some("v1"))
        );
        let r = Reference::parse("localhost/x", "example.org").unwrap();
        assert_eq!(r.name(), "localhost/x");
        let r = Reference::parse("x/y", "example.org").unwrap();
        assert_eq!(r.name(), "example.org/x/y");
        let d = Digest::of(b"x");
        let r = Reference::parse(&format!("h:1/y@{d}"), DOCKER_HUB).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.api_reference(), d.to_string());
        assert!(Reference::parse("UPPER", DOCKER_HUB).is_err());
        assert!(Reference::parse("a:-x", DOCKER_HUB).is_err());
        assert!(Reference::parse("a/../b", DOCKER_HUB).is_err());
        assert_eq!(split_name("h:1/y:t"), ("h:1/y", "t"));
    }
}
