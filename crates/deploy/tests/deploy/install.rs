//! `deploy/install.sh` and its systemd unit.
//!
//! The install test runs the script as a user would on a fresh server, in a
//! clean debootstrap root: MariaDB comes from apt inside the root, Gantry is
//! the binary this workspace built, and everything is started without
//! systemd (`--no-systemd`), because a chroot has none. The unit file is
//! checked separately with `systemd-analyze`.

use super::support::{CleanRoot, GantryInRoot, Run, files, free_port, gantry_bin, repo, run, tool};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const UNIT: &str = "deploy/systemd/gantry.service";

/// Every shell script the project ships or runs: by extension or by shebang.
fn shell_scripts() -> Vec<PathBuf> {
    let root = repo();
    let mut out = Vec::new();
    for dir in ["deploy", "scripts", ".ci"] {
        for f in files(&root.join(dir), &[""]) {
            let head = std::fs::read(&f).map(|b| b.into_iter().take(64).collect::<Vec<u8>>()).unwrap_or_default();
            let head = String::from_utf8_lossy(&head);
            let shebang = head.starts_with("#!/bin/sh") || head.starts_with("#!/usr/bin/env bash") || head.starts_with("#!/bin/bash");
            if shebang || f.extension().is_some_and(|e| e == "sh") {
                out.push(f);
            }
        }
    }
    out
}

#[test]
fn shellcheck_passes_on_every_script() {
    let Some(sc) = tool("shellcheck", "apt-get install shellcheck") else { return };
    let scripts = shell_scripts();
    let names: Vec<String> = scripts.iter().map(|p| p.strip_prefix(repo()).unwrap().display().to_string()).collect();
    for required in ["deploy/install.sh", "scripts/test", "scripts/run", "scripts/lib.sh", ".ci/run"] {
        assert!(names.iter().any(|n| n == required), "{required} not found among the scripts: {names:?}");
    }
    run(Command::new(&sc).arg("-x").args(&scripts).current_dir(repo())).must("shellcheck");

    // The same invocation rejects a script with a classic bug, so a pass above means something.
    let dir = tempdir("shellcheck");
    let bad = dir.join("bad.sh");
    std::fs::write(&bad, "#!/bin/sh\nrm -rf $1/*\n").unwrap();
    let r = run(Command::new(&sc).arg("-x").arg(&bad));
    assert!(!r.ok && r.stdout.contains("SC2086"), "shellcheck accepted an unquoted expansion: {}", r.all());
}

/// A scratch directory under the target dir, removed first if left over.
fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gantry-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `systemd-analyze verify` on `unit_text` installed as `name` in a
/// scratch root that has the host's unit files (for the targets it names)
/// and an executable at the ExecStart path.
fn verify_unit(sa: &Path, name: &str, unit_text: &str) -> Run {
    let root = tempdir(&format!("unit-{name}"));
    std::fs::create_dir_all(root.join("usr/lib/systemd")).unwrap();
    run(Command::new("cp").arg("-a").arg("/usr/lib/systemd/system").arg(root.join("usr/lib/systemd/"))).must("copy the host's units");
    std::fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
    std::fs::write(root.join("etc/systemd/system").join(name), unit_text).unwrap();
    std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    // Only its presence and mode matter to verify; the real binary is exercised in the install test.
    std::fs::write(root.join("usr/local/bin/gantry"), "#!/bin/sh\nexit 0\n").unwrap();
    run(Command::new("chmod").arg("0755").arg(root.join("usr/local/bin/gantry"))).must("chmod");
    let r = run(Command::new(sa).arg("verify").arg(format!("--root={}", root.display())).arg(name));
    let _ = std::fs::remove_dir_all(&root);
    r
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let Some(sa) = tool("systemd-analyze", "apt-get install systemd") else { return };
    let unit = std::fs::read_to_string(repo().join(UNIT)).unwrap();
    for line in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/gantry",
        "PrivateTmp=yes",
        "Restart=on-failure",
        "User=gantry",
        "EnvironmentFile=/etc/gantry/gantry.env",
        "ExecStart=/usr/local/bin/gantry serve --config /etc/gantry/gantry.toml",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l.trim() == line), "{UNIT} lacks `{line}`");
    }
    let r = verify_unit(&sa, "gantry.service", &unit);
    let all = r.all();
    let complaints: Vec<&str> = all.lines().filter(|l| l.contains("gantry.service")).collect();
    assert!(r.ok && complaints.is_empty(), "systemd-analyze verify: {:?}\n{}", r.code, r.all());

    // verify only warns about unknown keys and bad values, so the test reads
    // its output; a misspelt directive must show up there.
    let bad = unit.replace("NoNewPrivileges=yes", "NoNewPrivilegs=yes").replace("Restart=on-failure", "Restart=sometimes");
    let r = verify_unit(&sa, "gantry-bad.service", &bad);
    let out = r.all();
    assert!(out.contains("Unknown key") && out.contains("NoNewPrivilegs"), "verify missed a misspelt key: {out}");
    assert!(out.contains("sometimes"), "verify missed a bad Restart= value: {out}");

    // systemd's own exposure score for the unit (0 = locked down, 10 = none).
    let root = tempdir("unit-security");
    std::fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
    std::fs::write(root.join("etc/systemd/system/gantry.service"), &unit).unwrap();
    let r = run(Command::new(&sa)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(format!("--root={}", root.display()))
        .arg("gantry.service"));
    let _ = std::fs::remove_dir_all(&root);
    let line = r
        .all()
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no exposure level: {}", r.all()));
    let score: f64 = line.split(':').nth(1).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok()).unwrap();
    eprintln!("systemd-analyze security: {}", line.trim());
    assert!(score <= 2.0, "the unit's exposure level rose to {score} (was 1.4): {line}");
}

/// Runs install.sh in the root as a user would (no systemd there).
fn script(g: &GantryInRoot<'_>, args: &str) -> Run {
    g.root.exec(&format!("/opt/gantry-src/deploy/install.sh --no-systemd --ready-timeout 120 {args} 2>&1"))
}

/// What a re-run must leave alone: installed files (content, mode, owner,
/// mtime), the database user's credentials and the running process.
fn snapshot(g: &GantryInRoot<'_>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for rel in [
        "etc/gantry/gantry.toml",
        "etc/gantry/gantry.env",
        "usr/local/bin/gantry",
        "etc/systemd/system/gantry.service",
        "etc/gantry",
        "var/lib/gantry",
    ] {
        let meta = g.meta(rel);
        let content = if meta.is_file() { format!("{:x}", fnv(&std::fs::read(g.root.path().join(rel)).unwrap())) } else { "dir".into() };
        m.insert(
            rel.to_string(),
            format!("{content} mode={:o} uid={} gid={} mtime={}", meta.mode() & 0o7777, meta.uid(), meta.gid(), meta.mtime()),
        );
    }
    m.insert("db user".into(), g.sql("SELECT authentication_string FROM mysql.user WHERE user='gantry'"));
    m.insert("pid".into(), format!("{:?}", g.pid()));
    m
}

/// A content fingerprint (FNV-1a); enough to see a file change.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}

fn printed_password(out: &str) -> Option<String> {
    out.lines().find_map(|l| l.trim().strip_prefix("Login:").map(|r| r.trim().trim_start_matches("admin /").trim().to_string()))
}

#[test]
fn install_script_on_a_clean_debian_root() {
    if tool("curl", "apt-get install curl").is_none() {
        return;
    }
    let Some(root) = CleanRoot::new("install") else { return };
    let t0 = std::time::Instant::now();
    // The checkout's deploy/ directory and the binary under test, where a user would have them.
    let src = root.path().join("opt/gantry-src");
    std::fs::create_dir_all(&src).unwrap();
    run(Command::new("cp").arg("-a").arg(repo().join("deploy")).arg(&src)).must("copy deploy/");
    run(Command::new("cp").arg(gantry_bin()).arg(root.path().join("opt/gantry"))).must("copy the gantry binary");
    let inst = GantryInRoot { root: &root, port: free_port() };

    // Bad input is refused before anything is touched.
    let r = script(&inst, "--database-url sqlite:///tmp/x.db --binary /opt/gantry");
    assert!(!r.ok && r.all().contains("--database-url"), "sqlite URL accepted: {}", r.all());
    let r = script(&inst, "--frobnicate");
    assert!(!r.ok && r.all().contains("unknown option: --frobnicate"), "{}", r.all());
    let r = script(&inst, "--binary /opt/missing");
    assert!(!r.ok && r.all().contains("/opt/missing"), "{}", r.all());
    for untouched in ["usr/local/bin/gantry", "etc/gantry", "var/lib/gantry"] {
        assert!(!root.path().join(untouched).exists(), "a run refused for bad input created /{untouched}");
    }

    // First install.
    let first = script(&inst, &format!("--binary /opt/gantry --listen 127.0.0.1:{}", inst.port));
    let out = first.all();
    assert!(first.ok, "install.sh failed:\n{out}");
    eprintln!("first install took {:?}", t0.elapsed());
    assert!(out.contains("installing packages:") && out.contains("mariadb-server"), "MariaDB was not installed: {out}");
    let password = printed_password(&out).unwrap_or_else(|| panic!("no admin password printed:\n{out}"));
    assert!(password.len() >= 20, "weak initial password {password:?}");
    assert!(out.contains("Panel:"), "{out}");

    let ready = inst.get("/readyz");
    assert!(ready.ok && ready.stdout.ends_with("\n200"), "readyz: {}", ready.all());
    assert_eq!(inst.login(&password), "200", "the printed admin password does not log in");
    assert_eq!(inst.login("wrong-password"), "401");

    // The data is in the root's MariaDB, not in a SQLite file.
    let metrics = inst.get("/metrics");
    assert!(
        metrics.stdout.contains("database=\"mysql\""),
        "gantry_build_info does not report MySQL: {}",
        metrics.stdout.lines().find(|l| l.starts_with("gantry_build_info")).unwrap_or("")
    );
    assert_eq!(inst.sql("SELECT username FROM gantry.users"), "admin");
    assert!(!inst.sql("SHOW TABLES FROM gantry").is_empty());
    assert!(files(&root.path().join("var/lib/gantry"), &[".db"]).is_empty(), "a SQLite database appeared in /var/lib/gantry");

    // Files, owners and modes; the process runs as gantry.
    let gantry_uid = inst.uid("gantry");
    let (env, toml, data) = (inst.meta("etc/gantry/gantry.env"), inst.meta("etc/gantry/gantry.toml"), inst.meta("var/lib/gantry"));
    assert_eq!((env.mode() & 0o7777, env.uid()), (0o600, 0));
    assert_eq!(toml.mode() & 0o7777, 0o640);
    assert_eq!((data.mode() & 0o7777, data.uid()), (0o750, gantry_uid));
    let pid = inst.pid().expect("gantry pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let proc_uid: u32 =
        status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|s| s.split_whitespace().next()).unwrap().parse().unwrap();
    assert_eq!(proc_uid, gantry_uid, "gantry does not run as the gantry user");
    let env = std::fs::read_to_string(root.path().join("etc/gantry/gantry.env")).unwrap();
    assert!(
        env.contains("GANTRY_MASTER_KEY='") && env.contains("GANTRY_DATABASE_URL='mysql://gantry:"),
        "{UNIT} env file lacks its secrets"
    );
    // No secret from gantry.env is printed or logged.
    let log = std::fs::read_to_string(root.path().join("var/log/gantry/gantry.log")).unwrap_or_default();
    for secret in env.lines().filter_map(|l| l.split_once("='").map(|(_, v)| v.trim_end_matches('\''))) {
        let db_password = secret.split_once("gantry:").and_then(|(_, r)| r.split_once('@')).map(|(p, _)| p);
        for s in [Some(secret), db_password].into_iter().flatten() {
            assert!(!out.contains(s) && !log.contains(s), "a secret from gantry.env was printed or logged");
        }
    }

    // A second run changes nothing: same files, same database user, same process, no new password.
    let before = snapshot(&inst);
    let second = script(&inst, &format!("--binary /opt/gantry --listen 127.0.0.1:{}", inst.port));
    assert!(second.ok, "second run failed: {}", second.all());
    assert!(second.all().contains("nothing changed"), "{}", second.all());
    assert!(printed_password(&second.all()).is_none(), "a re-run printed a password");
    assert_eq!(snapshot(&inst), before, "a re-run changed the installation");

    // An upgrade: a different binary is installed and the service restarted; data and password stay.
    let mut newer = std::fs::read(root.path().join("opt/gantry")).unwrap();
    newer.extend_from_slice(b"\0gantry-upgrade-test");
    std::fs::write(root.path().join("opt/gantry-new"), newer).unwrap();
    run(Command::new("chmod").arg("0755").arg(root.path().join("opt/gantry-new"))).must("chmod");
    let up = script(&inst, "--binary /opt/gantry-new");
    assert!(up.ok && up.all().contains("installed"), "upgrade failed: {}", up.all());
    assert_ne!(inst.pid(), Some(pid), "the upgrade did not restart gantry");
    assert_eq!(inst.login(&password), "200", "the admin password was lost in the upgrade");
    assert!(std::fs::read(root.path().join("usr/local/bin/gantry")).unwrap().ends_with(b"gantry-upgrade-test"));

    // --uninstall keeps config, data and the database; a new install picks them up.
    let un = script(&inst, "--uninstall");
    assert!(un.ok, "{}", un.all());
    assert!(inst.pid().is_none() && !root.path().join("usr/local/bin/gantry").exists());
    assert!(root.path().join("etc/gantry/gantry.env").exists() && root.path().join("var/lib/gantry").exists());
    assert_eq!(inst.sql("SELECT username FROM gantry.users"), "admin");
    let again = script(&inst, "--binary /opt/gantry");
    assert!(again.ok && printed_password(&again.all()).is_none(), "{}", again.all());
    assert_eq!(inst.login(&password), "200", "reinstalling lost the data");

    // --purge removes config, data, the database, its user and the system user.
    let purge = script(&inst, "--purge");
    assert!(purge.ok, "{}", purge.all());
    for gone in ["etc/gantry", "var/lib/gantry", "usr/local/bin/gantry", "var/log/gantry"] {
        assert!(!root.path().join(gone).exists(), "--purge left /{gone}");
    }
    assert!(!inst.sql("SHOW DATABASES").lines().any(|l| l.trim() == "gantry"), "--purge left the database");
    assert_eq!(inst.sql("SELECT COUNT(*) FROM mysql.user WHERE user='gantry'"), "0");
    assert!(!root.exec("getent passwd gantry").ok, "--purge left the gantry user");

    external_postgres(&inst);
    eprintln!("install test took {:?}", t0.elapsed());
}

/// `--database-url` with the host's PostgreSQL (reachable from the root,
/// which shares the host's network): no local database is set up, Gantry
/// stores its data there, and `--purge` leaves that database alone.
fn external_postgres(inst: &GantryInRoot<'_>) {
    let admin_url = std::env::var("GANTRY_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let Some(psql) = tool("psql", "apt-get install postgresql-client") else { return };
    let db = format!("gantry_install_{}", std::process::id());
    let sql = |q: &str| run(Command::new(&psql).arg(&admin_url).args(["-tAc", q]));
    if !sql("SELECT 1").ok {
        assert!(!super::support::ci(), "PostgreSQL at {admin_url} is not reachable, and CI=true requires it");
        eprintln!("SKIPPED: PostgreSQL at {admin_url} is not reachable");
        return;
    }
    sql(&format!("DROP DATABASE IF EXISTS {db}")).must("drop");
    sql(&format!("CREATE DATABASE {db}")).must("create database");
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{base}/{db}");

    let r = script(inst, &format!("--binary /opt/gantry --database-url {url} --listen 127.0.0.1:{}", inst.port));
    let out = r.all();
    assert!(r.ok, "install with --database-url failed:\n{out}");
    assert!(!out.contains("mariadb"), "an external database still set up MariaDB: {out}");
    let password = printed_password(&out).expect("admin password");
    assert_eq!(inst.login(&password), "200");
    assert!(inst.get("/metrics").stdout.contains("database=\"postgres\""), "Gantry does not report PostgreSQL");
    let users = run(Command::new(&psql).arg(&url).args(["-tAc", "SELECT username FROM users"])).must("read users");
    assert_eq!(users.stdout.trim(), "admin");
    let other = script(inst, "--binary /opt/gantry --database-url postgres://someone@127.0.0.1:5432/elsewhere");
    assert!(
        !other.ok && other.all().contains("different database"),
        "a different --database-url was accepted on a re-run: {}",
        other.all()
    );

    let purge = script(inst, "--purge");
    assert!(purge.ok && purge.all().contains("not created by this script"), "{}", purge.all());
    let left = run(Command::new(&psql).arg(&url).args(["-tAc", "SELECT COUNT(*) FROM users"])).must("database kept");
    assert_eq!(left.stdout.trim(), "1", "--purge touched a database it did not create");
    sql(&format!("DROP DATABASE {db} WITH (FORCE)")).must("drop");
}
