//! The domain model, parsed once at the API boundary.
//!
//! This is the security boundary of the reverse proxy: the proxy module
//! renders nginx configuration only from these types, so every value here is
//! either provably harmless inside an nginx directive or rejected with a
//! field error that says why. Nothing is escaped silently.

use gantry_core::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use utoipa::ToSchema;

/// Characters that could end or bend an nginx directive, with the word used in errors.
const DIRECTIVE_BREAKERS: &[(char, &str)] = &[
    (';', "';'"),
    ('{', "'{'"),
    ('}', "'}'"),
    ('"', "a double quote"),
    ('\'', "a single quote"),
    ('$', "'$' (nginx variable syntax)"),
    ('\\', "a backslash"),
    ('#', "'#' (nginx comment syntax)"),
    ('`', "a backtick"),
];

/// Names the first character of `s` that could break out of a directive, if any.
fn breaker(s: &str, allow: &[char]) -> Option<String> {
    for c in s.chars() {
        if allow.contains(&c) {
            continue;
        }
        if c == '\0' {
            return Some("a NUL byte".into());
        }
        if c == '\n' || c == '\r' {
            return Some("a line break".into());
        }
        if c.is_control() {
            return Some(format!("a control character (U+{:04X})", u32::from(c)));
        }
        if let Some((_, word)) = DIRECTIVE_BREAKERS.iter().find(|(b, _)| *b == c) {
            return Some((*word).to_string());
        }
    }
    None
}

/// A domain name as served by the proxy: lowercase ASCII (internationalized
/// names in punycode), labels of 1–63 letters, digits and hyphens, at most
/// 253 characters, optionally with one leading `*.` wildcard, no trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

impl DomainName {
    /// Parses a name typed by a person (Unicode or punycode, any case).
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(b) = breaker(raw, &[]) {
            return Err(format!("contains {b}, which a domain name cannot contain"));
        }
        let s = raw.trim();
        if s.is_empty() {
            return Err("is required".into());
        }
        if s.chars().any(char::is_whitespace) {
            return Err("contains a space, which a domain name cannot contain".into());
        }
        if s.ends_with('.') {
            return Err("must not end with a dot".into());
        }
        let (wildcard, rest) = match s.strip_prefix("*.") {
            Some(r) => (true, r),
            None => (false, s),
        };
        if rest.contains('*') {
            return Err("may contain '*' only as a single leading '*.' label".into());
        }
        if rest.parse::<IpAddr>().is_ok() {
            return Err("is an IP address; the proxy serves names (the target IP is a separate field)".into());
        }
        let ascii = idna::domain_to_ascii_strict(rest)
            .map_err(|_| "is not a valid domain name (letters, digits and hyphens in dot-separated labels)".to_string())?;
        if ascii.is_empty() {
            return Err("is required".into());
        }
        for label in ascii.split('.') {
            if label.is_empty() {
                return Err("has an empty label (two dots in a row)".into());
            }
            if label.len() > 63 {
                return Err(format!("has a label longer than 63 characters ({label:.20}…)"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(format!("has a label that starts or ends with a hyphen ({label})"));
            }
            if !label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                return Err(format!("has a label with characters other than letters, digits and hyphens ({label})"));
            }
        }
        if ascii.rsplit('.').next().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit())) {
            return Err("must not end in an all-numeric label".into());
        }
        let full = if wildcard { format!("*.{ascii}") } else { ascii };
        if full.len() > 253 {
            return Err("is longer than 253 characters".into());
        }
        Ok(Self(full))
    }

    /// The ASCII (punycode) form used in configuration.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form shown to people (Unicode for internationalized names).
    pub fn unicode(&self) -> String {
        let (u, _) = idna::domain_to_unicode(&self.0);
        u
    }

    /// Whether this is a `*.` wildcard.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An upstream address: a literal unicast IP, never a DNS name, so a missing
/// DNS record can never stop nginx from starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TargetAddr(IpAddr);

impl TargetAddr {
    /// Parses a target.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let ip: IpAddr =
            s.parse().map_err(|_| format!("{s:?} is not an IPv4 or IPv6 address (targets are IP literals, never DNS names)"))?;
        if ip.is_unspecified() {
            return Err("must not be the unspecified address".into());
        }
        if ip.is_multicast() {
            return Err("must be a unicast address, not multicast".into());
        }
        if let IpAddr::V4(v4) = ip
            && v4.is_broadcast()
        {
            return Err("must be a unicast address, not broadcast".into());
        }
        Ok(Self(ip))
    }

    /// The address.
    pub fn ip(&self) -> IpAddr {
        self.0
    }
}

impl fmt::Display for TargetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A TCP port, 1–65535.
pub fn parse_port(p: u32) -> Result<u16, String> {
    u16::try_from(p).ok().filter(|p| *p > 0).ok_or_else(|| "must be between 1 and 65535".into())
}

/// A URL path prefix for a route: starts with `/`, URL path characters only,
/// percent-escapes well formed, no `..` segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PathPrefix(String);

impl PathPrefix {
    /// Parses a prefix.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(b) = breaker(raw, &[]) {
            return Err(format!("contains {b}, which a path prefix cannot contain"));
        }
        if raw.is_empty() || !raw.starts_with('/') {
            return Err("must start with '/'".into());
        }
        if raw.len() > 1024 {
            return Err("must be at most 1024 characters".into());
        }
        let bytes = raw.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                b'%' => {
                    let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
                    if !ok {
                        return Err("has a '%' that is not followed by two hex digits".into());
                    }
                    i += 3;
                    continue;
                }
                b'a'..=b'z'
                | b'A'..=b'Z'
                | b'0'..=b'9'
                | b'-'
                | b'.'
                | b'_'
                | b'~'
                | b'/'
                | b'!'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
                | b'&'
                | b'('
                | b')' => {}
                b' ' => return Err("contains a space (percent-encode it as %20)".into()),
                _ => return Err(format!("contains {:?}, which is not a URL path character", char::from(c))),
            }
            i += 1;
        }
        if raw.split('/').any(|seg| seg == ".." || seg == ".") {
            return Err("must not contain '.' or '..' segments".into());
        }
        Ok(Self(raw.to_string()))
    }

    /// The prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An HTTP response header name: 1–64 of letters, digits and hyphens.
pub fn parse_header_name(raw: &str) -> Result<String, String> {
    if let Some(b) = breaker(raw, &[]) {
        return Err(format!("contains {b}, which a header name cannot contain"));
    }
    let ok = !raw.is_empty() && raw.len() <= 64 && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !raw.starts_with('-');
    if !ok {
        return Err("must be 1–64 letters, digits and hyphens (an HTTP token)".into());
    }
    let lower = raw.to_ascii_lowercase();
    if matches!(lower.as_str(), "content-length" | "transfer-encoding" | "connection" | "server") {
        return Err(format!("{raw} is managed by the proxy and cannot be set"));
    }
    Ok(raw.to_string())
}

/// An HTTP response header value. Values are always written double-quoted,
/// so `;` and `'` are safe inside them; anything that could end the quoted
/// string or expand a variable is rejected.
pub fn parse_header_value(raw: &str) -> Result<String, String> {
    if let Some(b) = breaker(raw, &[';', '\'', '#']) {
        return Err(format!("contains {b}, which a header value cannot contain"));
    }
    if raw.len() > 1024 {
        return Err("must be at most 1024 characters".into());
    }
    if raw.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(raw.to_string())
}

/// A network in CIDR notation (a bare address means a single host). Host
/// bits must be zero, so `10.0.0.5/24` is rejected with the network it probably meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Cidr(String);

impl Cidr {
    /// Parses a CIDR.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| format!("{s:?} is not an address or CIDR (e.g. 10.0.0.0/8)"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len: u32 = match len {
            Some(l) => l.parse().ok().filter(|n| *n <= max).ok_or_else(|| format!("prefix length must be 0–{max}"))?,
            None => max,
        };
        let canonical = match ip {
            IpAddr::V4(v4) => {
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                IpAddr::from(std::net::Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
                IpAddr::from(std::net::Ipv6Addr::from(u128::from(v6) & mask))
            }
        };
        if canonical != ip {
            return Err(format!("has host bits set; did you mean {canonical}/{len}?"));
        }
        Ok(Self(format!("{ip}/{len}")))
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Upstream protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP to the target.
    #[default]
    Http,
    /// HTTPS to the target.
    Https,
}

/// Collects field errors under a prefix (`options.allow[2]`).
pub struct Errors {
    /// The errors so far.
    pub list: Vec<FieldError>,
}

impl Errors {
    /// No errors yet.
    pub fn new() -> Self {
        Self { list: Vec::new() }
    }

    /// Records `r`'s error under `field`, returning the value when valid.
    pub fn check<T>(&mut self, field: impl Into<String>, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(m) => {
                self.list.push(FieldError::new(field, m));
                None
            }
        }
    }

    /// Records a plain error.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.list.push(FieldError::new(field, message));
    }
}

impl Default for Errors {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_normalized() {
        assert_eq!(DomainName::parse("Shop.Example.COM").map(|d| d.0), Ok("shop.example.com".into()));
        let idn = DomainName::parse("bücher.example").unwrap_or_else(DomainName);
        assert_eq!(idn.as_str(), "xn--bcher-kva.example");
        assert_eq!(idn.unicode(), "bücher.example");
        assert!(DomainName::parse("*.example.com").is_ok_and(|d| d.is_wildcard()));
    }

    /// At least 50 hostile strings for names, paths and headers.
    const HOSTILE: &[&str] = &[
        "a;b.com",
        "a{b}.com",
        "a}.com",
        "\"a\".com",
        "'a'.com",
        "$host.com",
        "a\\b.com",
        "a\nb.com",
        "a\rb.com",
        "a\0b.com",
        "a b.com",
        "a\tb.com",
        "#a.com",
        "a`id`.com",
        "a.com;",
        "a.com}",
        "{a.com",
        "a.com\"",
        "a.com'",
        "a.com$",
        "a.com\\",
        "a.com\n",
        "a.com\0",
        "server_name evil.com",
        "a.com; return 200",
        "a.com;include /etc/passwd",
        "$(reboot).com",
        "`reboot`.com",
        "a.com\r\nX: y",
        "*.*.a.com",
        "a.*.com",
        "a*.com",
        "-a.com",
        "a-.com",
        "a..com",
        ".a.com",
        "a.com.",
        "",
        " ",
        "127.0.0.1",
        "::1",
        "a.123",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
        "x\u{7f}.com",
        "a/b.com",
        "a:80.com",
        "a@b.com",
        "a%20.com",
        "a.com/..",
        "a=b.com",
        "a,b.com",
        "a|b.com",
        "a<b>.com",
    ];

    #[test]
    fn hostile_names_are_rejected_with_a_reason() {
        assert!(HOSTILE.len() >= 50);
        for h in HOSTILE {
            let r = DomainName::parse(h);
            assert!(r.is_err(), "{h:?} accepted as a domain name: {r:?}");
        }
        let long = format!("{}.com", ["abcdefghij"; 25].join("."));
        assert!(DomainName::parse(&long).is_err(), "over 253 characters");
        assert_eq!(DomainName::parse("a;b.com").err(), Some("contains ';', which a domain name cannot contain".into()));
    }

    #[test]
    fn hostile_paths_and_headers_are_rejected() {
        for h in [
            "", "api", "/a;b", "/a{b", "/a}", "/\"", "/'", "/$uri", "/a\\b", "/a\nb", "/a\0", "/a b", "/a#b", "/%zz", "/%4", "/../etc",
            "/./x", "/a?b", "/`x`", "/a|b", "/a<b",
        ] {
            assert!(PathPrefix::parse(h).is_err(), "{h:?} accepted as a path");
        }
        assert!(PathPrefix::parse("/api/v1/").is_ok());
        assert!(PathPrefix::parse("/caf%C3%A9/").is_ok());
        for h in ["", "X Y", "X:Y", "X;", "X{", "$x", "X\"", "X\n", "-X", "Content-Length", &"A".repeat(65)] {
            assert!(parse_header_name(h).is_err(), "{h:?} accepted as a header name");
        }
        for h in ["a\"b", "a\\b", "$x", "${x}", "a\nb", "a\rb", "a\0b", "a{b", "a}b", "", "   "] {
            assert!(parse_header_value(h).is_err(), "{h:?} accepted as a header value");
        }
        assert!(parse_header_value("max-age=60; must-revalidate").is_ok());
        assert!(parse_header_value("default-src 'self'").is_ok());
    }

    #[test]
    fn targets_and_cidrs() {
        assert!(TargetAddr::parse("10.0.0.5").is_ok());
        assert!(TargetAddr::parse("2001:db8::5").is_ok());
        for bad in ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255", "10.0.0.256", "010.0.0.1", "example.com", "10.0.0.5:80", ""]
        {
            assert!(TargetAddr::parse(bad).is_err(), "{bad:?} accepted as a target");
        }
        assert_eq!(Cidr::parse("10.0.0.0/8").map(|c| c.0), Ok("10.0.0.0/8".into()));
        assert_eq!(Cidr::parse("10.1.2.3").map(|c| c.0), Ok("10.1.2.3/32".into()));
        assert!(Cidr::parse("10.0.0.5/24").is_err_and(|e| e.contains("10.0.0.0/24")));
        for bad in ["10.0.0.0/33", "10.0.0.0/x", "x/8", "10.0.0.0/8; allow all", "2001:db8::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?} accepted as a CIDR");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever comes in, an accepted name contains only what nginx can take literally.
        #[test]
        fn accepted_names_are_always_safe(s in "\\PC{0,80}") {
            if let Ok(d) = DomainName::parse(&s) {
                let v = d.as_str();
                prop_assert!(v.len() <= 253);
                prop_assert!(v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || c == '*'));
                prop_assert!(!v.ends_with('.'));
                prop_assert_eq!(DomainName::parse(v).map(|x| x.0), Ok(v.to_string()), "parsing is idempotent");
            }
        }

        #[test]
        fn accepted_paths_are_always_safe(s in "/[ -~]{0,40}") {
            if let Ok(p) = PathPrefix::parse(&s) {
                prop_assert!(p.as_str().starts_with('/'));
                for bad in [';', '{', '}', '"', '\'', '$', '\\', ' ', '#', '\n'] {
                    prop_assert!(!p.as_str().contains(bad));
                }
            }
        }

        #[test]
        fn accepted_header_values_cannot_leave_their_quotes(s in "\\PC{0,60}") {
            if let Ok(v) = parse_header_value(&s) {
                for bad in ['"', '\\', '$', '{', '}', '\n', '\r', '\0'] {
                    prop_assert!(!v.contains(bad));
                }
            }
        }

        #[test]
        fn valid_labels_always_parse(labels in proptest::collection::vec("[a-z0-9]{1,10}(-[a-z0-9]{1,10})?", 1..5), tld in "[a-z]{2,6}") {
            let name = format!("{}.{tld}", labels.join("."));
            prop_assert!(DomainName::parse(&name).is_ok(), "{} rejected", name);
        }
    }
}
