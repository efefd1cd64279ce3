//! The wire format of every contract message, pinned: one test per message type builds a
//! representative payload, wraps it in an [`Envelope`], checks the JSON against a literal
//! and parses it back to an equal value. These literals are the shapes producers sent as
//! `json!` before the contract was typed.

use chrono::{DateTime, TimeZone as _, Utc};
use incident_schema::contract::*;
use incident_schema::{
    ActionItemStatus, IncidentStatus, Role, ServiceImpact, Severity, SlaTarget, TimelineEntry,
    TimelineKind, Visibility,
};
use serde_json::{Value, json};
use uuid::Uuid;

use incident_bus::{Envelope, OutgoingMessage, topology};

const WS: &str = "00000000-0000-0000-0000-0000000000a1";
const MSG: &str = "00000000-0000-0000-0000-0000000000b1";
const INC: &str = "00000000-0000-0000-0000-000000000001";
const USER: &str = "00000000-0000-0000-0000-000000000003";
const OTHER: &str = "00000000-0000-0000-0000-000000000004";
const GROUP: &str = "00000000-0000-0000-0000-000000000005";
const PM: &str = "00000000-0000-0000-0000-000000000006";
const TIME: &str = "2026-11-27T10:00:00Z";

fn id(text: &str) -> Uuid {
    text.parse().expect("uuid")
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap()
}

/// The incident as core's snapshot has it, every column present.
fn snapshot_json() -> Value {
    json!({
        "reference": "INC-42", "id": INC, "workspace_id": WS, "number": 42,
        "title": "Checkout is down", "description": "5xx on /pay", "severity": "SEV1",
        "status": "IDENTIFIED", "impact": "customers cannot pay", "detected_at": TIME,
        "acknowledged_at": TIME, "mitigated_at": null, "resolved_at": null, "closed_at": null,
        "sla_breached": false, "sla_deadline": TIME, "sla_resolve_deadline": TIME,
        "commander_id": USER, "tech_lead_id": null, "comms_lead_id": null,
        "slack_channel_id": null, "slack_channel_url": null, "root_cause": null,
        "version": 3, "is_drill": false, "visibility": "PUBLIC", "declared_by": USER,
        "idempotency_key": null, "last_public_update_at": null,
        "created_at": TIME, "updated_at": TIME,
    })
}

fn snapshot() -> IncidentSnapshot {
    serde_json::from_value(snapshot_json()).expect("snapshot")
}

/// Wraps `payload` in an envelope, checks its JSON is exactly the envelope of `data`,
/// parses it back to `payload`, and checks the exchange its kind routes it to.
fn pinned<M: Message + PartialEq + std::fmt::Debug>(payload: M, data: Value) {
    let mut envelope = Envelope::of(id(WS), &payload).expect("serialises");
    envelope.id = id(MSG);
    envelope.correlation_id = id(MSG);
    envelope.occurred_at = at();
    let json = serde_json::to_value(&envelope).expect("serialises");
    assert_eq!(
        json,
        json!({
            "id": MSG, "type": M::TYPE, "version": 1, "occurred_at": TIME,
            "workspace_id": WS, "correlation_id": MSG, "causation_id": null, "data": data,
        }),
        "{}",
        M::TYPE
    );
    let back: Envelope =
        serde_json::from_slice(&serde_json::to_vec(&json).expect("bytes")).expect("an envelope");
    assert_eq!(back, envelope);
    assert_eq!(back.data_as::<M>().expect("parses"), payload, "{}", M::TYPE);
    let outgoing = OutgoingMessage::routed::<M>(back);
    assert_eq!(outgoing.routing_key, M::TYPE);
    let (exchange, mandatory) = match M::KIND {
        Kind::Event => (topology::EVENTS, false),
        Kind::Command => (topology::COMMANDS, true),
    };
    assert_eq!(
        (outgoing.exchange.as_str(), outgoing.mandatory),
        (exchange, mandatory)
    );
}

#[test]
fn declare_from_an_alert_group() {
    let mut incident = Declaration::new("High error rate", Severity::Sev1);
    incident.description = Some("Declared from alert group".into());
    incident.detected_at = Some(at().into());
    incident.affected_services = Some(vec![ServiceView {
        name: "checkout".into(),
        impact: ServiceImpact::Degraded,
    }]);
    incident.alert_group_ids = Some(vec![id(GROUP)]);
    pinned(
        Declare {
            idempotency_key: Some(GROUP.into()),
            actor_id: None,
            incident,
        },
        json!({ "idempotency_key": GROUP, "incident": {
            "title": "High error rate", "description": "Declared from alert group",
            "severity": "SEV1", "detected_at": TIME,
            "affected_services": [{ "name": "checkout", "impact": "DEGRADED" }],
            "alert_group_ids": [GROUP],
        }}),
    );
}

#[test]
fn declare_from_slack() {
    let mut incident = Declaration::new("DB is down", Severity::Sev2);
    incident.commander_id = Some(id(USER));
    pinned(
        Declare {
            idempotency_key: Some("slack:T1".into()),
            actor_id: Some(id(USER)),
            incident,
        },
        json!({ "idempotency_key": "slack:T1", "actor_id": USER,
                "incident": { "title": "DB is down", "severity": "SEV2", "commander_id": USER } }),
    );
}

#[test]
fn acknowledge() {
    pinned(
        Acknowledge {
            incident_id: id(INC),
            actor_id: Some(id(USER)),
        },
        json!({ "incident_id": INC, "actor_id": USER }),
    );
}

#[test]
fn change_status() {
    pinned(
        ChangeStatus {
            incident_id: id(INC),
            actor_id: Some(id(USER)),
            status: IncidentStatus::Resolved,
            message: Some("Resolved from Slack by IC".into()),
            force: false,
        },
        json!({ "incident_id": INC, "status": "RESOLVED",
                "message": "Resolved from Slack by IC", "actor_id": USER }),
    );
}

#[test]
fn add_update() {
    pinned(
        AddUpdate {
            incident_id: id(INC),
            actor_id: None,
            message: "Alert group \"x\" resolved (1 alert)".into(),
            is_public: false,
            kind: Some(TimelineKind::Note),
        },
        json!({ "incident_id": INC, "message": "Alert group \"x\" resolved (1 alert)",
                "is_public": false, "kind": "NOTE" }),
    );
}

#[test]
fn assign_role() {
    pinned(
        AssignRole {
            incident_id: id(INC),
            actor_id: Some(id(USER)),
            role: Role::Commander,
            user_id: Some(id(OTHER)),
        },
        json!({ "incident_id": INC, "role": "commander", "user_id": OTHER, "actor_id": USER }),
    );
}

#[test]
fn link_alert_group() {
    pinned(
        LinkAlertGroup {
            incident_id: id(INC),
            actor_id: None,
            alert_group_id: id(GROUP),
        },
        json!({ "incident_id": INC, "alert_group_id": GROUP }),
    );
}

#[test]
fn add_member() {
    pinned(
        AddMember {
            incident_id: id(INC),
            actor_id: Some(id(USER)),
            user_id: id(USER),
        },
        json!({ "incident_id": INC, "actor_id": USER, "user_id": USER }),
    );
}

#[test]
fn generate_postmortem() {
    pinned(
        GeneratePostmortem {
            incident_id: id(INC),
            regenerate: true,
            actor_id: Some(id(USER)),
        },
        json!({ "incident_id": INC, "regenerate": true, "actor_id": USER }),
    );
}

#[test]
fn incident_declared() {
    pinned(
        IncidentDeclared {
            incident: snapshot(),
            is_drill: false,
            actor_id: Some(id(USER)),
            affected_services: vec![ServiceView {
                name: "payments".into(),
                impact: ServiceImpact::TotalOutage,
            }],
            alert_group_ids: vec![],
        },
        json!({ "incident": snapshot_json(), "is_drill": false, "actor_id": USER,
                "affected_services": [{ "name": "payments", "impact": "TOTAL_OUTAGE" }],
                "alert_group_ids": [] }),
    );
}

#[test]
fn incident_acknowledged() {
    pinned(
        IncidentAcknowledged {
            incident: snapshot(),
            is_drill: false,
            actor_id: None,
        },
        json!({ "incident": snapshot_json(), "is_drill": false, "actor_id": null }),
    );
}

#[test]
fn incident_status_changed() {
    pinned(
        IncidentStatusChanged {
            incident: snapshot(),
            is_drill: false,
            from: Some(IncidentStatus::Investigating),
            to: IncidentStatus::Identified,
            message: None,
            reopen: false,
            forced: false,
            actor_id: Some(id(USER)),
        },
        json!({ "incident": snapshot_json(), "is_drill": false, "from": "INVESTIGATING",
                "to": "IDENTIFIED", "message": null, "reopen": false, "forced": false,
                "actor_id": USER }),
    );
}

#[test]
fn incident_severity_changed() {
    pinned(
        IncidentSeverityChanged {
            incident: snapshot(),
            is_drill: false,
            from: Severity::Sev2,
            to: Severity::Sev1,
            actor_id: Some(id(USER)),
        },
        json!({ "incident": snapshot_json(), "is_drill": false, "from": "SEV2", "to": "SEV1",
                "actor_id": USER }),
    );
}

#[test]
fn incident_updated() {
    pinned(
        IncidentUpdated {
            incident: snapshot(),
            is_drill: false,
            fields: vec!["title".into(), "impact".into()],
            actor_id: Some(id(USER)),
        },
        json!({ "incident": snapshot_json(), "is_drill": false, "fields": ["title", "impact"],
                "actor_id": USER }),
    );
}

#[test]
fn incident_role_assigned() {
    pinned(
        IncidentRoleAssigned {
            incident: snapshot(),
            is_drill: false,
            role: Role::TechLead,
            user_id: None,
            previous_user_id: Some(id(OTHER)),
            actor_id: Some(id(USER)),
        },
        json!({ "incident": snapshot_json(), "is_drill": false, "role": "tech_lead",
                "user_id": null, "previous_user_id": OTHER, "actor_id": USER }),
    );
}

#[test]
fn incident_timeline_entry_added() {
    let entry = TimelineEntry {
        id: id(OTHER),
        incident_id: id(INC),
        workspace_id: id(WS),
        author_id: Some(id(USER)),
        kind: TimelineKind::Update,
        message: "Rolled back".into(),
        is_public: true,
        data: Value::Null,
        occurred_at: at(),
        created_at: at(),
        seq: 7,
    };
    pinned(
        IncidentTimelineEntryAdded {
            incident: snapshot(),
            is_drill: false,
            entry,
            actor_id: Some(id(USER)),
        },
        json!({ "incident": snapshot_json(), "is_drill": false, "actor_id": USER, "entry": {
            "id": OTHER, "incident_id": INC, "workspace_id": WS, "author_id": USER,
            "kind": "UPDATE", "message": "Rolled back", "is_public": true, "data": null,
            "occurred_at": TIME, "created_at": TIME, "seq": 7,
        }}),
    );
}

#[test]
fn incident_services_changed() {
    pinned(
        IncidentServicesChanged {
            incident: snapshot(),
            is_drill: false,
            services: vec![ServiceView {
                name: "web".into(),
                impact: ServiceImpact::PartialOutage,
            }],
            actor_id: None,
        },
        json!({ "incident": snapshot_json(), "is_drill": false, "actor_id": null,
                "services": [{ "name": "web", "impact": "PARTIAL_OUTAGE" }] }),
    );
}

#[test]
fn incident_member_added() {
    pinned(
        IncidentMemberAdded {
            incident: snapshot(),
            is_drill: false,
            user_id: id(OTHER),
            actor_id: Some(id(USER)),
        },
        json!({ "incident": snapshot_json(), "is_drill": false, "user_id": OTHER,
                "actor_id": USER }),
    );
}

#[test]
fn incident_member_removed() {
    pinned(
        IncidentMemberRemoved {
            incident: snapshot(),
            is_drill: false,
            user_id: id(OTHER),
            actor_id: Some(id(USER)),
        },
        json!({ "incident": snapshot_json(), "is_drill": false, "user_id": OTHER,
                "actor_id": USER }),
    );
}

#[test]
fn incident_visibility_changed() {
    pinned(
        IncidentVisibilityChanged {
            incident: snapshot(),
            is_drill: false,
            from: Visibility::Public,
            to: Visibility::Private,
            actor_id: Some(id(USER)),
        },
        json!({ "incident": snapshot_json(), "is_drill": false, "from": "PUBLIC",
                "to": "PRIVATE", "actor_id": USER }),
    );
}

#[test]
fn incident_alert_group_linked() {
    pinned(
        IncidentAlertGroupLinked {
            incident: snapshot(),
            is_drill: false,
            alert_group_id: id(GROUP),
            actor_id: None,
        },
        json!({ "incident": snapshot_json(), "is_drill": false, "alert_group_id": GROUP,
                "actor_id": null }),
    );
}

#[test]
fn incident_sla_warning() {
    pinned(
        IncidentSlaWarning {
            incident: snapshot(),
            target: SlaTarget::Acknowledge,
            deadline: at(),
            is_drill: false,
        },
        json!({ "incident": snapshot_json(), "target": "ACKNOWLEDGE", "deadline": TIME,
                "is_drill": false }),
    );
}

#[test]
fn incident_sla_breached() {
    pinned(
        IncidentSlaBreached {
            incident: snapshot(),
            target: SlaTarget::Resolve,
            deadline: at(),
            is_drill: true,
        },
        json!({ "incident": snapshot_json(), "target": "RESOLVE", "deadline": TIME,
                "is_drill": true }),
    );
}

#[test]
fn incident_update_due() {
    pinned(
        IncidentUpdateDue {
            incident: snapshot(),
            slot: 2,
            due_at: at(),
            missed_updates: 1,
            cadence_minutes: 30,
            is_drill: false,
        },
        json!({ "incident": snapshot_json(), "slot": 2, "due_at": TIME, "missed_updates": 1,
                "cadence_minutes": 30, "is_drill": false }),
    );
}

#[test]
fn incident_warroom_opened() {
    pinned(
        IncidentWarroomOpened {
            incident: snapshot(),
            channel_id: "C0001".into(),
            channel_url: "https://fake.slack.com/archives/C0001".into(),
        },
        json!({ "incident": snapshot_json(), "channel_id": "C0001",
                "channel_url": "https://fake.slack.com/archives/C0001" }),
    );
}

fn group_json() -> Value {
    json!({ "id": GROUP, "integration_id": OTHER, "group_key": "{}:{alertname=\"x\"}",
            "title": "x", "status": "OPEN", "labels": { "alertname": "x" }, "severity": "SEV2",
            "service": null, "decision": "NONE", "alert_count": 1, "firing_count": 1,
            "incident_id": null })
}

#[test]
fn alert_group_opened() {
    pinned(
        AlertGroupOpened {
            alert_group: group_json(),
            reason: "no rule matched".into(),
        },
        json!({ "alert_group": group_json(), "reason": "no rule matched" }),
    );
}

#[test]
fn alert_group_resolved() {
    pinned(
        AlertGroupResolved {
            alert_group: group_json(),
            incident_id: Some(id(INC)),
        },
        json!({ "alert_group": group_json(), "incident_id": INC }),
    );
}

#[test]
fn postmortem_drafted() {
    pinned(
        PostmortemDrafted {
            incident: snapshot(),
            postmortem_id: id(PM),
            trigger: DraftTrigger::StatusChanged,
            regenerated: false,
            generation: json!({ "summary": "template", "llm": { "outcome": "not_configured" } }),
            link: format!("/api/v1/postmortems/{PM}"),
            markdown_link: format!("/api/v1/postmortems/{PM}/markdown"),
            actor_id: None,
        },
        json!({ "incident": snapshot_json(), "postmortem_id": PM,
                "trigger": "incident.status_changed", "regenerated": false,
                "generation": { "summary": "template", "llm": { "outcome": "not_configured" } },
                "link": format!("/api/v1/postmortems/{PM}"),
                "markdown_link": format!("/api/v1/postmortems/{PM}/markdown"),
                "actor_id": null }),
    );
    for (trigger, wire) in [
        (DraftTrigger::StatusChanged, "incident.status_changed"),
        (DraftTrigger::Command, "postmortem.generate"),
        (DraftTrigger::Request, "request"),
    ] {
        assert_eq!(serde_json::to_value(trigger).expect("json"), json!(wire));
        assert_eq!(
            serde_json::from_value::<DraftTrigger>(json!(wire)).expect("parses"),
            trigger
        );
    }
}

#[test]
fn postmortem_published() {
    pinned(
        PostmortemPublished {
            incident: snapshot(),
            postmortem_id: id(PM),
            summary: "We rolled back".into(),
            link: format!("/api/v1/postmortems/{PM}"),
            markdown_link: format!("/api/v1/postmortems/{PM}/markdown"),
            url: None,
            published_at: Some(at()),
            actor_id: Some(id(USER)),
        },
        json!({ "incident": snapshot_json(), "postmortem_id": PM, "summary": "We rolled back",
                "link": format!("/api/v1/postmortems/{PM}"),
                "markdown_link": format!("/api/v1/postmortems/{PM}/markdown"),
                "url": null, "published_at": TIME, "actor_id": USER }),
    );
}

fn item_json() -> Value {
    json!({ "id": OTHER, "postmortem_id": PM, "description": "Add an alert", "status": "OPEN" })
}

#[test]
fn action_item_created() {
    pinned(
        ActionItemCreated {
            incident: snapshot(),
            action_item: item_json(),
            actor_id: Some(id(USER)),
        },
        json!({ "incident": snapshot_json(), "action_item": item_json(), "actor_id": USER }),
    );
}

#[test]
fn action_item_updated() {
    pinned(
        ActionItemUpdated {
            incident: snapshot(),
            action_item: item_json(),
            changed: vec!["status".into()],
            from_status: ActionItemStatus::Open,
            to_status: ActionItemStatus::Done,
            actor_id: Some(id(USER)),
        },
        json!({ "incident": snapshot_json(), "action_item": item_json(), "changed": ["status"],
                "from_status": "OPEN", "to_status": "DONE", "actor_id": USER }),
    );
}

#[test]
fn action_item_overdue() {
    pinned(
        ActionItemOverdue {
            action_item_id: id(OTHER),
            postmortem_id: id(PM),
            incident_id: id(INC),
            description: "Add an alert".into(),
            assignee_id: None,
            due_date: at().date_naive(),
            is_drill: false,
        },
        json!({ "action_item_id": OTHER, "postmortem_id": PM, "incident_id": INC,
                "description": "Add an alert", "assignee_id": null, "due_date": "2026-11-27",
                "is_drill": false }),
    );
}

#[test]
fn workspace_daily_digest() {
    let mut open = OpenIncidents::empty();
    open.total = 1;
    open.by_severity.insert("SEV1".into(), 1);
    pinned(
        WorkspaceDailyDigest {
            scheduled_for: at(),
            generated_at: at(),
            open_incidents: open,
            breaches_last_24h: Breaches {
                total: 1,
                acknowledge: 1,
                resolve: 0,
            },
            overdue_action_items: OverdueActionItems {
                total: 1,
                items: vec![OverdueActionItem {
                    action_item_id: id(OTHER),
                    incident_id: id(INC),
                    description: "Add an alert".into(),
                    assignee_id: Some(id(USER)),
                    due_date: at().date_naive(),
                }],
            },
        },
        json!({ "scheduled_for": TIME, "generated_at": TIME,
                "open_incidents": { "total": 1, "by_severity": { "SEV1": 1, "SEV2": 0, "SEV3": 0, "SEV4": 0 } },
                "breaches_last_24h": { "total": 1, "acknowledge": 1, "resolve": 0 },
                "overdue_action_items": { "total": 1, "items": [{
                    "action_item_id": OTHER, "incident_id": INC, "description": "Add an alert",
                    "assignee_id": USER, "due_date": "2026-11-27" }] } }),
    );
}

#[test]
fn workspace_weekly_digest() {
    let week = |label: &str, incidents: i64| WeekFigures {
        label: label.into(),
        starts_at: at(),
        ends_at: at(),
        incidents,
        by_severity: [("SEV1", incidents), ("SEV2", 0), ("SEV3", 0), ("SEV4", 0)]
            .into_iter()
            .map(|(s, n)| (s.to_owned(), n))
            .collect(),
        mtta_median_seconds: Some(300.0),
        mttr_median_seconds: None,
        acknowledge_met_share: Some(0.5),
        resolve_met_share: None,
        sla_breaches: 1,
        postmortems_published: 0,
    };
    let week_json = |label: &str, incidents: i64| {
        json!({ "label": label, "starts_at": TIME, "ends_at": TIME, "incidents": incidents,
                "by_severity": { "SEV1": incidents, "SEV2": 0, "SEV3": 0, "SEV4": 0 },
                "mtta_median_seconds": 300.0, "mttr_median_seconds": null,
                "acknowledge_met_share": 0.5, "resolve_met_share": null,
                "sla_breaches": 1, "postmortems_published": 0 })
    };
    pinned(
        WorkspaceWeeklyDigest {
            scheduled_for: at(),
            generated_at: at(),
            time_zone: "Europe/Berlin".into(),
            week: week("2026-W48", 2),
            previous: week("2026-W47", 1),
        },
        json!({ "scheduled_for": TIME, "generated_at": TIME, "time_zone": "Europe/Berlin",
                "week": week_json("2026-W48", 2), "previous": week_json("2026-W47", 1) }),
    );
}

#[test]
fn webhook_subscription_disabled() {
    pinned(
        WebhookSubscriptionDisabled {
            subscription_id: id(OTHER),
            url: "https://hooks.example.com/in".into(),
            reason: "disabled after 5 deliveries in a row were not accepted".into(),
            consecutive_failures: 5,
            disabled_at: at(),
        },
        json!({ "subscription_id": OTHER, "url": "https://hooks.example.com/in",
                "reason": "disabled after 5 deliveries in a row were not accepted",
                "consecutive_failures": 5, "disabled_at": TIME }),
    );
}

#[test]
fn change_severity() {
    pinned(
        ChangeSeverity {
            incident_id: id(INC),
            actor_id: None,
            severity: Severity::Sev1,
        },
        json!({ "incident_id": INC, "severity": "SEV1" }),
    );
}

#[test]
fn start_drill_run() {
    pinned(
        StartDrillRun {
            scenario_id: id(PM),
            actor_id: Some(id(USER)),
            idempotency_key: "slack:drill:13345224609.738474920.8088930838d88f008e0".into(),
        },
        json!({ "scenario_id": PM, "actor_id": USER,
                "idempotency_key": "slack:drill:13345224609.738474920.8088930838d88f008e0" }),
    );
    assert!(topology::expects_route(
        topology::COMMANDS,
        StartDrillRun::TYPE
    ));
}

#[test]
fn drill_run_completed() {
    use incident_schema::drill::{Expectation, ExpectationScore, Score, Trend};
    pinned(
        DrillRunCompleted {
            run_id: id(OTHER),
            scenario_id: Some(id(PM)),
            scenario_name: "Payments database primary lost".into(),
            incident_id: Some(id(INC)),
            state: "completed".into(),
            started_at: at(),
            ended_at: at(),
            score: Score {
                expectations: vec![ExpectationScore {
                    expectation: Expectation::Acknowledged,
                    target_seconds: Some(300),
                    sla_target_seconds: Some(900),
                    measured_seconds: Some(120),
                    met: true,
                    met_sla: Some(true),
                    previous_seconds: Some(200),
                    trend: Some(Trend::Faster),
                }],
                met: 1,
                total: 1,
                percent: 100,
                previous_run_id: Some(id(GROUP)),
            },
        },
        json!({ "run_id": OTHER, "scenario_id": PM,
                "scenario_name": "Payments database primary lost", "incident_id": INC,
                "state": "completed", "started_at": TIME, "ended_at": TIME,
                "score": { "expectations": [{ "expectation": "acknowledged",
                    "target_seconds": 300, "sla_target_seconds": 900, "measured_seconds": 120,
                    "met": true, "met_sla": true, "previous_seconds": 200, "trend": "faster" }],
                  "met": 1, "total": 1, "percent": 100, "previous_run_id": GROUP } }),
    );
}

#[test]
fn every_contract_type_is_pinned_above() {
    // One test per message type: adding a type to the contract without pinning its wire
    // format fails here.
    let pinned_here = 37;
    assert_eq!(ALL.len(), pinned_here);
}
