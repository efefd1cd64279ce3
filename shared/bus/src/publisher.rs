//! Publishing with publisher confirms. A message counts as sent only when the broker
//! acknowledged it (`Ack(None)`): a nack, an unroutable mandatory message or a lost
//! connection is an error the caller must act on (the outbox relay leaves the row
//! unpublished and tries again).
//!
//! Messages are persistent (delivery mode 2) and repeat the envelope's id and type in
//! the AMQP `message_id` and `type` properties.

use lapin::options::BasicPublishOptions;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, PublisherConfirm};

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No broker connection right now; the supervisor is reconnecting.
    #[error("not connected to the broker")]
    NotConnected,
    /// The broker connection or channel failed.
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
    /// The broker refused the message (for example a queue at its length limit).
    #[error("the broker refused the message (nack)")]
    Nacked,
    /// A mandatory message (a command) matched no queue: its owner has not declared one.
    #[error("no queue is bound for {exchange} / {routing_key}")]
    Unroutable {
        /// The exchange published to.
        exchange: String,
        /// The routing key that matched nothing.
        routing_key: String,
    },
    /// The envelope could not be serialised.
    #[error("cannot serialise the message: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl PublishError {
    /// Whether trying again later may succeed (everything but a bad message).
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::Serialize(_))
    }
}

/// One message ready for the wire.
#[derive(Debug, Clone, Copy)]
pub struct RawMessage<'a> {
    /// Target exchange.
    pub exchange: &'a str,
    /// Routing key.
    pub routing_key: &'a str,
    /// AMQP `message_id` (the envelope id).
    pub message_id: &'a str,
    /// AMQP `type` (the envelope type).
    pub message_type: &'a str,
    /// The serialised envelope.
    pub body: &'a [u8],
    /// Must reach a queue (commands); unroutable is then an error.
    pub mandatory: bool,
}

/// A confirm-mode channel. Cheap to clone; safe to use from several tasks.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
}

impl Publisher {
    pub(crate) fn new(channel: Channel) -> Self {
        Self { channel }
    }

    /// Sends a message and returns the pending confirm, so callers can pipeline many
    /// messages and await their confirms together.
    pub async fn send(
        &self,
        message: RawMessage<'_>,
        headers: FieldTable,
    ) -> Result<PendingConfirm, PublishError> {
        let properties = BasicProperties::default()
            .with_message_id(message.message_id.into())
            .with_type(message.message_type.into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_headers(headers);
        let confirm = self
            .channel
            .basic_publish(
                message.exchange.into(),
                message.routing_key.into(),
                BasicPublishOptions {
                    mandatory: message.mandatory,
                    ..BasicPublishOptions::default()
                },
                message.body,
                properties,
            )
            .await?;
        Ok(PendingConfirm {
            confirm,
            exchange: message.exchange.to_owned(),
            routing_key: message.routing_key.to_owned(),
        })
    }

    /// Sends one message and waits for its confirm.
    pub async fn publish(
        &self,
        message: RawMessage<'_>,
        headers: FieldTable,
    ) -> Result<(), PublishError> {
        self.send(message, headers).await?.wait().await
    }
}

/// A message sent but not yet confirmed.
pub struct PendingConfirm {
    confirm: PublisherConfirm,
    exchange: String,
    routing_key: String,
}

impl PendingConfirm {
    /// Waits for the broker's verdict; `Ok` only on a plain ack.
    pub async fn wait(self) -> Result<(), PublishError> {
        match self.confirm.await? {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => Err(PublishError::Unroutable {
                exchange: self.exchange,
                routing_key: self.routing_key,
            }),
            Confirmation::Nack(_) => Err(PublishError::Nacked),
            // The channel is opened in confirm mode by the supervisor, so the broker always
            // confirms; treat the impossible case as unsent rather than sent.
            Confirmation::NotRequested => Err(PublishError::Nacked),
        }
    }
}
