//! TLS termination: uploads checked at the boundary, certificates served by
//! real nginx on the test fleet, ACME issuance and renewal against Debian's
//! Pebble (a real RFC 8555 server) validating through the fleet host's nginx.

use crate::helpers::{Backend, TestApp, eventually, expect_problem, log_text};
use crate::proxy::{Stand, post_job, wait_job};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// A date as (year, month, day).
type Ymd = (i32, u8, u8);

/// A throwaway PKI: a root, an intermediate, and leaves signed by the intermediate.
struct Pki {
    root_pem: String,
    inter_pem: String,
    inter: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let root_key = KeyPair::generate().unwrap();
        let mut rp = CertificateParams::new(Vec::<String>::new()).unwrap();
        rp.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        rp.distinguished_name.push(DnType::CommonName, "Gantry Test Root");
        let root_cert = rp.self_signed(&root_key).unwrap();
        let root = Issuer::new(rp, root_key);
        let inter_key = KeyPair::generate().unwrap();
        let mut ip = CertificateParams::new(Vec::<String>::new()).unwrap();
        ip.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ip.distinguished_name.push(DnType::CommonName, "Gantry Test Intermediate");
        let inter_cert = ip.signed_by(&inter_key, &root).unwrap();
        Pki { root_pem: root_cert.pem(), inter_pem: inter_cert.pem(), inter: Issuer::new(ip, inter_key) }
    }

    /// (leaf PEM, key PEM) for `names`, valid in the given window (`None`: a year from yesterday).
    fn leaf(&self, names: &[&str], window: Option<(Ymd, Ymd)>) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        let ymd = |d: chrono::DateTime<chrono::Utc>| {
            use chrono::Datelike as _;
            (d.year(), d.month() as u8, d.day() as u8)
        };
        let now = chrono::Utc::now();
        let ((y1, m1, d1), (y2, m2, d2)) = window.unwrap_or((ymd(now - chrono::Duration::days(1)), ymd(now + chrono::Duration::days(365))));
        p.not_before = rcgen::date_time_ymd(y1, m1, d1);
        p.not_after = rcgen::date_time_ymd(y2, m2, d2);
        let cert = p.signed_by(&key, &self.inter).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

async fn upload(op: &crate::helpers::Session, cert: &str, key: &str) -> reqwest::Response {
    op.post("/api/v1/certificates", json!({"certificate": cert, "private_key": key})).await
}

/// The key's base64 body lines (what a leak would contain).
fn key_lines(key: &str) -> Vec<String> {
    key.lines().filter(|l| !l.starts_with("-----") && l.len() > 20).map(String::from).collect()
}

crate::backend_tests!(uploads_are_checked_and_keys_never_leave);

/// Each broken upload gets its own 422; a good one is listed with its names; its key is never shown anywhere.
async fn uploads_are_checked_and_keys_never_leave(backend: Backend) {
    let t = TestApp::spawn_on(crate::helpers::FreshDb::new(backend).await, |_| {}).await;
    let op = t.user("ops", "operator").await;
    let pki = Pki::new();
    let (leaf, key) = pki.leaf(&["shop.example.test", "*.shop.example.test"], None);
    let chain = format!("{leaf}{}", pki.inter_pem);

    let problem = |r: reqwest::Response, field: &'static str, needle: &'static str| async move {
        let body = expect_problem(r, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        let msg = body["errors"][0]["message"].as_str().unwrap().to_string();
        assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
    };
    // A key of another certificate.
    let (_, other_key) = pki.leaf(&["other.example.test"], None);
    problem(upload(&op, &chain, &other_key).await, "private_key", "does not match the certificate").await;
    // Expired.
    let (old, old_key) = pki.leaf(&["old.example.test"], Some(((2020, 1, 1), (2021, 1, 1))));
    problem(upload(&op, &format!("{old}{}", pki.inter_pem), &old_key).await, "certificate", "expired on 2021-01-01").await;
    // Not valid yet.
    let (young, young_key) = pki.leaf(&["young.example.test"], Some(((2090, 1, 1), (2091, 1, 1))));
    problem(upload(&op, &format!("{young}{}", pki.inter_pem), &young_key).await, "certificate", "not valid yet").await;
    // The intermediate missing, and the chain in the wrong order.
    problem(upload(&op, &leaf, &key).await, "certificate", "the chain is incomplete").await;
    problem(upload(&op, &format!("{leaf}{}{}", pki.root_pem, pki.inter_pem), &key).await, "certificate", "out of order").await;
    // Not PEM at all, and a key in the certificate field.
    problem(upload(&op, "hello, this is not a certificate", &key).await, "certificate", "not a PEM certificate").await;
    problem(upload(&op, &key, &key).await, "certificate", "not a CERTIFICATE").await;
    problem(upload(&op, &chain, "garbage").await, "private_key", "not a PEM private key").await;
    // Nothing half-stored.
    assert_eq!(op.json("/api/v1/certificates").await.as_array().unwrap().len(), 0);

    // A good one: listed with names, issuer and expiry; a chain up to the root is fine too.
    let r = upload(&op, &format!("{chain}{}", pki.root_pem), &key).await;
    assert_eq!(r.status(), 201);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["names"], json!(["shop.example.test", "*.shop.example.test"]));
    assert_eq!(c["issuer"], "Gantry Test Intermediate");
    assert_eq!(c["source"], "upload");
    assert_eq!(c["expiry"], "ok");
    let id = c["id"].as_i64().unwrap();
    // Its expiry is a metric (Unix seconds).
    let metrics = t.client().get("/metrics").await.text().await.unwrap();
    let want = format!("gantry_certificate_expiry_timestamp_seconds{{certificate_id=\"{id}\"}} ");
    let line = metrics.lines().find(|l| l.starts_with(&want)).unwrap_or_else(|| panic!("no expiry metric in:\n{metrics}"));
    let ts: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    let not_after = chrono::DateTime::parse_from_rfc3339(c["not_after"].as_str().unwrap()).unwrap().timestamp() as f64;
    assert_eq!(ts, not_after);
    // The same bytes twice: refused, not duplicated.
    problem(upload(&op, &format!("{chain}{}", pki.root_pem), &key).await, "certificate", "already uploaded").await;

    // A domain may use it when it covers the name (wildcards included); otherwise a clear 422.
    let g = op.post("/api/v1/domain-groups", json!({"name": "shop"})).await.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let ok = op
        .post(
            "/api/v1/domains",
            json!({"group_id": g, "name": "api.shop.example.test", "target_ip": "10.0.0.1",
                   "options": {"tls": "certificate", "certificate_id": id}}),
        )
        .await;
    assert_eq!(ok.status(), 201);
    let bad = op
        .post(
            "/api/v1/domains",
            json!({"group_id": g, "name": "a.b.shop.example.test", "target_ip": "10.0.0.1", "options": {"tls": "certificate", "certificate_id": id}}),
        )
        .await;
    let body = expect_problem(bad, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "options.certificate_id");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("does not cover a.b.shop.example.test"), "{body}");
    let missing = op
        .post(
            "/api/v1/domains",
            json!({"group_id": g, "name": "x.shop.example.test", "target_ip": "10.0.0.1", "options": {"tls": "certificate"}}),
        )
        .await;
    assert_eq!(expect_problem(missing, 422, "validation_failed").await["errors"][0]["field"], "options.certificate_id");

    // In use: it cannot be deleted, and it shows who uses it.
    let shown = op.json(&format!("/api/v1/certificates/{id}")).await;
    assert_eq!(shown["used_by"][0]["domain"], "api.shop.example.test");
    expect_problem(op.delete(&format!("/api/v1/certificates/{id}")).await, 409, "conflict").await;
    // Suggestions for a domain are the certificates that cover it.
    let did = ok.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let tls = op.json(&format!("/api/v1/domains/{did}/certificate")).await;
    assert_eq!(tls["suggestions"][0]["id"], id);
    assert_eq!(tls["serving"]["id"], id);

    // The key appears in no response, audit record, event or log line.
    let mut seen = String::new();
    let admin = t.admin().await;
    for path in ["/api/v1/certificates", &format!("/api/v1/certificates/{id}"), "/api/v1/audit?entity_type=certificate"] {
        let r = admin.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        seen.push_str(&r.text().await.unwrap());
    }
    assert!(seen.contains("certificate.upload"), "the upload is audited");
    let mut stream = op.get("/api/v1/events?after=0&kinds=certificate.").await;
    let events = crate::jobs::read_events(&mut stream, |_, d| d["payload"]["what"] == "uploaded").await;
    seen.push_str(&format!("{events:?}"));
    for l in key_lines(&key) {
        assert!(!seen.contains(&l), "key material in an API response");
        assert!(!log_text().contains(&l), "key material in the logs");
    }
    // Viewers read, only operators upload.
    let viewer = t.user("vic", "viewer").await;
    assert_eq!(viewer.get("/api/v1/certificates").await.status(), 200);
    expect_problem(upload(&viewer, &chain, &key).await, 403, "forbidden").await;
    t.stop().await;
}

/// A client for `https://name` and `http://name` through the proxy at `addr`, trusting only `root`.
fn https_client(addr: Ipv4Addr, names: &[&str], root_pem: &str) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(root_pem.as_bytes()).unwrap());
    for n in names {
        // Port 0: the URL's own port (443 for https, 80 for http) is used.
        b = b.resolve(n, SocketAddr::from((addr, 0)));
    }
    b.build().unwrap()
}

/// `GET url`: status, body and the served certificate (DER).
async fn fetch(c: &reqwest::Client, url: &str) -> Result<(u16, String, Vec<u8>, Option<String>), String> {
    let r = c.get(url).send().await.map_err(|e| format!("{e:?}"))?;
    let status = r.status().as_u16();
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
    let der = r.extensions().get::<reqwest::tls::TlsInfo>().and_then(|i| i.peer_certificate()).map(<[u8]>::to_vec).unwrap_or_default();
    let body = r.text().await.map_err(|e| e.to_string())?;
    Ok((status, body, der, location.or(Some(String::new())).filter(|l| !l.is_empty())))
}

/// Waits up to 30 s for `url` to answer 200; on failure, says what the proxy and the last attempt said.
async fn served(s: &Stand, c: &reqwest::Client, url: &str) -> (u16, String, Vec<u8>, Option<String>) {
    let mut last = String::new();
    for _ in 0..150 {
        match fetch(c, url).await {
            Ok(r) if r.0 == 200 => return r,
            Ok(r) => last = format!("{} {}", r.0, r.1),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let gens = s.generations().await;
    panic!("{url} not served: {last}\nproxy: {}\nnewest generation: {}", s.state().await, gens.first().cloned().unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_certificate_is_served_over_https_and_http_redirects() {
    let Some(s) = Stand::new(2, |_| {}).await else { return };
    let pki = Pki::new();
    let (leaf, key) = pki.leaf(&["secure.example.test"], None);
    let r = upload(&s.op, &format!("{leaf}{}", pki.inter_pem), &key).await;
    assert_eq!(r.status(), 201);
    let cert = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let g = crate::proxy::group(&s.op, "secure", s.server, json!({})).await;
    let body = json!({"group_id": g, "name": "secure.example.test", "target_ip": s.backend().to_string(), "target_port": 8080,
        "options": {"tls": "certificate", "certificate_id": cert, "redirect_https": true, "hsts": true, "http2": true}});
    let r = s.op.post("/api/v1/domains", body).await;
    assert_eq!(r.status(), 201);
    let proxy = s.fleet.host(0).unwrap().addr();
    let c = https_client(proxy, &["secure.example.test"], &pki.root_pem);
    let (status, text, der, _) = served(&s, &c, "https://secure.example.test/x").await;
    assert_eq!(status, 200);
    assert!(text.contains("backend=b1") && text.contains("xfp=https"), "{text}");
    assert!(!der.is_empty(), "the served certificate is visible");
    // Plain HTTP redirects.
    let location =
        eventually(10, || async { fetch(&c, "http://secure.example.test/a?b=1").await.ok().filter(|r| r.0 == 301).and_then(|r| r.3) })
            .await;
    assert_eq!(location, "https://secure.example.test/a?b=1");
    // On the server: the key is 0600 and named by content, and the generation holds paths only.
    let certs = s.conf_dir().join("gantry/certs");
    let keyfile =
        std::fs::read_dir(&certs).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|e| e == "key")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&keyfile).unwrap().permissions().mode() & 0o777, 0o600);
    let gens = s.generations().await;
    let n = gens[0]["number"].as_i64().unwrap();
    let detail = s.op.get(&format!("/api/v1/servers/{}/proxy/generations/{n}", s.server)).await.text().await.unwrap();
    assert!(detail.contains("ssl_certificate_key"), "the generation shows the key's path");
    for l in key_lines(&key) {
        assert!(!detail.contains(&l), "key material in a generation");
    }
    s.t.stop().await;
}

/// Pebble (Debian's `pebble` and `pebble-challtestsrv`) on loopback, resolving every name to the fleet host.
struct Pebble {
    procs: Vec<std::process::Child>,
    _dir: tempfile::TempDir,
    directory: String,
    management: String,
    /// Trusts Pebble's own HTTPS listener.
    listener_ca: String,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Pebble {
    /// `None` (the test skips) when Pebble is missing outside CI; CI requires it.
    async fn start(resolve_to: Ipv4Addr, validity_seconds: u64) -> Option<Pebble> {
        if !std::path::Path::new("/usr/bin/pebble").exists() {
            assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI=true requires Debian's pebble package");
            eprintln!("SKIPPED: pebble is not installed (apt-get install pebble)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new();
        let (cert, key) = pki.leaf(&["127.0.0.1", "localhost"], None);
        std::fs::write(dir.path().join("cert.pem"), format!("{cert}{}", pki.inter_pem)).unwrap();
        std::fs::write(dir.path().join("key.pem"), key).unwrap();
        let (acme, mgmt, dns, chall) = (free_port(), free_port(), free_port(), free_port());
        let config = json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"), "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": dir.path().join("cert.pem"), "privateKey": dir.path().join("key.pem"),
            "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false,
            "certificateValidityPeriod": validity_seconds}});
        std::fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();
        let log = |n: &str| std::fs::File::create(dir.path().join(n)).unwrap();
        let dns_srv = std::process::Command::new("/usr/bin/pebble-challtestsrv")
            .args(["-defaultIPv4", &resolve_to.to_string(), "-defaultIPv6", "", "-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", "", "-management", &format!("127.0.0.1:{chall}")])
            .stdout(log("challtestsrv.log"))
            .stderr(log("challtestsrv.err"))
            .spawn()
            .unwrap();
        let pebble = std::process::Command::new("/usr/bin/pebble")
            .args(["-config", dir.path().join("pebble.json").to_str().unwrap(), "-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .unwrap();
        let p = Pebble {
            procs: vec![pebble, dns_srv],
            directory: format!("https://127.0.0.1:{acme}/dir"),
            management: format!("https://127.0.0.1:{mgmt}"),
            listener_ca: pki.root_pem.clone(),
            _dir: dir,
        };
        let c = p.client();
        eventually(20, || async { c.get(&p.directory).send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }).await;
        Some(p)
    }

    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(self.listener_ca.as_bytes()).unwrap())
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    }

    /// Adds Pebble as an ACME account in Gantry: its directory URL and the bundle that trusts its HTTPS.
    async fn add_account(&self, op: &crate::helpers::Session) {
        let body = json!({"name": "pebble", "directory_url": self.directory, "ca_bundle": self.listener_ca});
        assert_eq!(op.post("/api/v1/certificates/acme-accounts", body).await.status(), 201);
    }

    /// The root Pebble issues under (regenerated at each start).
    async fn issuing_root(&self) -> String {
        self.client().get(format!("{}/roots/0", self.management)).send().await.unwrap().text().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_issues_through_the_fleet_nginx_and_renews_with_no_failed_request() {
    // Pebble certificates live 60 s; Gantry renews at half-life (minus jitter), looking every second.
    let Some(s) = Stand::new(2, |c| {
        c.tls.renew_check_interval_seconds = 1;
        c.tls.renew_fraction = 0.5;
        c.tls.retry_base_seconds = 1;
    })
    .await
    else {
        return;
    };
    let proxy = s.fleet.host(0).unwrap().addr();
    let Some(pebble) = Pebble::start(proxy, 60).await else { return };
    // An account for a private CA.
    pebble.add_account(&s.op).await;
    let bad = s.op.post("/api/v1/certificates/acme-accounts", json!({"name": "x", "directory_url": "http://insecure/dir"})).await;
    assert_eq!(expect_problem(bad, 422, "validation_failed").await["errors"][0]["field"], "directory_url");

    let g = crate::proxy::group(&s.op, "acme", s.server, json!({})).await;
    let body = json!({"group_id": g, "name": "acme.example.test", "aliases": ["www.acme.example.test"], "target_ip": s.backend().to_string(),
        "target_port": 8080, "options": {"tls": "acme", "redirect_https": true}});
    let r = s.op.post("/api/v1/domains", body).await;
    assert_eq!(r.status(), 201);
    let did = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    // Issue: a job with progress; the challenge is answered by the fleet host's nginx before any certificate exists.
    let job = post_job(&s.op, &format!("/api/v1/domains/{did}/certificate/issue"), json!({})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let tls = s.op.json(&format!("/api/v1/domains/{did}/certificate")).await;
    let mut names: Vec<String> = serde_json::from_value(tls["acme"]["names"].clone()).unwrap();
    names.sort();
    assert_eq!(names, vec!["acme.example.test", "www.acme.example.test"], "{tls}");
    assert_eq!(tls["serving"]["status"], "valid");

    let root = pebble.issuing_root().await;
    let c = https_client(proxy, &["acme.example.test", "www.acme.example.test"], &root);
    let (_, text, first_der, _) = served(&s, &c, "https://www.acme.example.test/").await;
    assert!(text.contains("backend=b1"), "{text}");
    // Right after a graceful reload an old worker may still take a new connection: wait for the new configuration.
    let location =
        eventually(10, || async { fetch(&c, "http://acme.example.test/p").await.ok().filter(|r| r.0 == 301).and_then(|r| r.3) }).await;
    assert_eq!(location, "https://acme.example.test/p");
    // The ACME path stays on port 80 (answered from Gantry's challenge directory, not redirected).
    let (status, _, _, _) = fetch(&c, "http://acme.example.test/.well-known/acme-challenge/none").await.unwrap();
    assert_eq!(status, 404);

    // Renewal by itself, with requests running all along: the served certificate changes and none fails.
    let (mut ok, mut failed, mut renewed) = (0u32, Vec::new(), None);
    let deadline = std::time::Instant::now() + Duration::from_secs(75);
    while std::time::Instant::now() < deadline {
        match fetch(&c, "https://acme.example.test/").await {
            Ok((200, _, der, _)) => {
                ok += 1;
                if der != first_der && renewed.is_none() {
                    renewed = Some(ok);
                }
            }
            Ok((st, body, _, _)) => failed.push(format!("{st} {body}")),
            Err(e) => failed.push(e),
        }
        if renewed.is_some_and(|at| ok > at + 20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(renewed.is_some(), "the certificate was not renewed within 75 s ({ok} requests)");
    eprintln!("renewed after {} requests; {ok} requests in all, none failed", renewed.unwrap_or(0));
    assert!(ok > renewed.unwrap_or(0) + 20, "requests kept succeeding on the new certificate");
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during renewal: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(5)]
    );
    let cert = s.op.json(&format!("/api/v1/domains/{did}/certificate")).await;
    assert_eq!(cert["acme"]["failures"], 0);
    // A new alias: Gantry orders a certificate for the new set of names by itself.
    let r = s.op.patch(&format!("/api/v1/domains/{did}"), json!({"aliases": ["www.acme.example.test", "api.acme.example.test"]})).await;
    assert_eq!(r.status(), 200);
    let c = https_client(proxy, &["api.acme.example.test"], &root);
    let (_, text, _, _) = served(&s, &c, "https://api.acme.example.test/").await;
    assert!(text.contains("backend=b1"), "{text}");
    // The renewal raised an event.
    let mut stream = s.op.get("/api/v1/events?after=0&kinds=certificate.").await;
    let events = crate::jobs::read_events(&mut stream, |_, d| d["payload"]["what"] == "renewed").await;
    assert!(events.iter().any(|(_, d)| d["payload"]["what"] == "issued"), "{events:?}");
    s.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_acme_order_shows_the_cas_problem() {
    let Some(s) = Stand::new(2, |c| {
        c.tls.renew_check_interval_seconds = 1;
        c.tls.retry_base_seconds = 1;
    })
    .await
    else {
        return;
    };
    // Pebble resolves every name to an address where nothing answers port 80 (loopback 127.0.0.2).
    let Some(pebble) = Pebble::start(Ipv4Addr::new(127, 0, 0, 2), 3600).await else { return };
    pebble.add_account(&s.op).await;
    let g = crate::proxy::group(&s.op, "acme", s.server, json!({})).await;
    let body = json!({"group_id": g, "name": "fail.example.test", "target_ip": s.backend().to_string(), "target_port": 8080, "options": {"tls": "acme"}});
    let did = s.op.post("/api/v1/domains", body).await.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let r = s.op.post(&format!("/api/v1/domains/{did}/certificate/issue"), json!({})).await;
    assert_eq!(r.status(), 202);
    let job = wait_job(&s.op, &r.json::<Value>().await.unwrap()).await;
    assert_eq!(job["status"], "failed");
    let err = job["error"].as_str().unwrap_or_default();
    assert!(err.contains("urn:ietf:params:acme:error:"), "the CA's problem type is shown: {err}");
    let cert = s.op.json(&format!("/api/v1/domains/{did}/certificate")).await;
    assert_eq!(cert["acme"]["status"], "failed");
    assert!(cert["acme"]["next_attempt_at"].is_string(), "a retry is scheduled: {cert}");
    // The domain still serves over HTTP.
    let (status, _) = crate::proxy::get(&s.client, "fail.example.test", "/").await.unwrap();
    assert_eq!(status, 200);
    // Retried by itself with a growing wait, each failure an event.
    let retried = eventually(20, || async {
        let c = s.op.json(&format!("/api/v1/domains/{did}/certificate")).await;
        (c["acme"]["failures"].as_i64().unwrap_or(0) >= 2).then_some(c)
    })
    .await;
    assert!(retried["acme"]["last_error"].as_str().unwrap().contains("urn:ietf:params:acme:error:"), "{retried}");
    let mut stream = s.op.get("/api/v1/events?after=0&kinds=certificate.").await;
    let failures = crate::jobs::read_events(&mut stream, |_, d| d["payload"]["what"] == "renewal_failed").await;
    assert!(failures.iter().any(|(_, d)| d["payload"]["detail"].as_str().is_some_and(|t| t.contains("acme:error"))), "{failures:?}");
    // While the domain asks for it the certificate stays; once the domain is gone, so is its certificate.
    expect_problem(s.op.delete(&format!("/api/v1/certificates/{}", cert["acme"]["id"])).await, 409, "conflict").await;
    assert!(s.op.delete(&format!("/api/v1/domains/{did}")).await.status().is_success());
    eventually(15, || async { s.op.json("/api/v1/certificates").await.as_array().unwrap().is_empty().then_some(()) }).await;
    s.t.stop().await;
}
