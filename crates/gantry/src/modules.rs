//! The modules compiled into this binary. Adding a feature is one line here.

use crate::config::Config;
use gantry_api::module::Module;
use gantry_api::platform::PlatformModule;
use gantry_domains::DomainsModule;
use gantry_monitoring::{MonitoringModule, TrafficSettings};
use gantry_proxy::{ProxyModule, ProxySettings};
use gantry_pve::{PveModule, PveSettings};
use gantry_servers::{ServersModule, ServersSettings};
use gantry_ssh::Timeouts;
use gantry_tasks::{TasksModule, TasksSettings};
use gantry_tls::{TlsModule, TlsSettings};
use std::time::Duration;

/// Every module, in mount order (the platform first: others may rely on its tables).
pub fn all(cfg: &Config) -> Vec<Box<dyn Module>> {
    vec![
        Box::new(PlatformModule {
            event_retention: Duration::from_secs(cfg.events.retention_days * 86_400),
            event_log_retention: Duration::from_secs(cfg.monitoring.event_retention_days * 86_400),
        }),
        Box::new(ServersModule {
            settings: ServersSettings {
                probe_interval: Duration::from_secs(cfg.servers.probe_interval_seconds),
                concurrency: cfg.servers.concurrency,
                idle_timeout: Duration::from_secs(cfg.servers.idle_timeout_seconds),
                timeouts: Timeouts {
                    connect: Duration::from_secs(cfg.servers.connect_timeout_seconds),
                    command: Duration::from_secs(cfg.servers.command_timeout_seconds),
                    ..Timeouts::default()
                },
            },
        }),
        Box::new(DomainsModule),
        Box::new(ProxyModule {
            settings: ProxySettings {
                auto_apply: cfg.proxy.auto_apply,
                debounce: Duration::from_millis(cfg.proxy.debounce_ms),
                max_delay: Duration::from_millis(cfg.proxy.max_delay_ms),
                reconcile_interval: Duration::from_secs(cfg.proxy.reconcile_interval_seconds),
                drift_interval: Duration::from_secs(cfg.proxy.drift_interval_seconds),
                lease: Duration::from_secs(cfg.proxy.lease_seconds),
                verify_timeout: Duration::from_secs(cfg.proxy.verify_timeout_seconds),
                keep_generations: cfg.proxy.keep_generations,
                rollout_parallel: cfg.proxy.rollout_parallel,
                rollout_max_failures: cfg.proxy.rollout_max_failures,
                status_port: cfg.proxy.status_port,
            },
        }),
        Box::new(TlsModule {
            settings: TlsSettings {
                renew_check_interval: Duration::from_secs(cfg.tls.renew_check_interval_seconds),
                renew_fraction: cfg.tls.renew_fraction,
                retry_base: Duration::from_secs(cfg.tls.retry_base_seconds),
                retry_max: Duration::from_secs(cfg.tls.retry_max_seconds.max(cfg.tls.retry_base_seconds)),
                live_timeout: Duration::from_secs(cfg.tls.live_timeout_seconds),
            },
        }),
        Box::new(PveModule {
            settings: PveSettings {
                vmid_range: cfg.pve.vmid_range.parse().unwrap_or_default(),
                max_parallel: cfg.pve.max_parallel,
                per_node: cfg.pve.per_node,
                per_storage: cfg.pve.per_storage,
                task_timeout: Duration::from_secs(cfg.pve.task_timeout_seconds),
                poll: Duration::from_millis(cfg.pve.poll_ms.max(10)),
                retry_scale: cfg.pve.retry_scale,
                request_timeout: Duration::from_secs(cfg.pve.request_timeout_seconds.max(1)),
                ticket_renew_after: Duration::from_secs(cfg.pve.ticket_renew_seconds.max(1)),
                reservation_window: Duration::from_secs(cfg.pve.reservation_window_seconds),
            },
        }),
        Box::new(TasksModule {
            settings: TasksSettings {
                max_attachment_bytes: cfg.tasks.max_attachment_bytes,
                orphan_grace: Duration::from_secs(cfg.tasks.orphan_grace_seconds),
                sweep_interval: Duration::from_secs(cfg.tasks.sweep_interval_seconds),
            },
        }),
        Box::new(MonitoringModule {
            traffic: TrafficSettings {
                interval: Duration::from_secs(cfg.monitoring.traffic_interval_seconds),
                minute_window: Duration::from_secs(cfg.monitoring.traffic_minute_window_hours * 3600),
                hour_retention: Duration::from_secs(cfg.monitoring.traffic_hour_retention_days * 86_400),
            },
        }),
    ]
}
