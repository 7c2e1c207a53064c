//! The one error type of the crate.
//!
//! Every failure carries enough context (command line, stderr, path) to be
//! diagnosed from a CI log alone, because a fleet failure usually happens on a
//! machine nobody can log in to.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while building, driving or removing a fleet.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Namespaces, bridges and bind mounts need root. Tests turn this into a
    /// skip (or a failure under `CI=true`), see [`crate::require_fleet`].
    #[error("the test fleet needs root (uid 0), but the effective uid is {uid}")]
    NeedsRoot {
        /// Effective uid of the current process.
        uid: u32,
    },

    /// A program or file the fleet relies on is not installed.
    #[error("missing prerequisite {what}; install the Debian packages: {packages}")]
    MissingPrerequisite {
        /// The missing file or program.
        what: String,
        /// Packages that provide it.
        packages: String,
    },

    /// The requested number of hosts is out of range.
    #[error("invalid host count {requested}: a fleet has 1..={max} hosts")]
    InvalidHostCount {
        /// What was asked for.
        requested: usize,
        /// The supported maximum.
        max: usize,
    },

    /// Every /24 (or /23) of 198.18.0.0/15 is already in use on this machine.
    #[error("no free /{prefix} left in 198.18.0.0/15 (too many concurrent fleets, or stale routes)")]
    NoFreeSubnet {
        /// Prefix length that was searched for.
        prefix: u8,
    },

    /// A host index outside the fleet.
    #[error("no host with index {index} (the fleet has {count} hosts)")]
    NoSuchHost {
        /// Requested index.
        index: usize,
        /// Number of hosts in the fleet.
        count: usize,
    },

    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was attempted (read, write, create, ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// A program could not be started at all.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The underlying error.
        source: io::Error,
    },

    /// A program ran and reported failure.
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        /// The command line, for reproduction by hand.
        command: String,
        /// Exit status as printed by std.
        status: String,
        /// Its stderr (trimmed).
        stderr: String,
    },

    /// Something did not happen in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        after: Duration,
    },

    /// A state file or run directory does not describe a fleet we can handle.
    #[error("invalid fleet state: {0}")]
    State(String),

    /// Teardown ran but left something behind.
    #[error("teardown incomplete: {0}")]
    Teardown(String),
}

impl FleetError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> FleetError {
        let path = path.into();
        move |source| FleetError::Io { op, path, source }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = FleetError> = std::result::Result<T, E>;
