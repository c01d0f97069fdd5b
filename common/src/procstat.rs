//! /proc/PID/stat, parsed once. Fields are named, never indexed by callers:
//! the command name (field 2) may hold spaces and parentheses, so the rest
//! is read after its last `)`, and proc(5)'s 1-based numbers appear only
//! here.

/// The fields of /proc/PID/stat that berth looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Field 3: R, S, D, Z, T...
    pub state: char,
    /// Field 4.
    pub ppid: i32,
    /// Fields 14 and 15, in clock ticks.
    pub utime: u64,
    pub stime: u64,
    /// Field 22, clock ticks since boot: with the pid, names one process
    /// for good (a reused pid has another start time).
    pub start_time: u64,
}

impl Stat {
    pub fn read(pid: i32) -> Option<Stat> {
        Stat::parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    pub fn parse(line: &str) -> Option<Stat> {
        let rest = &line[line.rfind(')')? + 1..];
        // f[0] is field 3.
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| f.get(n - 3).copied();
        Some(Stat {
            state: field(3)?.chars().next()?,
            ppid: field(4)?.parse().ok()?,
            utime: field(14)?.parse().ok()?,
            stime: field(15)?.parse().ok()?,
            start_time: field(22)?.parse().ok()?,
        })
    }

    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_with_spaces_and_parens() {
        let l = "42 (a) b (c)) S 7 42 42 0 -1 4194560 100 0 0 0 11 22 0 0 20 0 1 0 12345 1000 10";
        let s = Stat::parse(l).unwrap();
        assert_eq!((s.state, s.ppid, s.utime, s.stime), ('S', 7, 11, 22));
        assert_eq!(s.start_time, 12345);
        assert!(!s.is_zombie());
        assert!(Stat::parse("1 (x) Z 0").is_none());
    }

    #[test]
    fn ourselves() {
        let me = Stat::read(std::process::id() as i32).unwrap();
        assert_eq!(me.ppid, std::os::unix::process::parent_id() as i32);
        assert!(me.start_time > 0 && !me.is_zombie());
    }
}
