//! The Markdown export: a snapshot of the built-in template's output, and workspace
//! templates (used when saved, refused with their line number when broken).

use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{ADMIN, TestApp, fixture};
use incident_schema::Visibility;

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn the_markdown_export_matches_its_snapshot(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let f = fixture(&app.pool, app.workspace_id, Visibility::Public).await;
    let pm = app.draft(&f.incident_id.to_string()).await;
    let id = pm["id"].as_str().expect("id");
    let (code, _) = app
        .post(
            ADMIN,
            &format!("/api/v1/postmortems/{id}/action-items"),
            json!({
                "description": "Alert 30 days before a certificate expires",
                "assignee_id": f.author_id, "due_date": "2099-01-31", "priority": "P1",
                "external_url": "https://acme.atlassian.net/browse/OPS-42"
            }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, item) = app
        .post(
            ADMIN,
            &format!("/api/v1/postmortems/{id}/action-items"),
            json!({ "description": "Move | the gateway\nto managed certificates" }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, _) = app
        .patch(
            ADMIN,
            &format!("/api/v1/action-items/{}", item["id"].as_str().expect("id")),
            json!({ "status": "WONT_DO", "wont_do_reason": "Not before the migration" }),
        )
        .await;
    assert_eq!(code, StatusCode::OK);

    let (code, template, markdown) = app.markdown(ADMIN, id).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(template, "default");
    insta::assert_snapshot!("markdown_export", markdown);

    // A viewer exports too; another workspace cannot.
    let viewer = app.token(ADMIN, "viewer", None).await;
    let (code, _, same) = app.markdown(&viewer, id).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(same, markdown);
    let (code, _, _) = app.markdown(ADMIN, "not-an-id").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn a_workspace_template_is_used_and_a_broken_one_is_refused_with_its_line(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let incident = app.resolved_incident("Webhooks delayed").await;
    let pm = app.draft(&incident).await;
    let id = pm["id"].as_str().expect("id");
    let put = |template: String| {
        let app = &app;
        async move {
            app.call(
                ADMIN,
                Method::PUT,
                "/api/v1/postmortem/template",
                Some(json!({ "template": template })),
            )
            .await
        }
    };

    let (code, problem) = put("# {{ incident.reference }}\n\n{% if postmortem.summary %}\n{{ postmortem.summary }\n{% endif %}\n".into()).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "https://incident.dev/problems/template");
    assert_eq!(problem["field"], "template");
    assert_eq!(problem["line"], 4, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("line 4"),
        "{problem}"
    );
    let (code, problem) = put("# {{ incident.reference }}\n{{ incident.titel }}\n".into()).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["line"], 2, "a misspelt name is caught when saved");
    let (code, problem) = put("{{ postmortem.summary | no_such_filter }}".into()).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["line"], 1);
    let (_, current) = app.get(ADMIN, "/api/v1/postmortem/template").await;
    assert_eq!(current["is_default"], true, "nothing broken was saved");

    let responder = app.token(ADMIN, "responder", None).await;
    let (code, _) = app
        .call(
            &responder,
            Method::PUT,
            "/api/v1/postmortem/template",
            Some(json!({ "template": "# {{ incident.title }}" })),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "templates are for admins");

    let (code, saved) = put("# {{ incident.reference }} ({{ postmortem.status | lower }})\n\nResolved in {{ impact.time_to_resolve_secs | duration }}.\n{% for item in action_items %}- [ ] {{ item.description }}\n{% endfor %}".into()).await;
    assert_eq!(code, StatusCode::OK, "{saved}");
    assert_eq!(saved["is_default"], false);
    let (code, template, markdown) = app.markdown(ADMIN, id).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(template, "workspace");
    assert!(
        markdown.starts_with("# INC-1 (draft)\n\nResolved in "),
        "{markdown}"
    );

    let (code, reset) = app
        .call(ADMIN, Method::DELETE, "/api/v1/postmortem/template", None)
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(reset["is_default"], true);
    let (_, template, markdown) = app.markdown(ADMIN, id).await;
    assert_eq!(template, "default");
    assert!(
        markdown.starts_with("# INC-1: Webhooks delayed\n"),
        "{markdown}"
    );
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn raw_html_in_user_text_is_escaped_in_the_markdown_export(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let f = fixture(&app.pool, app.workspace_id, Visibility::Public).await;
    sqlx::query("UPDATE incidents SET title = '<script>alert(1)</script> & co' WHERE id = $1")
        .bind(f.incident_id)
        .execute(&app.pool)
        .await
        .expect("title");
    let pm = app.draft(&f.incident_id.to_string()).await;
    let id = pm["id"].as_str().expect("id");
    let (code, _) = app
        .patch(
            ADMIN,
            &format!("/api/v1/postmortems/{id}"),
            json!({ "summary": "<img src=x onerror=alert(1)> broke it" }),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = app
        .post(
            ADMIN,
            &format!("/api/v1/postmortems/{id}/action-items"),
            json!({ "description": "<b>bold</b> | <iframe src=//evil>" }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);

    let (code, _, markdown) = app.markdown(ADMIN, id).await;
    assert_eq!(code, StatusCode::OK);
    let heading = markdown.lines().next().unwrap_or_default();
    assert!(
        heading.starts_with("# INC-")
            && heading.ends_with(": &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"),
        "{markdown}"
    );
    assert!(markdown.contains("&lt;img src=x onerror=alert(1)&gt; broke it"));
    assert!(markdown.contains("&lt;b&gt;bold&lt;/b&gt; \\| &lt;iframe src=//evil&gt;"));
    for raw in ["<script", "<img", "<b>", "<iframe"] {
        assert!(!markdown.contains(raw), "{raw} passed through: {markdown}");
    }

    // A workspace template is escaped the same way.
    let (code, _) = app
        .call(
            ADMIN,
            Method::PUT,
            "/api/v1/postmortem/template",
            Some(json!({ "template": "# {{ incident.title }}\n\n{{ postmortem.summary }}\n" })),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, template, markdown) = app.markdown(ADMIN, id).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(template, "workspace");
    assert_eq!(
        markdown,
        "# &lt;script&gt;alert(1)&lt;/script&gt; &amp; co\n\n&lt;img src=x onerror=alert(1)&gt; broke it\n"
    );
}
