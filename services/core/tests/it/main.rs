//! Integration tests of the core service: the real router on 127.0.0.1:0 against a
//! fresh database per test (and a RabbitMQ vhost where messages matter).

mod analytics;
mod api;
mod bootstrap;
mod browser;
mod commands;
mod declare;
mod group_commit;
mod lifecycle;
mod numbering;
mod privacy;
mod sso;
mod support;
mod tenancy;
mod token_cache;
mod web;
mod web_analytics;
mod web_pages;
mod web_settings;
mod webhooks;
