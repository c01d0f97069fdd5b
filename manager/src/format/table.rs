//! Go's tabwriter as docker sets it up, for every table berth prints.

/// Cells end at tabs (or are given as rows); a column is as wide as its
/// widest cell plus `padding`, and at least `min_width`; the last cell of a
/// row is never padded and trailing spaces are dropped.
#[derive(Debug, Clone, Copy)]
pub struct TabWriter {
    pub min_width: usize,
    pub padding: usize,
}

impl TabWriter {
    /// `--format 'table ...'` (docker's formatter: minwidth 10, padding 3).
    pub const TEMPLATE: TabWriter = TabWriter {
        min_width: 10,
        padding: 3,
    };
    /// The built-in list tables (ps, images, stats...): padding 3.
    pub const LIST: TabWriter = TabWriter {
        min_width: 0,
        padding: 3,
    };

    pub fn layout<S: AsRef<str>>(&self, rows: &[Vec<S>]) -> String {
        let mut widths: Vec<usize> = Vec::new();
        for r in rows {
            for (i, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
                let w = c.as_ref().chars().count();
                if widths.len() <= i {
                    widths.push(0);
                }
                widths[i] = widths[i].max(w);
            }
        }
        let mut out = String::new();
        for r in rows {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                let c = c.as_ref();
                line.push_str(c);
                if i + 1 < r.len() {
                    let w = (widths[i] + self.padding).max(self.min_width);
                    line.push_str(&" ".repeat(w - c.chars().count()));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// `layout` of tab-separated lines.
    pub fn layout_text(&self, text: &str) -> String {
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        self.layout(&rows)
    }
}
