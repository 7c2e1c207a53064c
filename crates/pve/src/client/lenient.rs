//! Proxmox is written in Perl: booleans arrive as `0`/`1`, `"1"` or `"on"`,
//! numbers sometimes as strings. These deserializers accept what Proxmox
//! sends, like proxmox-serde's `perl` module does.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// A boolean from `true`, `1`, `"1"`, `"on"`, `"yes"`, `"true"`; missing or null is false.
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
    Ok(match &v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "1" | "on" | "yes" | "true"),
        _ => false,
    })
}

/// A number from a number or a numeric string; missing or null is 0.
pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
    Ok(as_f64(&v).unwrap_or(0.0))
}

/// An unsigned integer from a number or a numeric string; missing or null is 0.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
    Ok(as_f64(&v).map(|f| if f < 0.0 { 0 } else { f as u64 }).unwrap_or(0))
}

/// An optional unsigned integer (VMIDs in resource lists).
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
    Ok(as_f64(&v).map(|f| f as u64))
}

/// A string that may arrive as a number.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
    Ok(match v {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "super::bool")]
        a: bool,
        #[serde(default, deserialize_with = "super::u64")]
        n: u64,
        #[serde(default, deserialize_with = "super::f64")]
        f: f64,
    }

    #[test]
    fn perl_values() {
        for (raw, a, n) in
            [(r#"{"a":1,"n":"42","f":"0.5"}"#, true, 42), (r#"{"a":"on","n":7}"#, true, 7), (r#"{"a":"0"}"#, false, 0), (r#"{}"#, false, 0)]
        {
            let t: T = serde_json::from_str(raw).unwrap();
            assert_eq!((t.a, t.n), (a, n), "{raw}");
        }
        let t: T = serde_json::from_str(r#"{"f":"0.5"}"#).unwrap();
        assert!((t.f - 0.5).abs() < 1e-9);
    }
}
