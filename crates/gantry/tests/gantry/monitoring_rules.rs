//! The monitoring files under `deploy/`: the Prometheus alert rules and their
//! promtool unit tests, the example Prometheus configuration, the Grafana
//! dashboards, and the runbooks in `docs/monitoring.md`. They are checked
//! against each other and against the metric families a running Gantry
//! exports.
//!
//! promtool validates PromQL and YAML. The YAML files are read here line by
//! line (the crate has no YAML parser as a dev-dependency), which works
//! because their layout is fixed: `- alert:` items with `labels:` and
//! `annotations:` maps, and promtool test cases written as
//! `- eval_time` / `alertname` / `exp_alerts` items.

use crate::helpers::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The dashboards and their uids. Links and bookmarks rely on the uids, so
/// they never change.
const DASHBOARDS: &[&str] = &["gantry-api", "gantry-certificates", "gantry-fleet", "gantry-overview", "gantry-proxmox"];

/// Alerts that must exist (more may).
const REQUIRED_ALERTS: &[&str] = &[
    "GantryDown",
    "GantryNotReady",
    "GantryHigh5xxRatio",
    "GantrySlowRequests",
    "GantryServerUnreachable",
    "GantryProxyApplyFailures",
    "GantryProxyDegraded",
    "GantryProxyDriftUnresolved",
    "GantryCertificateExpiringSoon",
    "GantryCertificateExpired",
    "GantryCertificateRenewalFailing",
    "GantryJobQueueStuck",
    "GantryJobFailures",
    "GantryPveApiErrors",
    "GantryTrafficCollectionFailing",
    "GantryDatabasePoolExhausted",
];

/// The placeholder base of every runbook link (docs/monitoring.md says how to change it).
const RUNBOOK_BASE: &str = "https://gantry.example.invalid/docs/monitoring#";

const DATASOURCE: &str = "${datasource}";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if found {
        return Some("promtool");
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("promtool is not installed, but CI=true requires the alert and dashboard checks (apt-get install prometheus)");
    }
    eprintln!("SKIPPED: promtool not installed; alert rules and dashboard queries not checked");
    None
}

/// Runs promtool; returns whether it succeeded and what it printed.
fn run(tool: &str, args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(tool).args(args).current_dir(dir).output().expect("run promtool");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

// ---------------------------------------------------------------- alerts.yml

#[derive(Debug, Default)]
struct Alert {
    name: String,
    fields: BTreeMap<String, String>,
}

/// The alerting rules of a rules file, with the scalar values of their keys
/// (`severity`, `summary`, `description`, `runbook_url`, `for`, …). Block
/// scalars (`>-`, `|`) are joined into one line.
fn parse_alerts(text: &str) -> Vec<Alert> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let lines: Vec<&str> = text.lines().collect();
    let mut alerts: Vec<Alert> = Vec::new();
    let mut rule_indent: Option<usize> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim_start();
        i += 1;
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(rest) = t.strip_prefix("- alert:") {
            alerts.push(Alert { name: unquote(rest), ..Alert::default() });
            rule_indent = Some(indent(line));
            continue;
        }
        let Some(ri) = rule_indent else { continue };
        if indent(line) <= ri {
            // The next rule (e.g. a recording rule) or the next group.
            rule_indent = None;
            continue;
        }
        let Some((key, value)) = t.split_once(':') else { continue };
        if key.contains(' ') {
            continue;
        }
        let value = value.trim();
        let value = if value.starts_with('>') || value.starts_with('|') {
            let own = indent(line);
            let mut parts = Vec::new();
            while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) > own) {
                parts.push(lines[i].trim());
                i += 1;
            }
            parts.join(" ").trim().to_string()
        } else {
            unquote(value)
        };
        if let Some(a) = alerts.last_mut() {
            a.fields.insert(key.to_string(), value);
        }
    }
    alerts
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(s)
        .to_string()
}

/// GitHub's heading anchor: lower case, spaces to hyphens, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn doc_anchors() -> BTreeSet<String> {
    let mut in_code = false;
    let mut anchors = BTreeSet::new();
    for line in read("docs/monitoring.md").lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with('#') {
            anchors.insert(anchor(line.trim_start_matches('#')));
        }
    }
    anchors
}

/// One `alert_rule_test` item of a promtool test file.
#[derive(Debug)]
struct Case {
    group: usize,
    at_seconds: u64,
    alertname: String,
    fires: bool,
}

fn seconds(d: &str) -> u64 {
    let d = d.trim();
    let (num, unit) = d.split_at(d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len()));
    let n: u64 = num.parse().unwrap_or_else(|_| panic!("duration {d}"));
    n * match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => panic!("duration {d}: use s, m, h or d"),
    }
}

fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let mut group = 0;
    for line in text.lines() {
        let t = line.trim_start();
        // A test group is an item of the top-level `tests:` list.
        if line.starts_with("  - ") || line.starts_with("- ") {
            group += 1;
        }
        let t = t.strip_prefix("- ").unwrap_or(t);
        if let Some(v) = t.strip_prefix("eval_time:") {
            cases.push(Case { group, at_seconds: seconds(v), alertname: String::new(), fires: false });
        } else if let Some(v) = t.strip_prefix("alertname:") {
            if let Some(c) = cases.last_mut() {
                c.alertname = unquote(v);
            }
        } else if (t.starts_with("exp_labels:") || t.starts_with("exp_annotations:"))
            && let Some(c) = cases.last_mut()
        {
            c.fires = true;
        }
    }
    cases
}

#[test]
fn alert_rules_pass_promtool() {
    let Some(tool) = promtool() else { return };
    let dir = root().join("deploy/prometheus");
    let (ok, out) = run(tool, &["check", "rules", "alerts.yml"], &dir);
    assert!(ok, "promtool check rules alerts.yml:\n{out}");
    let (ok, out) = run(tool, &["test", "rules", "alerts_test.yml"], &dir);
    assert!(ok, "promtool test rules alerts_test.yml:\n{out}");
    let (ok, out) = run(tool, &["check", "config", "prometheus.yml"], &dir);
    assert!(ok, "promtool check config prometheus.yml:\n{out}");
}

#[test]
fn every_alert_has_a_runbook_and_fires_and_clears_in_a_test() {
    let alerts = parse_alerts(&read("deploy/prometheus/alerts.yml"));
    let names: BTreeSet<&str> = alerts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names.len(), alerts.len(), "alert names must be unique");
    for required in REQUIRED_ALERTS {
        assert!(names.contains(required), "alerts.yml lacks {required}");
    }
    let anchors = doc_anchors();
    for a in &alerts {
        let field = |k: &str| a.fields.get(k).map(String::as_str).unwrap_or_default();
        assert!(matches!(field("severity"), "critical" | "warning" | "info"), "{}: severity {:?}", a.name, field("severity"));
        assert!(!field("summary").is_empty(), "{}: no summary", a.name);
        assert!(
            field("description").contains("{{"),
            "{}: the description should template $labels or $value: {:?}",
            a.name,
            field("description")
        );
        let url = field("runbook_url");
        let anchor =
            url.strip_prefix(RUNBOOK_BASE).unwrap_or_else(|| panic!("{}: runbook_url {url:?} must start with {RUNBOOK_BASE}", a.name));
        assert_eq!(anchor, a.name.to_lowercase(), "{}: the runbook anchor is the alert's name", a.name);
        assert!(anchors.contains(anchor), "{}: docs/monitoring.md has no heading for #{anchor} (expected \"### {}\")", a.name, a.name);
    }

    let cases = parse_cases(&read("deploy/prometheus/alerts_test.yml"));
    for a in &alerts {
        let fired: Vec<&Case> = cases.iter().filter(|c| c.alertname == a.name && c.fires).collect();
        assert!(!fired.is_empty(), "alerts_test.yml never makes {} fire (no exp_alerts with exp_labels)", a.name);
        let clears = fired
            .iter()
            .any(|f| cases.iter().any(|c| c.alertname == a.name && !c.fires && c.group == f.group && c.at_seconds > f.at_seconds));
        assert!(clears, "alerts_test.yml never shows {} clearing (exp_alerts: [] at a later eval_time of the same test)", a.name);
    }
    for c in &cases {
        assert!(names.contains(c.alertname.as_str()), "alerts_test.yml tests an unknown alert {:?}", c.alertname);
    }
}

#[test]
fn the_line_based_alert_parser_reads_block_scalars() {
    let text = "groups:\n  - name: g\n    rules:\n      - record: x:y\n        expr: up\n      - alert: A\n        expr: up == 0\n        labels:\n          severity: warning\n        annotations:\n          summary: \"s {{ $labels.x }}\"\n          description: >-\n            line one\n            line two\n          runbook_url: https://e.invalid/#a\n      - alert: B\n        expr: up\n";
    let alerts = parse_alerts(text);
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].fields["severity"], "warning");
    assert_eq!(alerts[0].fields["summary"], "s {{ $labels.x }}");
    assert_eq!(alerts[0].fields["description"], "line one line two");
    assert_eq!(alerts[0].fields["runbook_url"], "https://e.invalid/#a");
    assert!(!alerts[1].fields.contains_key("severity"));
    assert_eq!(anchor(" GantryServerUnreachable"), "gantryserverunreachable");
    assert_eq!(anchor("Grafana dashboards"), "grafana-dashboards");
}

// ---------------------------------------------------------------- dashboards

struct Dashboard {
    file: String,
    json: Value,
}

fn dashboards() -> Vec<Dashboard> {
    let dir = root().join("deploy/grafana");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("deploy/grafana") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("read dashboard");
            let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push(Dashboard { file: path.file_name().expect("name").to_string_lossy().into_owned(), json });
        }
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// Every panel, including those nested in (collapsed) rows.
fn panels(d: &Value) -> Vec<&Value> {
    fn walk<'a>(ps: &'a Value, out: &mut Vec<&'a Value>) {
        for p in ps.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&d["panels"], &mut out);
    out
}

/// A query variable's query: a string, or `{"query": …}` (Grafana 10+).
fn variable_query(v: &Value) -> Option<&str> {
    v["query"].as_str().or_else(|| v["query"]["query"].as_str())
}

/// The PromQL a query variable evaluates: `label_values(<selector>, label)`
/// gives the selector, `query_result(<expr>)` the expression.
fn variable_promql(q: &str) -> Option<String> {
    let q = q.trim();
    if let Some(inner) = q.strip_prefix("label_values(").and_then(|r| r.strip_suffix(')')) {
        let (sel, _label) = inner.rsplit_once(',')?;
        return Some(sel.trim().to_string());
    }
    q.strip_prefix("query_result(").and_then(|r| r.strip_suffix(')')).map(|e| e.trim().to_string())
}

/// Every PromQL expression of a dashboard with where it is: panel targets and query variables.
fn expressions(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = t["expr"].as_str() {
                out.push((
                    format!("panel {:?} target {}", p["title"].as_str().unwrap_or("?"), t["refId"].as_str().unwrap_or("?")),
                    expr.to_string(),
                ));
            }
        }
    }
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] == "query" {
            let q = variable_query(v).unwrap_or_default();
            let promql = variable_promql(q).unwrap_or_else(|| panic!("variable {}: unsupported query {q:?}", v["name"]));
            out.push((format!("variable {}", v["name"].as_str().unwrap_or("?")), promql));
        }
    }
    out
}

/// The template variables an expression uses (`$name`, `${name}`, `[[name]]` is not allowed).
fn variables_used(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let braced = b.get(i + 1) == Some(&b'{');
            let start = i + 1 + usize::from(braced);
            let mut end = start;
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                end += 1;
            }
            out.push(expr[start..end].to_string());
            i = end + usize::from(braced && b.get(end) == Some(&b'}'));
        } else {
            i += 1;
        }
    }
    out
}

/// Replaces Grafana's variables with concrete values promtool can parse:
/// intervals become durations, dashboard variables the regex `.*`.
fn substitute(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let braced = after.starts_with('{');
        let body = if braced { &after[1..] } else { after };
        let len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
        let name = &body[..len];
        out.push_str(match name {
            "__rate_interval" | "__range" => "5m",
            "__interval" => "1m",
            "__range_s" | "__interval_s" => "300",
            "__range_ms" | "__interval_ms" => "300000",
            _ => ".*",
        });
        let consumed = 1 + usize::from(braced) + len + usize::from(braced && body[len..].starts_with('}'));
        rest = &rest[pos + consumed..];
    }
    out.push_str(rest);
    out
}

const BUILTIN_VARIABLES: &[&str] = &["__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms"];

/// Checks expressions with `promtool check rules`, one recording rule each.
fn promtool_check_exprs(tool: &str, exprs: &[(String, String)]) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    for (n, (what, expr)) in exprs.iter().enumerate() {
        let what = what.replace('\n', " ");
        // A JSON string is a valid YAML double-quoted scalar.
        let quoted = serde_json::to_string(&substitute(expr)).expect("quote");
        rules.push_str(&format!("      # {what}\n      - record: dashboard:expr_{n}\n        expr: {quoted}\n"));
    }
    let path = dir.path().join("dashboards.rules.yml");
    std::fs::write(&path, &rules).expect("write rules");
    let path = path.to_string_lossy().into_owned();
    let (ok, out) = run(tool, &["check", "rules", path.as_str()], dir.path());
    if ok { Ok(()) } else { Err(format!("{out}\n--- rules file ---\n{rules}")) }
}

#[test]
fn dashboards_are_well_formed() {
    let ds = dashboards();
    let files: Vec<&str> = ds.iter().map(|d| d.file.as_str()).collect();
    let expected: Vec<String> = DASHBOARDS.iter().map(|u| format!("{u}.json")).collect();
    assert_eq!(files, expected, "deploy/grafana holds exactly these dashboards");
    let uids: Vec<&str> = ds.iter().map(|d| d.json["uid"].as_str().unwrap_or_default()).collect();
    assert_eq!(uids, DASHBOARDS, "dashboard uids are stable (and named like their files)");

    for d in &ds {
        let j = &d.json;
        let f = &d.file;
        assert!(j["title"].as_str().is_some_and(|t| !t.is_empty()), "{f}: title");
        assert!(j["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "gantry")), "{f}: tag gantry");
        assert!(j["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "{f}: schemaVersion");
        assert!(
            j["links"].as_array().is_some_and(|ls| ls
                .iter()
                .any(|l| l["type"] == "dashboards" && l["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "gantry")))),
            "{f}: links to the other Gantry dashboards (type dashboards, tag gantry)"
        );

        let vars = j["templating"]["list"].as_array().unwrap_or_else(|| panic!("{f}: templating.list"));
        let ds_var = vars.iter().find(|v| v["name"] == "datasource").unwrap_or_else(|| panic!("{f}: no datasource variable"));
        assert_eq!(ds_var["type"], "datasource", "{f}: the datasource variable's type");
        assert_eq!(ds_var["query"], "prometheus", "{f}: the datasource variable's query");
        let mut defined: BTreeSet<String> = BUILTIN_VARIABLES.iter().map(|s| (*s).to_string()).collect();
        for v in vars {
            let name = v["name"].as_str().unwrap_or_else(|| panic!("{f}: a variable without name"));
            assert!(defined.insert(name.to_string()), "{f}: variable {name} twice");
            if v["type"] == "query" {
                assert_eq!(v["datasource"]["uid"], DATASOURCE, "{f}: variable {name} must query ${{datasource}}");
            }
        }

        let mut ids = BTreeSet::new();
        let all = panels(j);
        assert!(all.iter().filter(|p| p["type"] != "row").count() >= 4, "{f}: too few panels");
        for p in all {
            let title = p["title"].as_str().unwrap_or("?");
            assert!(
                ids.insert(p["id"].as_u64().unwrap_or_else(|| panic!("{f}: panel {title:?} has no id"))),
                "{f}: panel id {} twice",
                p["id"]
            );
            if p["type"] == "row" {
                continue;
            }
            assert!(
                matches!(p["type"].as_str(), Some("timeseries" | "stat" | "table" | "gauge" | "bargauge" | "text")),
                "{f}: panel {title:?} type {}",
                p["type"]
            );
            assert_eq!(p["datasource"]["type"], "prometheus", "{f}: panel {title:?} datasource type");
            assert_eq!(p["datasource"]["uid"], DATASOURCE, "{f}: panel {title:?} must use the datasource variable");
            let targets = p["targets"].as_array().unwrap_or_else(|| panic!("{f}: panel {title:?} has no targets"));
            assert!(!targets.is_empty(), "{f}: panel {title:?} has no targets");
            for t in targets {
                if !t["datasource"].is_null() {
                    assert_eq!(t["datasource"]["uid"], DATASOURCE, "{f}: panel {title:?} target datasource");
                }
                assert!(t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()), "{f}: panel {title:?} has a target without expr");
            }
        }
        for (what, expr) in expressions(j) {
            for v in variables_used(&expr) {
                assert!(defined.contains(&v), "{f}: {what} uses ${v}, which the dashboard does not define: {expr}");
            }
        }
    }
}

#[test]
fn dashboard_queries_are_valid_promql() {
    assert_eq!(substitute("rate(x{a=~\"$server_id\", b=~\"${instance}\"}[$__rate_interval])"), "rate(x{a=~\".*\", b=~\".*\"}[5m])");
    assert_eq!(substitute("increase(x[$__range]) > ${__interval_ms}"), "increase(x[5m]) > 300000");
    assert_eq!(variables_used("x{a=~\"$a\",b=~\"${b_c}\"}[$__range]"), ["a", "b_c", "__range"]);
    assert_eq!(variable_promql("label_values(gantry_server_up{x=\"y\"}, server)").as_deref(), Some("gantry_server_up{x=\"y\"}"));

    let Some(tool) = promtool() else { return };
    let mut exprs = Vec::new();
    for d in dashboards() {
        for (what, expr) in expressions(&d.json) {
            exprs.push((format!("{}: {what}", d.file), expr));
        }
    }
    assert!(exprs.len() > 50, "expected many dashboard queries, found {}", exprs.len());
    if let Err(report) = promtool_check_exprs(tool, &exprs) {
        panic!("dashboard queries are not valid PromQL:\n{report}");
    }
    // The check can fail: a broken query is reported.
    let mut broken = exprs[..2].to_vec();
    broken.push(("broken".into(), "sum(rate(gantry_http_requests_total{route=~\"$route\"}[$__rate_interval])".into()));
    let err = promtool_check_exprs(tool, &broken).expect_err("an unbalanced parenthesis must fail the check");
    assert!(err.contains("dashboard:expr_2") || err.contains("unclosed") || err.contains("parse error"), "{err}");
}

// ---------------------------------------------------------------- metric names

/// `gantry_*` and `process_*` metric names in a text (word-delimited).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for prefix in ["gantry_", "process_"] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(prefix) {
            let start = from + pos;
            let before_ok = text[..start].chars().next_back().is_none_or(|c| !word(c));
            let len = text[start..].find(|c: char| !word(c)).unwrap_or(text.len() - start);
            let name = &text[start..start + len];
            if before_ok && name.len() > prefix.len() && !name.ends_with('_') {
                out.insert(name.to_string());
            }
            from = start + len.max(1);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referenced_metrics_are_exported() {
    // Where each name is used.
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for a in parse_alerts(&read("deploy/prometheus/alerts.yml")) {
        for name in metric_names(a.fields.get("expr").map(String::as_str).unwrap_or_default()) {
            used.entry(name).or_default().insert(format!("alert {}", a.name));
        }
    }
    // Expressions may span lines; take every name in the file too (comments and descriptions included).
    for name in metric_names(&read("deploy/prometheus/alerts.yml")) {
        used.entry(name).or_default().insert("alerts.yml".into());
    }
    for d in dashboards() {
        for (what, expr) in expressions(&d.json) {
            for name in metric_names(&expr) {
                used.entry(name).or_default().insert(format!("{} {what}", d.file));
            }
        }
    }
    assert!(used.contains_key("gantry_http_requests_total") && used.contains_key("gantry_proxy_status"), "{used:?}");

    let t = TestApp::spawn(Backend::Sqlite).await;
    let r = t.client().get("/metrics").await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.expect("metrics body");
    t.stop().await;

    let mut families: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, kind)) = rest.split_once(' ')
        {
            families.insert(name.to_string(), kind.trim().to_string());
        }
    }
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("# HELP ").and_then(|r| r.split(' ').next()) {
            assert!(families.contains_key(name), "# HELP {name} without # TYPE");
        }
    }
    let exported = |name: &str| {
        families.contains_key(name)
            || ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name.strip_suffix(s).is_some_and(|base| families.get(base).is_some_and(|k| k == "histogram")))
    };
    let missing: Vec<String> = used
        .iter()
        .filter(|(name, _)| !exported(name))
        .map(|(name, at)| format!("{name} (used by {})", at.iter().cloned().collect::<Vec<_>>().join("; ")))
        .collect();
    assert!(missing.is_empty(), "metric names used by alerts or dashboards that Gantry does not export:\n  {}", missing.join("\n  "));
}
