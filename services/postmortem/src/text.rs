//! How postmortems write times and durations, the same way in the drafted sections, the
//! impact assessment and the Markdown export: times in UTC to the minute
//! (`2026-03-01 10:04 UTC`), durations in the two largest units (`1h 05m`, `42m 10s`).

use chrono::{DateTime, Utc};

/// A time as postmortems show it: `2026-03-01 10:04 UTC`.
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A time of day as timelines show it: `10:04:05`.
pub fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S").to_string()
}

/// A duration in seconds in its two largest units: `45s`, `42m 10s`, `1h 05m`, `3d 04h`.
/// Negative durations (clock skew between sources) are written with a minus sign.
pub fn duration(secs: i64) -> String {
    if secs < 0 {
        return format!("-{}", duration(secs.saturating_neg()));
    }
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}d {h:02}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        if s == 0 {
            format!("{m}m")
        } else {
            format!("{m}m {s:02}s")
        }
    } else {
        format!("{s}s")
    }
}

/// Minutes as a duration: `15m`, `4h 00m`.
pub fn minutes(minutes: i32) -> String {
    duration(i64::from(minutes) * 60)
}

/// Text made safe for one cell of a Markdown table: pipes escaped, line breaks as `<br>`
/// (GitHub, Confluence and Notion all accept it inside a cell).
pub fn table_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.trim().lines().peekable();
    while let Some(line) = lines.next() {
        out.push_str(&line.trim_end().replace('|', "\\|"));
        if lines.peek().is_some() {
            out.push_str("<br>");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_their_two_largest_units() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(600), "10m");
        assert_eq!(duration(2530), "42m 10s");
        assert_eq!(duration(3900), "1h 05m");
        assert_eq!(duration(4 * 3600), "4h 00m");
        assert_eq!(duration(3 * 86_400 + 4 * 3600 + 59), "3d 04h");
        assert_eq!(duration(-90), "-1m 30s");
    }

    #[test]
    fn table_cells_escape_pipes_and_keep_line_breaks() {
        assert_eq!(table_cell(" a | b \nnext line\n"), "a \\| b<br>next line");
    }
}
