//! What one live connection may send: a steady rate of messages with room for a burst (a call's
//! set-up sends a few dozen candidates at once), and a few refused messages per window of time.
//! A connection past either limit is refused, then closed; refusals are forgiven once a window
//! passes, so a long call that meets an occasional refusal (a candidate for a participant who
//! just left) is not closed for it hours later.

use std::time::{Duration, Instant};

/// Refused messages a connection may send within one window before it is closed.
pub const MAX_REFUSALS: u32 = 5;
/// A burst may use this many seconds' worth of the steady rate at once.
const BURST_SECONDS: u32 = 5;

/// The limits of every live connection, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveLimits {
    pub messages_per_second: u32,
    pub refusal_window: Duration,
}

/// One connection's account of what it sent.
#[derive(Debug)]
pub struct Budget {
    limits: LiveLimits,
    /// Messages it may still send now (refilled at the steady rate, up to the burst).
    tokens: f64,
    refilled_at: Instant,
    refusals: u32,
    window_started: Instant,
}

impl Budget {
    pub fn new(limits: LiveLimits, now: Instant) -> Self {
        Self {
            limits,
            tokens: f64::from(burst(limits)),
            refilled_at: now,
            refusals: 0,
            window_started: now,
        }
    }

    /// Takes one message from the rate; false when the connection sends too fast (the message
    /// is refused).
    pub fn take_message(&mut self, now: Instant) -> bool {
        let rate = f64::from(self.limits.messages_per_second);
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(burst(self.limits)));
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Counts a refused message; true while the connection may stay open.
    pub fn refused(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.window_started) >= self.limits.refusal_window {
            self.refusals = 0;
            self.window_started = now;
        }
        self.refusals += 1;
        self.refusals <= MAX_REFUSALS
    }
}

fn burst(limits: LiveLimits) -> u32 {
    limits
        .messages_per_second
        .saturating_mul(BURST_SECONDS)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: LiveLimits = LiveLimits {
        messages_per_second: 20,
        refusal_window: Duration::from_secs(60),
    };

    #[test]
    fn a_burst_of_five_seconds_worth_passes_then_the_steady_rate() {
        let start = Instant::now();
        let mut budget = Budget::new(LIMITS, start);
        let burst = (0..200).filter(|_| budget.take_message(start)).count();
        assert_eq!(burst, 100);
        // Half a second later: ten more at 20 a second, not eleven.
        let later = start + Duration::from_millis(500);
        let refilled = (0..20).filter(|_| budget.take_message(later)).count();
        assert_eq!(refilled, 10);
        // A quiet minute refills the burst, and no more.
        let quiet = later + Duration::from_secs(60);
        assert_eq!((0..200).filter(|_| budget.take_message(quiet)).count(), 100);
    }

    #[test]
    fn refusals_past_the_limit_close_and_are_forgiven_after_a_window() {
        let start = Instant::now();
        let mut budget = Budget::new(LIMITS, start);
        for _ in 0..MAX_REFUSALS {
            assert!(budget.refused(start));
        }
        // Five within the window, then a quiet window: the count starts again.
        let next_window = start + Duration::from_secs(61);
        for _ in 0..MAX_REFUSALS {
            assert!(budget.refused(next_window));
        }
        assert!(!budget.refused(next_window + Duration::from_secs(1)));
    }
}
