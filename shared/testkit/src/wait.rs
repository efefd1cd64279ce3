//! Waiting for asynchronous effects without fixed sleeps.

use std::time::Duration;

/// Polls `check` every 50 ms until it holds; fails the test naming `what` after
/// `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_some(timeout, what, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// Polls `check` every 50 ms until it yields a value, and returns it; fails the test
/// naming `what` after `timeout`.
pub async fn eventually_some<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
