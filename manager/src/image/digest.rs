//! sha256 content digests and readers that compute them while data flows.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Read, Write};

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("invalid digest {0:?}: expected sha256:<64 hex digits>")]
    Invalid(String),
    #[error("unsupported digest algorithm in {0:?}: only sha256 is supported")]
    Unsupported(String),
}

/// A validated `sha256:<hex>` digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestError::Invalid(s.to_string()))?;
        if alg != "sha256" {
            if alg
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c))
                && !alg.is_empty()
            {
                return Err(DigestError::Unsupported(s.to_string()));
            }
            return Err(DigestError::Invalid(s.to_string()));
        }
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestError::Invalid(s.to_string()));
        }
        Ok(Digest(s.to_string()))
    }

    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        Digest::parse(&format!("sha256:{hex}"))
    }

    pub fn of(data: &[u8]) -> Digest {
        let mut h = Hasher::new();
        h.update(data);
        h.finish()
    }

    pub fn hex(&self) -> &str {
        &self.0[7..]
    }

    /// The 12-hex-digit form docker prints as an image id.
    pub fn short(&self) -> &str {
        &self.0[7..19]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Incremental sha256.
#[derive(Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn new() -> Hasher {
        Hasher(Sha256::new())
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    pub fn finish(self) -> Digest {
        let out = self.0.finalize();
        let mut s = String::with_capacity(71);
        s.push_str("sha256:");
        for b in out {
            s.push_str(&format!("{b:02x}"));
        }
        Digest(s)
    }
}

/// The chain id of a layer stack (image-spec config.md): the first layer's
/// chain id is its diff id, each next one hashes "<parent chain> <diff id>".
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => Digest::of(format!("{parent} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Hashes (and counts) everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(),
            count: 0,
        }
    }
    pub fn count(&self) -> u64 {
        self.count
    }
    /// The digest and size of what was read so far.
    pub fn finish(self) -> (Digest, u64, R) {
        (self.hasher.finish(), self.count, self.inner)
    }
    /// Reads to the end (trailing tar padding, gzip trailers) and returns the digest and size.
    pub fn drain(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((self.hasher.finish(), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Copies everything read through it into a writer (the blob file) too.
pub struct TeeReader<R, W> {
    inner: R,
    out: W,
}

impl<R: Read, W: Write> TeeReader<R, W> {
    pub fn new(inner: R, out: W) -> Self {
        TeeReader { inner, out }
    }
    pub fn into_inner(self) -> (R, W) {
        (self.inner, self.out)
    }
}

/// Hashes (and counts) everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::new(),
            count: 0,
        }
    }
    pub fn finish(self) -> (Digest, u64, W) {
        (self.hasher.finish(), self.count, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_hash() {
        let d = Digest::of(b"");
        assert_eq!(
            d.hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(matches!(
            Digest::parse(&format!("sha512:{}", "a".repeat(128))),
            Err(DigestError::Unsupported(_))
        ));
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
    }

    #[test]
    fn chain() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], Digest::of(format!("{a} {b}").as_bytes()));
    }
}
