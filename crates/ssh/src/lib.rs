//! Gantry's SSH layer: the one way remote modules reach a server.
//!
//! It owns private-key parsing and generation (keys stay in memory, never
//! on disk), host-key pinning checked inside the handshake, connect and
//! command timeouts with keepalives, per-server connection reuse with idle
//! close, commands built only from argument vectors through one quoting
//! function, atomic file upload, bounded output capture, plain HTTP requests
//! to the server's own loopback ports through the connection (`direct-tcpip`,
//! so Gantry can ask a server's nginx what it serves), and fan-out across
//! many servers under one global concurrency bound.
//!
//! It knows nothing about Gantry's database or HTTP API: callers hand it a
//! [`Target`] and get typed errors ([`SshError`]) whose variants name the
//! step that failed, so the servers module can tell an operator what to fix.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::await_holding_lock)]

mod conn;
mod fanout;
pub mod keys;
mod pool;
pub mod quote;
mod tunnel;

pub use conn::{Connection, Output, RunOptions, Step, StepReport, Target, Timeouts};
pub use fanout::fan_out;
pub use keys::{KeyError, SshKey};
pub use pool::Pool;
pub use quote::{Cmd, QuoteError};
pub use tunnel::{HttpReply, parse_reply};

/// What can go wrong talking to a server, by the step that failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SshError {
    /// The address did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's message.
        reason: String,
    },
    /// No TCP connection (refused, unreachable, filtered).
    #[error("cannot reach {addr}: {reason}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The OS message.
        reason: String,
    },
    /// A step took longer than its timeout.
    #[error("{step} timed out after {seconds} s")]
    Timeout {
        /// The step.
        step: Step,
        /// The bound.
        seconds: u64,
    },
    /// The SSH handshake failed (not an SSH server, incompatible algorithms).
    #[error("SSH handshake failed: {0}")]
    Handshake(String),
    /// The server's host key is not the pinned one.
    #[error("host key changed: expected {expected}, the server presented {actual}")]
    HostKeyChanged {
        /// Pinned fingerprint.
        expected: String,
        /// Presented fingerprint.
        actual: String,
    },
    /// The server rejected the key for this user.
    #[error("authentication failed for user {user} (the server did not accept the key)")]
    AuthFailed {
        /// The SSH user.
        user: String,
    },
    /// The session broke after authentication.
    #[error("SSH session error: {0}")]
    Session(String),
    /// A command could not be built (e.g. a NUL byte in an argument).
    #[error("invalid command: {0}")]
    InvalidCommand(String),
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
}
