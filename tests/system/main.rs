//! Whole-system tests: the stack in process against real PostgreSQL and RabbitMQ.

mod startup;
