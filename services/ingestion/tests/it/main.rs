//! Integration tests of the ingestion service: the real router on 127.0.0.1:0 against a
//! fresh database per test, a RabbitMQ vhost where messages matter, core running beside
//! it for the end-to-end flows, a real Alertmanager, and the binary killed mid-burst.

mod alertmanager;
mod amqp;
mod crash;
mod defaults;
mod explain;
mod flow;
mod grafana_oncall;
mod integration_pages;
mod integrations;
mod links;
mod openapi;
mod opsgenie;
mod pagerduty;
mod pages;
mod races;
mod storm;
mod support;
mod webhooks;
