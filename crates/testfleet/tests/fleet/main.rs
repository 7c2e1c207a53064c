//! The test fleet against the real thing: real sshd, real nginx, real
//! OpenSSH client, in network namespaces on this machine.
//!
//! Each test starts its own fleet (the fleets run concurrently under nextest,
//! which doubles as the "runs don't interfere" check). Without root the tests
//! skip loudly; with `CI=true` they fail instead. Traffic goes only to the
//! fleets' own addresses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gantry_testfleet::{Fleet, FleetState, require_fleet};

/// Runs the OpenSSH client against host `index` with strict host key checking.
fn ssh(fleet: &Fleet, known_hosts: &Path, user: &str, index: usize, remote: &str) -> Output {
    let host = fleet.host(index).unwrap();
    Command::new("ssh")
        .arg("-F")
        .arg("/dev/null")
        .arg("-i")
        .arg(fleet.client_key_path())
        .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args(["-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR"])
        .arg(format!("{user}@{}", host.addr()))
        .arg(remote)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn known_hosts(fleet: &Fleet, name: &str) -> PathBuf {
    let path = fleet.dir().join(name);
    fleet.write_known_hosts(&path).unwrap();
    path
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[track_caller]
fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed ({}): stdout={} stderr={}", out.status, text(&out.stdout), text(&out.stderr));
}

fn connect(fleet: &Fleet, index: usize, timeout: Duration) -> std::io::Result<TcpStream> {
    TcpStream::connect_timeout(&fleet.host(index).unwrap().ssh_addr(), timeout)
}

fn curl(addr: &str) -> Output {
    // --noproxy: a proxy from the environment must not see (or answer) fleet traffic.
    Command::new("curl").args(["--noproxy", "*", "-sS", "--max-time", "5", &format!("http://{addr}/")]).output().unwrap()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert_ok(&out, &format!("{cmd:?}"));
    text(&out.stdout)
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])))
}

/// Asserts that nothing of run `id` is left on the machine.
#[track_caller]
fn assert_run_gone(id: &str, dir: &Path) {
    let netns = run(Command::new("ip").args(["netns", "list"]));
    assert!(!netns.contains(&format!("gf{id}")), "namespaces left: {netns}");
    let links = run(Command::new("ip").args(["-o", "link", "show"]));
    assert!(!links.contains(&format!("gf{id}")) && !links.contains(&format!("gfb{id}")), "links left: {links}");
    let ps = run(Command::new("ps").args(["-eo", "pid,stat,args"]));
    assert!(!ps.lines().any(|l| l.contains(id) && !l.contains(" Z")), "processes left: {ps}");
    assert!(!dir.exists(), "run dir left: {}", dir.display());
    let route = run(Command::new("ip").args(["-4", "route", "show", "exact", "198.18.0.0/15", "type", "unreachable"]));
    assert!(route.contains("unreachable 198.18.0.0/15"), "safety route missing: {route:?}");
}

#[test]
fn ssh_logins_verify_host_keys_and_sudo_rules() {
    let Some(fleet) = require_fleet(3) else { return };
    assert!(fleet.client_private_key().starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert!(fleet.client_public_key().starts_with("ssh-ed25519 "));
    let kh = known_hosts(&fleet, "known_hosts");
    for (i, host) in fleet.hosts().iter().enumerate() {
        assert!(host.host_key_fingerprint().starts_with("SHA256:"));
        assert!(host.host_public_key().starts_with("ssh-ed25519 "));
        assert!(fleet.subnet().contains(host.addr()));

        let out = ssh(&fleet, &kh, "root", i, "true");
        assert_ok(&out, "root login");
        let out = ssh(&fleet, &kh, "root", i, "hostname");
        assert_eq!(text(&out.stdout).trim(), host.name());

        let out = ssh(&fleet, &kh, "deploy", i, "id -un && sudo -n true && sudo -n id -u");
        assert_ok(&out, "deploy sudo");
        assert_eq!(text(&out.stdout), "deploy\n0\n");

        let out = ssh(&fleet, &kh, "nosudo", i, "sudo -n true");
        assert!(!out.status.success(), "nosudo must not have sudo");
        assert!(text(&out.stderr).contains("password is required"), "stderr: {}", text(&out.stderr));
    }
    // The exposed fingerprint is what ssh-keygen computes from the exposed key.
    let printed = run(Command::new("ssh-keygen").arg("-lf").arg(&kh));
    for host in fleet.hosts() {
        assert!(printed.contains(&host.host_key_fingerprint()), "{printed}");
    }
    fleet.teardown().unwrap();
}

#[test]
fn hosts_have_private_files_and_processes() {
    let Some(fleet) = require_fleet(3) else { return };
    let marker = format!("gantry-testfleet-marker-{}", fleet.run_id());
    fleet.sh_ok(0, &format!("echo here > /etc/nginx/{marker} && touch /root/{marker} /tmp/{marker}")).unwrap();
    for dir in ["/etc/nginx", "/root", "/tmp"] {
        let probe = format!("test -e {dir}/{marker}");
        assert!(fleet.sh(0, &probe).unwrap().status.success(), "missing in host0: {dir}");
        assert!(!fleet.sh(1, &probe).unwrap().status.success(), "leaked into host1: {dir}");
        assert!(!Path::new(dir).join(&marker).exists(), "leaked onto the real machine: {dir}");
    }
    assert!(fleet.host(0).unwrap().dir().join("etc-nginx").join(&marker).exists());

    // Users exist only inside hosts.
    assert!(fleet.sh_ok(2, "getent passwd deploy").unwrap().contains("/home/deploy"));
    assert!(!std::fs::read_to_string("/etc/passwd").unwrap().contains("gantry test user"));

    // Hostname, pid namespace and network view are the host's own.
    assert_eq!(String::from_utf8_lossy(&fleet.exec(1, &["hostname"]).unwrap().stdout).trim(), "host1");
    let ps = fleet.sh_ok(1, "ps -e -o pid=,comm=").unwrap();
    assert!(ps.lines().any(|l| l.trim() == "1 sh"), "init is not pid 1: {ps}");
    assert!(ps.contains("sshd") && !ps.contains("cargo"), "foreign processes visible: {ps}");
    let addrs = fleet.sh_ok(1, "ip -4 -o addr show").unwrap();
    assert!(addrs.contains(&fleet.host(1).unwrap().addr().to_string()) && !addrs.contains(&fleet.host(0).unwrap().addr().to_string()));
    let routes = fleet.sh_ok(1, "ip -4 route show").unwrap();
    assert!(!routes.contains("default"), "hosts must have no default route: {routes}");
    fleet.teardown().unwrap();
}

#[test]
fn nginx_runs_inside_one_host() {
    let Some(fleet) = require_fleet(3) else { return };
    let addr = |i: usize| fleet.host(i).unwrap().addr().to_string();
    fleet.start_nginx(1).unwrap();
    assert!(fleet.nginx_running(1).unwrap());
    assert!(!fleet.nginx_running(0).unwrap());
    assert!(fleet.host(1).unwrap().dir().join("run/nginx.pid").exists(), "nginx must use the host's /run");

    let out = curl(&addr(1));
    assert_ok(&out, "curl host1");
    assert!(text(&out.stdout).contains("Welcome to nginx"), "{}", text(&out.stdout));
    assert!(!curl(&addr(0)).status.success(), "host0 runs no nginx");

    // A config error shows up like on a real server.
    fleet.sh_ok(1, "echo 'this is not nginx config' > /etc/nginx/conf.d/broken.conf").unwrap();
    let out = fleet.exec(1, &["nginx", "-t"]).unwrap();
    assert!(!out.status.success() && text(&out.stderr).contains("broken.conf"), "{}", text(&out.stderr));
    fleet.sh_ok(1, "rm /etc/nginx/conf.d/broken.conf && nginx -t 2>/dev/null && nginx -s reload").unwrap();

    fleet.stop_nginx(1).unwrap();
    assert!(!fleet.nginx_running(1).unwrap());
    assert!(!curl(&addr(1)).status.success());

    // Started over SSH (as Gantry will), nginx lives in that host too.
    let kh = known_hosts(&fleet, "known_hosts");
    assert_ok(&ssh(&fleet, &kh, "deploy", 2, "sudo -n nginx"), "nginx via ssh");
    assert!(fleet.nginx_running(2).unwrap());
    assert_ok(&curl(&addr(2)), "curl host2");
    // Teardown must kill it (checked by the teardown test in general).
    fleet.teardown().unwrap();
}

#[test]
fn link_down_makes_a_host_unreachable_until_link_up() {
    let Some(fleet) = require_fleet(2) else { return };
    let kh = known_hosts(&fleet, "known_hosts");
    fleet.link_down(0).unwrap();
    assert!(fleet.host(0).unwrap().is_link_down());
    let started = Instant::now();
    assert!(connect(&fleet, 0, Duration::from_secs(1)).is_err(), "host0 must be unreachable");
    assert!(started.elapsed() < Duration::from_secs(3), "connect must fail within its bounded timeout");
    assert_ok(&ssh(&fleet, &kh, "root", 1, "true"), "host1 unaffected");

    fleet.link_up(0).unwrap();
    assert!(connect(&fleet, 0, Duration::from_secs(2)).is_ok());
    assert_ok(&ssh(&fleet, &kh, "root", 0, "true"), "host0 back");
    fleet.teardown().unwrap();
}

#[test]
fn replacing_the_host_key_breaks_old_known_hosts() {
    let Some(fleet) = require_fleet(2) else { return };
    let old_kh = known_hosts(&fleet, "known_hosts.old");
    let old = fleet.host(0).unwrap().host_key_fingerprint();
    let new = fleet.replace_host_key(0).unwrap();
    assert_ne!(old, new);
    assert_eq!(fleet.host(0).unwrap().host_key_fingerprint(), new);

    let out = ssh(&fleet, &old_kh, "root", 0, "true");
    assert!(!out.status.success(), "old known_hosts must be rejected");
    assert!(text(&out.stderr).contains("Host key verification failed"), "{}", text(&out.stderr));
    assert_ok(&ssh(&fleet, &old_kh, "root", 1, "true"), "host1 key unchanged");

    let new_kh = known_hosts(&fleet, "known_hosts.new");
    assert_ok(&ssh(&fleet, &new_kh, "root", 0, "true"), "login with the new key");
    fleet.teardown().unwrap();
}

#[test]
fn refusing_the_client_key_fails_authentication() {
    let Some(fleet) = require_fleet(2) else { return };
    let kh = known_hosts(&fleet, "known_hosts");
    fleet.refuse_client_key(0).unwrap();
    for user in ["root", "deploy"] {
        let out = ssh(&fleet, &kh, user, 0, "true");
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("Permission denied (publickey)"), "{}", text(&out.stderr));
    }
    assert_ok(&ssh(&fleet, &kh, "root", 1, "true"), "host1 unaffected");
    fleet.accept_client_key(0).unwrap();
    assert_ok(&ssh(&fleet, &kh, "root", 0, "true"), "accepted again");
    fleet.teardown().unwrap();
}

#[test]
fn sshd_can_be_stopped_and_started() {
    let Some(fleet) = require_fleet(2) else { return };
    let kh = known_hosts(&fleet, "known_hosts");
    fleet.stop_sshd(0).unwrap();
    assert!(!fleet.sshd_running(0).unwrap());
    let err = connect(&fleet, 0, Duration::from_secs(2)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    // The host itself (files, other processes) keeps running.
    assert_eq!(fleet.sh_ok(0, "hostname").unwrap().trim(), "host0");
    fleet.start_sshd(0).unwrap();
    assert!(fleet.sshd_running(0).unwrap());
    assert_ok(&ssh(&fleet, &kh, "root", 0, "true"), "after restart");
    fleet.teardown().unwrap();
}

#[test]
fn teardown_removes_every_namespace_link_process_and_file() {
    let Some(fleet) = require_fleet(2) else { return };
    fleet.start_nginx(0).unwrap();
    // A process that ignores SIGTERM must still be removed.
    let mut bg = fleet.command(1, "sh").unwrap();
    bg.args(["-c", "trap '' TERM; sleep 600"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut bg = bg.spawn().unwrap();

    let (id, dir) = (fleet.run_id().to_owned(), fleet.dir().to_owned());
    let mut pids = Vec::new();
    for host in fleet.hosts() {
        let out = run(Command::new("ip").args(["netns", "pids", host.netns()]));
        pids.extend(out.split_whitespace().map(|p| p.parse::<u32>().unwrap()));
    }
    assert!(pids.len() >= 6, "expected init, sshd, nginx master and workers, sleep: {pids:?}");

    fleet.teardown().unwrap();
    let _ = bg.wait();
    assert_run_gone(&id, &dir);
    let left: Vec<u32> = pids.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still alive: {left:?}");
}

#[test]
fn dropping_a_fleet_tears_it_down() {
    let Some(fleet) = require_fleet(1) else { return };
    let (id, dir) = (fleet.run_id().to_owned(), fleet.dir().to_owned());
    drop(fleet);
    assert_run_gone(&id, &dir);
}

#[test]
fn stale_fleet_of_a_killed_process_is_cleaned_up() {
    // Only the root check: the fleet itself is made by a child process.
    let Some(probe) = require_fleet(1) else { return };
    drop(probe);

    let state_file = std::env::temp_dir().join(format!("gantry-testfleet-stale-{}.json", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_gantry-testfleet"))
        .args(["up", "--hosts", "2", "--hold", "--state"])
        .arg(&state_file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if line.unwrap().starts_with("holding") {
            break;
        }
    }
    let state: FleetState = serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    let _ = std::fs::remove_file(&state_file);
    assert!(run(Command::new("ip").args(["netns", "list"])).contains(&state.hosts[0].netns));
    assert!(
        TcpStream::connect_timeout(&(state.hosts[0].addr, 22).to_socket_addrs().unwrap().next().unwrap(), Duration::from_secs(2)).is_ok()
    );

    // SIGKILL: no destructor runs, everything stays behind, owned by a dead pid.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(state.dir.exists());

    // Another test's fleet start may have reaped it already; either way it must be gone now.
    Fleet::cleanup_stale().unwrap();
    assert_run_gone(&state.run_id, &state.dir);
}

#[test]
fn two_fleets_at_once_do_not_interfere() {
    let Some(a) = require_fleet(2) else { return };
    let b = require_fleet(2).unwrap();
    assert_ne!(a.run_id(), b.run_id());
    assert_ne!(a.subnet(), b.subnet());
    let (kh_a, kh_b) = (known_hosts(&a, "known_hosts"), known_hosts(&b, "known_hosts"));
    assert_ok(&ssh(&a, &kh_a, "root", 0, "true"), "fleet a");
    assert_ok(&ssh(&b, &kh_b, "root", 0, "true"), "fleet b");

    // Same host index, different machines: a marker in one is absent in the other.
    a.sh_ok(0, "touch /etc/nginx/only-in-a").unwrap();
    assert!(!b.sh(0, "test -e /etc/nginx/only-in-a").unwrap().status.success());

    let (id_a, dir_a) = (a.run_id().to_owned(), a.dir().to_owned());
    a.teardown().unwrap();
    assert_run_gone(&id_a, &dir_a);
    for i in 0..2 {
        assert_ok(&ssh(&b, &kh_b, "root", i, "true"), "fleet b after a's teardown");
    }
    b.teardown().unwrap();
}
