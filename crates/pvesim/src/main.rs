//! `gantry-pvesim`: runs the Proxmox VE simulator and prints its endpoints as one JSON line.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use gantry_pvesim::{SimConfig, Simulator, Timing};

#[derive(Parser, Debug)]
#[command(name = "gantry-pvesim", about = "Proxmox VE API simulator (loopback only)")]
struct Args {
    /// YAML or JSON configuration; defaults to the 3-node demo cluster.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Loopback address to bind.
    #[arg(long)]
    listen: Option<String>,
    /// Timing preset: fast or realistic (overrides the config's timing).
    #[arg(long)]
    timing: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            SimConfig::from_yaml(&text)?
        }
        None => SimConfig::default(),
    };
    if let Some(listen) = args.listen {
        cfg.listen = listen;
    }
    if let Some(t) = args.timing {
        cfg.timing = Timing::preset(&t).with_context(|| format!("unknown timing preset '{t}'"))?;
    }
    let root = cfg.users.iter().find(|u| u.userid == "root@pam");
    let password = root.and_then(|u| u.password.clone()).unwrap_or_default();
    let token = root.and_then(|u| u.tokens.first()).map(|t| format!("root@pam!{}={}", t.tokenid, t.secret)).unwrap_or_default();
    let handle = Simulator::start(cfg).await.context("starting the simulator")?;
    let line = serde_json::json!({
        "urls": handle.urls(),
        "fingerprint": handle.fingerprint(),
        "token": token,
        "user": "root@pam",
        "password": password,
    });
    println!("{line}");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("installing SIGTERM handler")?;
    tokio::select! {
        res = tokio::signal::ctrl_c() => res.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    handle.shutdown().await;
    Ok(())
}
