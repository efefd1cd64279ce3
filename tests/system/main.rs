//! Whole-system tests: the stack in process against real PostgreSQL and RabbitMQ.

mod client;
mod deploy;
mod drills;
mod first_install;
mod ingress;
mod metrics;
mod openapi;
mod problems;
mod startup;
mod traces;
