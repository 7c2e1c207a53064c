//! Render benchmark (issue #6): how long `gantry_proxy::render::render` takes
//! for 10,000 validated domains, next to two references measured in the same
//! run on the same input:
//!
//! - the real `nginx -t` on the rendered files (how long nginx itself takes to
//!   parse what Gantry wrote), with a wrapper configuration that includes them
//!   the way the installed layout does and touches nothing of the machine's
//!   nginx (temporary prefix, pid and log files);
//! - `serde_json::to_string` of the same domains as sent to the API (`DomainInput`).
//!
//! Two inputs: 10,000 plain domains in one group, and 10,000 domains with
//! options (aliases, timeouts, headers, access lists, websocket, an extra
//! route on every tenth) in 100 groups of 100.
//!
//! Run with `cargo run --release -p gantry-proxy --example render_bench [-- RUNS]`
//! (default 9 runs of each timed step; nginx -t runs min(RUNS, 5) times).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gantry_domains::spec::{self, DomainInput, Header, OptionsInput, RouteInput};
use gantry_domains::{ServedDomain, ServedGroup};
use gantry_proxy::render::{RenderSettings, Rendered, render};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DOMAINS: usize = 10_000;

fn plain(i: usize) -> DomainInput {
    DomainInput {
        name: Some(format!("d{i}.bulk.example.com")),
        target_ip: Some(format!("10.1.{}.{}", (i / 250) % 250, i % 250 + 1)),
        target_port: Some(8080 + u32::try_from(i % 4).unwrap()),
        ..Default::default()
    }
}

fn with_options(i: usize) -> DomainInput {
    let mut d = plain(i);
    d.name = Some(format!("app{i}.tenant{}.example.com", i / 100));
    d.aliases = Some(vec![format!("www.app{i}.tenant{}.example.com", i / 100)]);
    d.options = Some(OptionsInput {
        websocket: Some(i.is_multiple_of(2)),
        max_body_size_mb: Some(16),
        proxy_read_timeout: Some(120),
        response_headers: Some(vec![Header { name: "X-Frame-Options".into(), value: "DENY".into() }]),
        allow: if i.is_multiple_of(3) { Some(vec!["10.0.0.0/8".into()]) } else { None },
        ..Default::default()
    });
    if i.is_multiple_of(10) {
        d.routes = Some(vec![RouteInput { path: "/api/".into(), target_ip: "10.2.0.1".into(), target_port: Some(9000), scheme: None }]);
    }
    d
}

/// Validates every input the way the domains module does (`spec::domain`) and groups them.
fn groups(inputs: &[DomainInput], per_group: usize) -> Vec<ServedGroup> {
    inputs
        .chunks(per_group)
        .enumerate()
        .map(|(g, chunk)| ServedGroup {
            id: i64::try_from(g + 1).unwrap(),
            name: format!("group{g}"),
            manual_approval: false,
            auto_repair: false,
            domains: chunk
                .iter()
                .enumerate()
                .map(|(j, input)| {
                    let id = i64::try_from(g * per_group + j + 1).unwrap();
                    let spec = spec::domain(input).unwrap_or_else(|e| panic!("domain {id} invalid: {e:?}"));
                    ServedDomain { id, version: 1, spec }
                })
                .collect(),
        })
        .collect()
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, Duration) {
    let mut xs = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        black_box(f());
        xs.push(t.elapsed());
    }
    let (min, max) = (*xs.iter().min().unwrap(), *xs.iter().max().unwrap());
    (median(xs), min, max)
}

/// `nginx -t -q` on the rendered files, included inside `http` through a `live/*.conf` glob
/// (the same wrapper as the golden-file tests); returns how long nginx ran.
fn nginx_t(files: &BTreeMap<String, String>) -> Duration {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists()).expect("nginx is not installed");
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    std::fs::create_dir(&live).unwrap();
    for (name, content) in files {
        std::fs::write(live.join(name), content).unwrap();
    }
    let d = dir.path().display();
    let conf = format!(
        "error_log {d}/error.log;\npid {d}/nginx.pid;\nevents {{}}\nhttp {{\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  access_log off;\n  include {d}/live/*.conf;\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let t = Instant::now();
    let out =
        Command::new(nginx).arg("-t").arg("-q").arg("-p").arg(dir.path()).arg("-c").arg(dir.path().join("nginx.conf")).output().unwrap();
    let took = t.elapsed();
    assert!(out.status.success(), "nginx -t rejects the rendered configuration:\n{}", String::from_utf8_lossy(&out.stderr));
    took
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn scenario(title: &str, inputs: Vec<DomainInput>, per_group: usize, runs: usize) {
    let settings = RenderSettings::default();
    let (validate, _, _) = time(runs.min(3), || groups(&inputs, per_group));
    let gs = groups(&inputs, per_group);
    let r: Rendered = render(&gs, &settings);
    assert_eq!(r.domains.len(), DOMAINS);
    let bytes: usize = r.files.values().map(String::len).sum();
    let (render_med, render_min, render_max) = time(runs, || render(&gs, &settings));
    let (json_med, json_min, json_max) = time(runs, || serde_json::to_string(&inputs).unwrap());
    let json_len = serde_json::to_string(&inputs).unwrap().len();
    let mut nginx = Vec::new();
    for _ in 0..runs.clamp(1, 5) {
        nginx.push(nginx_t(&r.files));
    }
    let (nginx_min, nginx_max) = (*nginx.iter().min().unwrap(), *nginx.iter().max().unwrap());
    let nginx_med = median(nginx);
    println!(
        "== {title}: {DOMAINS} domains in {} group(s), {} files, {:.1} MiB rendered",
        gs.len(),
        r.files.len(),
        bytes as f64 / 1048576.0
    );
    println!("validate (spec::domain, not part of render): median {:.1} ms", ms(validate));
    println!(
        "render:                      median {:>8.1} ms  (min {:.1}, max {:.1}; {runs} runs)",
        ms(render_med),
        ms(render_min),
        ms(render_max)
    );
    println!(
        "serde_json::to_string input: median {:>8.1} ms  (min {:.1}, max {:.1}; {runs} runs; {:.1} MiB)",
        ms(json_med),
        ms(json_min),
        ms(json_max),
        json_len as f64 / 1048576.0
    );
    println!(
        "nginx -t on the output:      median {:>8.1} ms  (min {:.1}, max {:.1}; {} runs)",
        ms(nginx_med),
        ms(nginx_min),
        ms(nginx_max),
        runs.clamp(1, 5)
    );
    println!(
        "ratios: render / nginx -t = {:.3}; render / serde_json = {:.2}; render throughput {:.0} domains/ms",
        render_med.as_secs_f64() / nginx_med.as_secs_f64(),
        render_med.as_secs_f64() / json_med.as_secs_f64(),
        DOMAINS as f64 / ms(render_med)
    );
}

fn main() {
    let runs: usize = std::env::args().nth(1).map(|a| a.parse().expect("RUNS must be a number")).unwrap_or(9).clamp(1, 100);
    scenario("plain", (0..DOMAINS).map(plain).collect(), DOMAINS, runs);
    scenario("with options", (0..DOMAINS).map(with_options).collect(), 100, runs);
}
