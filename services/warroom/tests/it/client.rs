//! The Web API client against the fake: encodings, typed errors, 429 and retries.

use std::time::Duration;

use incident_warroom::slack::SlackClient;
use incident_warroom::slack::client::RetryConfig;
use secrecy::SecretString;

use crate::fake_slack::{FakeSlack, Fault, TOKEN};

fn client(fake: &FakeSlack, token: &str) -> SlackClient {
    SlackClient::new(&fake.api_url(), SecretString::from(token.to_owned()))
        .expect("client")
        .with_retry(RetryConfig {
            min_delay: Duration::from_millis(5),
            ..RetryConfig::default()
        })
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let fake = FakeSlack::start().await;
    fake.inject(Some("conversations.create"), Fault::RateLimited(1));
    let slack = client(&fake, TOKEN);
    let channel = slack
        .create_channel("inc-1-rate")
        .await
        .expect("created after the 429");
    let calls = fake.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].outcome, "http_429");
    assert_eq!(calls[1].outcome, "ok");
    assert!(
        calls[1].at.duration_since(calls[0].at) >= Duration::from_secs(1),
        "waited Retry-After"
    );
    assert_eq!(
        fake.channel(&channel.id).expect("channel").name,
        "inc-1-rate"
    );
}

#[tokio::test]
async fn a_5xx_is_retried_for_idempotent_methods_but_never_for_posts() {
    let fake = FakeSlack::start().await;
    let slack = client(&fake, TOKEN);
    let channel = slack.create_channel("inc-2-retry").await.expect("channel");
    fake.inject(Some("conversations.setTopic"), Fault::ServerError);
    slack
        .set_topic(&channel.id, "topic")
        .await
        .expect("topic after a retry");
    fake.inject(Some("chat.postMessage"), Fault::ServerError);
    let error = slack
        .post_message(&channel.id, "hello", None)
        .await
        .expect_err("not retried");
    assert!(error.is_transient());
    assert!(fake.messages(&channel.id).is_empty());
}

#[tokio::test]
async fn slack_errors_surface_with_their_code() {
    let fake = FakeSlack::start().await;
    let slack = client(&fake, TOKEN);
    let error = slack.set_topic("CNOPE", "x").await.expect_err("no channel");
    assert_eq!(error.code(), Some("channel_not_found"));
    assert!(!error.is_transient());
    assert_eq!(
        client(&fake, "xoxb-wrong")
            .auth_test()
            .await
            .expect_err("bad token")
            .code(),
        Some("invalid_auth")
    );
    fake.revoke_scope("pins:write");
    let channel = slack.create_channel("inc-3-scope").await.expect("channel");
    let ts = slack
        .post_message(&channel.id, "x", None)
        .await
        .expect("ts");
    let error = slack.pin(&channel.id, &ts).await.expect_err("scope");
    assert_eq!(error.code(), Some("missing_scope"));
    assert!(error.to_string().contains("pins:write"), "{error}");
}

#[tokio::test]
async fn the_fake_enforces_names_membership_and_archives() {
    let fake = FakeSlack::start().await;
    let slack = client(&fake, TOKEN);
    for (name, code) in [
        ("", "invalid_name_required"),
        ("Has Caps", "invalid_name_specials"),
        ("---", "invalid_name_punctuation"),
    ] {
        assert_eq!(
            slack.create_channel(name).await.expect_err(name).code(),
            Some(code)
        );
    }
    let long = "a".repeat(81);
    assert_eq!(
        slack.create_channel(&long).await.expect_err("long").code(),
        Some("invalid_name_maxlength")
    );
    fake.add_archived_channel("inc-9-old");
    assert_eq!(
        slack
            .create_channel("inc-9-old")
            .await
            .expect_err("taken")
            .code(),
        Some("name_taken")
    );
    let channel = slack.create_channel("inc-9-new").await.expect("channel");
    fake.add_user("UX000001", "x@example.com", "X");
    slack
        .invite(&channel.id, &["UX000001".to_owned()])
        .await
        .expect("invite");
    let again = slack
        .invite(&channel.id, &["UX000001".to_owned()])
        .await
        .expect_err("again");
    assert_eq!(again.code(), Some("already_in_channel"));
    assert_eq!(
        slack
            .lookup_by_email("nobody@example.com")
            .await
            .expect_err("none")
            .code(),
        Some("users_not_found")
    );
    assert_eq!(
        slack
            .lookup_by_email("x@example.com")
            .await
            .expect("found")
            .id,
        "UX000001"
    );
    slack.archive(&channel.id).await.expect("archive");
    assert_eq!(
        slack.archive(&channel.id).await.expect_err("twice").code(),
        Some("already_archived")
    );
    assert_eq!(
        slack
            .set_topic(&channel.id, "t")
            .await
            .expect_err("archived")
            .code(),
        Some("is_archived")
    );
    let trigger = fake.trigger_id();
    let modal = serde_json::json!({ "type": "modal", "title": { "type": "plain_text", "text": "A form" },
                                    "blocks": [] });
    slack.open_view(&trigger, &modal).await.expect("view");
    assert_eq!(
        slack
            .open_view(&trigger, &modal)
            .await
            .expect_err("reused")
            .code(),
        Some("exchanged_trigger_id")
    );
}

#[tokio::test]
async fn the_fake_updates_only_an_open_modal_at_its_latest_hash() {
    let fake = FakeSlack::start().await;
    let slack = client(&fake, TOKEN);
    let modal = |title: &str| {
        serde_json::json!({ "type": "modal", "title": { "type": "plain_text", "text": title },
                            "blocks": [] })
    };
    slack
        .open_view(&fake.trigger_id(), &modal("First"))
        .await
        .expect("open");
    let (id, (hash, _)) = fake.modals().into_iter().next().expect("a modal");
    let code = |e: incident_warroom::slack::client::SlackError| e.code().map(str::to_owned);
    assert_eq!(
        code(
            slack
                .update_view("V404", &hash, &modal("X"))
                .await
                .expect_err("unknown")
        ),
        Some("not_found".to_owned())
    );
    assert_eq!(
        code(
            slack
                .update_view(&id, &hash, &modal("A title far longer than 24"))
                .await
                .expect_err("title")
        ),
        Some("invalid_arguments".to_owned())
    );
    slack
        .update_view(&id, &hash, &modal("Second"))
        .await
        .expect("update at the latest hash");
    assert_eq!(
        code(
            slack
                .update_view(&id, &hash, &modal("Third"))
                .await
                .expect_err("stale")
        ),
        Some("hash_conflict".to_owned())
    );
    let (_, (_, view)) = fake.modals().into_iter().next().expect("a modal");
    assert_eq!(view["title"]["text"], "Second");
    assert_eq!(fake.view_updates().len(), 1);
}
