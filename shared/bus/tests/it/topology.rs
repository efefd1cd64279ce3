//! Topology: exchanges and queues declared idempotently; events fan out to every bound queue.

use std::time::Duration;

use incident_bus::testing::{collect, ready_count};
use incident_bus::topology::{self, EVENTS};
use incident_bus::{BusBuilder, OutgoingMessage, QueueSpec};
use tokio_util::sync::CancellationToken;

use crate::support::{TestVhost, event};

#[tokio::test]
async fn declaring_the_topology_twice_is_a_no_op() {
    let vhost = TestVhost::create();
    let queues = [QueueSpec::new("svc.work").bind(EVENTS, "incident.*")];
    let (_c, channel) = vhost.channel_with(&queues).await;
    topology::declare(&channel, &queues)
        .await
        .expect("second declaration succeeds");
    assert_eq!(ready_count(&channel, "svc.work").await, 0);
    assert_eq!(ready_count(&channel, topology::DEAD_LETTER_QUEUE).await, 0);
}

#[tokio::test]
async fn a_published_event_reaches_every_bound_queue_and_no_other() {
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let queues = [
        QueueSpec::new("warroom.events").bind(EVENTS, "incident.*"),
        QueueSpec::new("postmortem.events").bind(EVENTS, "incident.declared"),
        QueueSpec::new("other.events").bind(EVENTS, "action_item.*"),
    ];
    let mut builder = BusBuilder::new(&vhost.url, "test");
    for q in &queues {
        builder = builder.declare(q.clone());
    }
    let (bus, task) = builder.start(shutdown.clone());
    bus.wait_connected(&shutdown).await.expect("connects");

    let message = event("incident.declared");
    bus.publish(&OutgoingMessage::event(message.clone()))
        .await
        .expect("confirmed");

    let (_c, channel) = vhost.channel_with(&[]).await;
    for queue in ["warroom.events", "postmortem.events"] {
        let got = collect(&channel, queue, 1, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 1, "{queue} received the event");
        let body: incident_bus::Envelope =
            serde_json::from_slice(&got[0].data).expect("an envelope");
        assert_eq!(body.id, message.id);
        assert_eq!(
            got[0]
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.to_string()),
            Some(message.id.to_string())
        );
        assert_eq!(
            got[0].properties.kind().as_ref().map(|s| s.to_string()),
            Some("incident.declared".to_owned())
        );
        assert_eq!(*got[0].properties.delivery_mode(), Some(2), "persistent");
    }
    assert_eq!(ready_count(&channel, "other.events").await, 0);

    shutdown.cancel();
    task.await.expect("supervisor ends");
}

#[tokio::test]
async fn an_unroutable_command_is_not_counted_as_sent() {
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let (bus, task) = BusBuilder::new(&vhost.url, "test")
        .declare_contract(false)
        .start(shutdown.clone());
    bus.wait_connected(&shutdown).await.expect("connects");
    let error = bus
        .publish(&OutgoingMessage::command(event("incident.declare")))
        .await
        .expect_err("no owner queue is bound");
    assert!(
        matches!(error, incident_bus::PublishError::Unroutable { .. }),
        "{error}"
    );
    shutdown.cancel();
    task.await.expect("supervisor ends");
}

#[tokio::test]
async fn any_service_alone_declares_every_queue_of_the_contract() {
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    // A bus of some other service, with no queue of its own, is the first to connect.
    let (bus, task) = BusBuilder::new(&vhost.url, "first").start(shutdown.clone());
    bus.wait_connected(&shutdown).await.expect("connects");
    bus.publish(&OutgoingMessage::command(event("incident.declare")))
        .await
        .expect("core's queue exists before core ever ran");
    bus.publish(&OutgoingMessage::event(event("incident.declared")))
        .await
        .expect("published");

    let (_c, channel) = vhost.channel_with(&[]).await;
    assert_eq!(
        ready_count(&channel, incident_bus::topology::CORE_COMMANDS).await,
        1
    );
    for queue in [
        incident_bus::topology::WARROOM_EVENTS,
        incident_bus::topology::INGESTION_EVENTS,
    ] {
        assert_eq!(ready_count(&channel, queue).await, 1, "{queue}");
    }
    for spec in incident_bus::topology::contract() {
        // A passive declare fails on a missing queue.
        ready_count(&channel, &spec.name).await;
    }
    shutdown.cancel();
    task.await.expect("supervisor ends");
}
