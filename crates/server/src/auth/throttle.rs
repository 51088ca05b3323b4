//! Sign-in attempts per source address, so one address cannot guess passwords across many
//! accounts (account lockout alone only protects one account at a time) or tie up the CPU with
//! password hashing.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// Addresses remembered at most; beyond this the oldest windows are dropped.
const MAX_ADDRESSES: usize = 100_000;

#[derive(Default)]
pub struct SignInThrottle {
    windows: Mutex<HashMap<String, (Timestamp, u32)>>,
}

impl SignInThrottle {
    /// Counts an attempt from `ip` at `now`; false when the address has used up its minute.
    pub fn allow(&self, ip: &str, now: Timestamp, per_minute: u32) -> bool {
        let minute = SignedDuration::from_mins(1);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_ADDRESSES {
            windows.retain(|_, (start, _)| now.duration_since(*start) < minute);
        }
        let window = windows.entry(ip.to_string()).or_insert((now, 0));
        if now.duration_since(window.0) >= minute {
            *window = (now, 0);
        }
        window.1 += 1;
        window.1 <= per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_allowance_per_minute_and_others_are_not_affected() {
        let throttle = SignInThrottle::default();
        let t0 = Timestamp::UNIX_EPOCH;
        assert!((0..3).all(|_| throttle.allow("10.0.0.1", t0, 3)));
        assert!(!throttle.allow("10.0.0.1", t0, 3));
        assert!(throttle.allow("10.0.0.2", t0, 3));
        let later = t0.checked_add(SignedDuration::from_secs(61)).unwrap_or(t0);
        assert!(throttle.allow("10.0.0.1", later, 3));
    }
}
