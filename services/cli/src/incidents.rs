//! The incident commands: declare, list, show, status, ack, assign, update, resolve.
//! Each is one or a few calls of `/api/v1/incidents…`; `--json` prints what the API
//! answered, unchanged.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::Api;
use crate::cli::{Assign, Declare, List, Resolve, StatusChange, Target, Update};
use crate::failure::Failure;
use crate::output::{Output, note};
use crate::reference::IncidentRef;
use crate::render::{self, Entry, Incident, User};

/// How often a declare is sent again after a network failure (with the same key).
const DECLARE_RETRIES: u32 = 2;

/// What an affected service suffers when `--service` names none.
const DEFAULT_IMPACT: &str = "DEGRADED";

fn incident_path(incident: &IncidentRef) -> String {
    format!("/api/v1/incidents/{}", incident.path_segment())
}

/// `declare`: POST with an `Idempotency-Key`, retried with the same key when the
/// network fails, so a declare whose answer was lost creates one incident, not two.
pub async fn declare(api: &Api, args: &Declare) -> Result<Output, Failure> {
    let services: Vec<Value> = args
        .services
        .iter()
        .map(|s| {
            let (name, impact) = s.rsplit_once('=').unwrap_or((s, DEFAULT_IMPACT));
            json!({ "name": name.trim(), "impact": impact.trim().to_uppercase() })
        })
        .collect();
    let mut body = json!({
        "title": args.title,
        "severity": args.severity.trim().to_uppercase(),
        "affected_services": services,
        "is_drill": args.drill,
    });
    if let Some(description) = &args.description {
        body["description"] = json!(description);
    }
    if args.private {
        body["visibility"] = json!("PRIVATE");
    }
    let key = args
        .idempotency_key
        .clone()
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    let header = HeaderValue::from_str(&key)
        .map_err(|_| Failure::Usage("--idempotency-key must be printable ASCII".to_owned()))?;
    let path = "/api/v1/incidents";
    let mut attempt = 0;
    let answer = loop {
        let request = api
            .request(Method::POST, path)
            .header("Idempotency-Key", header.clone())
            .json(&body);
        match api.send(request, path).await {
            Err(Failure::Network { reason, .. }) if attempt < DECLARE_RETRIES => {
                attempt += 1;
                note(&format!(
                    "declare failed ({reason}); retrying with the same Idempotency-Key {key}"
                ));
                tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
            }
            Err(failure @ Failure::Network { .. }) => {
                // The declare may have arrived: say how to retry without a duplicate.
                note(&format!(
                    "the incident may have been declared; retry with --idempotency-key {key}"
                ));
                return Err(failure);
            }
            other => break other?,
        }
    };
    let value = answer.json(&api.url(path))?;
    let incident: Incident = render::parse(&value, "the declared incident")?;
    let url = render::incident_url(api.base(), &incident);
    // A 200 after one of this run's retries is this run's own first declare.
    let verb = if answer.status == reqwest::StatusCode::OK && attempt == 0 {
        "Already declared with this key:"
    } else {
        "Declared"
    };
    Ok(Output::Report {
        human: format!("{verb} {}: {}\n{url}", incident.reference, incident.title),
        json: value,
    })
}

/// `list`: one page of the API's list, filtered there.
pub async fn list(api: &Api, args: &List) -> Result<Output, Failure> {
    let mut query = vec![("limit", args.limit.to_string())];
    let joined = |values: &[String]| {
        values
            .iter()
            .map(|v| v.trim().to_uppercase())
            .collect::<Vec<_>>()
            .join(",")
    };
    if !args.status.is_empty() {
        query.push(("status", joined(&args.status)));
    }
    if !args.severity.is_empty() {
        query.push(("severity", joined(&args.severity)));
    }
    if let Some(service) = &args.service {
        query.push(("service", service.clone()));
    }
    if let Some(text) = &args.search {
        query.push(("q", text.clone()));
    }
    // Encoded by `Url` (reqwest's `query` is behind a feature the workspace leaves off).
    let encoded = reqwest::Url::parse_with_params("http://query.invalid/", &query)
        .map_err(|e| Failure::Usage(format!("cannot encode the filters: {e}")))?;
    let path = format!("/api/v1/incidents?{}", encoded.query().unwrap_or_default());
    let page = api.get(&path).await?;
    let items: Vec<Incident> = render::parse(&page["items"], "the incident list")?;
    if page.get("next_cursor").is_some_and(|c| !c.is_null()) {
        note(&format!(
            "(showing the newest {}; raise --limit to see more)",
            items.len()
        ));
    }
    Ok(Output::Report {
        human: render::table(&items),
        json: page,
    })
}

/// `show`: the incident, its timeline and the workspace's users (to name role holders).
pub async fn show(api: &Api, args: &Target) -> Result<Output, Failure> {
    let path = incident_path(&args.incident);
    let value = api.get(&path).await?;
    let incident: Incident = render::parse(&value, "the incident")?;
    // Follow-up reads use the id, so they describe the incident just read.
    let timeline = api
        .get(&format!("/api/v1/incidents/{}/timeline", incident.id))
        .await?;
    let entries: Vec<Entry> = render::parse(&timeline, "the timeline")?;
    // Names are a courtesy: where the API will not list users, ids are shown instead.
    let users: Vec<User> = match api.get("/api/v1/users").await {
        Ok(users) => render::parse(&users, "the users")?,
        Err(Failure::Api { .. }) => Vec::new(),
        Err(other) => return Err(other),
    };
    Ok(Output::Report {
        human: render::incident(api.base(), &incident, &entries, &users),
        json: json!({ "incident": value, "timeline": timeline }),
    })
}

/// A status change (also `resolve`).
async fn change_status(
    api: &Api,
    incident: &IncidentRef,
    status: &str,
    message: Option<&str>,
    force: bool,
) -> Result<Output, Failure> {
    let mut body = json!({ "status": status.trim().to_uppercase(), "force": force });
    if let Some(message) = message {
        body["message"] = json!(message);
    }
    let value = api
        .post(&format!("{}/status", incident_path(incident)), &body)
        .await?;
    let changed: Incident = render::parse(&value, "the incident")?;
    Ok(Output::Report {
        human: format!("{} is {}", changed.reference, changed.status),
        json: value,
    })
}

/// `status`.
pub async fn status(api: &Api, args: &StatusChange) -> Result<Output, Failure> {
    change_status(
        api,
        &args.incident,
        &args.status,
        args.message.as_deref(),
        args.force,
    )
    .await
}

/// `resolve`.
pub async fn resolve(api: &Api, args: &Resolve) -> Result<Output, Failure> {
    change_status(
        api,
        &args.incident,
        "RESOLVED",
        args.message.as_deref(),
        false,
    )
    .await
}

/// `ack`.
pub async fn acknowledge(api: &Api, args: &Target) -> Result<Output, Failure> {
    let value = api
        .post(
            &format!("{}/acknowledge", incident_path(&args.incident)),
            &json!({}),
        )
        .await?;
    let incident: Incident = render::parse(&value, "the incident")?;
    let at = incident
        .acknowledged_at
        .as_ref()
        .map_or_else(String::new, |at| format!(" (at {})", render::time(at)));
    Ok(Output::Report {
        human: format!("{} acknowledged{at}", incident.reference),
        json: value,
    })
}

/// `assign`: `--user` by id, or by email through the workspace's user list.
pub async fn assign(api: &Api, args: &Assign) -> Result<Output, Failure> {
    let user = find_user(api, &args.user).await?;
    let path = format!(
        "{}/roles/{}",
        incident_path(&args.incident),
        args.role.api_name()
    );
    let value = api
        .call(Method::PUT, &path, &json!({ "user_id": user.0 }))
        .await?;
    let incident: Incident = render::parse(&value, "the incident")?;
    Ok(Output::Report {
        human: format!(
            "{}: {} is now {}",
            incident.reference,
            args.role.api_name().replace('_', " "),
            user.1
        ),
        json: value,
    })
}

/// The user `who` names (an id or an email), and how to name them in text.
async fn find_user(api: &Api, who: &str) -> Result<(Uuid, String), Failure> {
    let who = who.trim();
    if let Ok(id) = who.parse::<Uuid>() {
        return Ok((id, id.to_string()));
    }
    if !who.contains('@') {
        return Err(Failure::Usage(format!(
            "--user {who:?} is neither an email address nor a user id"
        )));
    }
    let users: Vec<User> = render::parse(&api.get("/api/v1/users").await?, "the users")?;
    users
        .into_iter()
        .find(|u| u.email.eq_ignore_ascii_case(who))
        .map(|u| (u.id, format!("{} <{}>", u.display_name, u.email)))
        .ok_or_else(|| Failure::NotFound(format!("no user with the email {who} in this workspace")))
}

/// `update`: a stakeholder update on the timeline, internal unless `--public`.
pub async fn update(api: &Api, args: &Update) -> Result<Output, Failure> {
    let body = json!({ "kind": "UPDATE", "message": args.message, "is_public": args.public });
    let value = api
        .post(
            &format!("{}/timeline", incident_path(&args.incident)),
            &body,
        )
        .await?;
    let kind = if args.public {
        "a public"
    } else {
        "an internal"
    };
    Ok(Output::Report {
        human: format!("Posted {kind} update to {}", args.incident),
        json: value,
    })
}
