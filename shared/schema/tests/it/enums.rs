//! Every enum's spelling: the Rust list equals the Postgres enum's labels in order, every
//! variant survives the database both ways, and `Display`, `FromStr` and serde agree.

use std::str::FromStr;

use incident_schema::{
    AccessRole, ActionItemPriority, ActionItemStatus, AlertGroupStatus, AlertStatus,
    IncidentNumber, IncidentStatus, IntegrationKind, ParseError, PostmortemStatus, Role,
    ServiceImpact, Severity, SlaEventKind, SlaTarget, TimelineKind, Visibility,
};
use sqlx::{AssertSqlSafe, PgPool};

/// Checks one Postgres-backed enum against its type `$pg`.
macro_rules! assert_postgres_enum {
    ($pool:expr, $ty:ty, $pg:literal) => {{
        let labels: Vec<String> =
            sqlx::query_scalar(concat!("SELECT enum_range(NULL::", $pg, ")::text[]"))
                .fetch_one($pool)
                .await?;
        assert_eq!(labels, <$ty>::SPELLINGS, "{} labels", $pg);
        assert_eq!(<$ty>::ALL.len(), <$ty>::SPELLINGS.len());

        for &value in <$ty>::ALL {
            // Rust to Postgres: the bound value arrives as its label. (Not persistent:
            // sqlx caches a prepared statement by its text, parameter types included, so
            // the same text bound with the next enum would reuse this one's types.)
            let label: String = sqlx::query_scalar("SELECT $1::text")
                .bind(value)
                .persistent(false)
                .fetch_one($pool)
                .await?;
            assert_eq!(label, value.as_str());

            // Postgres to Rust: the label decodes to the value.
            let decoded: $ty =
                sqlx::query_scalar(AssertSqlSafe(format!("SELECT $1::text::{}", $pg)))
                    .bind(value.as_str())
                    .fetch_one($pool)
                    .await?;
            assert_eq!(decoded, value);

            // And back through a column of the type.
            let echoed: $ty = sqlx::query_scalar("SELECT $1")
                .bind(value)
                .persistent(false)
                .fetch_one($pool)
                .await?;
            assert_eq!(echoed, value);
        }
        assert_text_forms::<$ty>();
    }};
}

/// `Display`, `FromStr` and serde agree on every variant, and parsing ignores case.
fn assert_text_forms<T>()
where
    T: SpelledEnum,
{
    for (&value, &spelling) in T::all().iter().zip(T::spellings()) {
        assert_eq!(value.to_string(), spelling);
        assert_eq!(T::from_str(spelling), Ok(value));
        assert_eq!(T::from_str(&spelling.to_lowercase()), Ok(value));
        assert_eq!(T::from_str(&spelling.to_uppercase()), Ok(value));
        assert_eq!(
            serde_json::to_value(value).ok(),
            Some(serde_json::json!(spelling))
        );
        assert_eq!(
            serde_json::from_value::<T>(serde_json::json!(spelling)).ok(),
            Some(value)
        );
    }
    let error = T::from_str("nonsense").err();
    assert_eq!(
        error.map(|e| (e.value, e.allowed)),
        Some(("nonsense".to_owned(), T::spellings()))
    );
}

/// What every domain enum offers, so one function can check them all.
trait SpelledEnum:
    Copy
    + std::fmt::Debug
    + std::fmt::Display
    + PartialEq
    + FromStr<Err = ParseError>
    + serde::Serialize
    + serde::de::DeserializeOwned
    + 'static
{
    fn all() -> &'static [Self];
    fn spellings() -> &'static [&'static str];
}

macro_rules! spelled {
    ($($ty:ty),+) => {
        $(impl SpelledEnum for $ty {
            fn all() -> &'static [Self] { <$ty>::ALL }
            fn spellings() -> &'static [&'static str] { <$ty>::SPELLINGS }
        })+
    };
}

spelled!(
    Severity,
    IncidentStatus,
    Visibility,
    ServiceImpact,
    TimelineKind,
    AccessRole,
    SlaTarget,
    SlaEventKind,
    IntegrationKind,
    AlertStatus,
    AlertGroupStatus,
    PostmortemStatus,
    ActionItemStatus,
    ActionItemPriority,
    Role
);

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn every_enum_matches_its_postgres_type_and_round_trips(pool: PgPool) -> anyhow::Result<()> {
    let pool = &pool;
    assert_postgres_enum!(pool, Severity, "incident_severity");
    assert_postgres_enum!(pool, IncidentStatus, "incident_status");
    assert_postgres_enum!(pool, Visibility, "incident_visibility");
    assert_postgres_enum!(pool, ServiceImpact, "service_impact");
    assert_postgres_enum!(pool, TimelineKind, "timeline_kind");
    assert_postgres_enum!(pool, AccessRole, "access_role");
    assert_postgres_enum!(pool, SlaTarget, "sla_target");
    assert_postgres_enum!(pool, SlaEventKind, "sla_event_kind");
    assert_postgres_enum!(pool, IntegrationKind, "integration_kind");
    assert_postgres_enum!(pool, AlertStatus, "alert_status");
    assert_postgres_enum!(pool, AlertGroupStatus, "alert_group_status");
    assert_postgres_enum!(pool, PostmortemStatus, "postmortem_status");
    assert_postgres_enum!(pool, ActionItemStatus, "action_item_status");
    assert_postgres_enum!(pool, ActionItemPriority, "action_item_priority");
    Ok(())
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn enums_bind_as_arrays(pool: PgPool) -> anyhow::Result<()> {
    let open: Vec<IncidentStatus> = IncidentStatus::ALL
        .iter()
        .copied()
        .filter(|s| s.is_open())
        .collect();

    let echoed: Vec<IncidentStatus> = sqlx::query_scalar("SELECT unnest($1::incident_status[])")
        .bind(&open)
        .fetch_all(&pool)
        .await?;

    assert_eq!(echoed, open);
    Ok(())
}

#[test]
fn severity_displays_as_sev1_not_sevsev1() {
    assert_eq!(Severity::Sev1.to_string(), "SEV1");
    assert_eq!(format!("[{}]", Severity::Sev4), "[SEV4]");
    assert_eq!(format!("{:<6}|", Severity::Sev2), "SEV2  |");
}

#[test]
fn role_text_forms_are_lowercase_and_serde_agrees() {
    assert_text_forms::<Role>();
    assert_eq!(Role::TechLead.to_string(), "tech_lead");
    assert_eq!(Role::Commander.title(), "Incident Commander");
}

#[sqlx::test(migrator = "incident_schema::MIGRATOR")]
async fn every_role_names_a_user_column_of_incidents(pool: PgPool) -> anyhow::Result<()> {
    for role in Role::ALL {
        let references_users: bool = sqlx::query_scalar(
            "SELECT EXISTS (
                 SELECT 1 FROM information_schema.columns
                 WHERE table_name = 'incidents' AND column_name = $1 AND data_type = 'uuid'
             )",
        )
        .bind(role.column())
        .fetch_one(&pool)
        .await?;
        assert!(references_users, "{role} -> {}", role.column());
    }
    Ok(())
}

#[test]
fn parse_errors_name_the_bad_value_and_the_allowed_ones() {
    let error = "SEV5".parse::<Severity>().err();

    assert_eq!(
        error.map(|e| e.to_string()),
        Some(r#"invalid severity "SEV5": expected one of SEV1, SEV2, SEV3, SEV4"#.to_owned())
    );
}

#[test]
fn access_roles_include_the_ones_below_them() {
    use AccessRole::*;
    assert!(Admin.includes(Responder) && Admin.includes(Viewer) && Admin.includes(Admin));
    assert!(Responder.includes(Viewer) && Responder.includes(Responder));
    assert!(!Responder.includes(Admin));
    assert!(!Viewer.includes(Responder) && !Viewer.includes(Admin));
}

#[test]
fn incident_numbers_display_as_inc_and_parse_in_any_case() {
    assert_eq!(IncidentNumber(42).to_string(), "INC-42");
    assert_eq!("INC-42".parse(), Ok(IncidentNumber(42)));
    assert_eq!("inc-42".parse(), Ok(IncidentNumber(42)));
    assert_eq!("Inc-7".parse(), Ok(IncidentNumber(7)));
    assert_eq!(
        serde_json::to_value(IncidentNumber(42)).ok(),
        Some(serde_json::json!(42))
    );
}

#[test]
fn malformed_incident_numbers_are_rejected() {
    for bad in [
        "",
        "INC-",
        "INC-0",
        "INC--1",
        "INC-+1",
        "INC-4x",
        "42",
        "INC42",
        "INC-99999999999",
        "Ä",
        "INC- 1",
    ] {
        let error = bad.parse::<IncidentNumber>().err();
        assert_eq!(error.map(|e| e.value), Some(bad.to_owned()), "{bad:?}");
    }
}
