//! `Clock`: the time source of the server, injectable so tests drive months of key rotation
//! in seconds without sleeping.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The system clock, or a manual one that only moves when told to.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<Mutex<DateTime<Utc>>>>);

impl Clock {
    /// The real wall clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock stopped at `start`, moved only by `advance`.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Self(Some(Arc::new(Mutex::new(start))))
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            None => Utc::now(),
            Some(time) => *time.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }

    /// Whether this is a manual clock (tests).
    pub fn is_manual(&self) -> bool {
        self.0.is_some()
    }

    /// Moves a manual clock forward; does nothing to the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(time) = &self.0 {
            let mut time = time.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *time += by;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_it() {
        let start = Utc::now();
        let clock = Clock::manual(start);
        let shared = clock.clone();

        clock.advance(Duration::from_secs(86_400));

        assert_eq!(shared.now(), start + Duration::from_secs(86_400));
    }

    #[test]
    fn system_clock_follows_real_time() {
        let before = Utc::now();

        assert!(Clock::system().now() >= before);
    }
}
