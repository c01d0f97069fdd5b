//! The steps that change files: WORKDIR, RUN, COPY and ADD, and the commit
//! of a step's layer into an image of the store.

use crate::build::cache;
use crate::build::context;
use crate::build::copy;
use crate::build::fetch;
use crate::build::parser::Instruction;
use crate::build::run::{self, RunRequest};
use crate::build::BuildError;
use crate::image::config::resolve_user;
use crate::image::digest::{chain_ids, Digest, HashingWriter};
use crate::image::merged::Merged;
use crate::image::time::{format_rfc3339, now_unix};
use crate::image::types::{
    Descriptor, History, Manifest, DOCKER_CONFIG, DOCKER_MANIFEST, OCI_CONFIG, OCI_LAYER,
    OCI_MANIFEST,
};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{perr, short, Builder, Layer, State, TmpDir, DOCKER_LAYER};

impl Builder<'_> {
    pub(super) fn merged(&self, st: &State) -> Result<Merged, BuildError> {
        let dirs = match &st.image {
            Some(img) => self.store.layer_dirs(img),
            None => vec![],
        };
        Merged::open(&dirs).map_err(|source| BuildError::Io {
            what: "opening the image's layers".into(),
            source,
        })
    }

    pub(super) fn workdir(&mut self, st: &mut State, i: &Instruction) -> Result<(), BuildError> {
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
    pub(super) fn write_layer(
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

    pub(super) fn run_step(&mut self, st: &mut State, i: &Instruction) -> Result<(), BuildError> {
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

    pub(super) fn copy_step(&mut self, st: &mut State, i: &Instruction) -> Result<(), BuildError> {
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
        // ADD --checksum (BuildKit's): one URL, its content's digest.
        let checksum = match i.flag("checksum") {
            Some(c) => {
                let c = self.word(st, c)?;
                if words.len() != 1 {
                    return Err(perr(i, "checksum can't be specified for multiple sources"));
                }
                if !fetch::is_url(&words[0]) {
                    return Err(perr(
                        i,
                        "checksum can't be specified for non-HTTP(S) sources",
                    ));
                }
                Some(c)
            }
            None => None,
        };
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
            words = fetch::fetch_all(&words, &dir.0, checksum.as_deref())?;
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
    pub(super) fn commit(
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
