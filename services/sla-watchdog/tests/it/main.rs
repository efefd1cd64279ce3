//! Integration tests of the SLA watchdog against real Postgres (a database per test) and,
//! for the broker outage, real RabbitMQ (a vhost per test). One binary for the crate:
//! linking dominates on 2 cores.

mod breaches;
mod cadence;
mod digest;
mod drill_api;
mod drill_commands;
mod drill_runs;
mod drills;
mod outages;
mod overdue;
mod pages;
mod replicas;
mod rollups;
mod startup;
mod support;
mod warnings;
mod weekly;
