//! `text/csv` of the analytics values (RFC 4180), made from their JSON form so CSV and
//! JSON always carry the same numbers:
//!
//! - a grouping ([`grouped`]) is one line per row, columns the row's JSON paths
//!   (`period.label`, `severity`, `measures.mttr.median_seconds`, ...);
//! - the summary ([`summary`]) is `measure,value` lines, one per JSON path
//!   (`by_service.0.service`, ...).
//!
//! `null` is an empty cell. Text that a spreadsheet would run as a formula (starting
//! with `=`, `+`, `-`, `@`, tab or carriage return) is prefixed with `'`.

use serde::Serialize;
use serde_json::Value;

use super::{Grouped, Summary};

/// The JSON leaves of `value` with their dotted paths, in document order (arrays by
/// index).
pub fn flatten(value: &Value) -> Vec<(String, Value)> {
    fn go(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
        let join = |k: &str| {
            if prefix.is_empty() {
                k.to_owned()
            } else {
                format!("{prefix}.{k}")
            }
        };
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    go(&join(k), v, out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, v) in items.iter().enumerate() {
                    go(&join(&i.to_string()), v, out);
                }
            }
            Value::Object(_) | Value::Array(_) => out.push((prefix.to_owned(), Value::Null)),
            leaf => out.push((prefix.to_owned(), leaf.clone())),
        }
    }
    let mut out = Vec::new();
    go("", value, &mut out);
    out
}

/// One CSV cell.
pub fn cell(value: &Value) -> String {
    let text = match value {
        Value::Null => return String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{s}")
            } else {
                s.clone()
            }
        }
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn line(cells: impl IntoIterator<Item = String>) -> String {
    let mut line = cells.into_iter().collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

fn json<T: Serialize>(value: &T) -> Value {
    // The analytics types are plain data: serialising them cannot fail.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A grouping as a table: a header of the rows' paths, one line per row.
pub fn grouped(grouped: &Grouped) -> String {
    let rows: Vec<Vec<(String, Value)>> = grouped.rows.iter().map(|r| flatten(&json(r))).collect();
    let mut columns: Vec<String> = Vec::new();
    for row in &rows {
        for (path, _) in row {
            if !columns.contains(path) {
                columns.push(path.clone());
            }
        }
    }
    let mut out = line(columns.iter().map(|c| cell(&Value::String(c.clone()))));
    for row in rows {
        out.push_str(&line(columns.iter().map(|c| {
            row.iter()
                .find(|(path, _)| path == c)
                .map(|(_, v)| cell(v))
                .unwrap_or_default()
        })));
    }
    out
}

/// The summary as `measure,value` lines.
pub fn summary(summary: &Summary) -> String {
    let mut out = line(["measure".to_owned(), "value".to_owned()]);
    for (path, value) in flatten(&json(summary)) {
        out.push_str(&line([cell(&Value::String(path)), cell(&value)]));
    }
    out
}
