//! What the verbs print with: docker's tables, sizes and durations.

pub use berth::container::store::dir_size;
use berth::format::TabWriter;

/// A list table (ps, images, stats...): docker's padding of 3.
pub fn print_table(rows: &[Vec<String>]) {
    print!("{}", TabWriter::LIST.layout(rows));
}

/// docker's sizes (go-units): 1000-based with 3 significant digits for
/// images, history and `ps -s` (`2.13MB`), 1024-based with 4 for stats
/// (`688KiB`); trailing zeros dropped.
pub fn size(b: u64, binary: bool) -> String {
    if binary {
        human(b, 1024.0, ["B", "KiB", "MiB", "GiB", "TiB"], 4)
    } else {
        human(b, 1000.0, DECIMAL, 3)
    }
}

/// go-units' HumanSize, which `system df` prints: 1000-based with 4
/// significant digits (`2.135MB`).
pub fn size4(b: u64) -> String {
    human(b, 1000.0, DECIMAL, 4)
}

const DECIMAL: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];

fn human(b: u64, base: f64, units: [&str; 5], sig: usize) -> String {
    let mut v = b as f64;
    let mut i = 0;
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    let int_digits = (v.max(1.0).log10().floor() as usize) + 1;
    let s = format!("{:.*}", sig.saturating_sub(int_digits), v);
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", units[i])
}

#[cfg(test)]
mod tests {
    use super::{size, size4};

    #[test]
    fn sizes_read_like_docker() {
        assert_eq!(size(0, false), "0B");
        assert_eq!(size(2_134_567, false), "2.13MB");
        assert_eq!(size(123_456_789, false), "123MB");
        assert_eq!(size(300_000, false), "300kB");
        assert_eq!(size4(2_134_567), "2.135MB");
        assert_eq!(size4(123_456_789), "123.5MB");
        assert_eq!(size(704_512, true), "688KiB");
        assert_eq!(size(1_610_612_736, true), "1.5GiB");
    }
}
