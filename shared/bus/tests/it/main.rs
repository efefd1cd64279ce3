//! Integration tests of the bus against real RabbitMQ (a vhost per test) and real
//! Postgres (a database per test). One binary for the crate: linking dominates on 2 cores.

mod consumer;
mod contract;
mod dispatch;
mod lanes;
mod outbox;
mod shutdown;
mod supervisor;
mod support;
mod topology;
