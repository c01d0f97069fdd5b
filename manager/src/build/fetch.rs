//! ADD of a URL: each file fetched over HTTP(S) into a directory of its own
//! under the store's tmp/, named after the URL's last path segment with
//! mode 0600 (docker's), which COPY's code then copies as a context.
//! A download is bounded: 30 s to connect, 60 s without a byte.

use super::BuildError;
use crate::image::digest::{Digest, HashingWriter};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// The file name a URL gives: its path's last segment.
fn file_name(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.split(['?', '#']).next()?;
    let (_, path) = path.split_once('/')?;
    let name = path.rsplit('/').next()?;
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_string())
}

/// Fetches each URL into `dir`; the names they got there. With `checksum`
/// (`sha256:HEX`, for one URL), a download of other content fails the step.
pub fn fetch_all(
    urls: &[String],
    dir: &Path,
    checksum: Option<&str>,
) -> Result<Vec<String>, BuildError> {
    let want = match checksum {
        Some(c) => Some(
            Digest::parse(c)
                .map_err(|e| BuildError::Other(format!("invalid checksum {c:?}: {e}")))?,
        ),
        None => None,
    };
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .build();
    let io = |what: String| move |source| BuildError::Io { what, source };
    std::fs::create_dir_all(dir).map_err(io("making the download dir".into()))?;
    let mut names = Vec::new();
    for url in urls {
        let name = file_name(url).ok_or_else(|| {
            BuildError::Copy(format!("cannot determine a file name from the URL {url}"))
        })?;
        let resp = agent
            .get(url)
            .call()
            .map_err(|e| BuildError::Other(format!("ADD {url}: {e}")))?;
        let p: PathBuf = dir.join(&name);
        let mut f = std::fs::File::create(&p).map_err(io(format!("creating {}", p.display())))?;
        let mut hashing = HashingWriter::new(&mut f);
        std::io::copy(&mut resp.into_reader(), &mut hashing)
            .map_err(io(format!("downloading {url}")))?;
        let (got, _, f) = hashing.finish();
        f.flush().map_err(io(format!("downloading {url}")))?;
        if let Some(want) = &want {
            if *want != got {
                return Err(BuildError::Other(format!(
                    "ADD {url}: digest mismatch: expected {want}, got {got}"
                )));
            }
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
            .map_err(io(format!("chmod {}", p.display())))?;
        names.push(name);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_from_urls() {
        assert_eq!(
            super::file_name("http://h:1/a/b.txt?x=1").as_deref(),
            Some("b.txt")
        );
        assert_eq!(super::file_name("https://h/"), None);
        assert_eq!(super::file_name("https://h"), None);
    }
}
