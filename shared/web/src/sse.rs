//! Live updates: the `incident_changed` notification (migration `0070_web.sql`, raised
//! on commit by every outbox row about an incident, whichever service wrote it) fanned
//! out to the Server-Sent Event streams of open pages.
//!
//! One [`Hub`] per process holds one `LISTEN` connection, started by the first
//! subscriber and closed within a second of the last one leaving. A stream only says
//! *that* something changed (`event: changed`); the page then fetches its fragments
//! the ordinary way, so what a viewer sees is always rendered under their own session
//! and the incident's access rule, never pushed past it.
//!
//! Notifications sent while the listener was reconnecting are lost (`PgListener`), and a
//! slow stream may lag behind the channel: both become a [`Signal::Resync`], which every
//! stream passes on as a change. A stream also ends after [`STREAM_LIFETIME`] (the
//! browser's `EventSource` reconnects by itself), so a shutdown never waits on it long;
//! each (re)connect starts with a `changed`, so nothing is missed across it.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use uuid::Uuid;

/// The notification channel.
pub const CHANNEL: &str = "incident_changed";
/// How long one stream lasts before the browser reconnects.
pub const STREAM_LIFETIME: Duration = Duration::from_secs(25);

/// An incident changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its workspace.
    pub workspace_id: Uuid,
    /// The incident.
    pub incident_id: Uuid,
    /// The event's type (`incident.status_changed`, ...).
    pub message_type: String,
}

impl Change {
    /// Parses a notification's payload, `"<workspace_id> <incident_id> <type>"`.
    pub fn parse(payload: &str) -> Option<Self> {
        let mut parts = payload.splitn(3, ' ');
        Some(Self {
            workspace_id: parts.next()?.parse().ok()?,
            incident_id: parts.next()?.parse().ok()?,
            message_type: parts.next().unwrap_or_default().to_owned(),
        })
    }
}

/// Tells the open pages of `incident_id` that it changed, for a change that writes no
/// outbox row (a postmortem's section edit): the same notification the outbox trigger
/// raises, delivered when `conn`'s transaction commits (never if it rolls back).
pub async fn notify(
    conn: &mut sqlx::PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
    what: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(format!("{workspace_id} {incident_id} {what}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// What a stream hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// One incident changed.
    Changed(Change),
    /// Changes may have been missed: every page should refresh.
    Resync,
}

/// The process's fan-out of incident changes.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    tx: broadcast::Sender<Signal>,
    running: AtomicBool,
}

impl Hub {
    /// A hub listening through connections of `pool` once someone subscribes.
    pub fn new(pool: PgPool) -> Self {
        let (tx, _) = broadcast::channel(256);
        Self {
            inner: Arc::new(Inner {
                pool,
                tx,
                running: AtomicBool::new(false),
            }),
        }
    }

    /// Subscribes to every change, starting the listener if it is not running.
    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        let rx = self.inner.tx.subscribe();
        if !self.inner.running.swap(true, Ordering::SeqCst) {
            tokio::spawn(listen(self.inner.clone()));
        }
        rx
    }
}

async fn listen(inner: Arc<Inner>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match PgListener::connect_with(&inner.pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    backoff = Duration::from_millis(200);
                    // Whatever happened before this connection listened is unknown.
                    let _ = inner.tx.send(Signal::Resync);
                    if !relay(&inner, &mut listener).await {
                        return;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "LISTEN {CHANNEL} failed"),
            },
            Err(e) => tracing::warn!(error = %e, "live updates: cannot connect to listen"),
        }
        if !still_wanted(&inner) {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Relays notifications until nobody listens (false) or the connection fails (true).
async fn relay(inner: &Inner, listener: &mut PgListener) -> bool {
    let mut idle = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            received = listener.try_recv() => match received {
                Ok(Some(n)) => {
                    if let Some(change) = Change::parse(n.payload()) {
                        let _ = inner.tx.send(Signal::Changed(change));
                    }
                }
                // The connection was lost and re-established: notifications between are gone.
                Ok(None) => { let _ = inner.tx.send(Signal::Resync); }
                Err(e) => {
                    tracing::warn!(error = %e, "live updates: listener failed");
                    return true;
                }
            },
            _ = idle.tick() => {
                if !still_wanted(inner) {
                    return false;
                }
            }
        }
    }
}

/// Whether the listener should go on: someone subscribes. When nobody does it stops,
/// unless a subscriber arrived in between (who then saw it running and started none).
fn still_wanted(inner: &Inner) -> bool {
    if inner.tx.receiver_count() > 0 {
        return true;
    }
    inner.running.store(false, Ordering::SeqCst);
    inner.tx.receiver_count() > 0 && !inner.running.swap(true, Ordering::SeqCst)
}

/// A Server-Sent Event stream of `event: changed` for the signals `relevant` accepts
/// (a resync always passes), starting with one, ending after [`STREAM_LIFETIME`].
pub fn changes<F>(
    rx: broadcast::Receiver<Signal>,
    relevant: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    F: Fn(&Change) -> bool + Send + 'static,
{
    let deadline = tokio::time::Instant::now() + STREAM_LIFETIME;
    let state = (rx, relevant, true);
    let stream = futures_util::stream::unfold(state, move |(mut rx, relevant, first)| async move {
        if first {
            let event = Event::default()
                .event("changed")
                .data("open")
                .retry(Duration::from_secs(1));
            return Some((Ok(event), (rx, relevant, false)));
        }
        loop {
            let signal = tokio::select! {
                s = rx.recv() => s,
                _ = tokio::time::sleep_until(deadline) => return None,
            };
            let data = match signal {
                Ok(Signal::Changed(change)) if relevant(&change) => change.message_type,
                Ok(Signal::Changed(_)) => continue,
                Ok(Signal::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    "resync".to_owned()
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            let event = Event::default().event("changed").data(data);
            return Some((Ok(event), (rx, relevant, false)));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_payload_parses_into_a_change() {
        let w = Uuid::now_v7();
        let i = Uuid::now_v7();
        let change = Change::parse(&format!("{w} {i} incident.status_changed")).expect("parses");
        assert_eq!(change.workspace_id, w);
        assert_eq!(change.incident_id, i);
        assert_eq!(change.message_type, "incident.status_changed");
        assert_eq!(Change::parse("nonsense"), None);
    }
}
