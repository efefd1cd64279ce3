//! Charts drawn on the server as inline SVG (no script, no library): lines of one value
//! per period for several series, and bars of one share per period. Every text is
//! escaped; a missing value (a week without incidents) breaks its line. The page shows
//! the same numbers as a table beside each chart, for screen readers and for copying.

use std::fmt::Write;

/// Width and height of the drawing, in SVG units (it scales to its box).
const W: f64 = 640.0;
const H: f64 = 220.0;
/// Margins: left for the y labels, bottom for the x labels.
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// Colours of the series, distinguishable in light and dark mode.
const PALETTE: [&str; 6] = [
    "#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b",
];

/// One line: its name and a value per period (none: no value that period).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// One value per period.
    pub values: Vec<Option<f64>>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn x_of(i: usize, n: usize) -> f64 {
    if n <= 1 {
        LEFT + (W - LEFT - RIGHT) / 2.0
    } else {
        LEFT + (W - LEFT - RIGHT) * i as f64 / (n - 1) as f64
    }
}

fn y_of(v: f64, max: f64) -> f64 {
    TOP + (H - TOP - BOTTOM) * (1.0 - v / max)
}

fn frame(out: &mut String, title: &str, labels: &[String], max: f64, unit: &dyn Fn(f64) -> String) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    for step in 0..=4 {
        let v = max * f64::from(step) / 4.0;
        let y = y_of(v, max);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            escape(&unit(v))
        );
    }
    // At most about eight x labels, evenly spaced.
    let n = labels.len();
    let every = n.div_ceil(8).max(1);
    for (i, label) in labels.iter().enumerate() {
        if i % every == 0 {
            let _ = write!(
                out,
                r#"<text class="axis" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                x_of(i, n),
                H - 8.0,
                escape(label)
            );
        }
    }
}

fn nice_max(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if max <= step * magnitude {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

/// Lines of `series` over the periods `labels`; `unit` writes an axis value.
pub fn lines(
    title: &str,
    labels: &[String],
    series: &[Series],
    unit: &dyn Fn(f64) -> String,
) -> String {
    let max = nice_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .fold(0.0, |a: f64, b| a.max(*b)),
    );
    let mut out = String::new();
    frame(&mut out, title, labels, max, unit);
    let n = labels.len();
    for (k, s) in series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        // A run of consecutive values is one polyline; a gap starts another.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let flush = |run: &mut Vec<(f64, f64)>, out: &mut String| {
            if run.len() > 1 {
                let points: Vec<String> =
                    run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let _ = write!(
                    out,
                    r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                    points.join(" ")
                );
            }
            for (x, y) in run.iter() {
                let _ = write!(
                    out,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{colour}"/>"#
                );
            }
            run.clear();
        };
        for (i, v) in s.values.iter().enumerate() {
            match v {
                Some(v) => run.push((x_of(i, n), y_of(*v, max))),
                None => flush(&mut run, &mut out),
            }
        }
        flush(&mut run, &mut out);
    }
    // The legend.
    for (k, s) in series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let x = LEFT + 8.0 + 80.0 * k as f64;
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="{TOP}" width="10" height="10" fill="{colour}"/><text class="legend" x="{:.1}" y="{}">{}</text>"#,
            x + 14.0,
            TOP + 9.0,
            escape(&s.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// One bar per period of `values` (shares, 0 to 1; none: no bar).
pub fn bars(title: &str, labels: &[String], values: &[Option<f64>]) -> String {
    let max = 1.0;
    let mut out = String::new();
    frame(&mut out, title, labels, max, &|v| {
        format!("{:.0}%", v * 100.0)
    });
    let n = labels.len().max(1);
    let slot = (W - LEFT - RIGHT) / n as f64;
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            let v = v.clamp(0.0, 1.0);
            let y = y_of(v, max);
            let _ = write!(
                out,
                r#"<rect class="bar" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {:.0}%</title></rect>"#,
                LEFT + slot * i as f64 + slot * 0.15,
                slot * 0.7,
                (H - BOTTOM - y).max(0.0),
                PALETTE[0],
                escape(labels.get(i).map_or("", String::as_str)),
                v * 100.0
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_breaks_at_a_missing_value_and_text_is_escaped() {
        let labels: Vec<String> = ["W1", "W2", "W3", "W4"].map(String::from).to_vec();
        let svg = lines(
            "MTTR <by> severity",
            &labels,
            &[Series {
                name: "SEV1 & co".into(),
                values: vec![Some(60.0), Some(120.0), None, Some(30.0)],
            }],
            &|v| format!("{v:.0}s"),
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 1, "one run of two points");
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("MTTR &lt;by&gt; severity") && svg.contains("SEV1 &amp; co"));
        assert!(!svg.contains("<by>"));
    }

    #[test]
    fn bars_are_drawn_for_shares_only() {
        let labels: Vec<String> = ["W1", "W2"].map(String::from).to_vec();
        let svg = bars("Breaches", &labels, &[Some(0.5), None]);
        assert_eq!(svg.matches(r#"class="bar""#).count(), 1);
        assert!(svg.contains("W1: 50%"));
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(3600.0), 5000.0);
    }
}
