//! Whole-system tests: the stack in process against real PostgreSQL and RabbitMQ.

mod first_install;
mod metrics;
mod openapi;
mod problems;
mod startup;
mod traces;
