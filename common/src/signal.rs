//! Signal names as docker and runc take them: a number (`9`), a name with or
//! without `SIG` (`KILL`, `SIGKILL`), in any case, or `RTMIN+N`.

/// The signal's number, or None for an unknown name or a number outside 1..=64.
pub fn parse(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let u = s.to_ascii_uppercase();
    let name = u.strip_prefix("SIG").unwrap_or(&u);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => {
            let r = name.strip_prefix("RTMIN+")?.parse::<i32>().ok()?;
            return (libc::SIGRTMIN() + r <= libc::SIGRTMAX()).then(|| libc::SIGRTMIN() + r);
        }
    };
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_names_any_case() {
        for s in ["9", "KILL", "SIGKILL", "kill", "sigkill", "SigKill"] {
            assert_eq!(parse(s), Some(libc::SIGKILL), "{s}");
        }
        assert_eq!(parse("term"), Some(libc::SIGTERM));
        assert_eq!(parse("RTMIN+1"), Some(libc::SIGRTMIN() + 1));
        for s in ["0", "65", "-1", "NOPE", "SIG", ""] {
            assert_eq!(parse(s), None, "{s}");
        }
    }
}
