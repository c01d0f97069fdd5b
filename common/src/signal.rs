//! Signal names as docker and runc take them: a number (`9`), a name with or
//! without `SIG` (`KILL`, `SIGKILL`), in any case, or a real-time signal as
//! `RTMIN`, `RTMIN+N`, `RTMAX` or `RTMAX-N`. The one table of the shim, the
//! runtime and the manager.

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
        "STKFLT" => libc::SIGSTKFLT,
        _ => return realtime(name),
    };
    Some(n)
}

/// `RTMIN`, `RTMIN+N`, `RTMAX`, `RTMAX-N`, within the real-time range.
fn realtime(name: &str) -> Option<i32> {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let offset = |rest: &str, sign: char| -> Option<i32> {
        if rest.is_empty() {
            return Some(0);
        }
        let n: i32 = rest.strip_prefix(sign)?.parse().ok()?;
        (n >= 0).then_some(n)
    };
    let n = if let Some(rest) = name.strip_prefix("RTMIN") {
        min + offset(rest, '+')?
    } else {
        max - offset(name.strip_prefix("RTMAX")?, '-')?
    };
    (min..=max).contains(&n).then_some(n)
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
        assert_eq!(parse("SIGRTMIN"), Some(libc::SIGRTMIN()));
        assert_eq!(parse("rtmax-2"), Some(libc::SIGRTMAX() - 2));
        assert_eq!(parse("RTMAX"), Some(libc::SIGRTMAX()));
        assert_eq!(parse("STKFLT"), Some(libc::SIGSTKFLT));
        for s in ["RTMIN+99", "RTMAX-99", "RTMIN-1", "RTMAX+1", "RTMIN+x"] {
            assert_eq!(parse(s), None, "{s}");
        }
        for s in ["0", "65", "-1", "NOPE", "SIG", ""] {
            assert_eq!(parse(s), None, "{s}");
        }
    }
}
