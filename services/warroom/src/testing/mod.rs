//! Test support for the war room and for whoever tests it from outside (the system tests,
//! the fault suite, the benchmark): [`fake_slack::FakeSlack`], a stateful fake of Slack's
//! Web API. Compiled only with the `testing` feature.

pub mod fake_slack;
