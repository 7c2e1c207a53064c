//! `deploy/ansible`: the role and playbook that do what `install.sh` does,
//! for many hosts, with the secrets in Ansible Vault.
//!
//! ansible-lint (production profile) must pass and must catch a bad task;
//! the playbook must pass `--syntax-check`; every role variable must be in
//! the argument specs and on the doc page; and the playbook is run for real
//! against a clean debootstrap root through Ansible's chroot connection,
//! with vault-encrypted secrets, twice (the second run changes nothing),
//! then as an upgrade, `gantry_state=absent` and `gantry_state=purged`.

use super::support::{CleanRoot, GantryInRoot, Run, files, free_port, gantry_bin, repo, run, tool};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const ANSIBLE_DIR: &str = "deploy/ansible";
const DOC: &str = "docs/deploy/ansible.md";
/// The inventory name of the clean root.
const HOST: &str = "gantry-test-root";

fn ansible_dir() -> PathBuf {
    repo().join(ANSIBLE_DIR)
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("gantry-deploy-ansible-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// ansible-lint with the directory's own `.ansible-lint`, never online.
fn lint(ansible_lint: &Path, dir: &Path) -> Run {
    run(Command::new(ansible_lint)
        .args(["--offline", "--nocolor", "-c", ".ansible-lint"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("ANSIBLE_NOCOLOR", "1"))
}

#[test]
fn ansible_lint_passes_with_the_production_profile() {
    let Some(ansible_lint) = tool("ansible-lint", "apt-get install ansible-lint") else { return };
    let config = std::fs::read_to_string(ansible_dir().join(".ansible-lint")).unwrap();
    assert!(config.lines().any(|l| l.trim() == "profile: production"), ".ansible-lint must select the production profile");
    assert!(!config.contains("skip_list") && !config.contains("warn_list"), "no rule may be skipped or downgraded: {config}");

    let r = lint(&ansible_lint, &ansible_dir());
    let out = r.all();
    assert!(r.ok, "ansible-lint failed on {ANSIBLE_DIR}:\n{out}");
    let summary =
        out.lines().find(|l| l.contains("Passed with production profile")).unwrap_or_else(|| panic!("no production pass line:\n{out}"));
    // "… 0 failure(s), 0 warning(s) on 21 files." — it must have seen the whole role.
    let linted: usize = summary.split(" on ").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap();
    let yaml = files(&ansible_dir(), &[".yml"]).len();
    assert!(linted >= yaml, "ansible-lint looked at {linted} files, but {ANSIBLE_DIR} has {yaml} YAML files: {summary}");
    assert!(summary.contains(" 0 warning"), "ansible-lint warned: {out}");

    // A copy with one sloppy task must fail, so the pass above means something.
    let scratch = Scratch::new("lint");
    let deploy = scratch.0.join("deploy");
    std::fs::create_dir_all(&deploy).unwrap();
    for d in ["ansible", "systemd"] {
        run(Command::new("cp").arg("-a").arg(repo().join("deploy").join(d)).arg(&deploy)).must("copy deploy/");
    }
    let tasks = deploy.join("ansible/roles/gantry/tasks/remove.yml");
    let mut text = std::fs::read_to_string(&tasks).unwrap();
    text.push_str("\n- name: restart everything\n  shell: systemctl restart gantry\n");
    std::fs::write(&tasks, text).unwrap();
    let r = lint(&ansible_lint, &deploy.join("ansible"));
    let out = r.all();
    assert!(!r.ok, "ansible-lint accepted a task without FQCN, name casing or changed_when:\n{out}");
    for rule in ["fqcn", "no-changed-when", "name[casing]"] {
        assert!(out.contains(rule), "ansible-lint did not report {rule}:\n{out}");
    }
}

/// The keys of a YAML mapping file.
fn yaml_map(path: &Path) -> serde_norway::Mapping {
    let v: serde_norway::Value = serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.as_mapping().cloned().unwrap_or_else(|| panic!("{} is not a mapping", path.display()))
}

#[test]
fn playbook_syntax_variables_and_unit() {
    let dir = ansible_dir();
    let role = dir.join("roles/gantry");

    // Every variable has one default, one argument spec and a row on the doc page.
    let defaults = yaml_map(&role.join("defaults/main.yml"));
    let specs = yaml_map(&role.join("meta/argument_specs.yml"));
    let options = specs["argument_specs"]["main"]["options"].as_mapping().unwrap();
    let doc = std::fs::read_to_string(repo().join(DOC)).unwrap();
    let secrets = ["gantry_master_key", "gantry_admin_password", "gantry_db_password"];
    for (k, v) in &defaults {
        let k = k.as_str().unwrap();
        let spec = options.get(k).unwrap_or_else(|| panic!("{k} has a default but no argument spec"));
        let spec_default = spec.get("default").unwrap_or_else(|| panic!("the argument spec of {k} has no default"));
        assert_eq!(spec_default, v, "{k}: defaults/main.yml and meta/argument_specs.yml disagree");
    }
    for (k, spec) in options {
        let k = k.as_str().unwrap();
        assert!(doc.contains(&format!("| `{k}` |")), "{DOC} has no table row for {k}");
        if secrets.contains(&k) {
            assert!(!defaults.contains_key(k), "the secret {k} must have no default");
            assert_eq!(spec.get("no_log").and_then(serde_norway::Value::as_bool), Some(true), "{k} must be no_log");
        } else if k != "gantry_database_url" {
            assert!(defaults.contains_key(k), "{k} has an argument spec but no default");
        }
    }
    for s in secrets {
        assert!(options.contains_key(s), "{s} has no argument spec");
    }

    // The example inventory keeps every secret in the vault file, as placeholders only.
    let vars = std::fs::read_to_string(dir.join("inventory.example/group_vars/gantry/vars.yml")).unwrap();
    let vault = yaml_map(&dir.join("inventory.example/group_vars/gantry/vault.yml"));
    for s in secrets {
        assert!(vars.contains(&format!("{s}: \"{{{{ vault_{s} }}}}\"")), "the example vars.yml must take {s} from vault_{s}");
        assert_eq!(vault.get(format!("vault_{s}").as_str()).and_then(|v| v.as_str()), Some("REPLACE_ME"), "vault.yml example: vault_{s}");
    }

    // The role installs the very unit file install.sh installs, not a copy.
    let link = role.join("files/gantry.service");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "{} must be a symlink", link.display());
    assert_eq!(link.canonicalize().unwrap(), repo().join("deploy/systemd/gantry.service").canonicalize().unwrap());

    let Some(playbook) = tool("ansible-playbook", "apt-get install ansible") else { return };
    let r = run(Command::new(playbook)
        .args(["--syntax-check", "-i", "inventory.example/hosts.yml", "site.yml"])
        .current_dir(&dir)
        .env("ANSIBLE_NOCOLOR", "1"));
    assert!(r.ok && r.stdout.contains("playbook: site.yml"), "ansible-playbook --syntax-check:\n{}", r.all());
}

/// Random lowercase hex, `bytes` bytes long before encoding.
fn random_hex(bytes: usize) -> String {
    let out = run(Command::new("sh").arg("-c").arg(format!("head -c {bytes} /dev/urandom | od -An -tx1 | tr -d ' \\n'"))).must("random");
    out.stdout.trim().to_string()
}

/// The secrets of one test run, as the vault holds them.
struct Secrets {
    master_key: String,
    admin_password: String,
    /// With characters that must be percent-encoded in the database URL.
    db_password: String,
}

impl Secrets {
    fn new() -> Secrets {
        let key = run(Command::new("sh").arg("-c").arg("head -c 32 /dev/urandom | base64 -w0")).must("master key").stdout;
        Secrets {
            master_key: key.trim().to_string(),
            admin_password: format!("adm-{}", random_hex(10)),
            db_password: format!("db/p@ss:w%rd'q\" {}", random_hex(8)),
        }
    }

    /// Every form a secret could be printed in.
    fn needles(&self) -> Vec<String> {
        let encoded: String = self
            .db_password
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        let db_tail = self.db_password.rsplit(' ').next().unwrap().to_string();
        vec![self.master_key.clone(), self.admin_password.clone(), self.db_password.clone(), encoded, db_tail]
    }
}

/// An inventory directory for the clean root, with vault-encrypted secrets.
struct Inventory {
    dir: Scratch,
    vault_password_file: PathBuf,
}

impl Inventory {
    /// `group_vars/gantry/vars.yml` is the shipped example; `vault` is
    /// written as YAML and encrypted with ansible-vault.
    fn new(name: &str, root: &Path, vault: &BTreeMap<&str, String>, vault_tool: &Path) -> Inventory {
        let dir = Scratch::new(name);
        let gv = dir.0.join("group_vars/gantry");
        std::fs::create_dir_all(&gv).unwrap();
        let hosts = format!(
            "all:\n  children:\n    gantry:\n      hosts:\n        {HOST}:\n          ansible_connection: community.general.chroot\n          ansible_host: {}\n",
            root.display()
        );
        std::fs::write(dir.0.join("hosts.yml"), hosts).unwrap();
        std::fs::copy(ansible_dir().join("inventory.example/group_vars/gantry/vars.yml"), gv.join("vars.yml")).unwrap();
        // JSON strings are YAML strings: quotes and backslashes stay intact.
        let plain: String = vault.iter().map(|(k, v)| format!("{k}: {}\n", serde_json::Value::String(v.clone()))).collect();
        std::fs::write(gv.join("vault.yml"), &plain).unwrap();
        let vault_password_file = dir.0.join("vault-password");
        std::fs::write(&vault_password_file, random_hex(16)).unwrap();
        run(Command::new(vault_tool).arg("encrypt").arg("--vault-password-file").arg(&vault_password_file).arg(gv.join("vault.yml")))
            .must("ansible-vault encrypt");
        let encrypted = std::fs::read_to_string(gv.join("vault.yml")).unwrap();
        assert!(encrypted.starts_with("$ANSIBLE_VAULT;1.1;AES256"), "vault.yml is not encrypted: {encrypted}");
        for v in vault.values() {
            assert!(!encrypted.contains(v.as_str()), "a secret is readable in the encrypted vault file");
        }
        Inventory { dir, vault_password_file }
    }

    fn playbook(&self, ansible_playbook: &Path, extra: &[&str]) -> Run {
        let t = std::time::Instant::now();
        let r = run(Command::new(ansible_playbook)
            .arg("-i")
            .arg(self.dir.0.join("hosts.yml"))
            .arg("--vault-password-file")
            .arg(&self.vault_password_file)
            .arg(ansible_dir().join("site.yml"))
            .args(extra)
            .current_dir(&self.dir.0)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            .env("ANSIBLE_STDOUT_CALLBACK", "default"));
        eprintln!("ansible-playbook {} took {:.1?}", extra.join(" "), t.elapsed());
        r
    }
}

/// The PLAY RECAP counters of the test host (`ok`, `changed`, `failed`, …).
fn recap(r: &Run) -> BTreeMap<String, u32> {
    let line = r
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with(HOST) && l.contains("changed="))
        .unwrap_or_else(|| panic!("no PLAY RECAP line for {HOST}:\n{}", r.all()));
    line.split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.parse().unwrap())).collect()
}

#[test]
fn playbook_installs_gantry_in_a_clean_root_through_the_chroot_connection() {
    let (Some(ansible_playbook), Some(ansible_vault)) =
        (tool("ansible-playbook", "apt-get install ansible"), tool("ansible-vault", "apt-get install ansible"))
    else {
        return;
    };
    if tool("curl", "apt-get install curl").is_none() {
        return;
    }
    let connections = run(Command::new("ansible-doc").args(["-t", "connection", "-l"])).must("ansible-doc");
    assert!(connections.stdout.contains("community.general.chroot"), "the chroot connection plugin is missing:\n{}", connections.stdout);
    let Some(root) = CleanRoot::new("ansible") else { return };
    let t0 = std::time::Instant::now();
    let target = GantryInRoot { root: &root, port: free_port() };
    let binary = gantry_bin();
    let bin_arg = format!("gantry_binary_src={}", binary.display());
    let listen_arg = format!("gantry_listen=127.0.0.1:{}", target.port);
    let secrets = Secrets::new();
    let mut outputs = Vec::new();

    // The example vault's placeholders are refused before anything is installed.
    let placeholders: BTreeMap<&str, String> = ["vault_gantry_master_key", "vault_gantry_admin_password", "vault_gantry_db_password"]
        .into_iter()
        .map(|k| (k, "REPLACE_ME".to_string()))
        .collect();
    let inv = Inventory::new("placeholders", root.path(), &placeholders, &ansible_vault);
    let r = inv.playbook(&ansible_playbook, &["-e", &bin_arg, "-e", &listen_arg]);
    assert!(!r.ok && r.stdout.contains("gantry_master_key is missing or malformed"), "placeholder secrets were accepted:\n{}", r.all());
    assert!(!target.exists("etc/gantry") && !target.exists("usr/local/bin/gantry"), "a refused run installed something");
    drop(inv);

    let vault: BTreeMap<&str, String> = [
        ("vault_gantry_master_key", secrets.master_key.clone()),
        ("vault_gantry_admin_password", secrets.admin_password.clone()),
        ("vault_gantry_db_password", secrets.db_password.clone()),
    ]
    .into_iter()
    .collect();
    let inv = Inventory::new("inventory", root.path(), &vault, &ansible_vault);

    // First run, verbose and with diffs: still no secret may show.
    let first = inv.playbook(&ansible_playbook, &["-v", "--diff", "-e", &bin_arg, "-e", &listen_arg]);
    assert!(first.ok, "the playbook failed:\n{}", first.all());
    eprintln!("first run (root created and packages installed) done after {:.1?}", t0.elapsed());
    assert!(recap(&first)["changed"] > 0, "{}", first.stdout);
    outputs.push(first.all());

    assert_eq!(target.status("/readyz"), "200", "readyz");
    assert_eq!(target.login(&secrets.admin_password), "200", "the vault's admin password does not log in");
    assert_eq!(target.login("wrong-password-1"), "401");
    assert_eq!(target.sql("SELECT username FROM gantry.users"), "admin", "the data is not in the root's MariaDB");
    assert!(files(&root.path().join("var/lib/gantry"), &[".db"]).is_empty(), "a SQLite database appeared");

    // Files and owners as install.sh leaves them; the secrets are the vault's.
    let (gantry_uid, gantry_gid) = (target.uid("gantry"), target.gid("gantry"));
    let mode = |m: &std::fs::Metadata| m.mode() & 0o7777;
    let env = target.meta("etc/gantry/gantry.env");
    assert_eq!((mode(&env), env.uid(), env.gid()), (0o600, 0, 0), "gantry.env");
    let toml = target.meta("etc/gantry/gantry.toml");
    assert_eq!((mode(&toml), toml.uid(), toml.gid()), (0o640, 0, gantry_gid), "gantry.toml");
    let etc = target.meta("etc/gantry");
    assert_eq!((mode(&etc), etc.uid(), etc.gid()), (0o750, 0, gantry_gid), "/etc/gantry");
    let data = target.meta("var/lib/gantry");
    assert_eq!((mode(&data), data.uid(), data.gid()), (0o750, gantry_uid, gantry_gid), "/var/lib/gantry");
    assert_eq!(mode(&target.meta("usr/local/bin/gantry")), 0o755);
    let env_text = std::fs::read_to_string(root.path().join("etc/gantry/gantry.env")).unwrap();
    assert!(env_text.contains(&format!("GANTRY_MASTER_KEY='{}'\n", secrets.master_key)), "gantry.env lacks the vault's master key");
    assert!(
        env_text.contains(&format!(
            "GANTRY_DATABASE_URL='mysql://gantry:{}@localhost/gantry?socket=/run/mysqld/mysqld.sock'\n",
            secrets.needles()[3]
        )),
        "gantry.env lacks the socket URL with the percent-encoded password:\n{}",
        env_text.lines().filter(|l| !l.contains('=')).collect::<Vec<_>>().join("\n")
    );
    let toml_text = std::fs::read_to_string(root.path().join("etc/gantry/gantry.toml")).unwrap();
    assert!(
        toml_text.contains(&format!("listen = \"127.0.0.1:{}\"", target.port)) && toml_text.contains("log_format = \"json\""),
        "{toml_text}"
    );
    assert_eq!(
        std::fs::read(root.path().join("etc/systemd/system/gantry.service")).unwrap(),
        std::fs::read(repo().join("deploy/systemd/gantry.service")).unwrap(),
        "the installed unit differs from deploy/systemd/gantry.service"
    );
    let pid = target.pid().expect("gantry's pid file");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let proc_uid: u32 =
        status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|s| s.split_whitespace().next()).unwrap().parse().unwrap();
    assert_eq!(proc_uid, gantry_uid, "gantry does not run as the gantry user");
    assert!(std::fs::read_link(format!("/proc/{pid}/root")).unwrap().starts_with(root.path()), "gantry runs outside the root");

    // The second run changes nothing and keeps the process.
    let second = inv.playbook(&ansible_playbook, &["--diff", "-e", &bin_arg, "-e", &listen_arg]);
    assert!(second.ok, "the second run failed:\n{}", second.all());
    let counts = recap(&second);
    assert_eq!(counts["changed"], 0, "the second run changed something:\n{}", second.stdout);
    assert_eq!(target.pid(), Some(pid), "the second run restarted gantry");
    outputs.push(second.all());

    // An upgrade: a different binary is copied, gantry restarts, the data stays.
    let newer = inv.dir.0.join("gantry-newer");
    let mut bytes = std::fs::read(&binary).unwrap();
    bytes.extend_from_slice(b"\0gantry-ansible-upgrade");
    std::fs::write(&newer, bytes).unwrap();
    run(Command::new("chmod").arg("0755").arg(&newer)).must("chmod");
    let up = inv.playbook(&ansible_playbook, &["-e", &format!("gantry_binary_src={}", newer.display()), "-e", &listen_arg]);
    assert!(up.ok, "the upgrade failed:\n{}", up.all());
    assert!(up.stdout.contains("changed: [gantry-test-root]") && recap(&up)["changed"] == 2, "binary and restart only:\n{}", up.stdout);
    let upgraded = target.pid().expect("gantry runs after the upgrade");
    assert_ne!(upgraded, pid, "the upgrade did not restart gantry");
    assert!(std::fs::read(root.path().join("usr/local/bin/gantry")).unwrap().ends_with(b"gantry-ansible-upgrade"));
    assert_eq!(target.login(&secrets.admin_password), "200", "the upgrade lost the admin");
    outputs.push(up.all());

    // A vault with another master key is refused: stored secrets would become unreadable.
    let other_key = run(Command::new("sh").arg("-c").arg("head -c 32 /dev/urandom | base64 -w0")).must("key").stdout.trim().to_string();
    let other = inv.dir.0.join("other-key.yml");
    std::fs::write(&other, format!("gantry_master_key: \"{other_key}\"\n")).unwrap();
    let r = inv.playbook(&ansible_playbook, &["-e", &format!("@{}", other.display()), "-e", &bin_arg, "-e", &listen_arg]);
    assert!(!r.ok && r.stdout.contains("holds a different GANTRY_MASTER_KEY"), "a changed master key was accepted:\n{}", r.all());
    assert!(!r.all().contains(&other_key), "the new master key was printed");
    assert!(env_text == std::fs::read_to_string(root.path().join("etc/gantry/gantry.env")).unwrap(), "the refused run rewrote gantry.env");

    // absent: service and binary go; config, data and database stay.
    let absent = inv.playbook(&ansible_playbook, &["-e", "gantry_state=absent"]);
    assert!(absent.ok, "gantry_state=absent failed:\n{}", absent.all());
    assert!(target.pid().is_none() && !Path::new(&format!("/proc/{upgraded}")).exists(), "gantry still runs");
    assert!(!target.exists("usr/local/bin/gantry") && !target.exists("etc/systemd/system/gantry.service"));
    assert!(target.exists("etc/gantry/gantry.env") && target.exists("var/lib/gantry"));
    assert_eq!(target.sql("SELECT username FROM gantry.users"), "admin");
    outputs.push(absent.all());

    // purged: config, data, the database, its user and the system user go; a second purge changes nothing.
    let purged = inv.playbook(&ansible_playbook, &["-e", "gantry_state=purged"]);
    assert!(purged.ok, "gantry_state=purged failed:\n{}", purged.all());
    for gone in ["etc/gantry", "var/lib/gantry", "var/log/gantry"] {
        assert!(!target.exists(gone), "purged left /{gone}");
    }
    assert!(!target.sql("SHOW DATABASES").lines().any(|l| l.trim() == "gantry"), "purged left the database");
    assert_eq!(target.sql("SELECT COUNT(*) FROM mysql.user WHERE user='gantry'"), "0");
    assert!(!root.exec("getent passwd gantry").ok, "purged left the gantry user");
    let again = inv.playbook(&ansible_playbook, &["-e", "gantry_state=purged"]);
    assert!(again.ok && recap(&again)["changed"] == 0, "a second purge changed something:\n{}", again.all());
    outputs.push(purged.all());

    // no_log held everywhere: not one secret in any output.
    let needles: BTreeSet<String> = secrets.needles().into_iter().collect();
    for (i, out) in outputs.iter().enumerate() {
        for n in &needles {
            assert!(!out.contains(n.as_str()), "run {i} printed a secret (a form of {}…)", &n[..4]);
        }
    }
    eprintln!("ansible chroot test took {:.1?}", t0.elapsed());
}
