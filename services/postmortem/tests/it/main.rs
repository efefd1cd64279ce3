//! Integration tests of the postmortem service: core's and this service's routers on
//! 127.0.0.1:0 against a fresh database per test, a RabbitMQ vhost where messages matter,
//! and wiremock standing in for the LLM.

mod action_items;
mod api;
mod browser;
mod drafts;
mod export;
mod llm;
mod pages;
mod privacy;
mod review;
mod settings_page;
mod support;
mod tenancy;
mod trackers;
mod web_pages;
