//! `search TERM`: a registry's search endpoint (`/v1/search`, docker's
//! index API) where it has one; else the distribution spec's catalog
//! (`/v2/_catalog`), whose repository names are filtered by the term, as a
//! plain registry (Debian's docker-registry, distribution) has no search.

use super::auth::AuthFile;
use super::client::Client;
use super::reference::{Reference, DOCKER_HUB};
use super::registry::RegistryError;
use super::store::Store;
use serde::Deserialize;

/// One result, in docker's terms.
#[derive(Debug, Clone, Deserialize)]
pub struct Found {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub star_count: u64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub is_automated: bool,
}

#[derive(Deserialize)]
struct V1Results {
    results: Vec<Found>,
}

#[derive(Deserialize)]
struct Catalog {
    repositories: Vec<String>,
}

/// Bodies are small lists; anything past this is not a registry's answer.
const MAX_BODY: u64 = 8 << 20;
/// Catalog pages asked for, and at most how many are read.
const PAGE: usize = 1000;
const MAX_PAGES: usize = 100;

/// Splits `host[:port]/term` from a bare term, as docker does: a first
/// component with a `.` or a `:`, or `localhost`, names a registry.
pub fn split_term<'a>(term: &'a str, default_registry: &'a str) -> (&'a str, &'a str) {
    match term.split_once('/') {
        Some((h, rest)) if h.contains('.') || h.contains(':') || h == "localhost" => (h, rest),
        _ => (default_registry, term),
    }
}

/// A query value, percent-encoded.
fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn search(
    store: &Store,
    auth: &AuthFile,
    term: &str,
    limit: usize,
) -> Result<Vec<Found>, RegistryError> {
    let default = store.settings.default_registry.clone();
    let (registry, what) = split_term(term, &default);
    // Docker Hub's search lives on its index, not on its registry host.
    let host = if registry == DOCKER_HUB {
        "index.docker.io"
    } else {
        registry
    };
    let r = Reference {
        registry: host.to_string(),
        repository: String::new(),
        tag: None,
        digest: None,
    };
    let c = Client::new(store, &r, auth, false)?;
    let q = escape(what);
    if let Some(body) = c.get_from_root(&format!("/v1/search?q={q}&n={limit}"), MAX_BODY)? {
        if let Ok(v) = serde_json::from_slice::<V1Results>(&body) {
            let mut found = v.results;
            found.truncate(limit);
            return Ok(found);
        }
    }
    let mut found = Vec::new();
    let mut last: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let path = match &last {
            Some(l) => format!("/v2/_catalog?n={PAGE}&last={}", escape(l)),
            None => format!("/v2/_catalog?n={PAGE}"),
        };
        let body = c
            .get_from_root(&path, MAX_BODY)?
            .ok_or_else(|| RegistryError::Invalid {
                what: format!("registry {registry}"),
                detail: "it has neither a search endpoint nor a catalog".into(),
            })?;
        let cat: Catalog = serde_json::from_slice(&body).map_err(|e| RegistryError::Invalid {
            what: "catalog".into(),
            detail: e.to_string(),
        })?;
        let n = cat.repositories.len();
        for repo in cat.repositories {
            if repo.contains(what) && found.len() < limit {
                let name = if registry == DOCKER_HUB {
                    repo.clone()
                } else {
                    format!("{registry}/{repo}")
                };
                found.push(Found {
                    name,
                    description: String::new(),
                    star_count: 0,
                    is_official: false,
                    is_automated: false,
                });
            }
            last = Some(repo);
        }
        if n < PAGE || found.len() >= limit {
            break;
        }
    }
    Ok(found)
}
