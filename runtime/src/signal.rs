//! Signal names and numbers as `kill` accepts them: `TERM`, `SIGTERM`, `15`.

#[derive(Debug, thiserror::Error)]
#[error("invalid signal {0:?}")]
pub struct InvalidSignal(pub String);

/// Parses a signal given by name (with or without `SIG`, any case) or number,
/// including real-time signals by number (`34`..`64`) or as `RTMIN+n`
/// (berth-common's table, which the shim and the manager read too).
pub fn parse(s: &str) -> Result<i32, InvalidSignal> {
    berth_common::signal::parse(s).ok_or_else(|| InvalidSignal(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("TERM").unwrap(), 15);
        assert_eq!(parse("SIGKILL").unwrap(), 9);
        assert_eq!(parse("sigusr1").unwrap(), 10);
        assert_eq!(parse("9").unwrap(), 9);
        assert_eq!(parse("RTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert!(parse("NOPE").is_err());
        assert!(parse("0").is_err());
        assert!(parse("65").is_err());
    }
}
