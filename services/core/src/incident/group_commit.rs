//! Group commit of declares, per workspace.
//!
//! A workspace's declares all take its counter row (numbers are gap-free), so one at a
//! time they queue on that row lock, each for its own transaction's statements and
//! commit. Here they queue in the process instead: the first declare of a workspace
//! starts a worker for it, and every declare that arrives while the worker's transaction
//! runs waits for the next one. The worker applies what waits — up to [`MAX_BATCH`] — in
//! ONE transaction ([`declare_all`]: one lock, one multi-row statement each for the
//! numbers and incidents, the services, the timeline entries and the outbox rows; one
//! commit), then answers each declare. A lone declare waits for nothing; under load the
//! batches grow, so the cost per declare falls as the load rises.
//!
//! A refused declare (422, 409) is decided by reads before the batch writes: it takes no
//! number and the rest of the batch goes on. A batch whose writes fail (one member's row
//! refused by the database, say) is rolled back whole and each member is applied again
//! alone, so only the failing one answers its error (503) and the others are declared. A
//! batch whose commit fails answers every member 503: whether it committed is unknown
//! then, and only a retry with its idempotency key is safe.
//!
//! The queues are the process's, keyed by workspace id (unique across databases, so every
//! router built in the process shares them); the worker uses the pool of the declare that
//! started it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{LazyLock, Mutex};

use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::Actor;
use super::declare::{
    DeclareIncident, DeclareKey, DeclareRequest, Declared, declare_all, is_key_taken,
};
use crate::error::{DomainError, DomainResult};

/// The most declares one transaction applies.
pub const MAX_BATCH: usize = 64;

/// A declare waiting for its workspace's worker.
struct Job {
    actor: Actor,
    input: DeclareIncident,
    key: Option<DeclareKey>,
    /// The caller's span: the declare's events continue its trace.
    span: tracing::Span,
    answer: oneshot::Sender<DomainResult<Declared>>,
}

/// The declares waiting, per workspace; a workspace is here while its worker runs.
static WAITING: LazyLock<Mutex<HashMap<Uuid, Vec<Job>>>> = LazyLock::new(Default::default);

fn waiting() -> std::sync::MutexGuard<'static, HashMap<Uuid, Vec<Job>>> {
    WAITING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Declares `input` for `actor` in a transaction of `pool` shared with the other declares
/// of the workspace waiting at the same time, and answers once it committed.
pub async fn declare(
    pool: &PgPool,
    actor: Actor,
    input: DeclareIncident,
    key: Option<DeclareKey>,
) -> DomainResult<Declared> {
    let (answer, answered) = oneshot::channel();
    let job = Job {
        actor,
        input,
        key,
        span: tracing::Span::current(),
        answer,
    };
    let start = match waiting().entry(actor.workspace_id) {
        Entry::Occupied(mut queue) => {
            queue.get_mut().push(job);
            false
        }
        Entry::Vacant(slot) => {
            slot.insert(vec![job]);
            true
        }
    };
    if start {
        tokio::spawn(work(pool.clone(), actor.workspace_id));
    }
    // The worker dropped the declare unanswered only if it was itself stopped (its
    // runtime shut down): nothing of it was committed.
    answered.await.unwrap_or_else(|_| Err(unavailable()))
}

/// Takes the workspace's queue off the map if the worker ends otherwise than by finding
/// it empty (a panic, its runtime stopping): the declares in it are answered 503 and the
/// next declare starts a new worker.
struct Leave(Option<Uuid>);

impl Drop for Leave {
    fn drop(&mut self) {
        if let Some(workspace) = self.0.take() {
            waiting().remove(&workspace);
        }
    }
}

/// The worker of `workspace`: a batch at a time until none waits.
async fn work(pool: PgPool, workspace: Uuid) {
    let mut leave = Leave(Some(workspace));
    loop {
        let batch: Vec<Job> = {
            let mut queues = waiting();
            let Some(queue) = queues.get_mut(&workspace) else {
                break;
            };
            if queue.is_empty() {
                queues.remove(&workspace);
                leave.0 = None;
                break;
            }
            let n = queue.len().min(MAX_BATCH);
            queue.drain(..n).collect()
        };
        apply(&pool, workspace, batch).await;
    }
}

/// Applies `batch` in one transaction and answers each of its declares.
async fn apply(pool: &PgPool, workspace: Uuid, batch: Vec<Job>) {
    let requests: Vec<DeclareRequest<'_>> = batch
        .iter()
        .map(|job| DeclareRequest {
            actor: job.actor,
            input: &job.input,
            key: job.key.as_ref(),
            cause: None,
            span: Some(&job.span),
        })
        .collect();
    let mut outcome = attempt(pool, workspace, &requests).await;
    for _ in 0..2 {
        // Another process took a key of the batch: again, and its checks find it.
        match &outcome {
            Err(Failed::Writing(e)) if is_key_taken(e) => {
                outcome = attempt(pool, workspace, &requests).await;
            }
            _ => break,
        }
    }
    let answers = match outcome {
        Ok(answers) => answers.into_iter().map(Some).collect(),
        // Rolled back before its commit: each member alone, so one member's failure is
        // its own.
        Err(Failed::Writing(failed)) if requests.len() > 1 => {
            tracing::warn!(
                workspace_id = %workspace, declares = requests.len(), error = %failed,
                "a batch of declares failed to write; applying each alone"
            );
            let mut answers = Vec::with_capacity(requests.len());
            for request in &requests {
                answers.push(
                    match attempt(pool, workspace, std::slice::from_ref(request)).await {
                        Ok(mut one) => one.pop(),
                        Err(Failed::Writing(e) | Failed::Committing(e)) => Some(Err(each(&e))),
                    },
                );
            }
            answers
        }
        Err(Failed::Writing(failed) | Failed::Committing(failed)) => {
            tracing::error!(
                workspace_id = %workspace, declares = requests.len(), error = %failed,
                "a batch of declares failed; it is answered as unavailable"
            );
            requests.iter().map(|_| Some(Err(each(&failed)))).collect()
        }
    };
    drop(requests);
    for (job, answer) in batch.into_iter().zip(answers) {
        // A declare whose caller went away is committed all the same.
        let _ = job
            .answer
            .send(answer.unwrap_or_else(|| Err(unavailable())));
    }
}

/// Why a batch's transaction did not commit.
enum Failed {
    /// Before the commit: rolled back, nothing of it happened.
    Writing(DomainError),
    /// The commit itself: whether it happened is unknown.
    Committing(DomainError),
}

/// `requests` in one transaction of `pool`.
async fn attempt(
    pool: &PgPool,
    workspace: Uuid,
    requests: &[DeclareRequest<'_>],
) -> Result<Vec<DomainResult<Declared>>, Failed> {
    let mut tx = pool.begin().await.map_err(|e| Failed::Writing(e.into()))?;
    let answers = declare_all(&mut tx, workspace, requests)
        .await
        .map_err(Failed::Writing)?;
    tx.commit()
        .await
        .map_err(|e| Failed::Committing(e.into()))?;
    Ok(answers)
}

/// The error each declare of a failed batch answers with.
fn each(failed: &DomainError) -> DomainError {
    match failed {
        DomainError::NotFound(what) => DomainError::NotFound(what),
        _ => unavailable(),
    }
}

/// A database failure the client may retry (503): nothing of the declare was committed.
fn unavailable() -> DomainError {
    DomainError::Database(sqlx::Error::Io(std::io::Error::other(
        "the transaction of a batch of declares failed",
    )))
}
