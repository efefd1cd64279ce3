//! `postmortem export`: the incident's postmortem (found through
//! `/api/v1/incidents/{id}/postmortem`) as the postmortem service renders it in Markdown,
//! with the workspace's template.

use std::fs;

use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderValue};
use serde_json::{Value, json};

use crate::api::Api;
use crate::cli::Export;
use crate::failure::Failure;
use crate::output::Output;

/// Writes the Markdown to the file, or returns it for stdout.
pub async fn export(api: &Api, args: &Export) -> Result<Output, Failure> {
    let postmortem = api
        .get(&format!(
            "/api/v1/incidents/{}/postmortem",
            args.incident.path_segment()
        ))
        .await?;
    let id = postmortem["id"]
        .as_str()
        .ok_or_else(|| Failure::Unexpected {
            url: api.url(&format!(
                "/api/v1/incidents/{}/postmortem",
                args.incident.path_segment()
            )),
            reason: "the postmortem has no id".to_owned(),
        })?
        .to_owned();
    let path = postmortem["markdown_url"]
        .as_str()
        .filter(|p| p.starts_with('/'))
        .map_or_else(|| format!("/api/v1/postmortems/{id}.md"), str::to_owned);
    let request = api
        .request(Method::GET, &path)
        .header(ACCEPT, HeaderValue::from_static("text/markdown"));
    let answer = api.send(request, &path).await?;
    let template = answer
        .headers
        .get("x-postmortem-template")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_owned();
    let Some(file) = &args.output else {
        return Ok(Output::Raw(answer.body));
    };
    fs::write(file, &answer.body)
        .map_err(|e| Failure::Local(format!("cannot write {}: {e}", file.display())))?;
    let reference = postmortem["incident_reference"]
        .as_str()
        .map_or_else(|| args.incident.to_string(), str::to_owned);
    Ok(Output::Report {
        human: format!(
            "Wrote the postmortem of {reference} to {} ({} bytes, {template} template)",
            file.display(),
            answer.body.len()
        ),
        json: json!({
            "incident": reference,
            "postmortem_id": id,
            "status": postmortem.get("status").cloned().unwrap_or(Value::Null),
            "file": file,
            "bytes": answer.body.len(),
            "template": template,
        }),
    })
}
