//! Declare rules as people edit them on the integration's page: the JSON list the API
//! takes, typed into a text area. [`parse`] applies the API's own parsing and
//! [`rules::validate`], and says where in the text a refusal points: the field the API
//! names, and the line it is on (the line serde_json stopped at for text that does not
//! parse; for a rule that parses but is refused, the line of the named field, or of the
//! nearest enclosing value when the field is missing).

use crate::error::IngestError;
use crate::integration::rules::{self, DeclareRule};

/// Why the rules' text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    /// The line (1-based) of the text the refusal points at.
    pub line: usize,
    /// The field, as the API names it (`rules[1].severity`).
    pub field: String,
    /// What is wrong, as the API says it.
    pub message: String,
}

impl std::fmt::Display for RulesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.message)
    }
}

/// The rules of `text`, parsed and validated as the API does.
pub fn parse(text: &str) -> Result<Vec<DeclareRule>, RulesError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let rules: Vec<DeclareRule> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "rules".to_owned()
        } else {
            format!("rules{}", path.trim_start_matches('.'))
        };
        refusal(e.inner(), field)
    })?;
    // Trailing text after the list is refused, as the API refuses it in a body.
    de.end().map_err(|e| refusal(&e, "rules".to_owned()))?;
    match rules::validate(&rules) {
        Ok(()) => Ok(rules),
        Err(IngestError::Validation { field, message }) => Err(RulesError {
            line: line_of(text, &field),
            field,
            message,
        }),
        Err(other) => Err(RulesError {
            line: 1,
            field: "rules".to_owned(),
            message: other.to_string(),
        }),
    }
}

fn refusal(e: &serde_json::Error, field: String) -> RulesError {
    RulesError {
        line: e.line().max(1),
        field,
        message: without_position(&e.to_string()),
    }
}

/// The rules as the page shows them for editing: the API's JSON, indented.
pub fn text_of(rules: &[DeclareRule]) -> String {
    serde_json::to_string_pretty(rules).unwrap_or_else(|_| "[]".to_owned())
}

/// serde_json's message without its " at line 1 column 56" tail (the line is said apart).
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => message[..i].to_owned(),
        _ => message.to_owned(),
    }
}

/// The line of the value `field` names (`rules[1].matchers[0].label`) in `text`, which
/// parses as JSON; the nearest enclosing value's when it is absent.
pub fn line_of(text: &str, field: &str) -> usize {
    let mut found = Vec::new();
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        at: 0,
    };
    scanner.value("rules".to_owned(), &mut found);
    let offset = found
        .iter()
        .filter(|(path, _)| {
            field == path
                || field
                    .strip_prefix(path.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
        .max_by_key(|(path, _)| path.len())
        .map_or(0, |(_, offset)| *offset);
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// A walk over JSON text recording where each value starts, by path.
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    /// A string's content, the scanner past its closing quote.
    fn string(&mut self) -> String {
        let start = self.at;
        self.at += 1;
        while let Some(b) = self.peek() {
            match b {
                b'\\' => self.at += 2,
                b'"' => break,
                _ => self.at += 1,
            }
        }
        let end = self.at;
        self.at += 1;
        self.bytes
            .get(start..=end)
            .and_then(|raw| serde_json::from_slice::<String>(raw).ok())
            .unwrap_or_default()
    }

    fn value(&mut self, path: String, found: &mut Vec<(String, usize)>) {
        self.skip_space();
        found.push((path.clone(), self.at));
        match self.peek() {
            Some(b'{') => {
                self.at += 1;
                loop {
                    self.skip_space();
                    match self.peek() {
                        Some(b'"') => {
                            let key = self.string();
                            self.skip_space();
                            if self.peek() == Some(b':') {
                                self.at += 1;
                            }
                            self.value(format!("{path}.{key}"), found);
                            self.skip_space();
                            if self.peek() == Some(b',') {
                                self.at += 1;
                            }
                        }
                        Some(b'}') => {
                            self.at += 1;
                            return;
                        }
                        _ => return,
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut index = 0;
                loop {
                    self.skip_space();
                    match self.peek() {
                        Some(b']') => {
                            self.at += 1;
                            return;
                        }
                        None => return,
                        _ => {
                            self.value(format!("{path}[{index}]"), found);
                            index += 1;
                            self.skip_space();
                            if self.peek() == Some(b',') {
                                self.at += 1;
                            }
                        }
                    }
                }
            }
            Some(b'"') => {
                self.string();
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
                {
                    self.at += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_RULES: &str = r#"[
  {
    "name": "pages",
    "matchers": [ { "label": "severity", "equals": "critical" } ],
    "severity": "SEV1"
  },
  {
    "name": "no severity",
    "matchers": [
      { "label": "team", "equals": "a", "present": true }
    ]
  }
]"#;

    #[test]
    fn valid_rules_parse_as_the_api_parses_them() {
        let rules = parse(&text_of(&rules::default_rules())).expect("parses");
        assert_eq!(rules, rules::default_rules());
    }

    #[test]
    fn text_that_is_not_json_is_refused_at_its_line() {
        let error =
            parse("[\n  { \"name\": \"a\",\n    \"severity\": SEV1 }\n]").expect_err("refused");
        assert_eq!(error.line, 3, "{error}");
        assert!(!error.message.contains(" at line "), "{error}");
    }

    #[test]
    fn a_field_of_the_wrong_shape_is_named_with_its_line() {
        let error = parse("[\n  {\n    \"severity\": \"SEV9\"\n  }\n]").expect_err("refused");
        assert_eq!(error.field, "rules[0].severity");
        assert_eq!(error.line, 3, "{error}");
        let error = parse("[\n  { \"colour\": 1 }\n]").expect_err("refused");
        assert_eq!(error.line, 2, "{error}");
    }

    #[test]
    fn a_refused_rule_points_at_the_named_field_or_the_rule_it_is_missing_from() {
        let error = parse(TWO_RULES).expect_err("refused");
        // The matcher with two tests comes first in the API's checks.
        assert_eq!(error.field, "rules[1].matchers[0]");
        assert_eq!(error.line, 10, "{error}");
        let missing = TWO_RULES.replace(r#", "present": true"#, "");
        let error = parse(&missing).expect_err("refused");
        assert_eq!(error.field, "rules[1].severity");
        assert_eq!(error.line, 7, "{error}");
        assert_eq!(
            error.to_string(),
            "line 7: rules[1].severity: a rule that declares needs a severity (SEV1 to SEV4)"
        );
    }

    #[test]
    fn lines_of_nested_paths_and_escaped_keys() {
        let text = "[\n {\"na\\\"me\": \"x\",\n  \"matchers\": [\n   {\"label\": \"a\"}]}]";
        assert_eq!(line_of(text, "rules[0].matchers[0].label"), 4);
        assert_eq!(line_of(text, "rules[0].matchers"), 3);
        assert_eq!(line_of(text, "rules[3]"), 1);
    }
}
