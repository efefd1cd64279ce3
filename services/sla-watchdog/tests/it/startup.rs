//! Start-up: a digest schedule that cannot be used stops the service before it starts.

use incident_runtime::Config;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn an_unparsable_digest_schedule_stops_start_up_with_an_error_naming_its_key() {
    // Nothing is contacted: the schedule is checked before anything starts.
    let pool = PgPoolOptions::new()
        .connect_lazy("postgres://postgres@127.0.0.1:5432/unused")
        .expect("a lazy pool");
    let mut config = Config::for_urls(
        "postgres://postgres@127.0.0.1:5432/unused",
        "amqp://guest:guest@127.0.0.1:5672/unused",
    )
    .expect("configuration");
    for bad in ["0 0 25 * * *", "0 0 9 * * mon-funday", "0 0 0 30 2 *"] {
        config.sla_digest_cron = bad.into();
        let shutdown = CancellationToken::new();
        let error = match incident_sla_watchdog::start(config.clone(), pool.clone(), shutdown).await
        {
            Ok(_) => panic!("`{bad}` was accepted"),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.contains("INCIDENT_SLA_DIGEST_CRON"), "{error}");
        assert!(error.contains(bad), "{error}");
    }
}
