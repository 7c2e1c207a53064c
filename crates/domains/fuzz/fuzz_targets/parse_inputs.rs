//! Every parser at the domains security boundary must return, never panic,
//! whatever bytes arrive, and what it accepts must stay safe to render.
#![no_main]

use gantry_domains::model::{Cidr, DomainName, PathPrefix, TargetAddr, parse_header_name, parse_header_value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(name) = DomainName::parse(s) {
        let v = name.as_str();
        assert!(v.len() <= 253);
        assert!(v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.' || b == b'*'));
        let _ = name.unicode();
    }
    if let Ok(p) = PathPrefix::parse(s) {
        assert!(p.as_str().starts_with('/'));
        assert!(!p.as_str().contains([';', '{', '}', '"', '\'', '$', '\\', ' ', '\n']));
    }
    if let Ok(v) = parse_header_value(s) {
        assert!(!v.contains(['"', '\\', '$', '{', '}', '\n', '\r', '\0']));
    }
    let _ = parse_header_name(s);
    let _ = TargetAddr::parse(s);
    let _ = Cidr::parse(s);
    let _ = gantry_domains::exchange::parse(gantry_domains::exchange::Format::Yaml, s);
    let _ = gantry_domains::exchange::parse(gantry_domains::exchange::Format::Csv, s);
});
