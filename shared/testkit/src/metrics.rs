//! `/metrics` as Prometheus reads it: the exposition parsed with a Prometheus text parser
//! (`prometheus-parse`), each sample's family found, and every family required to carry
//! `# HELP` and the `incident_` prefix.

use prometheus_parse::{LineInfo, Sample, Scrape, Value};

/// A parsed `/metrics` exposition.
pub struct Exposition {
    /// What the parser read.
    pub scrape: Scrape,
}

impl Exposition {
    /// Parses `text`; panics if the parser refuses it, or would silently skip a line
    /// (it ignores what it cannot read: every sample, `# HELP` and `# TYPE` line must be
    /// one it reads, or the checks below would pass on half an exposition).
    pub fn parse(text: &str) -> Self {
        for line in text.lines() {
            let read = match LineInfo::parse(line) {
                LineInfo::Empty => true,
                LineInfo::Doc { .. } | LineInfo::Type { .. } => true,
                LineInfo::Sample { labels, .. } => labels.is_none_or(|l| {
                    // Every `name="value"` pair, and nothing the label parser would split.
                    l.split(',').all(|pair| pair.split('=').count() == 2)
                }),
                LineInfo::Ignored => {
                    !line.starts_with("# HELP")
                        && !line.starts_with("# TYPE")
                        && line.starts_with('#')
                }
            };
            assert!(read, "the parser cannot read this line: {line}");
        }
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = Scrape::parse(lines).expect("the exposition parses");
        Self { scrape }
    }

    /// The family a sample belongs to: its own name, or a histogram's or summary's with
    /// the `_sum` / `_count` suffix taken off.
    pub fn family_of<'a>(&self, sample: &'a Sample) -> &'a str {
        let name = sample.metric.as_str();
        if self.scrape.docs.contains_key(name) {
            return name;
        }
        ["_sum", "_count", "_bucket"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| self.scrape.docs.contains_key(*base))
            })
            .unwrap_or(name)
    }

    /// Every family with at least one sample, sorted.
    pub fn families(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .scrape
            .samples
            .iter()
            .map(|s| self.family_of(s))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Panics unless every family has a non-empty `# HELP` and starts with `incident_`.
    pub fn assert_described(&self) {
        let families = self.families();
        assert!(!families.is_empty(), "no samples at all");
        for family in families {
            let help = self.scrape.docs.get(family).map(|h| h.trim());
            assert!(
                help.is_some_and(|h| !h.is_empty()),
                "{family} has no # HELP"
            );
            assert!(
                family.starts_with("incident_"),
                "{family} lacks the incident_ prefix"
            );
        }
    }

    /// The samples of `family` whose labels include every pair of `labels`.
    pub fn samples(&self, family: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.scrape
            .samples
            .iter()
            .filter(|s| s.metric == family)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .collect()
    }

    /// The value of a counter or gauge sample of `family` with `labels` (summed over the
    /// samples that match), `None` when none does.
    pub fn value(&self, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let samples = self.samples(family, labels);
        (!samples.is_empty()).then(|| {
            samples
                .iter()
                .map(|s| match s.value {
                    Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                    Value::Histogram(_) | Value::Summary(_) => f64::NAN,
                })
                .sum()
        })
    }

    /// How many observations a histogram of `family` with `labels` holds.
    pub fn observations(&self, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.value(&format!("{family}_count"), labels)
    }
}
