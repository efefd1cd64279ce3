//! Block Kit: the pinned summary, the "Add update" modal, and the limits both must stay
//! within (reference §6). Long text is cut with an ellipsis, never refused. User text in
//! mrkdwn (the fallback `text`, fields, the description) is escaped
//! ([`super::mrkdwn::escape`]); the header is `plain_text`, which Slack does not parse.

use serde_json::{Value, json};

use super::mrkdwn::escape;
use crate::naming::truncate;

/// Action ids of the summary's buttons.
pub mod action {
    /// `Acknowledge`.
    pub const ACKNOWLEDGE: &str = "incident_acknowledge";
    /// `Add update`.
    pub const ADD_UPDATE: &str = "incident_add_update";
    /// `Mark resolved`.
    pub const RESOLVE: &str = "incident_resolve";
    /// `Join`, on the announcement of an incident without a war room.
    pub const JOIN: &str = "incident_join";
    /// `Open war room` (a link button; Slack still sends the click).
    pub const OPEN_WAR_ROOM: &str = "incident_open_war_room";
    /// `Incident page` (a link button).
    pub const OPEN_PAGE: &str = "incident_open_page";
}

/// The modal's callback id.
pub const ADD_UPDATE_CALLBACK: &str = "incident_add_update";

/// What the summary shows.
#[derive(Debug, Clone)]
pub struct Summary<'a> {
    /// `INC-42`.
    pub reference: &'a str,
    /// The incident id, carried by the buttons.
    pub incident_id: String,
    /// The title.
    pub title: &'a str,
    /// The description (may be empty).
    pub description: &'a str,
    /// `SEV1`.
    pub severity: &'a str,
    /// `INVESTIGATING`.
    pub status: &'a str,
    /// The commander, as mrkdwn: a mention (`<@U…>`) or an already escaped name.
    pub commander: Option<String>,
    /// Detection time, unix seconds.
    pub detected_at: i64,
    /// Affected services, as `name (IMPACT)`.
    pub services: Vec<String>,
    /// Whether this is a drill.
    pub is_drill: bool,
}

fn mrkdwn_field(label: &str, value: &str) -> Value {
    json!({ "type": "mrkdwn", "text": truncate(&format!("*{label}*\n{value}"), 2000) })
}

fn button(text: &str, action_id: &str, value: &str, style: Option<&str>) -> Value {
    let mut b = json!({
        "type": "button",
        "text": { "type": "plain_text", "text": truncate(text, 75), "emoji": true },
        "action_id": action_id,
        "value": truncate(value, 2000),
    });
    if let Some(style) = style {
        b["style"] = json!(style);
    }
    b
}

impl Summary<'_> {
    /// The notification fallback `text`.
    pub fn text(&self) -> String {
        truncate(
            &format!(
                "🚨 {}{}: {} ({}, {})",
                if self.is_drill { "[DRILL] " } else { "" },
                self.reference,
                escape(self.title),
                self.severity,
                self.status
            ),
            3000,
        )
    }

    /// The blocks.
    pub fn blocks(&self) -> Value {
        let header = format!(
            "🚨 {}{}: {}",
            if self.is_drill { "[DRILL] " } else { "" },
            self.reference,
            self.title
        );
        let services = if self.services.is_empty() {
            "none recorded".to_owned()
        } else {
            escape(&self.services.join(", "))
        };
        let detected = format!(
            "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
            self.detected_at,
            chrono::DateTime::from_timestamp(self.detected_at, 0)
                .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default()
        );
        let mut blocks = vec![
            json!({ "type": "header", "text": { "type": "plain_text", "text": truncate(&header, 150), "emoji": true } }),
            json!({ "type": "section", "fields": [
                mrkdwn_field("Severity", self.severity),
                mrkdwn_field("Status", self.status),
                mrkdwn_field("Commander", self.commander.as_deref().unwrap_or("unassigned")),
                mrkdwn_field("Detected", &detected),
                mrkdwn_field("Affected services", &services),
            ]}),
        ];
        if !self.description.trim().is_empty() {
            blocks.push(json!({ "type": "section", "text": {
                "type": "mrkdwn", "text": truncate(&escape(self.description.trim()), 3000)
            }}));
        }
        let id = self.incident_id.as_str();
        blocks.push(json!({ "type": "actions", "elements": [
            button("Acknowledge", action::ACKNOWLEDGE, id, None),
            button("Add update", action::ADD_UPDATE, id, None),
            button("Mark resolved", action::RESOLVE, id, Some("primary")),
        ]}));
        Value::Array(blocks)
    }
}

/// The "Add update" modal for `incident_id`.
pub fn add_update_modal(incident_id: &str, reference: &str) -> Value {
    let option = |text: &str, value: &str| json!({ "text": { "type": "plain_text", "text": text }, "value": value });
    json!({
        "type": "modal",
        "callback_id": ADD_UPDATE_CALLBACK,
        "private_metadata": incident_id,
        "title": { "type": "plain_text", "text": truncate(&format!("Update {reference}"), 24) },
        "submit": { "type": "plain_text", "text": "Post" },
        "close": { "type": "plain_text", "text": "Cancel" },
        "blocks": [
            { "type": "input", "block_id": "message", "label": { "type": "plain_text", "text": "Update" },
              "element": { "type": "plain_text_input", "action_id": "value", "multiline": true } },
            { "type": "input", "block_id": "visibility", "label": { "type": "plain_text", "text": "Visibility" },
              "element": { "type": "static_select", "action_id": "value",
                "initial_option": option("Internal", "internal"),
                "options": [option("Internal", "internal"), option("Public (status page)", "public")] } },
            { "type": "input", "block_id": "status", "optional": true, "label": { "type": "plain_text", "text": "New status" },
              "element": { "type": "static_select", "action_id": "value",
                "options": [option("Investigating", "INVESTIGATING"), option("Identified", "IDENTIFIED"),
                            option("Monitoring", "MONITORING"), option("Resolved", "RESOLVED")] } }
        ]
    })
}

/// The declare modal's callback id.
pub const DECLARE_CALLBACK: &str = "incident_declare";
/// The message shortcut "Add to timeline" (its callback id, as in the app manifest).
pub const ADD_TO_TIMELINE_CALLBACK: &str = "add_to_timeline";

/// The declare modal (`/incident declare`): title, severity, description, services (a
/// comma list), drill and private. `private_metadata` carries the channel it was opened
/// from.
pub fn declare_modal(channel: &str) -> Value {
    declare_modal_with(channel, &[])
}

/// The declare modal with options `chosen` (`drill`, `private`) ticked, each with a note
/// on what it means for the war room. Changing the options sends a `block_actions`
/// (`dispatch_action`), answered with `views.update` of this.
pub fn declare_modal_with(channel: &str, chosen: &[String]) -> Value {
    let option = |text: &str, value: &str| json!({ "text": { "type": "plain_text", "text": text }, "value": value });
    let options = [
        option("A drill (practice)", "drill"),
        option("Private (members only)", "private"),
    ];
    let ticked: Vec<Value> = options
        .iter()
        .filter(|o| chosen.iter().any(|c| o["value"] == c.as_str()))
        .cloned()
        .collect();
    let mut options_element =
        json!({ "type": "checkboxes", "action_id": "value", "options": options });
    if !ticked.is_empty() {
        options_element["initial_options"] = json!(ticked);
    }
    let is = |value: &str| chosen.iter().any(|c| c == value);
    let mut notes = Vec::new();
    if is("drill") {
        notes.push("🧪 *A drill*: its war room is named `drill-inc-<number>…`, its topic starts [DRILL], and it is not announced, paged, in digests or in analytics.");
    }
    if is("private") {
        notes.push("🔒 *Private*: the war room is a private channel (`inc-<number>-private`, no title in its name) and only the incident's members can see it.");
    }
    let mut modal = declare_modal_blocks(channel, options_element);
    if !notes.is_empty()
        && let Some(blocks) = modal["blocks"].as_array_mut()
    {
        blocks.push(json!({ "type": "context", "block_id": "options_note",
            "elements": [{ "type": "mrkdwn", "text": notes.join("\n") }] }));
    }
    modal
}

fn declare_modal_blocks(channel: &str, options_element: Value) -> Value {
    let option = |text: &str, value: &str| json!({ "text": { "type": "plain_text", "text": text }, "value": value });
    json!({
        "type": "modal",
        "callback_id": DECLARE_CALLBACK,
        "private_metadata": truncate(channel, 3000),
        "title": { "type": "plain_text", "text": "Declare an incident" },
        "submit": { "type": "plain_text", "text": "Declare" },
        "close": { "type": "plain_text", "text": "Cancel" },
        "blocks": [
            { "type": "input", "block_id": "title", "label": { "type": "plain_text", "text": "Title" },
              "element": { "type": "plain_text_input", "action_id": "value", "max_length": 200 } },
            { "type": "input", "block_id": "severity", "label": { "type": "plain_text", "text": "Severity" },
              "element": { "type": "static_select", "action_id": "value",
                "initial_option": option("SEV2 (major)", "SEV2"),
                "options": [option("SEV1 (critical)", "SEV1"), option("SEV2 (major)", "SEV2"),
                            option("SEV3 (minor)", "SEV3"), option("SEV4 (low)", "SEV4")] } },
            { "type": "input", "block_id": "description", "optional": true,
              "label": { "type": "plain_text", "text": "Description" },
              "element": { "type": "plain_text_input", "action_id": "value", "multiline": true } },
            { "type": "input", "block_id": "services", "optional": true,
              "label": { "type": "plain_text", "text": "Affected services (comma-separated)" },
              "element": { "type": "plain_text_input", "action_id": "value" } },
            { "type": "input", "block_id": "options", "optional": true, "dispatch_action": true,
              "label": { "type": "plain_text", "text": "Options" },
              "element": options_element }
        ]
    })
}

fn text_len(value: &Value, pointer: &str) -> usize {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map_or(0, |s| s.chars().count())
}

/// Checks `blocks` against Block Kit's limits for a message; the reason when violated.
pub fn validate_message_blocks(blocks: &Value) -> Result<(), String> {
    let blocks = blocks.as_array().ok_or("blocks is not an array")?;
    if blocks.len() > 50 {
        return Err(format!("{} blocks, at most 50", blocks.len()));
    }
    for (i, block) in blocks.iter().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            Some("header") => {
                let n = text_len(block, "/text/text");
                if n == 0 || n > 150 {
                    return Err(format!("block {i}: header text of {n} characters"));
                }
            }
            Some("section") => {
                let text = block.pointer("/text/text").and_then(Value::as_str);
                let fields = block.get("fields").and_then(Value::as_array);
                if text.is_none() && fields.is_none() {
                    return Err(format!("block {i}: a section needs text or fields"));
                }
                if let Some(text) = text
                    && (text.is_empty() || text.chars().count() > 3000)
                {
                    return Err(format!("block {i}: section text out of 1..=3000"));
                }
                if let Some(fields) = fields {
                    if fields.len() > 10 {
                        return Err(format!("block {i}: {} fields, at most 10", fields.len()));
                    }
                    if fields.iter().any(|f| text_len(f, "/text") > 2000) {
                        return Err(format!("block {i}: a field over 2000 characters"));
                    }
                }
            }
            Some("actions") => {
                let elements = block
                    .get("elements")
                    .and_then(Value::as_array)
                    .ok_or(format!("block {i}: actions without elements"))?;
                if elements.len() > 25 {
                    return Err(format!("block {i}: over 25 elements"));
                }
                for e in elements {
                    if text_len(e, "/text/text") > 75
                        || text_len(e, "/action_id") > 255
                        || text_len(e, "/value") > 2000
                    {
                        return Err(format!("block {i}: a button over its limits"));
                    }
                }
            }
            Some("context" | "divider" | "input" | "image" | "rich_text") => {}
            other => return Err(format!("block {i}: unknown type {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary<'a>(title: &'a str, description: &'a str) -> Summary<'a> {
        Summary {
            reference: "INC-42",
            incident_id: "0199-id".to_owned(),
            title,
            description,
            severity: "SEV1",
            status: "INVESTIGATING",
            commander: Some("<@U1>".to_owned()),
            detected_at: 1_700_000_000,
            services: vec!["api (TOTAL_OUTAGE)".to_owned()],
            is_drill: false,
        }
    }

    #[test]
    fn the_summary_has_its_header_fields_and_three_buttons() {
        let blocks = summary("DB down", "Primary is gone").blocks();
        assert_eq!(blocks[0]["text"]["text"], "🚨 INC-42: DB down");
        let actions: Vec<&str> = blocks[3]["elements"]
            .as_array()
            .expect("elements")
            .iter()
            .filter_map(|e| e["action_id"].as_str())
            .collect();
        assert_eq!(
            actions,
            [action::ACKNOWLEDGE, action::ADD_UPDATE, action::RESOLVE]
        );
        assert_eq!(validate_message_blocks(&blocks), Ok(()));
    }

    #[test]
    fn user_text_in_mrkdwn_is_escaped_and_our_own_mention_is_kept() {
        let mut s = summary("<!channel> x & y", "see <https://evil|here>");
        s.services = vec!["<!here> (DEGRADED)".to_owned()];
        let blocks = s.blocks();
        let rendered = blocks.to_string();
        assert_eq!(
            s.text(),
            "🚨 INC-42: &lt;!channel&gt; x &amp; y (SEV1, INVESTIGATING)"
        );
        assert!(
            rendered.contains("see &lt;https://evil|here&gt;"),
            "{rendered}"
        );
        assert!(rendered.contains("&lt;!here&gt; (DEGRADED)"), "{rendered}");
        assert!(
            rendered.contains("<@U1>"),
            "the commander's mention stays one"
        );
        assert!(!rendered.contains("<!here>") && !rendered.contains("<https://evil"));
    }

    #[test]
    fn very_long_text_is_cut_with_an_ellipsis_and_stays_valid() {
        let title = "t".repeat(5000);
        let description = "d".repeat(10_000);
        let blocks = summary(&title, &description).blocks();
        assert_eq!(validate_message_blocks(&blocks), Ok(()));
        assert!(
            blocks[0]["text"]["text"]
                .as_str()
                .expect("header")
                .ends_with('…')
        );
    }
}
