//! Attempts per key and minute: sign-ins per source address, so one address cannot guess
//! passwords across many accounts (account lockout alone only protects one account at a time)
//! or tie up the CPU with password hashing; and failed token requests per client id and per
//! source address, so client secrets are not guessed at the token endpoint either.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// Keys remembered at most; beyond this the expired windows are dropped.
const MAX_KEYS: usize = 100_000;

const MINUTE: SignedDuration = SignedDuration::from_mins(1);

#[derive(Default)]
pub struct Throttle {
    windows: Mutex<HashMap<String, (Timestamp, u32)>>,
}

impl Throttle {
    /// Counts an attempt for `key` at `now`; false when the key has used up its minute.
    pub fn allow(&self, key: &str, now: Timestamp, per_minute: u32) -> bool {
        self.count(key, now);
        self.blocked(key, now, per_minute.saturating_add(1))
            .is_none()
    }

    /// Counts an attempt (a failure, for keys that count only failures).
    pub fn count(&self, key: &str, now: Timestamp) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, (start, _)| now.duration_since(*start) < MINUTE);
        }
        let window = windows.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(window.0) >= MINUTE {
            *window = (now, 0);
        }
        window.1 = window.1.saturating_add(1);
    }

    /// How long until `key` may try again, when it has already made `per_minute` attempts in
    /// its current minute; `None` when it may go ahead. Does not count.
    pub fn blocked(&self, key: &str, now: Timestamp, per_minute: u32) -> Option<SignedDuration> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let (start, attempts) = windows.get(key)?;
        let elapsed = now.duration_since(*start);
        (elapsed < MINUTE && *attempts >= per_minute).then(|| MINUTE - elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_allowance_per_minute_and_others_are_not_affected() {
        let throttle = Throttle::default();
        let t0 = Timestamp::UNIX_EPOCH;
        assert!((0..3).all(|_| throttle.allow("10.0.0.1", t0, 3)));
        assert!(!throttle.allow("10.0.0.1", t0, 3));
        assert!(throttle.allow("10.0.0.2", t0, 3));
        let later = t0.checked_add(SignedDuration::from_secs(61)).unwrap_or(t0);
        assert!(throttle.allow("10.0.0.1", later, 3));
    }

    #[test]
    fn a_blocked_key_is_told_when_its_minute_ends() {
        let throttle = Throttle::default();
        let t0 = Timestamp::UNIX_EPOCH;
        throttle.count("client", t0);
        throttle.count("client", t0);
        assert_eq!(throttle.blocked("client", t0, 3), None);
        throttle.count("client", t0);
        let t20 = t0.checked_add(SignedDuration::from_secs(20)).unwrap_or(t0);
        assert_eq!(
            throttle.blocked("client", t20, 3),
            Some(SignedDuration::from_secs(40))
        );
        let t60 = t0.checked_add(SignedDuration::from_secs(60)).unwrap_or(t0);
        assert_eq!(throttle.blocked("client", t60, 3), None);
    }
}
