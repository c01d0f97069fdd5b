use super::Global;
use berth_runtime::{container, state};

#[derive(clap::Args)]
pub struct Args {
    /// Only print ids
    #[arg(short, long)]
    pub quiet: bool,
    /// table or json
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let mut rows = Vec::new();
    for id in state::list_ids(&g.root)? {
        // A container deleted while we list is simply not listed.
        if let Ok((st, status)) = container::peek(&g.root, &id) {
            rows.push((st, status));
        }
    }
    let mut owners = Owners::default();
    if a.quiet {
        for (st, _) in &rows {
            println!("{}", st.id);
        }
    } else if a.format == "json" {
        let v: Vec<_> = rows
            .iter()
            .map(|(st, status)| {
                serde_json::json!({
                    "ociVersion": state::OCI_VERSION, "id": st.id, "pid": if *status == state::Status::Stopped { 0 } else { st.pid },
                    "status": status.to_string(), "bundle": st.bundle, "rootfs": st.bundle.join("rootfs"),
                    "created": st.created, "annotations": st.annotations, "owner": owners.name(st.owner),
                })
            })
            .collect();
        println!("{}", serde_json::to_string(&v)?);
    } else {
        let w = rows
            .iter()
            .map(|(s, _)| s.id.len())
            .max()
            .unwrap_or(2)
            .max(2);
        println!(
            "{:<w$}   {:<8} {:<10} {:<40} {:<32} OWNER",
            "ID", "PID", "STATUS", "BUNDLE", "CREATED"
        );
        for (st, status) in &rows {
            let pid = if *status == state::Status::Stopped {
                0
            } else {
                st.pid
            };
            println!(
                "{:<w$}   {:<8} {:<10} {:<40} {:<32} {}",
                st.id,
                pid,
                status.to_string(),
                st.bundle.display(),
                st.created,
                owners.name(st.owner)
            );
        }
    }
    Ok(0)
}

/// User names by uid, looked up once each: every lookup reads /etc/passwd.
#[derive(Default)]
struct Owners(std::collections::HashMap<u32, String>);

impl Owners {
    fn name(&mut self, uid: u32) -> String {
        self.0
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(uid.into())
                    .ok()
                    .flatten()
                    .map(|u| u.name)
                    .unwrap_or_else(|| format!("#{uid}"))
            })
            .clone()
    }
}
