//! `gantry-testfleet`: start and stop test fleets by hand or for benchmarks.
//!
//! ```text
//! gantry-testfleet up --hosts N [--state FILE] [--hold]
//! gantry-testfleet down [--state FILE]
//! gantry-testfleet cleanup [--all]
//! ```
//!
//! `up` leaves a detached fleet running and writes its state (addresses, key
//! path, host keys) as JSON; `down` removes it. `--hold` instead keeps the fleet
//! owned by this process and waits forever (used by the stale-cleanup test:
//! kill the process and the fleet becomes stale). `cleanup` removes fleets of
//! dead owners; `--all` also removes detached fleets.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use gantry_testfleet::{Fleet, FleetOptions, FleetState};

const DEFAULT_STATE: &str = "/tmp/gantry-testfleet-state.json";
const USAGE: &str = "usage:\n  gantry-testfleet up --hosts N [--state FILE] [--hold]\n  gantry-testfleet down [--state FILE]\n  gantry-testfleet cleanup [--all]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("gantry-testfleet: {msg}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    hosts: Option<usize>,
    state: PathBuf,
    hold: bool,
    all: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args { hosts: None, state: PathBuf::from(DEFAULT_STATE), hold: false, all: false };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--hosts" => {
                let v = it.next().ok_or("--hosts needs a value")?;
                parsed.hosts = Some(v.parse().map_err(|_| format!("--hosts: not a number: {v}"))?);
            }
            "--state" => parsed.state = PathBuf::from(it.next().ok_or("--state needs a value")?),
            "--hold" => parsed.hold = true,
            "--all" => parsed.all = true,
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (command, rest) = args.split_first().ok_or(USAGE)?;
    let args = parse(rest)?;
    match command.as_str() {
        "up" => up(&args),
        "down" => down(&args),
        "cleanup" => {
            let removed = Fleet::cleanup_in(&gantry_testfleet::default_base_dir(), args.all).map_err(|e| e.to_string())?;
            println!("removed {} fleet(s): {}", removed.len(), removed.join(" "));
            Ok(())
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other}\n{USAGE}")),
    }
}

fn up(args: &Args) -> Result<(), String> {
    let hosts = args.hosts.ok_or("up needs --hosts N")?;
    let started = Instant::now();
    let fleet = Fleet::start_with(FleetOptions { hosts, base_dir: None, detached: !args.hold }).map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    let state = fleet.state();
    write_state(&args.state, &state)?;
    // Write errors (e.g. `| head` closing stdout) must not abort before the
    // fleet is released, so no println! here.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "fleet {} up: {} hosts in {:.2?} on {} (control plane {})\nclient key: {}\nstate: {}",
        state.run_id,
        state.hosts.len(),
        elapsed,
        state.subnet,
        state.control_addr,
        state.client_key_path.display(),
        args.state.display()
    );
    for h in &state.hosts {
        let _ = writeln!(out, "  {:<8} {:<15} {}", h.name, h.addr, h.host_key_fingerprint);
    }
    let _ = out.flush();
    drop(out);
    if args.hold {
        println!("holding (kill this process to leave a stale fleet behind)");
        loop {
            std::thread::park();
        }
    }
    let _ = fleet.release();
    Ok(())
}

fn down(args: &Args) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.state).map_err(|e| format!("reading {}: {e}", args.state.display()))?;
    let state: FleetState = serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", args.state.display()))?;
    let started = Instant::now();
    Fleet::destroy(&state).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&args.state);
    println!("fleet {} down: {} hosts in {:.2?}", state.run_id, state.hosts.len(), started.elapsed());
    Ok(())
}

fn write_state(path: &std::path::Path, state: &FleetState) -> Result<(), String> {
    let json = serde_json::to_string_pretty(state).map_err(|e| e.to_string())?;
    std::fs::write(path, json).map_err(|e| format!("writing {}: {e}", path.display()))
}
