//! Typed model → nginx text.
//!
//! Rendering is a pure function of the validated domains (from
//! `gantry-domains`) and a server's [`RenderSettings`]: the same state always
//! gives byte-identical files and therefore the same content hash. Nothing
//! here escapes anything: every value that reaches a directive was parsed by
//! the domains module into a type that cannot break out of it (names, IP
//! literals, path prefixes, header tokens and quoted values, CIDRs).
//!
//! A generation is a set of files in one directory that nginx includes with
//! `live/*.conf`:
//! - `00-gantry.conf`: Gantry's own part, the status server on
//!   `127.0.0.1:<status port>` whose `/gantry/generation` answers the content
//!   hash (the marker that tells which generation nginx has loaded), the
//!   WebSocket `map`, and the server-name hash sizes;
//! - `group-<id>.conf`: one file per domain group bound to the server, one
//!   `server` block per enabled domain, in name order.
//!
//! With [`RenderSettings::access_log`] set, every domain's blocks also log
//! one line per request in the `gantry_stats` format (defined in
//! `00-gantry.conf`) to `<conf_dir>/gantry/logs/access.log`, which the
//! monitoring module reads over SSH. The domain in each line is
//! `$server_name`, the configured name, never `$host`: the `Host` header is
//! the client's to choose, unbounded, and could forge lines. The status
//! server and the route markers keep `access_log off`, and Gantry renders no
//! catch-all server, so every line belongs to a configured domain. Domain
//! blocks set their own `access_log`, so the operator's http-level access
//! log no longer receives Gantry's domains.
//!
//! Upstreams are always IP literals, so no DNS lookup can ever stop nginx.

use gantry_domains::ServedGroup;
use gantry_domains::model::Scheme;
use gantry_domains::spec::{DomainSpec, Route, TlsMode, TlsProfile};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

/// The file holding Gantry's own part of a generation.
pub const MARKER_FILE: &str = "00-gantry.conf";
/// The path answering the generation's content hash on the status server.
pub const MARKER_PATH: &str = "/gantry/generation";
/// The path each domain answers (to local clients only) with its id and block hash.
pub const ROUTE_PATH: &str = "/.well-known/gantry/route";
/// Stands for the content hash while it is computed.
const HASH_SLOT: &str = "@@GANTRY_CONTENT_HASH@@";

/// The `log_format` of the traffic log: tab-separated `$msec $server_name $status $bytes_sent
/// $request_time $upstream_response_time` (nginx escapes tabs and control bytes in values).
pub const LOG_FORMAT: &str = "gantry_stats";

/// http-level directives Gantry sets in `00-gantry.conf` unless the operator's own configuration already does.
pub const HTTP_DEFAULTS: &[&str] = &["server_names_hash_bucket_size", "server_names_hash_max_size"];

/// Per-server rendering settings (from the server's parameters and what the install found).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderSettings {
    /// Listen only on this address (the server's `proxy_listen_address`); `None` listens on all.
    pub listen: Option<IpAddr>,
    /// With `listen: None`, also listen on `[::]` (the host has IPv6).
    pub ipv6: bool,
    /// Port of the status server on 127.0.0.1.
    pub status_port: u16,
    /// http-level directives the operator's nginx.conf sets itself; Gantry leaves them out.
    pub operator_directives: BTreeSet<String>,
    /// nginx's configuration directory (certificate and ACME challenge paths live under `<conf_dir>/gantry`).
    #[serde(default = "default_conf_dir")]
    pub conf_dir: String,
    /// nginx ≥ 1.25.1 takes `http2 on;` per server; older ones take `http2` on the listen socket.
    #[serde(default)]
    pub http2_directive: bool,
    /// The certificate each HTTPS domain serves now: domain id → material id (a content hash;
    /// the files are `<conf_dir>/gantry/certs/<id>.crt|.key`). Domains that ask for HTTPS but
    /// have no certificate yet are served over HTTP until they have one.
    #[serde(default)]
    pub tls: BTreeMap<i64, String>,
    /// Where domains log their traffic (`<conf_dir>/gantry/logs/access.log`, see [`access_log_path`]);
    /// `None` renders no traffic log and leaves access logging to the operator's configuration.
    #[serde(default)]
    pub access_log: Option<String>,
}

fn default_conf_dir() -> String {
    "/etc/nginx".into()
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            listen: None,
            ipv6: true,
            status_port: 8089,
            operator_directives: BTreeSet::new(),
            conf_dir: default_conf_dir(),
            http2_directive: false,
            tls: BTreeMap::new(),
            access_log: None,
        }
    }
}

/// Whether an nginx version string (`1.22.1`) takes the `http2 on;` directive (1.25.1 and later).
pub fn has_http2_directive(version: &str) -> bool {
    let mut parts = version.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).map(|p| p.parse::<u32>().unwrap_or(0));
    let v = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    v >= (1, 25, 1)
}

/// Where ACME HTTP-01 challenge files live on a server.
pub fn acme_dir(conf_dir: &str) -> String {
    format!("{conf_dir}/gantry/acme-challenge")
}

/// Where certificate files live on a server.
pub fn certs_dir(conf_dir: &str) -> String {
    format!("{conf_dir}/gantry/certs")
}

/// Where the traffic log lives on a server (Gantry creates it with its layout).
pub fn logs_dir(conf_dir: &str) -> String {
    format!("{conf_dir}/gantry/logs")
}

/// The traffic log domains write in the [`LOG_FORMAT`] format.
pub fn access_log_path(conf_dir: &str) -> String {
    format!("{}/access.log", logs_dir(conf_dir))
}

/// The ACME HTTP-01 path prefix.
pub const ACME_PATH: &str = "/.well-known/acme-challenge/";

/// Mozilla's "intermediate" cipher list (server side TLS guidelines, version 5.7).
const INTERMEDIATE_CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

/// What a rendered domain looks like, for plans and verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainDigest {
    /// Domain name (ASCII).
    pub name: String,
    /// Its group.
    pub group_id: i64,
    /// First 16 hex digits of the SHA-256 of its server block; the block answers it on [`ROUTE_PATH`].
    pub hash: String,
}

/// One group's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFile {
    /// The group.
    pub group_id: i64,
    /// `group-<id>.conf`.
    pub name: String,
    /// The text.
    pub content: String,
    /// Its domains by id.
    pub domains: BTreeMap<i64, DomainDigest>,
}

/// A whole generation's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// File name → content, in include order.
    pub files: BTreeMap<String, String>,
    /// SHA-256 (hex) over every file, with the marker's own hash left out.
    pub hash: String,
    /// Every served domain by id.
    pub domains: BTreeMap<i64, DomainDigest>,
}

/// The file name of a group's configuration.
pub fn group_file_name(group_id: i64) -> String {
    format!("group-{group_id}.conf")
}

/// The group a generation file belongs to, if it is a group file.
pub fn group_of_file(name: &str) -> Option<i64> {
    name.strip_prefix("group-")?.strip_suffix(".conf")?.parse().ok()
}

fn sha256_hex(text: &str) -> String {
    gantry_core::tokens::digest(text)
}

/// `ip:port` as nginx writes an upstream (IPv6 in brackets).
fn socket(ip: &str, port: u16) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
        _ => format!("{ip}:{port}"),
    }
}

fn scheme(s: Scheme) -> &'static str {
    match s {
        Scheme::Http => "http",
        Scheme::Https => "https",
    }
}

fn listen_lines(out: &mut String, s: &RenderSettings, port: u16, extra: &str) {
    match s.listen {
        Some(ip) => {
            let _ = writeln!(out, "    listen {}{extra};", socket(&ip.to_string(), port));
        }
        None => {
            let _ = writeln!(out, "    listen {port}{extra};");
            if s.ipv6 {
                let _ = writeln!(out, "    listen [::]:{port}{extra};");
            }
        }
    }
}

fn proxy_location(out: &mut String, path: &str, target: &str, port: u16, sch: Scheme) {
    let _ = writeln!(out, "    location {path} {{");
    let _ = writeln!(out, "        proxy_pass {}://{};", scheme(sch), socket(target, port));
    if sch == Scheme::Https {
        out.push_str("        proxy_ssl_server_name on;\n");
        out.push_str("        proxy_ssl_name $host;\n");
    }
    out.push_str("    }\n");
}

/// `server_name` (the domain first: `$server_name` in the traffic log is the domain) and the traffic log.
fn server_names(o: &mut String, d: &DomainSpec, s: &RenderSettings) {
    let mut names = vec![d.name.as_str()];
    names.extend(d.aliases.iter().map(|a| a.as_str()));
    let _ = writeln!(o, "    server_name {};", names.join(" "));
    if let Some(path) = &s.access_log {
        let _ = writeln!(o, "    access_log {path} {LOG_FORMAT};");
    }
}

/// The ACME HTTP-01 location: on port 80 of every `tls: acme` domain, before any certificate
/// exists and even when everything else redirects to HTTPS. `^~` keeps regex locations from taking it.
fn acme_location(o: &mut String, s: &RenderSettings) {
    let _ = writeln!(o, "    location ^~ {ACME_PATH} {{");
    // The CA must get through the domain's own allow list.
    o.push_str("        allow all;\n");
    o.push_str("        default_type text/plain;\n");
    let _ = writeln!(o, "        alias {}/;", acme_dir(&s.conf_dir));
    o.push_str("    }\n");
}

/// TLS directives for a domain's HTTPS server block.
fn tls_lines(o: &mut String, d: &DomainSpec, s: &RenderSettings, material: &str) {
    let dir = certs_dir(&s.conf_dir);
    if d.options.http2 && s.http2_directive {
        o.push_str("    http2 on;\n");
    }
    let _ = writeln!(o, "    ssl_certificate {dir}/{material}.crt;");
    let _ = writeln!(o, "    ssl_certificate_key {dir}/{material}.key;");
    match d.options.tls_profile {
        TlsProfile::Intermediate => {
            o.push_str("    ssl_protocols TLSv1.2 TLSv1.3;\n");
            let _ = writeln!(o, "    ssl_ciphers {INTERMEDIATE_CIPHERS};");
        }
        TlsProfile::Modern => o.push_str("    ssl_protocols TLSv1.3;\n"),
    }
    o.push_str("    ssl_prefer_server_ciphers off;\n");
    o.push_str("    ssl_session_timeout 1d;\n");
    o.push_str("    ssl_session_cache shared:gantry_tls:10m;\n");
    o.push_str("    ssl_session_tickets off;\n");
    if d.options.hsts {
        let _ = writeln!(o, "    add_header Strict-Transport-Security \"max-age={}\" always;", d.options.hsts_max_age);
    }
}

/// The proxying part of a domain's `server` block (everything after `listen` and `server_name`).
fn server_body(d: &DomainSpec) -> String {
    let mut o = String::with_capacity(1024);
    let opt = &d.options;
    if let Some(mb) = opt.max_body_size_mb {
        if mb == 0 {
            o.push_str("    client_max_body_size 0;\n");
        } else {
            let _ = writeln!(o, "    client_max_body_size {mb}m;");
        }
    }
    for (directive, v) in [
        ("proxy_connect_timeout", opt.proxy_connect_timeout),
        ("proxy_read_timeout", opt.proxy_read_timeout),
        ("proxy_send_timeout", opt.proxy_send_timeout),
    ] {
        if let Some(secs) = v {
            let _ = writeln!(o, "    {directive} {secs}s;");
        }
    }
    // nginx applies access rules in order, first match wins: the allow list,
    // then the deny list, then (only when an allow list exists) everyone else is refused.
    for net in &opt.allow {
        let _ = writeln!(o, "    allow {net};");
    }
    for net in &opt.deny {
        let _ = writeln!(o, "    deny {net};");
    }
    if !opt.allow.is_empty() {
        o.push_str("    deny all;\n");
    }
    for h in &opt.response_headers {
        let _ = writeln!(o, "    add_header {} \"{}\" always;", h.name, h.value);
    }
    o.push_str("    proxy_http_version 1.1;\n");
    o.push_str("    proxy_set_header Host $host;\n");
    o.push_str("    proxy_set_header X-Real-IP $remote_addr;\n");
    o.push_str("    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n");
    o.push_str("    proxy_set_header X-Forwarded-Proto $scheme;\n");
    o.push_str("    proxy_set_header X-Forwarded-Host $host;\n");
    if opt.websocket {
        o.push_str("    proxy_set_header Upgrade $http_upgrade;\n");
        o.push_str("    proxy_set_header Connection $gantry_connection_upgrade;\n");
    }
    // Routes come longest prefix first (the domains module stores them so);
    // nginx itself picks the longest matching prefix location, so the order
    // is for people reading the file.
    for Route { path, target_ip, target_port, scheme } in &d.routes {
        proxy_location(&mut o, path, target_ip, *target_port, *scheme);
    }
    if !d.routes.iter().any(|r| r.path == "/") {
        proxy_location(&mut o, "/", &d.target.to_string(), d.port, d.scheme);
    }
    o
}

/// The location that answers local verification requests with the block's identity.
///
/// `return` runs in nginx's rewrite phase, before `allow`/`deny` are looked
/// at, so the loopback-only rule is an `if` (one of the uses of `if` nginx
/// documents as safe) on `$gantry_local`, which the `map` in `00-gantry.conf`
/// sets from the client address; everyone else gets a plain 404. A `map`
/// rather than a regular expression per block: nginx would compile 10,000
/// expressions for 10,000 domains on every `nginx -t` and reload.
fn route_marker(out: &mut String, id: i64, hash: &str) {
    let _ = writeln!(out, "    location = {ROUTE_PATH} {{");
    out.push_str("        access_log off;\n");
    out.push_str("        default_type text/plain;\n");
    out.push_str("        if ($gantry_local = 0) {\n            return 404;\n        }\n");
    let _ = writeln!(out, "        return 200 \"{id} {hash}\\n\";");
    out.push_str("    }\n");
}

/// A domain's blocks: port 80 (with the ACME location; a redirect when HTTPS is on and asked
/// for) and, when it has a certificate, port 443. Returns the port-80 block's body (the route
/// marker goes after it) and the whole HTTPS block.
fn domain_blocks(id: i64, d: &DomainSpec, s: &RenderSettings) -> (String, Option<String>) {
    let body = server_body(d);
    let material = s.tls.get(&id).filter(|_| d.options.tls != TlsMode::None);
    let mut plain = String::with_capacity(body.len() + 256);
    listen_lines(&mut plain, s, 80, "");
    server_names(&mut plain, d, s);
    // Only ACME domains: others may proxy the path to a backend with its own ACME client.
    if d.options.tls == TlsMode::Acme {
        acme_location(&mut plain, s);
    }
    match material {
        Some(_) if d.options.redirect_https => {
            plain.push_str("    location / {\n        return 301 https://$host$request_uri;\n    }\n");
        }
        _ => plain.push_str(&body),
    }
    let tls = material.map(|m| {
        let mut t = String::with_capacity(body.len() + 1024);
        t.push_str("server {\n");
        // Before 1.25.1 nginx sets HTTP/2 on the listen socket (then it holds for every
        // domain on that address); later versions take `http2 on;` per server.
        let extra = if d.options.http2 && !s.http2_directive { " ssl http2" } else { " ssl" };
        listen_lines(&mut t, s, 443, extra);
        server_names(&mut t, d, s);
        tls_lines(&mut t, d, s, m);
        t.push_str(&body);
        t.push_str("}\n");
        t
    });
    (plain, tls)
}

/// Renders one group's file.
pub fn render_group(g: &ServedGroup, s: &RenderSettings) -> GroupFile {
    let mut out = String::with_capacity(256 + g.domains.len() * 1200);
    let n = g.domains.len();
    let _ =
        writeln!(out, "# Managed by Gantry: domain group {} ({}), {n} domain{}. Do not edit.", g.id, g.name, if n == 1 { "" } else { "s" });
    let mut domains = BTreeMap::new();
    for d in &g.domains {
        let (body, tls) = domain_blocks(d.id, &d.spec, s);
        // The route hash covers both blocks, so a certificate or TLS change counts as a changed domain.
        let hash: String = sha256_hex(&format!("{body}{}", tls.as_deref().unwrap_or(""))).chars().take(16).collect();
        let _ = writeln!(out, "\n# domain {}: {}", d.id, d.spec.name.as_str());
        out.push_str("server {\n");
        out.push_str(&body);
        route_marker(&mut out, d.id, &hash);
        out.push_str("}\n");
        if let Some(t) = tls {
            out.push_str(&t);
        }
        domains.insert(d.id, DomainDigest { name: d.spec.name.as_str().to_string(), group_id: g.id, hash });
    }
    GroupFile { group_id: g.id, name: group_file_name(g.id), content: out, domains }
}

/// How many server names a file declares, and the longest one (the hash sizes depend on both).
fn name_stats(content: &str) -> (usize, usize) {
    let mut count = 0;
    let mut longest = 0;
    for line in content.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("server_name ") {
            for n in rest.trim_end_matches(';').split_whitespace() {
                count += 1;
                longest = longest.max(n.len());
            }
        }
    }
    (count, longest)
}

/// nginx's bucket for server names must hold the longest name; see
/// `NGX_HASH_ELT_SIZE`: a pointer, the name plus two bytes aligned to 8, and
/// the bucket's terminating pointer.
fn bucket_size(longest: usize) -> usize {
    let need = 8 + (longest + 2).div_ceil(8) * 8 + 8;
    need.next_power_of_two().max(64)
}

/// Assembles a generation from group files (in any order), adding `00-gantry.conf` and the content hash.
pub fn assemble(groups: Vec<GroupFile>, s: &RenderSettings) -> Rendered {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut domains = BTreeMap::new();
    let (mut names, mut longest) = (0usize, 0usize);
    for g in groups {
        let (n, l) = name_stats(&g.content);
        names += n;
        longest = longest.max(l);
        domains.extend(g.domains);
        files.insert(g.name, g.content);
    }
    let mut m = String::with_capacity(1024);
    m.push_str("# Managed by Gantry. Do not edit: Gantry replaces this directory on every apply\n");
    m.push_str("# and reports hand edits as drift.\n");
    let _ = writeln!(m, "# content hash: {HASH_SLOT}");
    m.push('\n');
    if !s.operator_directives.contains("server_names_hash_bucket_size") {
        // Long names (up to 253 characters) do not fit nginx's default bucket.
        let _ = writeln!(m, "server_names_hash_bucket_size {};", bucket_size(longest.max(64)));
    }
    if !s.operator_directives.contains("server_names_hash_max_size") {
        let _ = writeln!(m, "server_names_hash_max_size {};", (names * 2).next_power_of_two().max(512));
    }
    m.push_str("\nmap $http_upgrade $gantry_connection_upgrade {\n    default upgrade;\n    ''      close;\n}\n\n");
    // Who may read the route markers: the server itself (loopback, or its listen address).
    m.push_str("map $remote_addr $gantry_local {\n    default 0;\n    127.0.0.1 1;\n    ::1 1;\n");
    if let Some(ip) = s.listen.filter(|ip| !ip.is_loopback()) {
        let _ = writeln!(m, "    {ip} 1;");
    }
    m.push_str("}\n\n");
    if s.access_log.is_some() {
        m.push_str("# Traffic statistics, read by Gantry over SSH: one tab-separated line per request.\n");
        let _ = writeln!(
            m,
            "log_format {LOG_FORMAT} '$msec\\t$server_name\\t$status\\t$bytes_sent\\t$request_time\\t$upstream_response_time';\n"
        );
    }
    m.push_str("# Status and generation marker, for Gantry's verification over SSH; loopback only.\n");
    m.push_str("server {\n");
    let _ = writeln!(m, "    listen 127.0.0.1:{};", s.status_port);
    m.push_str("    server_name gantry-status;\n");
    m.push_str("    access_log off;\n");
    let _ =
        writeln!(m, "    location = {MARKER_PATH} {{\n        default_type text/plain;\n        return 200 \"{HASH_SLOT}\\n\";\n    }}");
    m.push_str("    location = /gantry/nginx-status {\n        stub_status;\n    }\n");
    m.push_str("    location / {\n        return 404;\n    }\n}\n");
    files.insert(MARKER_FILE.to_string(), m);
    let hash = content_hash(&files);
    if let Some(marker) = files.get_mut(MARKER_FILE) {
        *marker = marker.replace(HASH_SLOT, &hash);
    }
    Rendered { files, hash, domains }
}

/// SHA-256 over the files (names and contents, length-prefixed), with the marker's hash slot unfilled.
fn content_hash(files: &BTreeMap<String, String>) -> String {
    let mut all = String::new();
    for (name, content) in files {
        let _ = writeln!(all, "{}:{}:{}:{}", name.len(), name, content.len(), content);
    }
    sha256_hex(&all)
}

/// Recomputes a generation's hash from its stored files (the marker's own hash put back into the slot).
pub fn hash_of_files(files: &BTreeMap<String, String>) -> Option<String> {
    let marker = files.get(MARKER_FILE)?;
    let claimed = marker.lines().find_map(|l| l.strip_prefix("# content hash: "))?.trim().to_string();
    let mut unfilled = files.clone();
    unfilled.insert(MARKER_FILE.to_string(), marker.replace(&claimed, HASH_SLOT));
    let h = content_hash(&unfilled);
    (h == claimed).then_some(h)
}

/// Renders a server's whole desired configuration.
pub fn render(groups: &[ServedGroup], s: &RenderSettings) -> Rendered {
    assemble(groups.iter().map(|g| render_group(g, s)).collect(), s)
}

/// SHA-256 (hex) of one file's content, as `sha256sum` prints it on the server.
pub fn file_sha256(content: &str) -> String {
    sha256_hex(content)
}
