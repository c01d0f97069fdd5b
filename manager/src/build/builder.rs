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
use super::copy;
use super::fetch;
use super::gofmt;
use super::parser::{self, Dockerfile, Instruction};
use super::run::{self, RunRequest};
use super::shell::{self, Vars};
use super::{BuildError, BuildOptions};
use crate::image::config::{resolve_user, DEFAULT_PATH};
use crate::image::digest::{chain_ids, Digest, HashingWriter};
use crate::image::merged::Merged;
use crate::image::store::{Image, Store};
use crate::image::time::{format_rfc3339, now_unix, parse_go_duration};
use crate::image::types::{
    ContainerConfig, Descriptor, History, ImageConfig, Manifest, RootFs, DOCKER_CONFIG,
    DOCKER_MANIFEST, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST,
};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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
        } else {
            let img = self.store.resolve(&base).map_err(|e| match e {
                crate::image::store::StoreError::NotFound(_) => BuildError::Other(format!(
                    "no such image: {base}: pull it first (berth pull {base})"
                )),
                e => e.into(),
            })?;
            Some(img)
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
                let pairs = parser::name_values("env", i.line, &i.rest, self.escape)?;
                let vars = self.vars(st);
                let mut kv = Vec::new();
                for (k, v) in pairs {
                    kv.push((
                        shell::word(&k, &vars, self.escape)?,
                        shell::word(&v, &vars, self.escape)?,
                    ));
                }
                let text = std::iter::once("ENV".to_string())
                    .chain(kv.iter().map(|(k, v)| format!("{k}={v}")))
                    .collect::<Vec<_>>()
                    .join(" ");
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
                let pairs = parser::name_values("label", i.line, &i.rest, self.escape)?;
                let vars = self.vars(st);
                let mut kv = Vec::new();
                for (k, v) in pairs {
                    kv.push((
                        shell::word(&k, &vars, self.escape)?,
                        shell::word(&v, &vars, self.escape)?,
                    ));
                }
                let text = std::iter::once("LABEL".to_string())
                    .chain(kv.iter().map(|(k, v)| format!("{k}={v}")))
                    .collect::<Vec<_>>()
                    .join(" ");
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

    fn merged(&self, st: &State) -> Result<Merged, BuildError> {
        let dirs = match &st.image {
            Some(img) => self.store.layer_dirs(img),
            None => vec![],
        };
        Merged::open(&dirs).map_err(|source| BuildError::Io {
            what: "opening the image's layers".into(),
            source,
        })
    }

    fn workdir(&mut self, st: &mut State, i: &Instruction) -> Result<(), BuildError> {
        let w = self.word(st, &i.rest)?;
        if w.is_empty() {
            return Err(perr(i, "WORKDIR requires exactly one argument"));
        }
        let cur = st.cfg().working_dir.unwrap_or_default();
        let abs = if w.starts_with('/') {
            w.clone()
        } else {
            format!("{}/{w}", if cur.is_empty() { "/" } else { &cur })
        };
        let abs = format!("/{}", super::context::clean(&abs));
        let created_by = format!("{} #(nop) WORKDIR {abs}", st.shell().join(" "));
        if self.cached(st, &created_by)? {
            return Ok(());
        }
        let merged = self.merged(st)?;
        let rel = PathBuf::from(&abs[1..]);
        let layer =
            if rel.as_os_str().is_empty() || merged.resolve(&rel, true).ok().flatten().is_some() {
                None
            } else {
                // The missing directories, under the image's own (copied as
                // they are, as an overlay copy-up would).
                let mut anc: Vec<PathBuf> = rel
                    .ancestors()
                    .filter(|a| !a.as_os_str().is_empty())
                    .map(Path::to_path_buf)
                    .collect();
                anc.reverse();
                let now = now_unix().max(0) as u64;
                Some(self.write_layer(st, |w| {
                    let mut b = tar::Builder::new(w);
                    for a in &anc {
                        let mut h = tar::Header::new_gnu();
                        h.set_entry_type(tar::EntryType::Directory);
                        h.set_size(0);
                        match merged.resolve(a, false).ok().flatten() {
                            Some(e) if e.meta.is_dir() => {
                                use std::os::unix::fs::MetadataExt;
                                h.set_mode(e.meta.mode() & 0o7777);
                                h.set_uid(e.meta.uid().into());
                                h.set_gid(e.meta.gid().into());
                                h.set_mtime(e.meta.mtime().max(0) as u64);
                            }
                            Some(_) => continue,
                            None => {
                                h.set_mode(0o755);
                                h.set_uid(0);
                                h.set_gid(0);
                                h.set_mtime(now);
                            }
                        }
                        b.append_data(&mut h, a, io::empty())?;
                    }
                    b.into_inner()
                })?)
            };
        st.cc().working_dir = Some(abs);
        self.commit(st, Some(created_by), layer)?;
        let id = short(&st.image.as_ref().expect("committed").record.id).to_string();
        self.say(&format!(" ---> {id}"));
        Ok(())
    }

    /// Writes a layer tar under tmp/ through `f`, hashing it as it goes.
    fn write_layer(
        &self,
        _st: &State,
        f: impl FnOnce(
            HashingWriter<io::BufWriter<fs::File>>,
        ) -> io::Result<HashingWriter<io::BufWriter<fs::File>>>,
    ) -> Result<Layer, BuildError> {
        let tar = self.store.tmp_path("build-layer");
        let res = (|| {
            let file = fs::File::create(&tar)?;
            let hw = f(HashingWriter::new(io::BufWriter::new(file)))?;
            let (d, size, mut w) = hw.finish();
            w.flush()?;
            Ok::<_, io::Error>((d, size))
        })();
        let layer_guard = Layer {
            tar: tar.clone(),
            diff_id: Digest::of(b""),
            empty: true,
        };
        let (diff_id, size) = res.map_err(|source| BuildError::Io {
            what: "writing the step's layer".into(),
            source,
        })?;
        let mut l = layer_guard;
        l.diff_id = diff_id;
        // A tar of no entries is its two zero blocks: docker's empty layer.
        l.empty = size <= 1024;
        Ok(l)
    }

    fn run_step(&mut self, st: &mut State, i: &Instruction) -> Result<(), BuildError> {
        let argv: Vec<String> = match &i.json {
            Some(v) => v.clone(),
            None => {
                let script = match i.heredocs.as_slice() {
                    // `RUN <<EOF` alone: the heredoc is the script.
                    [h] if i.rest.trim() == format!("<<{}", h.name)
                        || i.rest.trim() == format!("<<-{}", h.name) =>
                    {
                        h.content.clone()
                    }
                    [] => i.rest.clone(),
                    hs => {
                        let mut s = i.rest.clone();
                        for h in hs {
                            s.push('\n');
                            s.push_str(&h.content);
                            s.push_str(&h.name);
                        }
                        s
                    }
                };
                let mut s = st.shell();
                s.push(script);
                s
            }
        };
        if argv.is_empty() {
            return Err(perr(i, "RUN requires at least one argument"));
        }
        let network = match i.flag("network") {
            Some(n) => Some(n.to_string()),
            None => self.opts.network.clone(),
        };
        let args = self.run_args(st);
        for (k, _, _) in &args {
            self.used_args.insert(k.clone());
        }
        let shown: Vec<String> = args
            .iter()
            .filter(|a| a.2)
            .map(|(k, v, _)| format!("{k}={v}"))
            .collect();
        let mut created_by = argv.join(" ");
        if !shown.is_empty() {
            created_by = format!("|{} {} {created_by}", shown.len(), shown.join(" "));
        }
        if self.cached(st, &created_by)? {
            return Ok(());
        }
        let Some(img) = &st.image else {
            return Err(BuildError::Other(
                "RUN on an empty scratch image: there is nothing to run".into(),
            ));
        };
        let img_id = img.record.id.to_string();
        let env: Vec<String> = args.iter().map(|(k, v, _)| format!("{k}={v}")).collect();
        let req = RunRequest {
            image_id: &img_id,
            argv: argv.clone(),
            env,
            network,
        };
        let (running, code) = run::run(self.root, &req, self.out, self.opts.quiet)?;
        if code != 0 {
            return Err(BuildError::RunFailed {
                command: argv.join(" "),
                code,
            });
        }
        let upper = running.upper()?;
        let lower = self.merged(st)?;
        let keep = run::changed_entries(&upper, &lower).map_err(|source| BuildError::Io {
            what: "reading the build container's changes".into(),
            source,
        })?;
        let layer = self.write_layer(st, |w| {
            crate::container::commit::layer_tar_filtered(&upper, w, &|rel| !keep.contains(rel))
        })?;
        let cid = running.id[..12].to_string();
        drop(running);
        self.say(&format!("Removing intermediate container {cid}"));
        self.commit(st, Some(created_by), Some(layer))?;
        let id = short(&st.image.as_ref().expect("committed").record.id).to_string();
        self.say(&format!(" ---> {id}"));
        Ok(())
    }

    fn copy_step(&mut self, st: &mut State, i: &Instruction) -> Result<(), BuildError> {
        let cmd = i.keyword.to_ascii_uppercase();
        // --from: an earlier stage (by name or number) or an image of the store.
        let from: Option<copy::ImageTree> = match i.flag("from") {
            None => None,
            Some(_) if cmd == "ADD" => return Err(perr(i, "ADD does not take --from")),
            Some(f) => {
                let f = self.word(st, f)?;
                let by_name = self
                    .stages
                    .iter()
                    .find(|(n, _)| n.as_deref() == Some(&f.to_ascii_lowercase()))
                    .or_else(|| f.parse::<usize>().ok().and_then(|n| self.stages.get(n)))
                    .map(|(_, img)| img.clone());
                let img = match by_name {
                    Some(img) => img,
                    None => self.store.resolve(&f).map_err(|e| match e {
                        crate::image::store::StoreError::NotFound(_) => BuildError::Other(format!(
                            "{cmd} --from={f}: no stage or image of that name"
                        )),
                        e => e.into(),
                    })?,
                };
                let m = Merged::open(&self.store.layer_dirs(&img)).map_err(|source| {
                    BuildError::Io {
                        what: format!("opening the layers of {f}"),
                        source,
                    }
                })?;
                Some(copy::ImageTree(m))
            }
        };
        let mut words = match &i.json {
            Some(v) => v
                .iter()
                .map(|w| self.word(st, w))
                .collect::<Result<Vec<_>, _>>()?,
            None => self.words(st, &i.rest)?,
        };
        if words.len() < 2 {
            return Err(perr(i, format!("{cmd} requires at least two arguments, but only one was provided. Destination could not be determined.")));
        }
        let dest = words.pop().expect("two words");
        // ADD of URLs: fetched into a dir of their own, copied from there.
        let mut fetched: Option<(context::Context, TmpDir)> = None;
        if !i.heredocs.is_empty() {
            // COPY <<EOF /dest: each heredoc is a file of its name (BuildKit's).
            let dir = TmpDir(self.store.tmp_path("build-heredoc"));
            let io = |source| BuildError::Io {
                what: "writing a heredoc".into(),
                source,
            };
            fs::create_dir_all(&dir.0).map_err(io)?;
            for w in words.iter_mut() {
                let name = w.trim_start_matches("<<").trim_start_matches('-');
                let name = name.trim_matches(['"', '\'']);
                if !w.starts_with("<<") {
                    return Err(perr(
                        i,
                        format!("{cmd} of heredocs and files at once is not supported yet"),
                    ));
                }
                let h = i
                    .heredocs
                    .iter()
                    .find(|h| h.name == name)
                    .ok_or_else(|| perr(i, format!("no heredoc {name}")))?;
                fs::write(dir.0.join(&h.name), &h.content).map_err(io)?;
                *w = h.name.clone();
            }
            fetched = Some((context::Context::dir(&dir.0)?, dir));
        } else if words.iter().any(|w| fetch::is_url(w)) {
            if cmd == "COPY" {
                return Err(perr(i, "source can't be a URL for COPY"));
            }
            if !words.iter().all(|w| fetch::is_url(w)) {
                return Err(perr(
                    i,
                    "ADD of URLs and local files at once is not supported yet",
                ));
            }
            let dir = TmpDir(self.store.tmp_path("build-fetch"));
            words = fetch::fetch_all(&words, &dir.0)?;
            fetched = Some((context::Context::dir(&dir.0)?, dir));
        }
        let chown = match i.flag("chown") {
            Some(c) => Some(self.word(st, c)?),
            None => None,
        };
        let owner = match &chown {
            // From another image files keep their owners (docker's classic builder).
            None if from.is_some() => None,
            None => Some((0, 0)),
            Some(c) => {
                let merged = self.merged(st)?;
                let text = |p: &str| {
                    merged
                        .read(Path::new(p))
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                };
                let (passwd, group) = (text("etc/passwd"), text("etc/group"));
                // "user" alone means its primary group for names, the same id for numbers.
                let spec = if !c.contains(':') && c.parse::<u32>().is_ok() {
                    format!("{c}:{c}")
                } else {
                    c.clone()
                };
                let (u, g, _) =
                    resolve_user(&spec, passwd.as_deref(), group.as_deref()).map_err(|e| {
                        BuildError::Copy(format!(
                            "unable to convert uid/gid chown string to host mapping: {e}"
                        ))
                    })?;
                Some((u, g))
            }
        };
        let chmod = match i.flag("chmod") {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        perr(i, format!("invalid --chmod {m:?}: expected an octal mode"))
                    })?,
            ),
            None => None,
        };
        let workdir = st.cfg().working_dir.unwrap_or_else(|| "/".into());
        let merged = self.merged(st)?;
        let tree: &dyn copy::Tree = match (&from, &fetched) {
            (Some(t), _) => t,
            (None, Some((c, _))) => c,
            (None, None) => &self.ctx,
        };
        let plan = copy::plan(
            tree,
            &merged,
            &copy::Request {
                cmd: &cmd,
                srcs: &words,
                dest: &dest,
                workdir: &workdir,
                owner,
                chmod,
            },
        )?;
        let chown_text = chown.map(|c| format!("--chown={c}")).unwrap_or_default();
        let chmod_text = i
            .flag("chmod")
            .map(|m| format!("--chmod={m} "))
            .unwrap_or_default();
        // One URL: docker writes its hash with no `file:` before it.
        let hash = match (&fetched, words.len()) {
            (Some(_), 1) => plan.hash.trim_start_matches("file:").to_string(),
            _ => plan.hash.clone(),
        };
        let created_by = format!(
            "{} #(nop) {cmd} {chmod_text}{chown_text}{hash} in {dest} ",
            st.shell().join(" "),
        );
        if self.cached(st, &created_by)? {
            return Ok(());
        }
        let layer = if plan.is_empty() {
            None
        } else {
            let tree: &dyn copy::Tree = match (&from, &fetched) {
                (Some(t), _) => t,
                (None, Some((c, _))) => c,
                (None, None) => &self.ctx,
            };
            Some(self.write_layer(st, |w| copy::write_tar(tree, &plan, w))?)
        };
        self.commit(st, Some(created_by), layer)?;
        let id = short(&st.image.as_ref().expect("committed").record.id).to_string();
        self.say(&format!(" ---> {id}"));
        Ok(())
    }

    /// Stores the step's image: its layer (if any and not empty), config,
    /// manifest and record, and the cache entry that finds it again.
    fn commit(
        &mut self,
        st: &mut State,
        created_by: Option<String>,
        layer: Option<Layer>,
    ) -> Result<(), BuildError> {
        let parent = st.parent_key();
        if let Some(p) = &st.image {
            cache::mark_parent(self.root, &p.record.id)?;
        }
        let now = format_rfc3339(now_unix());
        let layer = layer.filter(|l| !l.empty);
        if let Some(cb) = &created_by {
            st.config.history.push(History {
                created: Some(now.clone()),
                created_by: Some(cb.clone()),
                author: None,
                comment: None,
                empty_layer: layer.is_none(),
            });
        }
        st.config.created = Some(now);
        if let Some(l) = &layer {
            st.config.rootfs.diff_ids.push(l.diff_id.clone());
            let chain = chain_ids(&st.config.rootfs.diff_ids)
                .pop()
                .expect("one chain id");
            let f = fs::File::open(&l.tar).map_err(|source| BuildError::Io {
                what: "reading the step's layer back".into(),
                source,
            })?;
            let (blob, size) = self
                .store
                .ingest_layer(f, None, &l.diff_id, &chain, true, true)?;
            st.layers.push(Descriptor {
                media_type: if st.oci {
                    OCI_LAYER.into()
                } else {
                    DOCKER_LAYER.into()
                },
                digest: blob,
                size,
                platform: None,
                annotations: None,
                urls: None,
            });
        }
        let config_raw = serde_json::to_vec(&st.config).expect("config");
        let config_digest = self.store.put_blob(&config_raw)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(if st.oci {
                OCI_MANIFEST.into()
            } else {
                DOCKER_MANIFEST.into()
            }),
            config: Descriptor {
                media_type: if st.oci {
                    OCI_CONFIG.into()
                } else {
                    DOCKER_CONFIG.into()
                },
                digest: config_digest,
                size: config_raw.len() as u64,
                platform: None,
                annotations: None,
                urls: None,
            },
            layers: st.layers.clone(),
            annotations: None,
        };
        let md = self
            .store
            .put_blob(&serde_json::to_vec(&manifest).expect("manifest"))?;
        let img = self.store.commit_image(&md, &[], None)?;
        if let Some(cb) = &created_by {
            cache::record(self.root, &parent, cb, &img.record.id)?;
        }
        st.image = Some(img);
        Ok(())
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
