//! The OpenAPI documents: what every service's document gets before it is served
//! ([`finish`]), and the one document of the whole API merged from the parts ([`merge`]).
//!
//! Each service generates its part with utoipa from its handlers. [`finish`] gives every
//! response a description (the OpenAPI schema requires one; a handler's own wins) and
//! declares error bodies as `application/problem+json`, the media type
//! [`super::problem`] serves them with. [`merge`] refuses two parts that disagree: the
//! same path and method twice, a repeated `operationId`, or one schema name meaning two
//! things, so a client generated from the whole document is the client of every part.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::{Info, OpenApi, RefOr};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The operations of a path item, with their method names.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("options", item.options.as_mut()),
        ("head", item.head.as_mut()),
        ("patch", item.patch.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
}

/// What a response without a description of its own means, by status.
fn default_description(status: &str) -> String {
    match status {
        "200" => "OK".into(),
        "201" => "Created".into(),
        "202" => "Accepted".into(),
        "204" => "Done; no body".into(),
        "400" => "The request is malformed".into(),
        "401" => "Missing or invalid credentials".into(),
        "403" => "The caller's role does not allow this".into(),
        "404" => "Not found, or not visible to the caller".into(),
        "409" => "Conflicts with the current state".into(),
        "413" => "The body is over the limit".into(),
        "415" => "The body's media type is not accepted".into(),
        "422" => "Invalid input; the problem names the field".into(),
        "503" => "A dependency is unavailable; try again".into(),
        other => other
            .parse::<u16>()
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Response")
            .to_owned(),
    }
}

/// Describes every response and declares error bodies (4xx, 5xx) as
/// `application/problem+json`. Every service calls it on its document.
pub fn finish(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            for (status, response) in op.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                if response.description.trim().is_empty() {
                    response.description = default_description(status);
                }
                let is_error = status.starts_with('4') || status.starts_with('5');
                if is_error && let Some(content) = response.content.shift_remove("application/json")
                {
                    response.content.insert(PROBLEM_JSON.to_owned(), content);
                }
            }
        }
    }
}

/// Merges the parts into one document with `info`: paths, component schemas and security
/// schemes, tags. Errors name every disagreement between parts.
pub fn merge(info: Info, parts: Vec<OpenApi>) -> Result<OpenApi, Vec<String>> {
    let mut whole = OpenApi::new(info, utoipa::openapi::Paths::new());
    let mut problems = Vec::new();
    let mut operation_ids: BTreeMap<String, String> = BTreeMap::new();
    let mut security = Vec::new();
    let mut tags = Vec::new();
    for part in parts {
        let title = part.info.title.clone();
        for (path, mut item) in part.paths.paths {
            for (method, op) in operations_mut(&mut item) {
                if let Some(id) = &op.operation_id
                    && let Some(earlier) = operation_ids.insert(
                        id.clone(),
                        format!("{} {path} ({title})", method.to_uppercase()),
                    )
                {
                    problems.push(format!(
                        "operationId `{id}` of {} {path} ({title}) is also {earlier}",
                        method.to_uppercase()
                    ));
                }
            }
            match whole.paths.paths.get_mut(&path) {
                None => {
                    whole.paths.paths.insert(path, item);
                }
                Some(existing) => {
                    let mut existing_methods: Vec<&str> =
                        operations_mut(existing).map(|(m, _)| m).collect();
                    existing_methods.sort_unstable();
                    for (method, _) in operations_mut(&mut item) {
                        if existing_methods.binary_search(&method).is_ok() {
                            problems.push(format!(
                                "{} {path} is described by two parts ({title})",
                                method.to_uppercase()
                            ));
                        }
                    }
                    existing.merge_operations(item);
                }
            }
        }
        if let Some(components) = part.components {
            let target = whole.components.get_or_insert_with(Default::default);
            for (name, schema) in components.schemas {
                match target.schemas.get(&name) {
                    Some(existing) if *existing != schema => problems.push(format!(
                        "schema `{name}` of {title} differs from another part's: rename one"
                    )),
                    Some(_) => {}
                    None => {
                        target.schemas.insert(name, schema);
                    }
                }
            }
            for (name, scheme) in components.security_schemes {
                match target.security_schemes.get(&name) {
                    Some(existing) if *existing != scheme => problems.push(format!(
                        "security scheme `{name}` of {title} differs from another part's"
                    )),
                    Some(_) => {}
                    None => {
                        target.security_schemes.insert(name, scheme);
                    }
                }
            }
        }
        for requirement in part.security.into_iter().flatten() {
            if !security.contains(&requirement) {
                security.push(requirement);
            }
        }
        for tag in part.tags.into_iter().flatten() {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
    }
    whole.security = (!security.is_empty()).then_some(security);
    whole.tags = (!tags.is_empty()).then_some(tags);
    if problems.is_empty() {
        Ok(whole)
    } else {
        Err(problems)
    }
}

/// The bearer-token security scheme, named `bearer`, that an API document's
/// `security(("bearer" = []))` refers to: `#[openapi(modifiers(&BearerAuth), ...)]`.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `api` with its own OpenAPI document served at `path` and request bodies limited to
/// `body_limit` bytes: what each service's `router()` adds to its routes.
pub fn serve_document<S>(
    api: axum::Router<S>,
    path: &str,
    doc: OpenApi,
    body_limit: usize,
) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let doc = std::sync::Arc::new(doc);
    api.route(
        path,
        axum::routing::get(move || async move { axum::Json(doc.as_ref().clone()) }),
    )
    .layer(axum::extract::DefaultBodyLimit::max(body_limit))
}
