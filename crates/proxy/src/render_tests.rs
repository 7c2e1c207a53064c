//! Golden-file tests of the renderer. Every golden file is also checked by
//! the real `nginx -t` (Debian's nginx), so a snapshot that nginx would
//! reject can never be accepted. `GANTRY_UPDATE_GOLDEN=1` rewrites them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::render::*;
use gantry_domains::spec::{self, DomainInput, Header, OptionsInput, RouteInput};
use gantry_domains::{ServedDomain, ServedGroup};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn domain(id: i64, input: DomainInput) -> ServedDomain {
    let spec = spec::domain(&input).unwrap_or_else(|e| panic!("test domain {id} invalid: {e:?}"));
    ServedDomain { id, version: 1, spec }
}

pub(crate) fn simple(id: i64, name: &str, target: &str, port: u32) -> ServedDomain {
    domain(id, DomainInput { name: Some(name.into()), target_ip: Some(target.into()), target_port: Some(port), ..Default::default() })
}

pub(crate) fn group(id: i64, name: &str, domains: Vec<ServedDomain>) -> ServedGroup {
    ServedGroup { id, name: name.into(), manual_approval: false, auto_repair: false, domains }
}

fn cases() -> Vec<(&'static str, Vec<ServedGroup>, RenderSettings)> {
    let all_options = domain(
        21,
        DomainInput {
            name: Some("app.example.com".into()),
            target_ip: Some("10.0.0.21".into()),
            target_port: Some(8443),
            scheme: Some(gantry_domains::model::Scheme::Https),
            aliases: Some(vec!["www.app.example.com".into(), "app.example.org".into()]),
            options: Some(OptionsInput {
                websocket: Some(true),
                max_body_size_mb: Some(64),
                proxy_connect_timeout: Some(5),
                proxy_read_timeout: Some(300),
                proxy_send_timeout: Some(120),
                response_headers: Some(vec![
                    Header { name: "X-Frame-Options".into(), value: "DENY".into() },
                    Header { name: "Content-Security-Policy".into(), value: "default-src 'self'; img-src *".into() },
                ]),
                allow: Some(vec!["10.0.0.0/8".into(), "2001:db8::/32".into()]),
                deny: Some(vec!["10.6.6.0/24".into()]),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let routes = domain(
        31,
        DomainInput {
            name: Some("shop.example.com".into()),
            target_ip: Some("10.0.0.31".into()),
            routes: Some(vec![
                RouteInput { path: "/api/".into(), target_ip: "10.0.0.32".into(), target_port: Some(9000), scheme: None },
                RouteInput { path: "/api/v2/".into(), target_ip: "2001:db8::33".into(), target_port: Some(9002), scheme: None },
                RouteInput {
                    path: "/static/caf%C3%A9/".into(),
                    target_ip: "10.0.0.34".into(),
                    target_port: None,
                    scheme: Some(gantry_domains::model::Scheme::Https),
                },
            ]),
            options: Some(OptionsInput { deny: Some(vec!["192.0.2.0/24".into()]), max_body_size_mb: Some(0), ..Default::default() }),
            ..Default::default()
        },
    );
    let root_route = domain(
        32,
        DomainInput {
            name: Some("root.example.com".into()),
            target_ip: Some("10.0.0.35".into()),
            routes: Some(vec![RouteInput { path: "/".into(), target_ip: "10.0.0.36".into(), target_port: Some(81), scheme: None }]),
            ..Default::default()
        },
    );
    let long_name = format!("{}.{}.example.com", "a".repeat(63), "b".repeat(63));
    vec![
        ("empty", vec![], RenderSettings::default()),
        (
            "two_domains",
            vec![group(1, "web", vec![simple(11, "a.example.com", "10.0.0.11", 8080), simple(12, "b.example.com", "2001:db8::12", 80)])],
            RenderSettings::default(),
        ),
        ("all_options", vec![group(2, "apps", vec![all_options])], RenderSettings::default()),
        ("routes", vec![group(3, "shop", vec![routes, root_route])], RenderSettings::default()),
        (
            "listen_address_and_operator_directives",
            vec![group(4, "edge", vec![simple(41, "edge.example.com", "10.0.0.41", 80)])],
            RenderSettings {
                listen: Some("127.0.0.1".parse().unwrap()),
                ipv6: false,
                status_port: 18089,
                operator_directives: BTreeSet::from(["server_names_hash_bucket_size".to_string()]),
                ..RenderSettings::default()
            },
        ),
        (
            "wildcard_idn_and_long_names",
            vec![
                group(5, "wild", vec![simple(51, "*.example.net", "10.0.0.51", 80), simple(52, "bücher.example", "10.0.0.52", 80)]),
                group(6, "long", vec![simple(61, &long_name, "10.0.0.61", 80)]),
            ],
            RenderSettings { ipv6: false, ..RenderSettings::default() },
        ),
        (
            "tls_intermediate_redirect_hsts_http2",
            vec![group(
                7,
                "secure",
                vec![tls_domain(71, "secure.example.com", spec::TlsMode::Certificate, true, spec::TlsProfile::Intermediate)],
            )],
            RenderSettings {
                conf_dir: GOLDEN_CONF_DIR.into(),
                tls: BTreeMap::from([(71, "0a1b2c3d4e5f60718293a4b5c6d7e8f9".into())]),
                access_log: Some(access_log_path(GOLDEN_CONF_DIR)),
                ..RenderSettings::default()
            },
        ),
        (
            "tls_modern_acme_and_waiting_for_a_certificate",
            vec![group(
                8,
                "acme",
                vec![
                    tls_domain(81, "issued.example.com", spec::TlsMode::Acme, false, spec::TlsProfile::Modern),
                    tls_domain(82, "pending.example.com", spec::TlsMode::Acme, true, spec::TlsProfile::Intermediate),
                ],
            )],
            RenderSettings {
                listen: Some("127.0.0.1".parse().unwrap()),
                ipv6: false,
                conf_dir: GOLDEN_CONF_DIR.into(),
                tls: BTreeMap::from([(81, "99aa".into())]),
                access_log: Some(access_log_path(GOLDEN_CONF_DIR)),
                ..RenderSettings::default()
            },
        ),
        (
            "traffic_log",
            vec![group(9, "logged", vec![simple(91, "a.example.org", "10.0.0.91", 8080), simple(92, "b.example.org", "10.0.0.92", 80)])],
            RenderSettings {
                conf_dir: GOLDEN_CONF_DIR.into(),
                access_log: Some(access_log_path(GOLDEN_CONF_DIR)),
                ..RenderSettings::default()
            },
        ),
    ]
}

/// Where the TLS goldens say certificates are; the test writes throwaway ones there for `nginx -t`.
const GOLDEN_CONF_DIR: &str = "/tmp/gantry-golden/etc-nginx";

fn tls_domain(id: i64, name: &str, tls: spec::TlsMode, redirect: bool, profile: spec::TlsProfile) -> ServedDomain {
    domain(
        id,
        DomainInput {
            name: Some(name.into()),
            target_ip: Some("10.0.0.70".into()),
            aliases: Some(vec![format!("www.{name}")]),
            options: Some(OptionsInput {
                tls: Some(tls),
                certificate_id: (tls == spec::TlsMode::Certificate).then_some(5),
                redirect_https: Some(redirect),
                hsts: Some(redirect),
                hsts_max_age: Some(63_072_000),
                http2: Some(true),
                tls_profile: Some(profile),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
}

/// Writes a throwaway self-signed certificate for every material id `s.tls` names, where the rendering points.
pub(crate) fn write_test_certs(s: &RenderSettings) {
    let dir = certs_dir(&s.conf_dir);
    std::fs::create_dir_all(&dir).unwrap();
    for id in s.tls.values() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["golden.example.com".to_string()]).unwrap().self_signed(&key).unwrap();
        std::fs::write(format!("{dir}/{id}.crt"), cert.pem()).unwrap();
        std::fs::write(format!("{dir}/{id}.key"), key.serialize_pem()).unwrap();
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// One text per generation: every file under a `==> name <==` header.
fn as_text(r: &Rendered) -> String {
    r.files.iter().map(|(n, c)| format!("==> {n} <==\n{c}")).collect::<Vec<_>>().join("\n")
}

/// Runs the real `nginx -t` on a generation, included the way the installed
/// layout includes it (inside `http`, through a `live/*.conf` glob).
pub(crate) fn nginx_t(files: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists());
    let Some(nginx) = nginx else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("nginx is not installed; CI=true requires the golden files to be checked by nginx -t");
        }
        eprintln!("SKIPPED nginx -t: nginx is not installed");
        return Ok(());
    };
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
    let out =
        Command::new(nginx).arg("-t").arg("-q").arg("-p").arg(dir.path()).arg("-c").arg(dir.path().join("nginx.conf")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // "could not build optimal ... hash" is a performance warning; everything else counts.
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("[warn]") && !l.contains("could not build optimal")).collect();
    if out.status.success() && warnings.is_empty() { Ok(()) } else { Err(stderr) }
}

#[test]
fn golden_files_match_and_pass_nginx_t() {
    let update = std::env::var("GANTRY_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut names = Vec::new();
    for (name, groups, settings) in cases() {
        let r = render(&groups, &settings);
        let text = as_text(&r);
        let path = golden_dir().join(format!("{name}.conf"));
        if update {
            std::fs::write(&path, &text).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing golden file {}; run with GANTRY_UPDATE_GOLDEN=1", path.display()));
        assert_eq!(text, want, "rendering of {name} differs from {}", path.display());
        write_test_certs(&settings);
        if settings.access_log.is_some() {
            // nginx -t opens (creates) the log, as the install's layout lets it on a server.
            std::fs::create_dir_all(logs_dir(&settings.conf_dir)).unwrap();
        }
        nginx_t(&r.files).unwrap_or_else(|e| panic!("nginx -t rejects golden {name}:\n{e}"));
        assert_eq!(hash_of_files(&r.files).as_deref(), Some(r.hash.as_str()), "{name}: the stored files prove their hash");
        names.push(format!("{name}.conf"));
    }
    // No stale golden file is left unchecked.
    let mut on_disk: Vec<String> =
        std::fs::read_dir(golden_dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    on_disk.sort();
    names.sort();
    assert_eq!(on_disk, names);
}

#[test]
fn rendering_is_deterministic_and_sensitive() {
    let g = || vec![group(1, "web", vec![simple(11, "a.example.com", "10.0.0.11", 8080), simple(12, "b.example.com", "10.0.0.12", 80)])];
    let s = RenderSettings::default();
    let a = render(&g(), &s);
    let b = render(&g(), &s);
    assert_eq!(a, b, "same state, same bytes");
    // Order of groups handed in does not matter.
    let two = vec![group(2, "x", vec![simple(21, "x.example.com", "10.0.0.2", 80)]), g().remove(0)];
    let mut rev = two.clone();
    rev.reverse();
    assert_eq!(render(&two, &s).hash, render(&rev, &s).hash);
    // Any change moves the hash, and only the changed domain's digest.
    let mut changed = g();
    changed[0].domains[1] = simple(12, "b.example.com", "10.0.0.99", 80);
    let c = render(&changed, &s);
    assert_ne!(a.hash, c.hash);
    assert_eq!(a.domains[&11], c.domains[&11]);
    assert_ne!(a.domains[&12].hash, c.domains[&12].hash);
    // Settings count too.
    assert_ne!(a.hash, render(&g(), &RenderSettings { status_port: 9999, ..s.clone() }).hash);
    // A tampered file no longer proves its hash.
    let mut files = a.files.clone();
    files.get_mut("group-1.conf").unwrap().push_str("# edited\n");
    assert_eq!(hash_of_files(&files), None);
}

#[test]
fn hostile_values_never_reach_a_file() {
    // The domains module is the boundary; this checks the renderer only ever sees its types.
    for bad in ["a.com; include /etc/passwd", "a.com}", "$host.com"] {
        assert!(spec::domain(&DomainInput { name: Some(bad.into()), target_ip: Some("10.0.0.1".into()), ..Default::default() }).is_err());
    }
    let r = render(&[group(1, "web", vec![simple(11, "a.example.com", "10.0.0.11", 80)])], &RenderSettings::default());
    for (_, c) in r.files {
        assert_eq!(c.matches('{').count(), c.matches('}').count(), "braces balance");
    }
}

#[test]
fn ten_thousand_domains_pass_nginx_t() {
    let domains: Vec<ServedDomain> = (0..10_000).map(|i| simple(i, &format!("d{i}.bulk.example.com"), "10.1.0.1", 80)).collect();
    let r = render(&[group(1, "bulk", domains)], &RenderSettings::default());
    assert_eq!(r.domains.len(), 10_000);
    nginx_t(&r.files).unwrap_or_else(|e| panic!("nginx -t rejects 10,000 domains:\n{e}"));
}

#[test]
fn tls_blocks_follow_the_settings() {
    let d = || vec![group(7, "s", vec![tls_domain(71, "s.example.com", spec::TlsMode::Acme, true, spec::TlsProfile::Modern)])];
    // No certificate yet: plain HTTP with the ACME location, no redirect.
    let none = render(&d(), &RenderSettings::default());
    let text = &none.files["group-7.conf"];
    assert!(text.contains("location ^~ /.well-known/acme-challenge/"));
    assert!(!text.contains("listen 443") && !text.contains("return 301"));
    // With one: redirect on 80 (the ACME location stays), HTTPS on 443 with TLS 1.3 only.
    let with = render(&d(), &RenderSettings { tls: BTreeMap::from([(71, "ab".into())]), ..RenderSettings::default() });
    let text = &with.files["group-7.conf"];
    assert!(text.contains("return 301 https://$host$request_uri;"));
    assert!(text.contains("location ^~ /.well-known/acme-challenge/"));
    assert!(text.contains("listen 443 ssl http2;") && text.contains("ssl_protocols TLSv1.3;"));
    assert!(text.contains("ssl_certificate /etc/nginx/gantry/certs/ab.crt;"));
    assert_ne!(none.domains[&71].hash, with.domains[&71].hash, "a certificate counts as a change of the domain");
    // A renewed certificate is a new file name: new hash, so exactly the servers using it reload.
    let renewed = render(&d(), &RenderSettings { tls: BTreeMap::from([(71, "cd".into())]), ..RenderSettings::default() });
    assert_ne!(with.hash, renewed.hash);
    // nginx 1.25.1 and later: `http2 on;` instead of the listen flag.
    let new =
        render(&d(), &RenderSettings { http2_directive: true, tls: BTreeMap::from([(71, "ab".into())]), ..RenderSettings::default() });
    assert!(new.files["group-7.conf"].contains("    http2 on;\n") && new.files["group-7.conf"].contains("listen 443 ssl;"));
    assert!(
        has_http2_directive("1.25.1") && has_http2_directive("1.27.0") && !has_http2_directive("1.22.1") && !has_http2_directive("1.25.0")
    );
}

#[test]
fn the_traffic_log_names_the_configured_domain_and_spares_the_status_server() {
    let g = vec![group(9, "logged", vec![tls_domain(93, "c.example.org", spec::TlsMode::Certificate, false, spec::TlsProfile::Modern)])];
    let path = access_log_path("/etc/nginx");
    assert_eq!(path, "/etc/nginx/gantry/logs/access.log");
    let s = RenderSettings { access_log: Some(path.clone()), tls: BTreeMap::from([(93, "ab".into())]), ..RenderSettings::default() };
    let r = render(&g, &s);
    let marker = &r.files[MARKER_FILE];
    let format = marker.lines().find(|l| l.starts_with("log_format gantry_stats ")).expect("the log format is defined");
    assert!(format.contains("$server_name") && !format.contains("$host"), "the client-chosen Host never reaches the log: {format}");
    assert_eq!(format, "log_format gantry_stats '$msec\\t$server_name\\t$status\\t$bytes_sent\\t$request_time\\t$upstream_response_time';");
    // The status server logs nothing; every domain block (port 80 and 443) logs to the traffic log.
    let status = &marker[marker.find("server {").unwrap()..];
    assert!(status.contains("access_log off;") && !status.contains(LOG_FORMAT));
    let group = &r.files["group-9.conf"];
    assert_eq!(group.matches(&format!("    access_log {path} gantry_stats;\n")).count(), 2, "{group}");
    assert_eq!(group.matches("server {").count(), 2);
    // Without a log path nothing changes for the operator's logging.
    let plain = render(&g, &RenderSettings { tls: BTreeMap::from([(93, "ab".into())]), ..RenderSettings::default() });
    assert!(plain.files.values().all(|f| !f.contains(LOG_FORMAT)));
    assert_ne!(plain.hash, r.hash);
}
