//! What the worker says to an agent while it runs, for the protocols that talk back:
//! the opening messages (the prompt, a session to resume), answers to permission
//! requests, an interrupt for a graceful stop, and the end of input.
//!
//! A driver sees every stdout line before the normalizer does (which still sees them
//! all: the entries come from the normalizer, never from the driver). Writing is
//! synchronous, through an unbounded stdin queue, so a driver never blocks the pump.

use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The `type` of a JSON message, read without building the message: a driver sees every
/// line an agent prints (most of them its output) and acts on a few kinds only.
pub fn message_type(raw: &str) -> Option<std::borrow::Cow<'_, str>> {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_str::<Head>(raw).ok()?.kind
}

/// A tool call the agent asks permission for.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolRequest {
    /// The protocol's id of the request, to answer it by (a string or a JSON-RPC id).
    pub request_id: Value,
    pub tool_name: String,
    /// The agent's id of the tool call, matching the log entry's.
    pub tool_call_id: Option<String>,
    pub input: Value,
}

/// What a stdout line means for the conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum DriverEvent {
    /// Nothing the driver acts on.
    Other,
    /// The agent waits for a decision on a tool call.
    Permission(ToolRequest),
    /// The turn is over: the worker ends the agent's input so it exits.
    TurnEnded,
}

/// The worker's side of one agent process's protocol.
pub trait AgentDriver: Send + Sync {
    /// Hands the driver the sandbox's network, for an agent whose server listens on the
    /// sandbox's own loopback (the worker is outside it).
    fn attach_sandbox(&self, _bridge: crate::sandbox::net::Bridge) {}
    /// Reads one stdout line; may answer on stdin right away (handshakes).
    fn observe(&self, line: &str) -> DriverEvent;
    /// Answers a permission request.
    fn answer(&self, request: &ToolRequest, allow: bool, reason: &str);
    /// Asks the agent to stop its turn (the graceful first step of a stop).
    fn interrupt(&self);
    /// Ends the agent's input.
    fn end_input(&self);
    /// Why the turn failed, when the agent said so: some agents exit 0 after a failed
    /// turn, so the exit code alone would call it a success.
    fn turn_failure(&self) -> Option<String> {
        None
    }
}

/// A started driver and the stdin the runner feeds the process from.
pub struct Started {
    pub driver: Arc<dyn AgentDriver>,
    pub stdin: mpsc::UnboundedReceiver<Vec<u8>>,
}

/// The write end of an agent's stdin, shared by the driver's clones; closing it closes
/// the process's stdin for all of them.
#[derive(Clone)]
pub struct Stdin {
    tx: Arc<Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>>,
}

impl Stdin {
    /// A new stdin and the receiver the runner reads from.
    pub fn open() -> (Stdin, mpsc::UnboundedReceiver<Vec<u8>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Stdin {
                tx: Arc::new(Mutex::new(Some(tx))),
            },
            rx,
        )
    }

    /// Writes one JSON message as a line. After `close`, or once the process is gone,
    /// it is dropped: the process's exit is handled elsewhere.
    pub fn send(&self, message: &Value) {
        let mut bytes = message.to_string().into_bytes();
        bytes.push(b'\n');
        if let Ok(tx) = self.tx.lock()
            && let Some(tx) = tx.as_ref()
        {
            let _ = tx.send(bytes);
        }
    }

    /// Closes the process's stdin.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            *tx = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::message_type;

    #[test]
    fn a_messages_type_is_its_own_top_level_field_however_it_is_written() {
        let nested =
            r#"{"message":{"type":"message","content":[{"type":"text"}]},"type":"assistant"}"#;
        assert_eq!(message_type(nested).as_deref(), Some("assistant"));
        let escaped = r#"{"request_id":"1","type":"control\u005frequest"}"#;
        assert_eq!(message_type(escaped).as_deref(), Some("control_request"));
        assert_eq!(message_type(r#"{"subtype":"init"}"#), None);
        assert_eq!(message_type(r#"{"type":7}"#), None);
        assert_eq!(message_type("Loading…"), None);
    }
}
