//! Image config → runtime config, per image-spec conversion.md. The
//! container code calls `convert` and patches the result into its
//! config.json with `RuntimeConfig::apply`.

use super::types::ImageConfig;
use oci_spec::runtime::Process;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("user {0:?} not found in the image's /etc/passwd")]
    NoSuchUser(String),
    #[error("group {0:?} not found in the image's /etc/group")]
    NoSuchGroup(String),
    #[error("the image has no command: set Cmd or Entrypoint, or give one")]
    NoCommand,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RuntimeConfig {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// Mount destinations for `Config.Volumes`.
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub exposed_ports: Vec<String>,
    pub annotations: BTreeMap<String, String>,
}

/// The default PATH docker and podman give a container whose image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

fn parse_passwd(s: &str) -> Vec<PasswdEntry> {
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4).then(|| {
                Some(PasswdEntry {
                    name: f[0].into(),
                    uid: f[2].parse().ok()?,
                    gid: f[3].parse().ok()?,
                })
            })?
        })
        .collect()
}

/// (name, gid, members)
/// A group by number, or by name in the image's /etc/group (`--group-add`).
pub fn resolve_group(g: &str, group: Option<&str>) -> Result<u32, ConfigError> {
    if let Ok(n) = g.parse::<u32>() {
        return Ok(n);
    }
    parse_group(group.unwrap_or(""))
        .iter()
        .find(|x| x.0 == g)
        .map(|x| x.1)
        .ok_or_else(|| ConfigError::NoSuchGroup(g.to_string()))
}

fn parse_group(s: &str) -> Vec<(String, u32, Vec<String>)> {
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            let members = f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            Some((f[0].to_string(), f[2].parse().ok()?, members))
        })
        .collect()
}

/// Resolves `Config.User` ("name", "uid", "name:group", "uid:gid") against
/// the image's /etc/passwd and /etc/group contents.
pub fn resolve_user(
    user: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<(u32, u32, Vec<u32>), ConfigError> {
    let users = parse_passwd(passwd.unwrap_or(""));
    let groups = parse_group(group.unwrap_or(""));
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let (uid, mut gid, name) = if u.is_empty() {
        (0, 0, None)
    } else if let Ok(n) = u.parse::<u32>() {
        // Numeric: verbatim, but the primary group still comes from passwd if listed.
        let e = users.iter().find(|e| e.uid == n);
        (n, e.map(|e| e.gid).unwrap_or(0), None)
    } else {
        let e = users
            .iter()
            .find(|e| e.name == u)
            .ok_or_else(|| ConfigError::NoSuchUser(u.to_string()))?;
        (e.uid, e.gid, Some(e.name.clone()))
    };
    let mut additional = Vec::new();
    match g {
        Some(g) if !g.is_empty() => {
            gid = match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => groups
                    .iter()
                    .find(|x| x.0 == g)
                    .map(|x| x.1)
                    .ok_or_else(|| ConfigError::NoSuchGroup(g.to_string()))?,
            };
        }
        _ => {
            // Supplementary groups only for a user given by name without a group (conversion.md).
            if let Some(n) = &name {
                additional = groups
                    .iter()
                    .filter(|x| x.2.contains(n) && x.1 != gid)
                    .map(|x| x.1)
                    .collect();
            }
        }
    }
    Ok((uid, gid, additional))
}

/// Builds the runtime view of an image config. `passwd`/`group` are the
/// image's /etc/passwd and /etc/group (see `Store::read_image_file`).
pub fn convert(
    cfg: &ImageConfig,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<RuntimeConfig, ConfigError> {
    let c = cfg.config.clone().unwrap_or_default();
    let mut args = c.entrypoint.clone().unwrap_or_default();
    args.extend(c.cmd.clone().unwrap_or_default());
    let mut env = c.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    let cwd = c
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let (uid, gid, additional_gids) = resolve_user(c.user.as_deref().unwrap_or(""), passwd, group)?;
    let mut ann = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            ann.insert(format!("org.opencontainers.image.{k}"), v);
        }
    };
    put("os", Some(cfg.os.clone()).filter(|s| !s.is_empty()));
    put(
        "architecture",
        Some(cfg.architecture.clone()).filter(|s| !s.is_empty()),
    );
    put("variant", cfg.variant.clone());
    put("os.version", cfg.os_version.clone());
    put("os.features", cfg.os_features.as_ref().map(|f| f.join(",")));
    put("author", cfg.author.clone());
    put("created", cfg.created.clone());
    put("stopSignal", c.stop_signal.clone());
    let exposed: Vec<String> = c
        .exposed_ports
        .as_ref()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    put(
        "exposedPorts",
        (!exposed.is_empty()).then(|| exposed.join(",")),
    );
    // Labels last: they take precedence over the implicit annotations.
    for (k, v) in c.labels.clone().unwrap_or_default() {
        ann.insert(k, v);
    }
    Ok(RuntimeConfig {
        args,
        env,
        cwd,
        uid,
        gid,
        additional_gids,
        volumes: c
            .volumes
            .as_ref()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
        stop_signal: c.stop_signal.clone(),
        exposed_ports: exposed,
        annotations: ann,
    })
}

impl RuntimeConfig {
    /// Writes the command, environment, directory and user into an OCI
    /// process. Volumes and annotations are left to the caller: volumes need
    /// host-side storage, annotations meet the labels.
    pub fn apply(&self, p: &mut Process) -> Result<(), ConfigError> {
        if self.args.is_empty() {
            return Err(ConfigError::NoCommand);
        }
        p.set_args(Some(self.args.clone()));
        p.set_env(Some(self.env.clone()));
        p.set_cwd(self.cwd.clone().into());
        let mut user = p.user().clone();
        user.set_uid(self.uid);
        user.set_gid(self.gid);
        if !self.additional_gids.is_empty() {
            user.set_additional_gids(Some(self.additional_gids.clone()));
        }
        p.set_user(user);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::types::ContainerConfig;

    const PASSWD: &str = "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home:/bin/sh\n";
    const GROUP: &str = "root:x:0:\napp:x:1001:\nwheel:x:10:app,other\nstaff:x:50:\n";

    #[test]
    fn users() {
        assert_eq!(
            resolve_user("app", Some(PASSWD), Some(GROUP)).unwrap(),
            (1000, 1001, vec![10])
        );
        assert_eq!(
            resolve_user("app:staff", Some(PASSWD), Some(GROUP)).unwrap(),
            (1000, 50, vec![])
        );
        assert_eq!(
            resolve_user("1234:5", None, None).unwrap(),
            (1234, 5, vec![])
        );
        assert_eq!(resolve_user("", None, None).unwrap(), (0, 0, vec![]));
        assert!(matches!(
            resolve_user("ghost", Some(PASSWD), None),
            Err(ConfigError::NoSuchUser(_))
        ));
        assert!(matches!(
            resolve_user("app:ghosts", Some(PASSWD), Some(GROUP)),
            Err(ConfigError::NoSuchGroup(_))
        ));
    }

    #[test]
    fn conversion() {
        let cfg = ImageConfig {
            os: "linux".into(),
            architecture: "amd64".into(),
            config: Some(ContainerConfig {
                entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
                cmd: Some(vec!["echo hi".into()]),
                env: Some(vec!["A=1".into()]),
                working_dir: Some("/srv".into()),
                user: Some("app".into()),
                stop_signal: Some("SIGINT".into()),
                exposed_ports: Some([("80/tcp".to_string(), serde_json::json!({}))].into()),
                labels: Some(
                    [(
                        "org.opencontainers.image.os".to_string(),
                        "mine".to_string(),
                    )]
                    .into(),
                ),
                volumes: Some([("/data".to_string(), serde_json::json!({}))].into()),
                healthcheck: None,
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = convert(&cfg, Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!(r.args, ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(r.env, [DEFAULT_PATH, "A=1"]);
        assert_eq!((r.cwd.as_str(), r.uid, r.gid), ("/srv", 1000, 1001));
        assert_eq!(r.annotations["org.opencontainers.image.os"], "mine");
        assert_eq!(
            r.annotations["org.opencontainers.image.exposedPorts"],
            "80/tcp"
        );
        assert_eq!(
            r.annotations["org.opencontainers.image.stopSignal"],
            "SIGINT"
        );
        assert_eq!(r.volumes, ["/data"]);
        let mut p = oci_spec::runtime::Process::default();
        r.apply(&mut p).unwrap();
        assert_eq!(p.user().uid(), 1000);
        assert_eq!(p.args().as_ref().unwrap()[2], "echo hi");
    }
}
