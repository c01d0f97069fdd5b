//! What `ps` and the Engine API's container list both show: docker's
//! status text and its filters.

use super::{Container, State, Status};
use crate::image::time::{now_unix, parse_rfc3339};

/// go-units' HumanDuration, as docker prints "Up 2 hours".
pub fn human_duration(secs: i64) -> String {
    match secs {
        ..=0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{secs} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", secs / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", secs / 3600),
        _ => format!("{} days", secs / 86400),
    }
}

pub fn status_text(c: &Container, st: &State) -> String {
    let now = now_unix();
    match st.status {
        Status::Created => "Created".into(),
        Status::Running => {
            let t = c
                .started_at
                .as_deref()
                .and_then(parse_rfc3339)
                .unwrap_or(now);
            let paused = if st.paused { " (Paused)" } else { "" };
            let health = match st.health.as_deref() {
                Some("starting") => " (health: starting)".to_string(),
                Some(h) => format!(" ({h})"),
                None => String::new(),
            };
            format!("Up {}{paused}{health}", human_duration(now - t))
        }
        Status::Exited => match (
            st.exit_code,
            st.finished_at.as_deref().and_then(parse_rfc3339),
        ) {
            (Some(code), Some(t)) if st.restarting => {
                format!("Restarting ({code}) {} ago", human_duration(now - t))
            }
            (Some(code), Some(t)) => {
                format!("Exited ({code}) {} ago", human_duration(now - t))
            }
            (Some(code), None) => format!("Exited ({code})"),
            (None, _) => "Exited (unknown)".into(),
        },
    }
}

/// docker's container filters; None for a key it does not know.
pub fn matches(c: &Container, st: &State, key: &str, v: &str) -> Option<bool> {
    Some(match key {
        "name" => c.name.contains(v.trim_start_matches('/')),
        "id" => c.id.starts_with(v),
        "status" => st.name() == v,
        "ancestor" => c.image == v || c.image_id.contains(v),
        "label" => match v.split_once('=') {
            Some((lk, lv)) => c.labels.get(lk).is_some_and(|x| x == lv),
            None => c.labels.contains_key(v),
        },
        "exited" => st.exit_code.map(|x| x.to_string()).as_deref() == Some(v),
        "health" => st.health.as_deref().unwrap_or("none") == v,
        _ => return None,
    })
}
