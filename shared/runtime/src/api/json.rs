//! A JSON body extractor whose rejections are problem+json validation errors naming the
//! offending field (axum's own answers in plain text).
//!
//! Text the database cannot hold never gets past it: a string holding the NUL character
//! (Postgres refuses `\0` in text) is a 422 naming the field, before any handler runs.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::problem::{ApiProblem, Code};

/// A JSON request body of type `T`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiProblem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiProblem::new(Code::PayloadTooLarge, e.body_text())
            } else {
                ApiProblem::validation("body", format!("cannot read the body: {}", e.body_text()))
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses `bytes` as `T`, naming the field at fault.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiProblem> {
    if let Some(field) = nul_field(bytes) {
        return Err(ApiProblem::validation(
            field,
            "must not contain the NUL character (U+0000)",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiProblem::validation(field, without_position(&e.inner().to_string()))
    })
}

/// serde_json's message without its " at line 1 column 56" tail: the problem names the
/// field, which says more to a client than a position in a one-line body.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => message[..i].to_owned(),
        _ => message.to_owned(),
    }
}

/// The path of the first string (or key) holding NUL, if any. JSON can carry NUL only as
/// the escape `\u0000`, so bodies without it are not walked.
fn nul_field(bytes: &[u8]) -> Option<String> {
    const ESCAPE: &[u8] = b"\\u0000";
    if !bytes.windows(ESCAPE.len()).any(|w| w == ESCAPE) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    find_nul(&value, "")
}

fn find_nul(value: &serde_json::Value, path: &str) -> Option<String> {
    let here = || {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        serde_json::Value::String(s) if s.contains('\0') => Some(here()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find_nul(item, &format!("{path}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                Some(child)
            } else {
                find_nul(item, &child)
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code)]
    struct Body {
        title: String,
        services: Vec<Service>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code)]
    struct Service {
        name: String,
    }

    #[test]
    fn a_nul_anywhere_in_a_string_is_refused_naming_the_field() {
        let cases = [
            (r#"{"title":"a\u0000b","services":[]}"#, "title"),
            (
                r#"{"title":"ok","services":[{"name":"x"},{"name":"\u0000"}]}"#,
                "services[1].name",
            ),
            (
                r#"{"title":"ok","services":[],"extra":{"k\u0000":1}}"#,
                "extra.k\0",
            ),
            (r#""\u0000""#, "body"),
        ];
        for (body, field) in cases {
            let problem = parse::<serde_json::Value>(body.as_bytes()).expect_err(body);
            assert_eq!(problem.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(problem.problem.field.as_deref(), Some(field), "{body}");
        }
        let typed = parse::<Body>(br#"{"title":"a\u0000","services":[]}"#).expect_err("refused");
        assert_eq!(typed.problem.field.as_deref(), Some("title"));
    }

    #[test]
    fn a_type_error_names_the_field_without_a_position() {
        let problem = parse::<Body>(br#"{"title":5,"services":[]}"#).expect_err("refused");
        assert_eq!(problem.problem.field.as_deref(), Some("title"));
        assert!(
            !problem.problem.detail.contains(" at line "),
            "{}",
            problem.problem.detail
        );
        assert!(
            problem.problem.detail.contains("expected a string"),
            "{}",
            problem.problem.detail
        );
    }

    #[test]
    fn an_escaped_backslash_before_u0000_is_ordinary_text() {
        let body: Body = parse(br#"{"title":"C:\\u0000","services":[]}"#).expect("accepted");
        assert_eq!(body.title, "C:\\u0000");
    }
}
