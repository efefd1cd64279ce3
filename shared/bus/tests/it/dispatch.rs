//! Typed dispatch: a consumer receives its message types already parsed; a payload that
//! does not parse is refused for good; a type it does not route is ignored or refused as
//! the consumer says.

use std::sync::Mutex;

use incident_bus::dispatch::unknown_command;
use incident_bus::{Dispatch, Envelope, HandlerError, Handles};
use incident_schema::contract::{Acknowledge, IncidentDeclared, IncidentRef, Message};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Handles<Acknowledge> for Seen {
    async fn handle(
        &self,
        _tx: &mut PgConnection,
        message: &Envelope,
        payload: Acknowledge,
    ) -> Result<(), HandlerError> {
        assert_eq!(message.message_type, Acknowledge::TYPE);
        self.0
            .lock()
            .expect("lock")
            .push(format!("ack {}", payload.incident_id));
        Ok(())
    }
}

impl Handles<IncidentDeclared<IncidentRef>> for Seen {
    async fn handle(
        &self,
        _tx: &mut PgConnection,
        _message: &Envelope,
        payload: IncidentDeclared<IncidentRef>,
    ) -> Result<(), HandlerError> {
        self.0
            .lock()
            .expect("lock")
            .push(format!("declared {}", payload.incident.id));
        Ok(())
    }
}

fn envelope(message_type: &str, data: serde_json::Value) -> Envelope {
    Envelope::new(message_type, Uuid::now_v7(), data).expect("envelope")
}

#[sqlx::test]
async fn each_routed_type_arrives_parsed_and_a_payload_that_does_not_parse_is_permanent(
    pool: PgPool,
) {
    let dispatch = Dispatch::<Seen>::new()
        .on::<Acknowledge>()
        .on::<IncidentDeclared<IncidentRef>>();
    let seen = Seen::default();
    let mut conn = pool.acquire().await.expect("connection");
    let incident = Uuid::now_v7();
    let ack = envelope(Acknowledge::TYPE, json!({ "incident_id": incident }));
    dispatch
        .dispatch(&seen, &mut conn, &ack)
        .await
        .expect("applied");
    let declared = envelope(
        <IncidentDeclared>::TYPE,
        json!({ "incident": { "id": incident }, "alert_group_ids": [] }),
    );
    dispatch
        .dispatch(&seen, &mut conn, &declared)
        .await
        .expect("applied");
    assert_eq!(
        *seen.0.lock().expect("lock"),
        [format!("ack {incident}"), format!("declared {incident}")]
    );

    let malformed = envelope(Acknowledge::TYPE, json!({ "incident_id": "not a uuid" }));
    let refused = dispatch.dispatch(&seen, &mut conn, &malformed).await;
    match refused {
        Err(HandlerError::Permanent(reason)) => {
            assert!(reason.starts_with(Acknowledge::TYPE), "{reason}");
            assert!(reason.contains("invalid data"), "{reason}");
        }
        other => panic!("a payload that does not parse is permanent: {other:?}"),
    }
    assert_eq!(
        seen.0.lock().expect("lock").len(),
        2,
        "the handler never saw it"
    );
}

#[sqlx::test]
async fn a_type_without_a_route_is_ignored_unless_the_consumer_refuses_it(pool: PgPool) {
    let seen = Seen::default();
    let mut conn = pool.acquire().await.expect("connection");
    let other = envelope("somebody.elses", json!({}));
    let events = Dispatch::<Seen>::new().on::<Acknowledge>();
    events
        .dispatch(&seen, &mut conn, &other)
        .await
        .expect("ignored");
    let commands = Dispatch::<Seen>::new()
        .on::<Acknowledge>()
        .otherwise(unknown_command);
    assert!(commands.routes(Acknowledge::TYPE) && !commands.routes("somebody.elses"));
    let refused = commands.dispatch(&seen, &mut conn, &other).await;
    assert!(
        matches!(&refused, Err(HandlerError::Permanent(r)) if r == "unknown command somebody.elses"),
        "{refused:?}"
    );
    assert!(seen.0.lock().expect("lock").is_empty());
}

#[test]
#[should_panic(expected = "routed twice")]
fn a_type_routed_twice_is_a_programming_error() {
    let _ = Dispatch::<Seen>::new()
        .on::<Acknowledge>()
        .on::<Acknowledge>();
}
