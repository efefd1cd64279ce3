//! Typed handlers: a consumer says which contract messages it handles, and the bus parses
//! each payload once into its type before calling it.
//!
//! A [`Dispatch`] is a consumer's table of routes, one per message type
//! ([`Dispatch::on`], which needs the consumer to implement [`Handles`] for that type).
//! For each delivery it finds the route by the envelope's `type`, parses `data` into the
//! type (a payload that does not parse is a permanent failure: dead-lettered with the
//! reason) and runs the handler in the runner's transaction. A type it has no route for
//! goes to its fallback ([`Dispatch::otherwise`]): acknowledged and ignored unless the
//! consumer says otherwise (a command queue refuses commands it does not know).
//!
//! The table is built once (a consumer keeps it in a `static` `LazyLock` or in itself);
//! finding a route compares a handful of strings, and parsing reads `data` once.

use std::future::Future;

use futures_util::future::BoxFuture;
use incident_schema::contract::Message;
use sqlx::PgConnection;

use crate::consumer::HandlerError;
use crate::envelope::Envelope;

/// A consumer's handling of the contract message `M`, in the runner's transaction.
pub trait Handles<M: Message>: Send + Sync + 'static {
    /// Applies `payload`, the parsed `data` of `message`.
    fn handle(
        &self,
        tx: &mut PgConnection,
        message: &Envelope,
        payload: M,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

type Route<S> = for<'a> fn(
    &'a S,
    &'a mut PgConnection,
    &'a Envelope,
) -> BoxFuture<'a, Result<(), HandlerError>>;

/// What becomes of a message no route takes.
pub type Fallback = fn(&Envelope) -> Result<(), HandlerError>;

/// A consumer's typed routes, by message type.
pub struct Dispatch<S> {
    routes: Vec<(&'static str, Route<S>)>,
    otherwise: Fallback,
}

impl<S: Send + Sync + 'static> Default for Dispatch<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Send + Sync + 'static> Dispatch<S> {
    /// No routes; every message is acknowledged and ignored.
    pub fn new() -> Self {
        Self {
            routes: Vec::new(),
            otherwise: |_| Ok(()),
        }
    }

    /// Routes `M` to `S`'s [`Handles<M>`].
    ///
    /// # Panics
    /// If `M` already has a route: one type, one handler.
    pub fn on<M: Message>(mut self) -> Self
    where
        S: Handles<M>,
    {
        assert!(
            !self.routes.iter().any(|(name, _)| *name == M::TYPE),
            "{} is routed twice",
            M::TYPE
        );
        self.routes.push((M::TYPE, route::<S, M>));
        self
    }

    /// What to do with a message no route takes (by default: acknowledge and ignore).
    pub fn otherwise(mut self, fallback: Fallback) -> Self {
        self.otherwise = fallback;
        self
    }

    /// Whether `message_type` has a route.
    pub fn routes(&self, message_type: &str) -> bool {
        self.routes.iter().any(|(name, _)| *name == message_type)
    }

    /// Parses `message` into its route's type and runs `state`'s handler for it.
    pub fn dispatch<'a>(
        &'a self,
        state: &'a S,
        tx: &'a mut PgConnection,
        message: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        match self
            .routes
            .iter()
            .find(|(name, _)| *name == message.message_type)
        {
            Some((_, route)) => route(state, tx, message),
            None => Box::pin(std::future::ready((self.otherwise)(message))),
        }
    }
}

/// A refusal of a message type the consumer does not know: for a command queue, where a
/// command nobody applies is a contract violation.
pub fn unknown_command(message: &Envelope) -> Result<(), HandlerError> {
    Err(HandlerError::permanent(format!(
        "unknown command {}",
        message.message_type
    )))
}

fn route<'a, S: Handles<M>, M: Message>(
    state: &'a S,
    tx: &'a mut PgConnection,
    message: &'a Envelope,
) -> BoxFuture<'a, Result<(), HandlerError>> {
    Box::pin(async move {
        let payload = parse::<M>(message)?;
        state.handle(tx, message, payload).await
    })
}

/// `message`'s `data` as `M`; a payload that does not parse violates the contract.
pub fn parse<M: Message>(message: &Envelope) -> Result<M, HandlerError> {
    M::deserialize(&message.data)
        .map_err(|e| HandlerError::permanent(format!("{}: invalid data: {e}", M::TYPE)))
}
