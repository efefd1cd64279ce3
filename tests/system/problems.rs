//! Every error is `application/problem+json`, the framework's own included: malformed
//! query strings and paths, oversized bodies, unknown routes and methods, NUL characters,
//! on every route of every service the stack hosts. None answers 500.

use incident_system_tests::{Reply, TestStack};
use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;

const TOKEN: &str = "problems-bootstrap-token-0123";

fn assert_problem(reply: &Reply, what: &str) {
    assert!(
        reply.status < 500 && reply.content_type == "application/problem+json",
        "{what}: {} {} {}",
        reply.status,
        reply.content_type,
        reply.text
    );
    reply.assert_any_problem();
}

/// Every (method, path template) the services' OpenAPI documents describe.
async fn documented_routes(stack: &TestStack) -> Vec<(Method, String)> {
    let mut routes = Vec::new();
    for doc in [
        "/api/v1/core/openapi.json",
        "/api/v1/ingestion/openapi.json",
        "/api/v1/postmortem/openapi.json",
        "/api/v1/drills/openapi.json",
    ] {
        let reply = stack.call(Method::GET, doc, Some(TOKEN), None).await;
        assert_eq!(reply.status, 200, "{doc}");
        let doc = reply.json();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                if let Ok(m) = method.to_uppercase().parse::<Method>() {
                    routes.push((m, path.clone()));
                }
            }
        }
    }
    assert!(
        routes.len() > 30,
        "the documents describe the API: {}",
        routes.len()
    );
    routes
}

/// The template with every `{param}` replaced by `with`.
fn fill(template: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |e| start + e + 1);
        out.push_str(with);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[sqlx::test(migrations = false)]
async fn every_route_answers_malformed_requests_with_problem_json(pool: PgPool) {
    let stack = TestStack::spawn_with(&pool, &[("bootstrap_token", TOKEN)]).await;
    let declared = stack
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(TOKEN),
            Some(br#"{"title":"Checkout is down","severity":"SEV2"}"#.to_vec()),
        )
        .await;
    assert_eq!(declared.status, 201, "{}", declared.text);

    for (method, template) in documented_routes(&stack).await {
        // A path parameter of invalid UTF-8.
        if template.contains('{') {
            let path = fill(&template, "%FF%FE");
            let reply = stack.call(method.clone(), &path, Some(TOKEN), None).await;
            assert_problem(&reply, &format!("{method} {path}"));
        }
        // A malformed query string.
        let path = format!(
            "{}?limit=abc&cursor=%00&status=NOPE",
            fill(&template, "INC-1")
        );
        let reply = stack.call(method.clone(), &path, Some(TOKEN), None).await;
        assert!(
            reply.status < 500,
            "{method} {path}: {} {}",
            reply.status,
            reply.text
        );
        if reply.status >= 400 {
            assert_problem(&reply, &format!("{method} {path}"));
        }
        // An oversized body, and a NUL in a JSON body, where a body is taken.
        if [Method::POST, Method::PUT, Method::PATCH].contains(&method) {
            let path = fill(&template, "INC-1");
            let huge = format!(r#"{{"title":"{}"}}"#, "x".repeat(1024 * 1024)).into_bytes();
            let reply = stack
                .call(method.clone(), &path, Some(TOKEN), Some(huge))
                .await;
            assert!(
                reply.status < 500,
                "{method} {path} (1 MB): {}",
                reply.status
            );
            if reply.status >= 400 {
                assert_problem(&reply, &format!("{method} {path} (1 MB)"));
            }
            let nul =
                br#"{"title":"a\u0000b","name":"a\u0000b","message":"a\u0000b","kind":"generic"}"#;
            let reply = stack
                .call(method.clone(), &path, Some(TOKEN), Some(nul.to_vec()))
                .await;
            assert!(
                reply.status < 500,
                "{method} {path} (NUL): {} {}",
                reply.status,
                reply.text
            );
            if reply.status >= 400 {
                assert_problem(&reply, &format!("{method} {path} (NUL)"));
            }
        }
    }

    // Unknown routes and wrong methods.
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::GET, "/api/v1/nope"),
        (Method::DELETE, "/api/v1/incidents"),
        (Method::PATCH, "/api/v1/openapi.json"),
        (Method::DELETE, "/api/v1/warroom/settings"),
        (Method::GET, "/slack/interactions"),
    ] {
        let reply = stack.call(method.clone(), path, Some(TOKEN), None).await;
        assert_problem(&reply, &format!("{method} {path}"));
    }
    let reply = stack
        .call(Method::DELETE, "/api/v1/incidents", Some(TOKEN), None)
        .await;
    assert_eq!(reply.status, 405);

    // The specific answers the hardening promises.
    let reply = stack
        .call(
            Method::GET,
            "/api/v1/incidents?limit=abc",
            Some(TOKEN),
            None,
        )
        .await;
    assert_problem(&reply, "limit=abc");
    let reply = stack
        .call(Method::GET, "/api/v1/incidents?q=%00", Some(TOKEN), None)
        .await;
    assert!(reply.status < 500, "q=%00: {} {}", reply.status, reply.text);
    let reply = stack
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(TOKEN),
            Some(br#"{"title":"a\u0000b","severity":"SEV2"}"#.to_vec()),
        )
        .await;
    assert_problem(&reply, "NUL in a title");
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["field"], Value::from("title"));
    let huge = format!(r#"{{"note":"{}"}}"#, "x".repeat(1024 * 1024)).into_bytes();
    let reply = stack
        .call(
            Method::POST,
            "/api/v1/incidents/INC-1/postmortem",
            Some(TOKEN),
            Some(huge),
        )
        .await;
    assert_problem(&reply, "1 MB to the postmortem request");
    assert_eq!(reply.status, 413);

    stack.stop().await.expect("clean shutdown");
}
