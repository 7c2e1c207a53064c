//! Randomness for jitter, MAC addresses and secrets.
//!
//! Falls back to a clock-derived value if the OS generator fails, because a simulator must
//! never stop serving over a missing entropy source.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static FALLBACK: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);

/// A random `u64`.
pub fn u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        FALLBACK.fetch_add(nanos | 1, Ordering::Relaxed).rotate_left(17) ^ nanos
    })
}

/// A random float in `[0, 1)`.
pub fn unit() -> f64 {
    (u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A random locally administered unicast MAC with Proxmox's `BC:24:11` prefix.
pub fn mac() -> String {
    let r = u64();
    format!("BC:24:11:{:02X}:{:02X}:{:02X}", (r & 0xff) as u8, ((r >> 8) & 0xff) as u8, ((r >> 16) & 0xff) as u8)
}

/// `n` random bytes as lowercase hex.
pub fn hex(n: usize) -> String {
    (0..n).map(|_| format!("{:02x}", (u64() & 0xff) as u8)).collect()
}
