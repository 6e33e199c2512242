//! Retrying an unreachable service (the object store, say) with growing pauses, for as
//! long as the caller's patience lasts.

use std::time::Duration;
use tokio::time::Instant;

/// First and longest pause between tries.
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

pub struct Patience {
    give_up: Option<Instant>,
    pause: Duration,
}

impl Patience {
    /// Tries for up to `limit` in all.
    pub fn lasting(limit: Duration) -> Patience {
        Patience {
            give_up: Some(Instant::now() + limit),
            pause: FIRST_PAUSE,
        }
    }

    /// Tries until it works.
    pub fn endless() -> Patience {
        Patience {
            give_up: None,
            pause: FIRST_PAUSE,
        }
    }

    /// Waits before the next try; `false` (at once) when patience has run out.
    pub async fn pause(&mut self) -> bool {
        let pause = match self.give_up {
            Some(end) => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                self.pause.min(left)
            }
            None => self.pause,
        };
        tokio::time::sleep(pause).await;
        self.pause = (self.pause * 2).min(LONGEST_PAUSE);
        true
    }
}
