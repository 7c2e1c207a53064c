//! The proxy module's vocabulary: statuses, triggers, what the install found,
//! and the shapes the API shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),* }

        impl $name {
            /// Stable string (database and API).
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$v => $s),* }
            }
            /// Parses the stable string.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$v),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// Where a server's proxy stands.
    ProxyStatus {
        /// Gantry has not installed its layout on the server.
        NotInstalled => "not_installed",
        /// The install job is running.
        Installing => "installing",
        /// The live configuration equals the desired one.
        InSync => "in_sync",
        /// Changes wait: for the debounce, the next reconcile, or an operator (manual approval).
        Pending => "pending",
        /// An apply is running.
        Applying => "applying",
        /// The last apply failed and was rolled back; the previous generation serves.
        Degraded => "degraded",
        /// Gantry's files on the server differ from the live generation (hand edits).
        Drifted => "drifted",
    }
}

string_enum! {
    /// Why a generation was made.
    Trigger {
        /// An operator asked for it.
        Manual => "manual",
        /// Dynamic reconciliation after domain, group or binding changes.
        Auto => "auto",
        /// The first generation, written by the install.
        Install => "install",
        /// A rollback to an earlier generation.
        Rollback => "rollback",
        /// A repair of drift.
        Repair => "repair",
        /// Part of a fleet rollout.
        Rollout => "rollout",
    }
}

string_enum! {
    /// Where a generation is in its life.
    GenerationStatus {
        /// Uploaded to the staging directory and being validated.
        Staged => "staged",
        /// Validated; the live pointer is being switched and nginx reloaded.
        Switching => "switching",
        /// Serving now.
        Live => "live",
        /// Served before a newer generation replaced it.
        Superseded => "superseded",
        /// Rejected by `nginx -t`, or failed after the switch and rolled back.
        Failed => "failed",
        /// Gantry stopped in the middle; another run finished or undid it.
        Interrupted => "interrupted",
    }
}

string_enum! {
    /// A fleet rollout's state.
    RolloutStatus {
        /// Servers are being applied.
        Running => "running",
        /// Every server applied (or had nothing to change).
        Succeeded => "succeeded",
        /// Failures exceeded the threshold; the remaining servers were left on their previous generation.
        Stopped => "stopped",
    }
}

string_enum! {
    /// One server's state within a rollout.
    TargetStatus {
        /// Not started.
        Waiting => "waiting",
        /// Being applied.
        Applying => "applying",
        /// Applied and verified.
        Succeeded => "succeeded",
        /// Nothing to change.
        Unchanged => "unchanged",
        /// Failed (rolled back on the server).
        Failed => "failed",
        /// Not attempted because the rollout stopped.
        Skipped => "skipped",
    }
}

/// The operating-system family, which decides the package manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OsFamily {
    /// Debian, Ubuntu and derivatives: apt.
    Debian,
    /// RHEL, CentOS Stream, Rocky, Alma, Fedora, Oracle, Amazon Linux: dnf (or yum).
    Rhel,
}

/// Classifies `/etc/os-release`'s `ID` and `ID_LIKE`.
pub fn os_family(id: &str, like: &str) -> Option<OsFamily> {
    let words: Vec<&str> = std::iter::once(id).chain(like.split_whitespace()).collect();
    if words.iter().any(|w| matches!(*w, "debian" | "ubuntu" | "raspbian" | "linuxmint" | "pop")) {
        return Some(OsFamily::Debian);
    }
    if words.iter().any(|w| matches!(*w, "rhel" | "centos" | "fedora" | "rocky" | "almalinux" | "ol" | "amzn")) {
        return Some(OsFamily::Rhel);
    }
    None
}

/// What the install found and set up; kept per server and used by every later operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InstallInfo {
    /// `/etc/os-release` `ID`.
    pub os_id: String,
    /// Human-readable OS name.
    pub os_name: String,
    /// The family (package manager).
    pub os_family: OsFamily,
    /// nginx's version.
    pub nginx_version: String,
    /// Whether Gantry installed the package (false: it was there already).
    pub installed_package: bool,
    /// systemd manages nginx (else Gantry starts and reloads it directly).
    pub systemd: bool,
    /// The nginx configuration directory.
    pub conf_dir: String,
    /// nginx's pid file.
    pub pid_file: String,
    /// The main-context include directory Gantry's `worker_shutdown_timeout` went into, if any.
    pub main_include_dir: Option<String>,
    /// http-level directives the operator's configuration sets itself (Gantry leaves them out).
    pub operator_directives: BTreeSet<String>,
    /// The loopback status server's port.
    pub status_port: u16,
    /// The host has IPv6 (Gantry also listens on `[::]:80`).
    pub ipv6: bool,
    /// Notes for the operator (e.g. no systemd, so nothing starts nginx at boot).
    pub notes: Vec<String>,
    /// When.
    pub installed_at: DateTime<Utc>,
}

/// A domain in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainRef {
    /// Domain id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Group id.
    pub group_id: i64,
}

/// Which domains a change adds, changes or removes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainChanges {
    /// Served after, not before.
    pub added: Vec<DomainRef>,
    /// Served before and after, with different configuration.
    pub changed: Vec<DomainRef>,
    /// Served before, not after.
    pub removed: Vec<DomainRef>,
}

impl DomainChanges {
    /// Nothing changes.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Per-step durations of an apply, milliseconds (zero for steps that did not run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Timings {
    /// Render and diff.
    pub render_ms: u64,
    /// Upload and `nginx -t`.
    pub stage_ms: u64,
    /// Switch and reload.
    pub switch_ms: u64,
    /// Marker and domain checks.
    pub verify_ms: u64,
    /// End to end.
    pub total_ms: u64,
}

/// A generation as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GenerationSummary {
    /// Id.
    pub id: i64,
    /// The server.
    pub server_id: i64,
    /// Per-server number (1, 2, …); the directory name on the server.
    pub number: i64,
    /// Content hash.
    pub hash: String,
    /// Where it is in its life.
    pub status: GenerationStatus,
    /// Why it was made.
    pub trigger: Trigger,
    /// The reason given.
    pub reason: Option<String>,
    /// Who (user name, or `system:proxy`).
    pub actor: String,
    /// Domains added, changed, removed (counts).
    pub added: usize,
    /// Changed count.
    pub changed: usize,
    /// Removed count.
    pub removed: usize,
    /// The generation it restores, for rollbacks.
    pub rollback_of: Option<i64>,
    /// The rollout it belongs to.
    pub rollout_id: Option<i64>,
    /// The job that made it.
    pub job_id: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A generation with its files and diff.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GenerationDetail {
    /// The summary.
    #[serde(flatten)]
    pub summary: GenerationSummary,
    /// File name → content.
    pub files: BTreeMap<String, String>,
    /// Unified diff against the generation that was live before it.
    pub diff: String,
    /// Which domains it added, changed, removed.
    pub changes: DomainChanges,
    /// nginx's own output when validation or reload failed.
    pub nginx_output: Option<String>,
    /// Step durations.
    pub timings: Timings,
}

/// What applying now would change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Plan {
    /// The server.
    pub server_id: i64,
    /// The live generation's number, if any.
    pub live_number: Option<i64>,
    /// The live content hash.
    pub live_hash: Option<String>,
    /// The desired content hash.
    pub desired_hash: String,
    /// Whether applying would reload nginx (the content differs).
    pub reload_needed: bool,
    /// Unified diff, live → desired.
    pub diff: String,
    /// Domain-level changes.
    pub domains: DomainChanges,
    /// Groups with manual approval whose changes wait in this plan (dynamic reconciliation leaves them out).
    pub awaiting_approval: Vec<String>,
}

/// A file that differs on the server from the live generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DriftedFile {
    /// Path on the server.
    pub path: String,
    /// `changed`, `missing`, `extra`.
    pub kind: String,
    /// Unified diff, expected → found.
    pub diff: String,
}

/// The last drift check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DriftReport {
    /// When checked.
    pub checked_at: DateTime<Utc>,
    /// The generation compared against.
    pub generation: Option<i64>,
    /// Differences (empty: in sync).
    pub files: Vec<DriftedFile>,
}

/// A server's proxy as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProxyState {
    /// The server.
    pub server_id: i64,
    /// Its name.
    pub server_name: String,
    /// Status.
    pub status: ProxyStatus,
    /// Why (failures, pending approval).
    pub status_message: Option<String>,
    /// What the install found and set up.
    pub install: Option<InstallInfo>,
    /// The live generation.
    pub live: Option<GenerationSummary>,
    /// An apply in progress (or interrupted and not yet recovered).
    pub inflight_generation_id: Option<i64>,
    /// The last drift check, when it found differences.
    pub drift: Option<DriftReport>,
    /// When drift was last checked.
    pub drift_checked_at: Option<DateTime<Utc>>,
    /// Version (`ETag`).
    pub version: i64,
    /// Last change of this record.
    pub updated_at: DateTime<Utc>,
}

/// Whether a domain's latest version is what its server serves.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainLiveState {
    /// The domain.
    pub domain_id: i64,
    /// The server of its group (none while the group is unbound).
    pub server_id: Option<i64>,
    /// The live generation on that server.
    pub live_number: Option<i64>,
    /// The live configuration serves the domain's latest version (for a disabled domain: does not serve it any more).
    pub up_to_date: bool,
    /// Whether the live configuration serves the domain at all.
    pub served: bool,
    /// In words.
    pub detail: String,
}

/// One server of a rollout.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RolloutTarget {
    /// The server.
    pub server_id: i64,
    /// Its name.
    pub server_name: String,
    /// 0 is the canary.
    pub position: i32,
    /// State.
    pub status: TargetStatus,
    /// The generation it produced.
    pub generation_id: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Started.
    pub started_at: Option<DateTime<Utc>>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A fleet rollout.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rollout {
    /// Id.
    pub id: i64,
    /// State.
    pub status: RolloutStatus,
    /// Why.
    pub reason: Option<String>,
    /// `manual` or `auto`.
    pub trigger: Trigger,
    /// Who.
    pub actor: String,
    /// Servers applied at once after the canary.
    pub max_parallel: i32,
    /// Failures tolerated before stopping.
    pub max_failures: i32,
    /// The job running it.
    pub job_id: Option<i64>,
    /// Per-server state, canary first.
    pub targets: Vec<RolloutTarget>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_families() {
        assert_eq!(os_family("debian", ""), Some(OsFamily::Debian));
        assert_eq!(os_family("ubuntu", "debian"), Some(OsFamily::Debian));
        assert_eq!(os_family("linuxmint", "ubuntu debian"), Some(OsFamily::Debian));
        assert_eq!(os_family("rocky", "rhel centos fedora"), Some(OsFamily::Rhel));
        assert_eq!(os_family("almalinux", "rhel centos fedora"), Some(OsFamily::Rhel));
        assert_eq!(os_family("fedora", ""), Some(OsFamily::Rhel));
        assert_eq!(os_family("amzn", "centos rhel fedora"), Some(OsFamily::Rhel));
        assert_eq!(os_family("alpine", ""), None);
        assert_eq!(os_family("arch", ""), None);
        assert_eq!(os_family("opensuse-leap", "suse opensuse"), None);
    }

    #[test]
    fn statuses_round_trip() {
        for s in [ProxyStatus::NotInstalled, ProxyStatus::Drifted, ProxyStatus::Degraded] {
            assert_eq!(ProxyStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(GenerationStatus::parse("nope"), None);
    }
}
