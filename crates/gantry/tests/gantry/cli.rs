//! The real `gantry` binary: configuration layering, first start, SIGTERM, CLI commands.

use crate::helpers::write_file;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";

fn gantry(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gantry"));
    c.env_clear().env("GANTRY_DATA_DIR", dir).current_dir(dir);
    c
}

fn run(mut c: Command) -> (i32, String, String) {
    let out = c.stdin(Stdio::null()).output().expect("run gantry");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn version_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run({
        let mut c = gantry(dir.path());
        c.arg("--version");
        c
    });
    assert_eq!(code, 0);
    assert!(out.starts_with("gantry 0."), "{out}");
    let (code, out, _) = run({
        let mut c = gantry(dir.path());
        c.arg("--help");
        c
    });
    assert_eq!(code, 0);
    for sub in ["serve", "migrate", "user", "config", "healthcheck"] {
        assert!(out.contains(sub), "help lists {sub}");
    }
}

#[test]
fn config_check_layers_and_redacts() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("gantry.toml");
    write_file(&toml, "listen = \"127.0.0.1:9001\"\nlog_level = \"debug\"\n[jobs]\nconcurrency = 3\n");
    let key_file = dir.path().join("key");
    write_file(&key_file, &format!("{KEY}\n"));
    let mut c = gantry(dir.path());
    c.args(["--config", toml.to_str().unwrap(), "config", "check"])
        .env("GANTRY_LISTEN", "127.0.0.1:9002")
        .env("GANTRY_JOBS__LEASE_SECONDS", "45")
        .env("GANTRY_DATABASE_URL", "postgres://gantry:db-hunter2@db.example:5432/gantry")
        .env("GANTRY_MASTER_KEY_FILE", &key_file)
        .env("GANTRY_LISTN", "typo");
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("listen = \"127.0.0.1:9002\""), "env beats the file:\n{out}");
    assert!(out.contains("log_level = \"debug\""), "file beats defaults");
    assert!(out.contains("concurrency = 3") && out.contains("lease_seconds = 45"), "nested keys from file and env");
    assert!(out.contains("database_url = \"[redacted]\"") && out.contains("master_key = \"[redacted]\""));
    assert!(!out.contains("db-hunter2") && !out.contains(KEY) && !err.contains("db-hunter2"), "secrets leaked");
    assert!(err.contains("GANTRY_LISTN"), "unknown variable warned about:\n{err}");

    // A flag beats the environment.
    let mut c = gantry(dir.path());
    c.args(["--listen", "127.0.0.1:9003", "config", "check"]).env("GANTRY_LISTEN", "127.0.0.1:9002");
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    assert!(out.contains("127.0.0.1:9003"));
}

#[test]
fn config_check_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    type Case<'a> = (Vec<(&'a str, &'a str)>, Option<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("GANTRY_JOBS__CONCURRENCY", "0")], None, "jobs.concurrency"),
        (vec![("GANTRY_MASTER_KEY", "too-short")], None, "master_key"),
        (vec![("GANTRY_DATABASE_URL", "oracle://x")], None, "database_url"),
        (vec![], Some("listen = \"not an address\"\n"), "listen"),
        (vec![], Some("[jobs]\nconcurency = 4\n"), "concurency"),
        (vec![], Some("lease = 1\n"), "lease"),
    ];
    for (env, file, key) in cases {
        let mut c = gantry(dir.path());
        if let Some(content) = file {
            let p = dir.path().join("bad.toml");
            write_file(&p, content);
            c.args(["--config", p.to_str().unwrap()]);
        }
        c.args(["config", "check"]);
        for (k, v) in env {
            c.env(k, v);
        }
        let (code, _, err) = run(c);
        assert_eq!(code, 2, "bad {key} must fail");
        assert!(err.contains(key), "error names {key}: {err}");
    }
}

fn wait_for_line(child: &mut Child, needle: &str) -> (String, Vec<String>) {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            lines.push(line.clone());
            if line.contains(needle) {
                return (line, lines);
            }
        }
    }
    panic!("{needle:?} not printed; got {lines:?}");
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success();
    assert!(ok);
}

fn wait_exit(child: &mut Child, secs: u64) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "gantry did not exit within {secs} s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn first_start_prints_the_admin_password_once_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let start = |d: &std::path::Path| {
        let mut c = gantry(dir.path());
        c.env("GANTRY_DATA_DIR", d).env("GANTRY_LISTEN", "127.0.0.1:0").env("GANTRY_LOG_FORMAT", "json");
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let mut child = start(&data);
    let (listening, lines) = wait_for_line(&mut child, "Gantry is listening on");
    let password_line = lines.iter().find(|l| l.contains("Initial admin login")).expect("password printed on first start");
    let password = password_line.split('`').nth(3).unwrap().to_string();
    assert!(password.len() >= 20);
    let addr = listening.rsplit("http://").next().unwrap().to_string();

    // The server answers; the password works.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    let body = format!("{{\"username\":\"admin\",\"password\":\"{password}\"}}");
    write!(s, "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");

    // The data directory was created with a private master key.
    let mode = std::fs::metadata(data.join("master.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(data.join("gantry.db").exists());

    sigterm(&child);
    assert_eq!(wait_exit(&mut child, 10), 0, "SIGTERM exits 0");
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!err.contains(&password), "the initial password must never reach the log");
    assert!(err.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('{')), "JSON logs:\n{err}");
    assert!(err.contains("\"request_id\""), "request ids in logs");

    // Second start: the password is not shown again.
    let mut child = start(&data);
    let (_, lines) = wait_for_line(&mut child, "Gantry is listening on");
    assert!(lines.iter().all(|l| !l.contains("Initial admin login")));
    sigterm(&child);
    assert_eq!(wait_exit(&mut child, 10), 0);
}

#[test]
fn migrate_and_user_commands() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = |args: &[&str]| {
        let mut c = gantry(dir.path());
        c.args(args);
        c
    };
    let (code, out, err) = run(cmd(&["migrate"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("migration(s) applied") && !out.starts_with("0 "), "{out}");
    let (code, out, _) = run(cmd(&["migrate"]));
    assert_eq!(code, 0);
    assert!(out.contains("0 migration(s) applied"), "{out}");
    let (code, out, _) = run(cmd(&["migrate", "--status"]));
    assert_eq!(code, 0);
    assert!(out.contains("applied  platform_0001_initial") && out.contains("applied  servers_0001_inventory"), "{out}");
    assert!(!out.contains("pending"));

    let mut c = cmd(&["user", "create", "carol", "--role", "operator", "--password-stdin"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"carol-password-1\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created user carol (operator)"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("carol-password-1"));

    let (code, _, err) = run(cmd(&["user", "create", "carol", "--role", "viewer"]));
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = run(cmd(&["user", "create", "dave", "--role", "root"]));
    assert_ne!(code, 0);
    assert!(err.contains("--role"), "{err}");

    let (code, out, _) = run(cmd(&["user", "set-password", "carol"]));
    assert_eq!(code, 0);
    assert!(out.contains("password: "), "generated password shown once: {out}");
    let (code, out, _) = run(cmd(&["user", "list"]));
    assert_eq!(code, 0);
    assert!(out.contains("carol") && out.contains("operator"), "{out}");
}
