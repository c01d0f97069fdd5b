//! `import`: a rootfs tarball becomes a one-layer image, with docker's
//! `--change` instructions applied to its config.

use super::digest::{chain_ids, HashingReader, HashingWriter, TeeReader};
use super::layers;
use super::store::{Image, LayerMeta, Store, StoreError};
use super::types::{
    ContainerConfig, Descriptor, History, ImageConfig, Manifest, RootFs, OCI_CONFIG,
    OCI_LAYER_GZIP, OCI_MANIFEST,
};
use std::fs;
use std::io::{self, Read, Write};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("invalid --change {0:?}: {1}")]
    Change(String, &'static str),
    #[error("reading the rootfs tarball: {0}")]
    Read(io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Dockerfile's JSON-array form, or shell form run by /bin/sh -c.
fn command(v: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(v) {
        Ok(a) => a,
        Err(_) => vec!["/bin/sh".into(), "-c".into(), v.to_string()],
    }
}

/// Splits `k=v k2="v 2"` (or the legacy `k v`) into pairs.
fn pairs(v: &str) -> Vec<(String, String)> {
    if !v.contains('=') {
        return match v.split_once(char::is_whitespace) {
            Some((k, val)) => vec![(k.to_string(), val.trim().to_string())],
            None => vec![(v.to_string(), String::new())],
        };
    }
    let mut out = Vec::new();
    let mut chars = v.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        if key.is_empty() {
            break;
        }
        let mut val = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            match (quote, c) {
                (None, '"') | (None, '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => break,
                (_, '\\') => {
                    chars.next();
                    if let Some(n) = chars.peek() {
                        val.push(*n);
                    }
                }
                _ => val.push(c),
            }
            chars.next();
        }
        out.push((key, val));
    }
    out
}

/// `HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D]
/// [--retries=N] CMD command` or `HEALTHCHECK NONE`, as docker stores it.
fn healthcheck(value: &str) -> Result<serde_json::Value, &'static str> {
    if value.eq_ignore_ascii_case("NONE") {
        return Ok(serde_json::json!({"Test": ["NONE"]}));
    }
    let mut h = serde_json::json!({});
    let mut rest = value;
    while let Some(opt) = rest.strip_prefix("--") {
        let (flag, after) = opt.split_once(char::is_whitespace).unwrap_or((opt, ""));
        let (k, v) = flag
            .split_once('=')
            .ok_or("HEALTHCHECK options are --name=value")?;
        let dur = || crate::image::time::parse_go_duration(v).ok_or("bad HEALTHCHECK duration");
        match k {
            "interval" => h["Interval"] = dur()?.into(),
            "timeout" => h["Timeout"] = dur()?.into(),
            "start-period" => h["StartPeriod"] = dur()?.into(),
            "retries" => h["Retries"] = v.parse::<u32>().map_err(|_| "bad --retries")?.into(),
            _ => return Err("HEALTHCHECK options: interval, timeout, start-period, retries"),
        }
        rest = after.trim_start();
    }
    let cmd = rest
        .strip_prefix("CMD")
        .filter(|c| c.starts_with(char::is_whitespace))
        .ok_or("expected HEALTHCHECK [OPTIONS] CMD command, or NONE")?
        .trim();
    h["Test"] = match serde_json::from_str::<Vec<String>>(cmd) {
        Ok(argv) => std::iter::once("CMD".to_string()).chain(argv).collect(),
        Err(_) => serde_json::json!(["CMD-SHELL", cmd]),
    };
    Ok(h)
}

/// Applies one `--change` instruction, e.g. `CMD ["/bin/sh"]` or `ENV A=1`.
pub fn apply_change(cfg: &mut ContainerConfig, change: &str) -> Result<(), ImportError> {
    let bad = |why| ImportError::Change(change.to_string(), why);
    let (instr, value) = change
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| bad("expected INSTRUCTION VALUE"))?;
    let value = value.trim();
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => cfg.cmd = Some(command(value)),
        "ENTRYPOINT" => cfg.entrypoint = Some(command(value)),
        "ENV" => {
            let env = cfg.env.get_or_insert_with(Vec::new);
            for (k, v) in pairs(value) {
                env.retain(|e| e.split_once('=').map(|x| x.0) != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let l = cfg.labels.get_or_insert_with(Default::default);
            for (k, v) in pairs(value) {
                l.insert(k, v);
            }
        }
        "WORKDIR" => {
            if !value.starts_with('/') {
                return Err(bad("WORKDIR must be an absolute path"));
            }
            cfg.working_dir = Some(value.to_string())
        }
        "USER" => cfg.user = Some(value.to_string()),
        "STOPSIGNAL" => cfg.stop_signal = Some(value.to_string()),
        "EXPOSE" => {
            let p = cfg.exposed_ports.get_or_insert_with(Default::default);
            for port in value.split_whitespace() {
                let port = if port.contains('/') {
                    port.to_string()
                } else {
                    format!("{port}/tcp")
                };
                p.insert(port, serde_json::json!({}));
            }
        }
        "HEALTHCHECK" => cfg.healthcheck = Some(healthcheck(value).map_err(bad)?),
        "VOLUME" => {
            let v = cfg.volumes.get_or_insert_with(Default::default);
            let list = serde_json::from_str::<Vec<String>>(value)
                .unwrap_or_else(|_| value.split_whitespace().map(String::from).collect());
            for d in list {
                v.insert(d, serde_json::json!({}));
            }
        }
        _ => {
            return Err(bad(
                "supported: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR",
            ))
        }
    }
    Ok(())
}

pub struct ImportOptions {
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub names: Vec<String>,
}

/// Reads a (possibly compressed) rootfs tar once: it is unpacked into a
/// layer and gzipped into a blob in the same pass.
pub fn import<R: Read>(
    store: &Store,
    input: R,
    opts: &ImportOptions,
) -> Result<Image, ImportError> {
    let mut cc = ContainerConfig::default();
    for c in &opts.changes {
        apply_change(&mut cc, c)?;
    }
    let _w = store.writer_lock()?;
    let blob = store.blob_writer()?;
    let blob_tmp = Store::tmp_path_of(&blob).to_path_buf();
    let gz = flate2::write::GzEncoder::new(HashingWriter::new(blob), flate2::Compression::fast());
    let tmp = store.tmp_path("import");
    let diff_dir = tmp.join("diff");
    fs::create_dir_all(&diff_dir).map_err(ImportError::Read)?;
    let res = (|| {
        let dec = layers::decompress(input).map_err(ImportError::Read)?;
        let mut tee = TeeReader::new(HashingReader::new(dec), gz);
        layers::unpack(&mut tee, &diff_dir).map_err(StoreError::from)?;
        io::copy(&mut tee, &mut io::sink()).map_err(ImportError::Read)?;
        let (hr, gz) = tee.into_inner();
        let (diff_id, size, _) = hr.finish();
        let mut hw = gz.finish().map_err(ImportError::Read)?;
        hw.flush().map_err(ImportError::Read)?;
        let (blob_digest, blob_size, blob) = hw.finish();
        Ok::<_, ImportError>((diff_id, size, blob_digest, blob_size, blob))
    })();
    let (diff_id, size, blob_digest, blob_size, blob) = match res {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            let _ = fs::remove_file(&blob_tmp);
            return Err(e);
        }
    };
    store.commit_blob(blob, &blob_digest)?;
    let chain = chain_ids(std::slice::from_ref(&diff_id)).remove(0);
    store.commit_layer_dir(
        &tmp,
        &LayerMeta {
            chain_id: chain,
            diff_id: diff_id.clone(),
            size,
        },
    )?;
    let now = super::time::format_rfc3339(super::time::now_unix());
    let config = ImageConfig {
        created: Some(now.clone()),
        architecture: "amd64".into(),
        os: "linux".into(),
        config: Some(cc),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff_id],
        },
        // As docker's: no command, the message or where it came from (its
        // CLI always streams the archive, so "-").
        history: vec![History {
            created: Some(now),
            comment: Some(
                opts.message
                    .clone()
                    .unwrap_or_else(|| "Imported from -".into()),
            ),
            ..Default::default()
        }],
        comment: Some(
            opts.message
                .clone()
                .unwrap_or_else(|| "Imported from -".into()),
        ),
        ..Default::default()
    };
    let config_raw = serde_json::to_vec(&config).expect("config");
    let config_digest = store.put_blob(&config_raw)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: Descriptor {
            media_type: OCI_CONFIG.into(),
            digest: config_digest,
            size: config_raw.len() as u64,
            platform: None,
            annotations: None,
            urls: None,
        },
        layers: vec![Descriptor {
            media_type: OCI_LAYER_GZIP.into(),
            digest: blob_digest,
            size: blob_size,
            platform: None,
            annotations: None,
            urls: None,
        }],
        annotations: None,
    };
    let manifest_digest = store.put_blob(&serde_json::to_vec(&manifest).expect("manifest"))?;
    Ok(store.commit_image(&manifest_digest, &opts.names, None)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes() {
        let mut c = ContainerConfig::default();
        apply_change(&mut c, r#"CMD ["/bin/sh", "-c", "x"]"#).unwrap();
        apply_change(&mut c, "ENTRYPOINT echo hi").unwrap();
        apply_change(&mut c, r#"ENV A=1 B="two words""#).unwrap();
        apply_change(&mut c, "ENV A 3").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply_change(&mut c, "WORKDIR /srv").unwrap();
        assert_eq!(c.cmd.unwrap(), ["/bin/sh", "-c", "x"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.env.unwrap(), ["B=two words", "A=3"]);
        assert!(c.exposed_ports.unwrap().contains_key("53/udp"));
        assert!(apply_change(&mut ContainerConfig::default(), "RUN x").is_err());
        assert!(apply_change(&mut ContainerConfig::default(), "WORKDIR rel").is_err());
    }
}
