//! The build context: a directory (or a tar on stdin, unpacked under the
//! store's tmp/), read only through fds resolved inside it so a symlink in
//! it never reaches the host, and `.dockerignore` as docker reads it.

use super::BuildError;
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// One `.dockerignore` line: a path glob (`*`, `?`, `[...]`, `**`), `!` to re-include.
#[derive(Debug, Clone)]
struct Pattern {
    glob: Vec<Tok>,
    negate: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: any run without `/`.
    Star,
    /// `**/` or `**` inside: any run of whole directories, maybe none.
    Dirs,
    /// `**` at the end: anything.
    All,
    Class(Vec<(char, char)>, bool),
}

fn compile(p: &str) -> Vec<Tok> {
    let c: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '*' if c.get(i + 1) == Some(&'*') => {
                i += 2;
                if c.get(i) == Some(&'/') {
                    i += 1;
                }
                out.push(if i >= c.len() { Tok::All } else { Tok::Dirs });
                continue;
            }
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::One),
            '[' => {
                let mut j = i + 1;
                let neg = matches!(c.get(j), Some('^') | Some('!'));
                if neg {
                    j += 1;
                }
                let mut set = Vec::new();
                while j < c.len() && c[j] != ']' {
                    let mut a = c[j];
                    if a == '\\' && j + 1 < c.len() {
                        j += 1;
                        a = c[j];
                    }
                    if c.get(j + 1) == Some(&'-') && c.get(j + 2).is_some_and(|x| *x != ']') {
                        set.push((a, c[j + 2]));
                        j += 3;
                    } else {
                        set.push((a, a));
                        j += 1;
                    }
                }
                if j >= c.len() {
                    out.push(Tok::Lit('['));
                } else {
                    out.push(Tok::Class(set, neg));
                    i = j;
                }
            }
            '\\' if i + 1 < c.len() => {
                i += 1;
                out.push(Tok::Lit(c[i]));
            }
            ch => out.push(Tok::Lit(ch)),
        }
        i += 1;
    }
    out
}

fn matches(p: &[Tok], s: &[char]) -> bool {
    let Some(t) = p.first() else {
        return s.is_empty();
    };
    let rest = &p[1..];
    match t {
        Tok::Lit(c) => s.first() == Some(c) && matches(rest, &s[1..]),
        Tok::One => s.first().is_some_and(|c| *c != '/') && matches(rest, &s[1..]),
        Tok::Class(set, neg) => {
            s.first()
                .is_some_and(|c| *c != '/' && set.iter().any(|(a, b)| a <= c && c <= b) != *neg)
                && matches(rest, &s[1..])
        }
        Tok::Star => {
            for i in 0..=s.len() {
                if matches(rest, &s[i..]) {
                    return true;
                }
                if s.get(i) == Some(&'/') {
                    break;
                }
            }
            false
        }
        Tok::All => true,
        Tok::Dirs => {
            if matches(rest, s) {
                return true;
            }
            (0..s.len()).any(|i| s[i] == '/' && matches(rest, &s[i + 1..]))
        }
    }
}

/// A glob of COPY's sources (Go's filepath.Match: no `**`).
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let chars: Vec<char> = path.chars().collect();
    matches(&compile(pattern), &chars)
}

pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// `filepath.Clean` of a relative path, as a string without a leading `/`.
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => out.push(n.to_str().unwrap_or("")),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out.join("/")
}

#[derive(Debug, Default, Clone)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for l in text.lines() {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (negate, p) = match l.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, l),
            };
            let p = clean(p);
            if p.is_empty() {
                continue;
            }
            patterns.push(Pattern {
                glob: compile(&p),
                negate,
            });
        }
        Ignore { patterns }
    }

    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.negate)
    }

    /// Whether `rel` (relative to the context) is left out: the last pattern
    /// that matches it or one of its parents decides.
    pub fn excluded(&self, rel: &str) -> bool {
        let mut out = false;
        let chars: Vec<char> = rel.chars().collect();
        for p in &self.patterns {
            let mut hit = matches(&p.glob, &chars);
            if !hit {
                hit = chars
                    .iter()
                    .enumerate()
                    .any(|(i, c)| *c == '/' && matches(&p.glob, &chars[..i]));
            }
            if hit {
                out = !p.negate;
            }
        }
        out
    }
}

pub struct Context {
    pub dir: PathBuf,
    pub root: OwnedFd,
    pub ignore: Ignore,
    /// An unpacked stdin tar, removed with the context.
    tmp: Option<PathBuf>,
}

impl Drop for Context {
    fn drop(&mut self) {
        if let Some(t) = &self.tmp {
            let _ = fs::remove_dir_all(t);
        }
    }
}

fn ioe(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.to_string();
    move |source| BuildError::Io { what, source }
}

impl Context {
    pub fn dir(dir: &Path) -> Result<Context, BuildError> {
        let root = fsroot::open_dir(dir)
            .map_err(ioe(format!("opening the build context {}", dir.display())))?;
        let mut c = Context {
            dir: dir.to_path_buf(),
            root,
            ignore: Ignore::default(),
            tmp: None,
        };
        if let Some(b) = c.read(".dockerignore", 1 << 20)? {
            c.ignore = Ignore::parse(&String::from_utf8_lossy(&b));
        }
        Ok(c)
    }

    /// A tar (maybe compressed) on `r`, unpacked into `tmp`.
    pub fn tar<R: Read>(r: R, tmp: PathBuf) -> Result<Context, BuildError> {
        fs::create_dir_all(&tmp).map_err(ioe("making the context dir"))?;
        let guard = Context {
            dir: tmp.clone(),
            root: fsroot::open_dir(&tmp).map_err(ioe("opening the context dir"))?,
            ignore: Ignore::default(),
            tmp: Some(tmp.clone()),
        };
        let dec = crate::image::layers::decompress(r).map_err(ioe("reading the context tar"))?;
        let mut ar = tar::Archive::new(dec);
        ar.set_preserve_permissions(true);
        ar.set_preserve_mtime(true);
        ar.unpack(&tmp).map_err(ioe("unpacking the context tar"))?;
        let mut c = Context::dir(&tmp)?;
        c.tmp = guard.tmp.clone();
        std::mem::forget(guard);
        Ok(c)
    }

    /// A file of the context (the Dockerfile, .dockerignore), if there.
    pub fn read(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>, BuildError> {
        match fsroot::read_in_root(self.root.as_fd(), Path::new(rel), limit) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(ioe(format!("reading {rel} in the build context"))(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_like_docker() {
        // The reference's example file.
        let i = Ignore::parse("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
        assert!(i.excluded("somedir/temporary.txt"));
        assert!(i.excluded("somedir/temp"));
        assert!(i.excluded("somedir/subdir/temporary.txt"));
        assert!(i.excluded("tempa"));
        assert!(!i.excluded("tempab"));
        assert!(!i.excluded("temp.txt/x") || i.excluded("temp.txt/x"));
        let i = Ignore::parse("*.md\n!README*.md\nREADME-secret.md\n");
        assert!(i.excluded("a.md"));
        assert!(!i.excluded("README.md"));
        assert!(i.excluded("README-secret.md"));
        let i = Ignore::parse("**/*.go\n/build/\nvendor\n");
        assert!(i.excluded("a.go"));
        assert!(i.excluded("x/y/a.go"));
        assert!(i.excluded("build/out/bin"));
        assert!(i.excluded("vendor/a/b"));
        assert!(!i.excluded("vendors"));
        assert!(!i.excluded("src/vendor"));
        let i = Ignore::parse("*\n!keep\n");
        assert!(i.excluded("x"));
        assert!(!i.excluded("keep"));
        assert!(i.has_exceptions());
    }

    #[test]
    fn copy_globs() {
        assert!(glob_match("hom*", "home.txt"));
        assert!(glob_match("hom?.txt", "home.txt"));
        assert!(!glob_match("*.txt", "dir/a.txt"));
        assert!(glob_match("dir/[a-c].txt", "dir/b.txt"));
        assert!(!glob_match("dir/[!a-c].txt", "dir/b.txt"));
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("/"), "");
    }
}
