//! The generic cell rate algorithm, pure: a bucket is its theoretical arrival time (TAT), and a
//! hit at `now` moves it one interval past `max(TAT, now)` unless that would put it more than
//! the bucket's capacity ahead of `now`. Time is an argument, so tests choose it.
//!
//! The stores compute [`step`] where the bucket is kept (in SQL, in a Redis script, or here
//! for the in-process store) and describe the result with [`outcome`].

use super::{Rate, Take};

/// One hit's result: what to answer, and the bucket's new TAT when the hit was allowed
/// (`None`: refused, the bucket stays as it was).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The answer.
    pub take: Take,
    /// The TAT to store, when taken.
    pub tat: Option<i64>,
}

/// A hit at `now` on a bucket whose TAT is `tat` (`None`: no bucket, which is full).
pub fn step(tat: Option<i64>, rate: Rate, now: i64) -> Step {
    let start = tat.map_or(now, |t| t.max(now));
    let ahead = start.saturating_add(rate.interval_ms);
    if ahead.saturating_sub(now) <= rate.horizon_ms() {
        Step {
            take: outcome(true, Some(ahead), rate, now),
            tat: Some(ahead),
        }
    } else {
        Step {
            take: outcome(false, tat, rate, now),
            tat: None,
        }
    }
}

/// The answer for a hit at `now` that a store decided: `taken`, with `tat` the bucket's TAT
/// after the hit; or refused, with `tat` the TAT it found (`None` if it found none).
pub fn outcome(taken: bool, tat: Option<i64>, rate: Rate, now: i64) -> Take {
    let interval = rate.interval_ms.max(1);
    if taken {
        // What the bucket holds beyond this hit, in milliseconds of refill.
        let slack = (now.saturating_add(rate.horizon_ms()) - tat.unwrap_or(now)).max(0);
        let remaining = u32::try_from(slack / interval).unwrap_or(u32::MAX);
        let next_ms = (i64::from(remaining) + 1) * interval - slack;
        Take::Taken {
            remaining,
            next_ms: next_ms.max(1),
        }
    } else {
        let start = tat.map_or(now, |t| t.max(now));
        let wait = start.saturating_add(interval) - rate.horizon_ms() - now;
        Take::Refused {
            retry_after_ms: wait.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    /// A bucket kept in a variable, stepped at chosen times.
    struct Bucket {
        tat: Option<i64>,
        rate: Rate,
    }

    impl Bucket {
        fn new(limit: u32, period: i64) -> Self {
            Bucket {
                tat: None,
                rate: Rate::per(limit, period).unwrap(),
            }
        }

        fn hit(&mut self, now: i64) -> Take {
            let step = step(self.tat, self.rate, now);
            if let Some(tat) = step.tat {
                self.tat = Some(tat);
            }
            step.take
        }

        /// How many of `n` hits at `now` are allowed.
        fn allowed(&mut self, now: i64, n: u32) -> u32 {
            (0..n).filter(|_| self.hit(now).is_taken()).count() as u32
        }
    }

    #[test]
    fn a_full_bucket_allows_its_capacity_at_once_counting_down() {
        let mut bucket = Bucket::new(3, 60_000);
        let now = 1_000_000;
        let remaining: Vec<_> = (0..3)
            .map(|_| match bucket.hit(now) {
                Take::Taken { remaining, next_ms } => {
                    assert_eq!(next_ms, 20_000, "one token comes back every 20 s");
                    remaining
                }
                refused => panic!("refused: {refused:?}"),
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        assert_eq!(
            bucket.hit(now),
            Take::Refused {
                retry_after_ms: 20_000
            }
        );
    }

    #[test]
    fn there_is_no_window_edge_to_burst_across() {
        // A fixed hourly window allows 10 just before the hour and 10 more just after it: 20
        // within two milliseconds. The bucket allows its 10, then one every six minutes.
        let mut bucket = Bucket::new(10, HOUR);
        let edge = 500 * HOUR;
        assert_eq!(bucket.allowed(edge - 1, 20), 10);
        assert_eq!(bucket.allowed(edge, 20), 0);
        assert_eq!(bucket.allowed(edge + 1, 20), 0);
        assert_eq!(bucket.allowed(edge + 360_000 - 2, 20), 0);
        assert_eq!(bucket.allowed(edge + 360_000 - 1, 20), 1);
    }

    #[test]
    fn no_stretch_of_time_lets_more_through_than_the_capacity_and_its_refill() {
        // A client trying once a second for three hours.
        let mut bucket = Bucket::new(10, HOUR);
        let interval = bucket.rate.interval_ms;
        let allowed: Vec<i64> = (0..3 * 3_600)
            .map(|s| s * 1_000)
            .filter(|&t| bucket.hit(t).is_taken())
            .collect();
        // The burst, then one every six minutes: the configured 10 an hour in the long run.
        assert_eq!(allowed.len(), 10 + 29);
        for (i, &start) in allowed.iter().enumerate() {
            for stretch in [1_000, 60_000, 600_000, HOUR] {
                let n = allowed[i..]
                    .iter()
                    .take_while(|&&t| t < start + stretch)
                    .count() as i64;
                assert!(
                    n <= 10 + stretch / interval,
                    "{n} hits in {stretch} ms from {start}"
                );
            }
        }
    }

    #[test]
    fn refill_is_gradual_and_capped_at_capacity() {
        let mut bucket = Bucket::new(4, 4_000);
        assert_eq!(bucket.allowed(0, 4), 4);
        // One token a second comes back.
        assert_eq!(bucket.allowed(1_000, 4), 1);
        assert_eq!(bucket.allowed(3_000, 4), 2);
        // Left alone far longer than the period, it holds its capacity, not more.
        assert_eq!(bucket.allowed(1_000_000, 10), 4);
    }

    #[test]
    fn a_refusal_leaves_the_bucket_as_it_was() {
        let mut bucket = Bucket::new(1, 10_000);
        assert!(bucket.hit(0).is_taken());
        let tat = bucket.tat;
        for now in [1, 2_000, 9_999] {
            assert!(!bucket.hit(now).is_taken());
        }
        assert_eq!(bucket.tat, tat);
        assert!(bucket.hit(10_000).is_taken());
    }

    #[test]
    fn retry_after_says_when_the_next_hit_is_allowed() {
        let mut bucket = Bucket::new(2, 10_000);
        assert_eq!(bucket.allowed(0, 2), 2);
        let Take::Refused { retry_after_ms } = bucket.hit(1_500) else {
            panic!("should be refused");
        };
        assert_eq!(retry_after_ms, 3_500);
        assert!(!bucket.hit(1_500 + retry_after_ms - 1).is_taken());
        assert!(bucket.hit(1_500 + retry_after_ms).is_taken());
    }

    #[test]
    fn outcome_of_a_refusal_without_a_bucket_still_waits() {
        let rate = Rate::per(1, 1_000).unwrap();
        assert_eq!(
            outcome(false, None, rate, 5),
            Take::Refused { retry_after_ms: 1 }
        );
    }

    #[test]
    fn rates_round_the_interval_up_and_refuse_nonsense() {
        assert_eq!(Rate::per(3, 10).unwrap().interval_ms, 4);
        assert_eq!(Rate::per(0, 10), None);
        assert_eq!(Rate::per(3, 0), None);
    }
}
