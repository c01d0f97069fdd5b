//! The steps, as docker's classic builder takes them: every instruction
//! makes an image (its parent's config and layers plus the step's change);
//! a step that changes files adds one layer (an empty change adds none and
//! is marked `empty_layer`, as docker marks it); the history's `created_by`
//! is written as docker writes it, so `history` reads the same. Each step's
//! image is found again by the cache (`cache`) when its parent and its
//! `created_by` (with the content hash of what COPY copies) are the same.

use super::cache;
use super::context;
use super::context::Context;
use super::gofmt;
use super::parser::{self, Dockerfile, Instruction};
use super::shell::{self, Vars};
use super::{BuildError, BuildOptions};
use crate::image::config::DEFAULT_PATH;
use crate::image::digest::Digest;
use crate::image::store::{Image, Store};
use crate::image::time::parse_go_duration;
use crate::image::types::{ContainerConfig, Descriptor, ImageConfig, RootFs, DOCKER_MANIFEST};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

mod steps;

/// The proxy variables docker passes to RUN without an ARG for them.
const BUILTIN_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// One stage in the making.
struct State {
    /// The last step's image (None: `FROM scratch` and nothing yet).
    image: Option<Image>,
    config: ImageConfig,
    layers: Vec<Descriptor>,
    /// ARGs declared in this stage, with their defaults.
    declared: BTreeMap<String, Option<String>>,
    oci: bool,
    /// A CMD of this stage: ENTRYPOINT then keeps it (else it drops the base's).
    cmd_set: bool,
}

impl State {
    fn cc(&mut self) -> &mut ContainerConfig {
        self.config.config.get_or_insert_with(Default::default)
    }
    fn cfg(&self) -> ContainerConfig {
        self.config.config.clone().unwrap_or_default()
    }
    fn shell(&self) -> Vec<String> {
        self.cfg()
            .shell
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }
    fn parent_key(&self) -> String {
        self.image
            .as_ref()
            .map(|i| i.record.id.to_string())
            .unwrap_or_else(|| "scratch".into())
    }
}

/// The layer a step made: a tar under tmp/ and its diff id, or nothing.
struct Layer {
    tar: PathBuf,
    diff_id: Digest,
    empty: bool,
}

impl Drop for Layer {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.tar);
    }
}

pub struct Builder<'a> {
    pub root: &'a Path,
    pub store: Store,
    pub ctx: Context,
    pub opts: &'a BuildOptions,
    pub out: &'a mut dyn Write,
    pub escape: char,
    /// ARGs before the first FROM, with --build-arg applied.
    meta: BTreeMap<String, Option<String>>,
    /// Each finished stage's image, by name and by index.
    stages: Vec<(Option<String>, Image)>,
    step: usize,
    total: usize,
    used_args: std::collections::BTreeSet<String>,
}

fn perr(i: &Instruction, msg: impl Into<String>) -> BuildError {
    BuildError::Parse {
        line: i.line,
        msg: msg.into(),
    }
}

fn short(d: &Digest) -> &str {
    &d.hex()[..12]
}

impl<'a> Builder<'a> {
    pub fn new(
        root: &'a Path,
        store: Store,
        ctx: Context,
        opts: &'a BuildOptions,
        out: &'a mut dyn Write,
    ) -> Self {
        Builder {
            root,
            store,
            ctx,
            opts,
            out,
            escape: '\\',
            meta: BTreeMap::new(),
            stages: Vec::new(),
            step: 0,
            total: 0,
            used_args: Default::default(),
        }
    }

    /// Pulls a FROM image with `docker pull`'s lines in the build's output,
    /// as they come (the pull reports from its download threads).
    fn pull(&mut self, name: &str) -> Result<Image, BuildError> {
        let r = self.store.parse_reference(name)?;
        let auth = crate::image::auth::AuthFile::new(
            &self
                .opts
                .auth_file
                .clone()
                .unwrap_or_else(|| self.root.join("auth.json")),
        );
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let sink: crate::image::progress::Sink = std::sync::Arc::new(move |id, status| {
            let _ = tx.send(match id {
                Some(id) => format!("{id}: {status}"),
                None => status.to_string(),
            });
        });
        let progress = crate::image::progress::Progress::to_sink(sink);
        let store = &self.store;
        std::thread::scope(|s| {
            let job =
                s.spawn(move || crate::image::registry::pull_reported(store, &r, &auth, &progress));
            // The loop ends when the job's progress (and every clone of its
            // sink) is gone.
            for line in rx {
                if !self.opts.quiet {
                    let _ = writeln!(self.out, "{line}");
                }
            }
            job.join().expect("the pull thread panicked")
        })
        .map_err(BuildError::from)
    }

    /// ENV's and LABEL's `k=v` pairs with variables expanded, and the
    /// history text docker writes for them (`ENV k=v k2=v2`).
    fn expanded_pairs(
        &mut self,
        st: &State,
        i: &Instruction,
        keyword: &str,
    ) -> Result<(Vec<(String, String)>, String), BuildError> {
        let pairs = parser::name_values(keyword, i.line, &i.rest, self.escape)?;
        let vars = self.vars(st);
        let mut kv = Vec::new();
        for (k, v) in pairs {
            kv.push((
                shell::word(&k, &vars, self.escape)?,
                shell::word(&v, &vars, self.escape)?,
            ));
        }
        let text = std::iter::once(keyword.to_ascii_uppercase())
            .chain(kv.iter().map(|(k, v)| format!("{k}={v}")))
            .collect::<Vec<_>>()
            .join(" ");
        Ok((kv, text))
    }

    fn say(&mut self, s: &str) {
        if !self.opts.quiet {
            let _ = writeln!(self.out, "{s}");
        }
    }

    fn build_arg(&self, k: &str) -> Option<String> {
        self.opts
            .build_args
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.clone())
    }

    /// The build args a RUN sees (docker's FilterAllowed): the stage's ARGs
    /// and the meta ARGs with a value, and proxy variables given with
    /// --build-arg, less what ENV sets. With whether each shows in history.
    fn run_args(&mut self, st: &State) -> Vec<(String, String, bool)> {
        let env: Vec<String> = st.cfg().env.unwrap_or_default();
        let in_env = |k: &str| {
            env.iter()
                .any(|e| e.split_once('=').map_or(e.as_str(), |x| x.0) == k)
        };
        // The meta ARGs only through an ARG of the stage (their value its default).
        let mut keys: Vec<String> = st.declared.keys().cloned().collect();
        for (k, v) in &self.opts.build_args {
            if BUILTIN_ARGS.contains(&k.as_str()) && v.is_some() {
                keys.push(k.clone());
            }
        }
        keys.sort();
        keys.dedup();
        let mut out = Vec::new();
        for k in keys {
            let declared = st.declared.get(&k);
            let v = self.build_arg(&k).or_else(|| match declared {
                Some(Some(d)) => Some(d.clone()),
                _ => self.meta.get(&k).cloned().flatten(),
            });
            if let Some(v) = v {
                if !in_env(&k) {
                    let shown = declared.is_some() || !BUILTIN_ARGS.contains(&k.as_str());
                    out.push((k, v, shown));
                }
            }
        }
        out
    }

    /// The variables an instruction's words see: build args, then ENV over them.
    fn vars(&mut self, st: &State) -> Vars {
        let mut v: Vars = self
            .run_args(st)
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect();
        for e in st.cfg().env.unwrap_or_default() {
            let (k, val) = e.split_once('=').unwrap_or((&e, ""));
            v.insert(k.to_string(), val.to_string());
        }
        v
    }

    fn word(&mut self, st: &State, s: &str) -> Result<String, BuildError> {
        let vars = self.vars(st);
        Ok(shell::word(s, &vars, self.escape)?)
    }

    fn words(&mut self, st: &State, s: &str) -> Result<Vec<String>, BuildError> {
        let vars = self.vars(st);
        Ok(shell::words(s, &vars, self.escape)?)
    }

    /// Builds every stage up to the target; the target's image.
    pub fn run(&mut self, df: &Dockerfile) -> Result<Image, BuildError> {
        self.escape = df.escape;
        let mut all = df.instructions.clone();
        // --label: LABEL steps at the end of the last stage, sorted, unexpanded.
        let mut labels = self.opts.labels.clone();
        labels.sort();
        for (k, v) in labels {
            let esc = |s: &str| {
                s.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('$', "\\$")
            };
            let rest = format!("\"{}\"=\"{}\"", esc(&k), esc(&v));
            all.push(Instruction {
                line: 0,
                keyword: "label".into(),
                flags: vec![],
                original: rest.clone(),
                json: None,
                rest,
                heredocs: vec![],
            });
        }
        let first_from = all
            .iter()
            .position(|i| i.keyword == "from")
            .ok_or_else(|| BuildError::Parse {
                line: 1,
                msg: "no build stage in current context".into(),
            })?;
        for i in &all[..first_from] {
            if i.keyword != "arg" {
                return Err(perr(
                    i,
                    format!(
                        "{} before the first FROM: only ARG may come first",
                        i.keyword.to_ascii_uppercase()
                    ),
                ));
            }
        }
        // The stages and the one to stop at.
        let mut stages: Vec<(Option<String>, Vec<Instruction>)> = Vec::new();
        for i in &all[first_from..] {
            if i.keyword == "from" {
                let words = parser::raw_words(&i.rest, self.escape);
                let name = match words.as_slice() {
                    [_, as_, n] if as_.eq_ignore_ascii_case("as") => Some(n.to_ascii_lowercase()),
                    [_] => None,
                    _ => return Err(perr(i, "FROM requires either one or three arguments")),
                };
                stages.push((name, vec![i.clone()]));
            } else {
                stages.last_mut().expect("a stage").1.push(i.clone());
            }
        }
        let last = match &self.opts.target {
            Some(t) => stages
                .iter()
                .position(|(n, _)| n.as_deref() == Some(&t.to_ascii_lowercase()))
                .ok_or_else(|| {
                    BuildError::Other(format!("failed to reach build target {t} in Dockerfile"))
                })?,
            None => stages.len() - 1,
        };
        // --label steps belong to the last stage of the file; with --target elsewhere, not built.
        self.total = first_from + stages[..=last].iter().map(|s| s.1.len()).sum::<usize>();
        for i in &all[..first_from] {
            self.step += 1;
            self.say(&format!(
                "Step {}/{} : ARG {}",
                self.step, self.total, i.original
            ));
            for (k, v) in self.arg_pairs(i)? {
                let v = self.build_arg(&k).or(v);
                self.used_args.insert(k.clone());
                self.meta.insert(k, v);
            }
        }
        let mut result = None;
        for (name, insts) in stages.into_iter().take(last + 1) {
            let img = self.stage(&insts)?;
            self.stages.push((name, img.clone()));
            result = Some(img);
        }
        let unused: Vec<&str> = self
            .opts
            .build_args
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !self.used_args.contains(*k) && !BUILTIN_ARGS.contains(k))
            .collect();
        if !unused.is_empty() {
            let line = format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            );
            self.say(&line);
        }
        Ok(result.expect("at least one stage"))
    }

    /// ARG's `name[=default]` words.
    fn arg_pairs(&mut self, i: &Instruction) -> Result<Vec<(String, Option<String>)>, BuildError> {
        let words = parser::raw_words(&i.rest, self.escape);
        if words.is_empty() {
            return Err(perr(i, "ARG requires at least one argument"));
        }
        let vars: Vars = self
            .meta
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        words
            .iter()
            .map(|w| match w.split_once('=') {
                Some((k, v)) => Ok((k.to_string(), Some(shell::word(v, &vars, self.escape)?))),
                None => Ok((w.to_string(), None)),
            })
            .collect()
    }

    fn base_state(&mut self, i: &Instruction) -> Result<State, BuildError> {
        if let Some(p) = i.flag("platform") {
            if p != "linux/amd64" && p != "linux/x86_64" {
                return Err(perr(
                    i,
                    format!("--platform {p}: berth builds only linux/amd64 images"),
                ));
            }
        }
        let vars: Vars = self
            .meta
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        let words = parser::raw_words(&i.rest, self.escape);
        let base = shell::word(&words[0], &vars, self.escape)?;
        if base.is_empty() {
            return Err(perr(
                i,
                "base name (".to_string() + &words[0] + ") should not be blank",
            ));
        }
        let image = if base.eq_ignore_ascii_case("scratch") {
            None
        } else if let Some((_, img)) = self
            .stages
            .iter()
            .rev()
            .find(|(n, _)| n.as_deref() == Some(&base.to_ascii_lowercase()))
        {
            Some(img.clone())
        } else if self.opts.pull {
            Some(self.pull(&base)?)
        } else {
            match self.store.resolve(&base) {
                Ok(img) => Some(img),
                // docker's classic builder pulls a base it does not have.
                Err(crate::image::store::StoreError::NotFound(_)) => Some(self.pull(&base)?),
                Err(e) => return Err(e.into()),
            }
        };
        let mut st = match &image {
            Some(img) => State {
                config: img.config.clone(),
                layers: img.manifest.layers.clone(),
                oci: img.manifest.media_type.as_deref() != Some(DOCKER_MANIFEST),
                image: Some(img.clone()),
                declared: BTreeMap::new(),
                cmd_set: false,
            },
            None => State {
                image: None,
                config: ImageConfig {
                    architecture: "amd64".into(),
                    os: "linux".into(),
                    rootfs: RootFs {
                        kind: "layers".into(),
                        diff_ids: vec![],
                    },
                    ..Default::default()
                },
                layers: vec![],
                declared: BTreeMap::new(),
                oci: false,
                cmd_set: false,
            },
        };
        st.config.author = st.config.author.take();
        st.config.comment = None;
        // docker gives every stage a PATH if its image has none.
        let cc = st.cc();
        let env = cc.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(DEFAULT_PATH.to_string());
        }
        Ok(st)
    }

    fn stage(&mut self, insts: &[Instruction]) -> Result<Image, BuildError> {
        let from = &insts[0];
        self.step += 1;
        self.say(&format!(
            "Step {}/{} : FROM {}",
            self.step, self.total, from.original
        ));
        let mut st = self.base_state(from)?;
        let shown = st
            .image
            .as_ref()
            .map(|i| short(&i.record.id).to_string())
            .unwrap_or_default();
        self.say(&format!(" ---> {shown}"));
        let triggers = st.cfg().on_build.unwrap_or_default();
        if !triggers.is_empty() {
            let n = triggers.len();
            self.say(&format!(
                "# Executing {n} build trigger{}",
                if n > 1 { "s" } else { "" }
            ));
            st.cc().on_build = None;
            for t in &triggers {
                let df = parser::parse(t)?;
                for i in &df.instructions {
                    if matches!(i.keyword.as_str(), "onbuild" | "from" | "maintainer") {
                        return Err(perr(
                            i,
                            format!(
                                "{} isn't allowed as an ONBUILD trigger",
                                i.keyword.to_ascii_uppercase()
                            ),
                        ));
                    }
                    self.dispatch(&mut st, i)?;
                }
            }
        }
        for i in &insts[1..] {
            self.step += 1;
            let kw = i.keyword.to_ascii_uppercase();
            self.say(&format!(
                "Step {}/{} : {kw} {}",
                self.step, self.total, i.original
            ));
            self.dispatch(&mut st, i)?;
        }
        // A stage of FROM alone is its base image, unchanged.
        match st.image {
            Some(img) => Ok(img),
            None => self
                .commit(&mut st, None, None)
                .map(|_| st.image.expect("committed")),
        }
    }

    /// A config-only step: its `#(nop)` history entry and a new image.
    fn nop(
        &mut self,
        st: &mut State,
        text: &str,
        change: impl FnOnce(&mut State),
    ) -> Result<(), BuildError> {
        // The entry's shell is the one after the change (docker's, for SHELL).
        let before = st.config.clone();
        change(st);
        let created_by = format!("{} #(nop)  {text}", st.shell().join(" "));
        let changed = std::mem::replace(&mut st.config, before);
        if self.cached(st, &created_by)? {
            return Ok(());
        }
        st.config = changed;
        self.commit(st, Some(created_by), None)?;
        let id = short(&st.image.as_ref().expect("committed").record.id).to_string();
        self.say(&format!(" ---> {id}"));
        Ok(())
    }

    /// Takes the step's image from the cache, if it is there.
    fn cached(&mut self, st: &mut State, created_by: &str) -> Result<bool, BuildError> {
        if self.opts.no_cache {
            return Ok(false);
        }
        let Some(id) = cache::lookup(self.root, &st.parent_key(), created_by) else {
            return Ok(false);
        };
        let Ok(img) = self.store.resolve(&id) else {
            return Ok(false);
        };
        self.say(" ---> Using cache");
        self.say(&format!(" ---> {}", short(&img.record.id)));
        st.config = img.config.clone();
        st.layers = img.manifest.layers.clone();
        st.image = Some(img);
        Ok(true)
    }

    fn dispatch(&mut self, st: &mut State, i: &Instruction) -> Result<(), BuildError> {
        let allowed: &[&str] = match i.keyword.as_str() {
            "copy" => &["from", "chown", "chmod", "link"],
            "add" => &["chown", "chmod", "link", "checksum", "keep-git-dir"],
            "run" => &["network"],
            "healthcheck" => &[
                "interval",
                "timeout",
                "start-period",
                "start-interval",
                "retries",
            ],
            _ => &[],
        };
        if let Some((f, _)) = i.flags.iter().find(|(f, _)| !allowed.contains(&f.as_str())) {
            return Err(perr(i, format!("unknown flag: {f}")));
        }
        match i.keyword.as_str() {
            "env" => {
                let (kv, text) = self.expanded_pairs(st, i, "env")?;
                self.nop(st, &text, |st| {
                    let env = st.cc().env.get_or_insert_with(Vec::new);
                    for (k, v) in kv {
                        let new = format!("{k}={v}");
                        match env
                            .iter_mut()
                            .find(|e| e.split_once('=').map_or(e.as_str(), |x| x.0) == k)
                        {
                            Some(e) => *e = new,
                            None => env.push(new),
                        }
                    }
                })
            }
            "label" => {
                let (kv, text) = self.expanded_pairs(st, i, "label")?;
                self.nop(st, &text, |st| {
                    let l = st.cc().labels.get_or_insert_with(Default::default);
                    l.extend(kv);
                })
            }
            "maintainer" => {
                let m = i.rest.clone();
                self.nop(st, &format!("MAINTAINER {m}"), |st| {
                    st.config.author = Some(m)
                })
            }
            "arg" => {
                let pairs = self.arg_pairs(i)?;
                let mut text = String::from("ARG");
                for (k, v) in &pairs {
                    text.push(' ');
                    text.push_str(k);
                    if let Some(v) = v {
                        text.push('=');
                        text.push_str(v);
                    }
                    self.used_args.insert(k.clone());
                }
                for (k, v) in pairs {
                    st.declared.insert(k, v);
                }
                self.nop(st, &text, |_| {})
            }
            "workdir" => self.workdir(st, i),
            "user" => {
                let u = self.word(st, &i.rest)?;
                if u.is_empty() {
                    return Err(perr(i, "USER requires exactly one argument"));
                }
                self.nop(st, &format!("USER {u}"), |st| st.cc().user = Some(u))
            }
            "expose" => {
                let ports = self.words(st, &i.rest)?;
                if ports.is_empty() {
                    return Err(perr(i, "EXPOSE requires at least one argument"));
                }
                let mut keys = Vec::new();
                for p in &ports {
                    keys.extend(expose_keys(p).map_err(|m| perr(i, m))?);
                }
                let mut shown = ports.clone();
                shown.sort();
                self.nop(st, &format!("EXPOSE {}", shown.join(" ")), |st| {
                    let m = st.cc().exposed_ports.get_or_insert_with(Default::default);
                    for k in keys {
                        m.insert(k, serde_json::json!({}));
                    }
                })
            }
            "volume" => {
                let vols = match &i.json {
                    Some(v) => v
                        .iter()
                        .map(|w| self.word(st, w))
                        .collect::<Result<Vec<_>, _>>()?,
                    None => self.words(st, &i.rest)?,
                };
                if vols.is_empty() || vols.iter().any(|v| v.trim().is_empty()) {
                    return Err(perr(i, "VOLUME specified can not be an empty string"));
                }
                self.nop(st, &format!("VOLUME [{}]", vols.join(" ")), |st| {
                    let m = st.cc().volumes.get_or_insert_with(Default::default);
                    for v in vols {
                        m.insert(v, serde_json::json!({}));
                    }
                })
            }
            "stopsignal" => {
                let s = self.word(st, &i.rest)?;
                if s.is_empty() {
                    return Err(perr(i, "STOPSIGNAL requires exactly one argument"));
                }
                let ok = s.parse::<u32>().is_ok() || berth_common::signal::parse(&s).is_some();
                if !ok {
                    return Err(perr(i, format!("Invalid signal: {s}")));
                }
                self.nop(st, &format!("STOPSIGNAL {s}"), |st| {
                    st.cc().stop_signal = Some(s)
                })
            }
            "cmd" | "entrypoint" => {
                let argv = match &i.json {
                    Some(v) => v.clone(),
                    None if i.rest.is_empty() && i.keyword == "entrypoint" => vec![],
                    None => {
                        let mut s = st.shell();
                        s.push(i.rest.clone());
                        s
                    }
                };
                let kw = i.keyword.to_ascii_uppercase();
                let text = format!("{kw} {}", gofmt::quote_list(&argv));
                let is_cmd = i.keyword == "cmd";
                let cmd_set = st.cmd_set;
                self.nop(st, &text, |st| {
                    let cc = st.cc();
                    if is_cmd {
                        cc.cmd = Some(argv);
                    } else {
                        // ENTRYPOINT drops a CMD inherited from the base, not
                        // one of this stage (docker's rule).
                        cc.entrypoint = if argv.is_empty() { None } else { Some(argv) };
                        if !cmd_set {
                            cc.cmd = None;
                        }
                    }
                })?;
                if is_cmd {
                    st.cmd_set = true;
                }
                Ok(())
            }
            "shell" => {
                let Some(v) = i.json.clone().filter(|v| !v.is_empty()) else {
                    return Err(perr(i, "SHELL requires the arguments to be in JSON form"));
                };
                self.nop(st, &format!("SHELL [{}]", v.join(" ")), |st| {
                    st.cc().shell = Some(v)
                })
            }
            "healthcheck" => self.healthcheck(st, i),
            "onbuild" => {
                let expr = i.original.clone();
                let kw = expr
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if matches!(kw.as_str(), "onbuild" | "from" | "maintainer") {
                    return Err(perr(
                        i,
                        format!(
                            "{} isn't allowed as an ONBUILD trigger",
                            kw.to_ascii_uppercase()
                        ),
                    ));
                }
                parser::parse(&expr)?;
                self.nop(st, &format!("ONBUILD {expr}"), |st| {
                    st.cc().on_build.get_or_insert_with(Vec::new).push(expr)
                })
            }
            "run" => self.run_step(st, i),
            "copy" | "add" => self.copy_step(st, i),
            "from" => Err(perr(i, "FROM inside a stage")),
            other => Err(perr(
                i,
                format!("unknown instruction: {}", other.to_ascii_uppercase()),
            )),
        }
    }

    fn healthcheck(&mut self, st: &mut State, i: &Instruction) -> Result<(), BuildError> {
        let words = parser::raw_words(&i.rest, self.escape);
        let kind = words
            .first()
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default();
        let mut hc = serde_json::Map::new();
        let (test, interval, timeout, start, retries);
        if kind == "NONE" {
            if words.len() > 1 || !i.flags.is_empty() {
                return Err(perr(i, "HEALTHCHECK NONE takes no arguments"));
            }
            test = vec!["NONE".to_string()];
            (interval, timeout, start, retries) = (0, 0, 0, 0);
        } else if kind == "CMD" {
            let after = i.rest.trim_start()[3..].trim_start();
            test = match parser::json_array(after) {
                Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                None => vec!["CMD-SHELL".to_string(), after.to_string()],
            };
            let dur = |name: &str| -> Result<i64, BuildError> {
                match i.flag(name) {
                    None => Ok(0),
                    Some(v) => {
                        let ns = parse_go_duration(v)
                            .ok_or_else(|| perr(i, format!("invalid --{name} {v:?}")))?;
                        if ns != 0 && ns < 1_000_000 {
                            return Err(perr(
                                i,
                                format!("Interval {name:?} cannot be less than 1ms"),
                            ));
                        }
                        Ok(ns as i64)
                    }
                }
            };
            interval = dur("interval")?;
            timeout = dur("timeout")?;
            start = dur("start-period")?;
            retries = match i.flag("retries") {
                None => 0,
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| perr(i, format!("invalid --retries {v:?}")))?,
            };
        } else {
            return Err(perr(
                i,
                format!("Unknown type {kind:?} in HEALTHCHECK (try CMD)"),
            ));
        }
        hc.insert("Test".into(), serde_json::json!(test));
        for (k, v) in [
            ("Interval", interval),
            ("Timeout", timeout),
            ("StartPeriod", start),
        ] {
            if v != 0 {
                hc.insert(k.into(), serde_json::json!(v));
            }
        }
        if retries != 0 {
            hc.insert("Retries".into(), serde_json::json!(retries));
        }
        let text = format!(
            "HEALTHCHECK &{{{} {} {} {} {}}}",
            gofmt::quote_list(&test),
            gofmt::quote(&gofmt::duration(interval)),
            gofmt::quote(&gofmt::duration(timeout)),
            gofmt::quote(&gofmt::duration(start)),
            gofmt::quote_rune(retries)
        );
        let v = serde_json::Value::Object(hc);
        self.nop(st, &text, |st| st.cc().healthcheck = Some(v))
    }
}

/// A directory under tmp/, removed when dropped.
struct TmpDir(PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// EXPOSE's `80`, `80/udp`, `8000-8002/tcp` as config keys.
fn expose_keys(p: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match p.split_once('/') {
        Some((a, b)) => (a, b.to_ascii_lowercase()),
        None => (p, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let bad = || format!("invalid containerPort: {ports}");
    let (a, b) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let n = ports.parse::<u16>().map_err(|_| bad())?;
            (n, n)
        }
    };
    if b < a {
        return Err(bad());
    }
    Ok((a..=b).map(|n| format!("{n}/{proto}")).collect())
}
