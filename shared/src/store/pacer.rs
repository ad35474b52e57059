//! Client-side pacing of bulk writes (additive-increase / multiplicative-decrease on items/s).
//!
//! A bulk import can offer DynamoDB far more writes than a table's capacity. Retrying throttled
//! requests with backoff alone wastes the capacity while everyone waits, and many writers
//! backing off at once stall an import for seconds. So bulk writers reserve their items here
//! first: writes are not paced at all until DynamoDB first throttles, then the pace drops just
//! under the rate that was getting through and climbs back while nothing is throttled, staying
//! close to the table's real capacity.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After a throttle, the pace falls to this share of the rate that was getting through.
const DECREASE: f64 = 0.95;
/// While nothing is throttled, the pace rises by this factor per [`RAISE_EVERY`] back up to
/// the rate of the last throttle, then by [`PROBE`] beyond it (capacity rarely moves fast).
const RAISE: f64 = 1.03;
const PROBE: f64 = 1.005;
const RAISE_EVERY: Duration = Duration::from_millis(250);
/// Throttles within this long of a cut come from the same burst: one cut for all of them.
const SAME_BURST: Duration = Duration::from_millis(250);
/// Throughput is measured over windows this long.
const WINDOW: Duration = Duration::from_secs(1);
/// The pace never drops below this (items/s), so a cold table still makes progress.
const MIN_RATE: f64 = 25.0;
/// Nor below this share of the best second so far: throttles that come at random (a hot
/// partition, a bad minute) rather than from a full table would otherwise cut the pace again
/// and again, down to the floor.
const BEST_SHARE: f64 = 0.5;

#[derive(Debug, Default)]
pub struct WritePacer {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Items per second; `None` until the first throttle.
    rate: Option<f64>,
    /// The pace (or throughput) at the last throttle.
    ceiling: f64,
    /// When the next reservation may start.
    next_start: Option<Instant>,
    last_cut: Option<Instant>,
    last_raise: Option<Instant>,
    /// Items confirmed since the window opened.
    window: Option<(Instant, u64)>,
    /// Items/s confirmed over the last full window.
    observed: Option<f64>,
    /// The most items/s confirmed over any window.
    best: f64,
}

impl WritePacer {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pace in items/s, if writes are being paced.
    #[cfg(test)]
    fn rate(&self) -> Option<f64> {
        self.state().rate
    }

    /// Reserves `items` writes; answers when they may be sent (`now` when unpaced).
    pub fn reserve(&self, items: usize, now: Instant) -> Instant {
        let mut state = self.state();
        let Some(rate) = state.rate else {
            return now;
        };
        let start = state.next_start.map_or(now, |next| next.max(now));
        state.next_start = Some(start + Duration::from_secs_f64(items as f64 / rate));
        start
    }

    /// Waits for a reservation of `items` writes.
    pub async fn pace(&self, items: usize) {
        let start = self.reserve(items, Instant::now());
        tokio::time::sleep_until(start.into()).await;
    }

    /// `items` writes were accepted.
    pub fn accepted(&self, items: usize, now: Instant) {
        let mut state = self.state();
        match state.window {
            Some((opened, count)) if now.duration_since(opened) >= WINDOW => {
                let seconds = now.duration_since(opened).as_secs_f64();
                let observed = count as f64 / seconds;
                state.observed = Some(observed);
                state.best = state.best.max(observed);
                state.window = Some((now, items as u64));
            }
            Some((opened, count)) => state.window = Some((opened, count + items as u64)),
            None => state.window = Some((now, items as u64)),
        }
        if let Some(rate) = state.rate
            && state
                .last_raise
                .is_none_or(|at| now.duration_since(at) >= RAISE_EVERY)
        {
            let factor = if rate * RAISE <= state.ceiling {
                RAISE
            } else {
                PROBE
            };
            state.rate = Some(rate * factor);
            state.last_raise = Some(now);
        }
    }

    /// A write was throttled: slow down (once per burst of throttles).
    pub fn throttled(&self, now: Instant) {
        let mut state = self.state();
        if state
            .last_cut
            .is_some_and(|at| now.duration_since(at) < SAME_BURST)
        {
            return;
        }
        // What got through lately: the pace (reservations are spaced, so a paced writer sends
        // no bursts); before the first throttle, the measured throughput.
        let through = match (state.rate, state.observed) {
            (Some(rate), _) => rate,
            (None, Some(observed)) => observed,
            // Nothing has measured the table's pace over a whole window yet: the writes are
            // resent, and the first throttle after a measured second sets the pace. Pacing from
            // a partial first window (an import still ramping up, or nothing accepted yet) left
            // imports crawling at a few hundred items a second for minutes.
            (None, None) => return,
        };
        state.ceiling = through;
        // The rate the first throttle found counts as a best too: it is what the table took
        // before anything was paced.
        state.best = state.best.max(through);
        state.rate = Some(
            (through * DECREASE)
                .max(MIN_RATE)
                .max(state.best * BEST_SHARE),
        );
        state.last_cut = Some(now);
        state.last_raise = Some(now);
        state.next_start = state.next_start.map(|next| next.max(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_throttle_before_any_accepted_write_sets_no_pace() {
        let pacer = WritePacer::default();
        let now = Instant::now();
        pacer.throttled(now);
        assert_eq!(pacer.rate(), None);
        assert_eq!(pacer.reserve(100, now), now);
        // Nor does one before a whole window of accepted writes was measured.
        pacer.accepted(1_000, now);
        pacer.throttled(now + ms(500));
        assert_eq!(pacer.rate(), None);
        // Once a second of writes is measured, a throttle paces at what got through.
        pacer.accepted(1_000, now + ms(1_000));
        pacer.throttled(now + ms(1_300));
        let rate = pacer.rate().expect("paced after a measured throttle");
        assert!(rate > 900.0, "{rate}");
    }

    #[test]
    fn random_throttles_do_not_cut_the_pace_below_half_the_best() {
        let pacer = WritePacer::default();
        let t0 = Instant::now();
        for step in 0..=12 {
            pacer.accepted(1_000, t0 + ms(100 * step));
        }
        // A throttle every 300 ms for a minute, whatever the pace.
        for cut in 0..200 {
            pacer.throttled(t0 + ms(1_300 + 300 * cut));
        }
        let rate = pacer.rate().unwrap_or_default();
        assert!(rate >= 10_000.0 * BEST_SHARE - 1.0, "{rate}");
    }

    #[test]
    fn unpaced_until_the_first_throttle() {
        let pacer = WritePacer::default();
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(pacer.reserve(100, now), now);
        }
        assert_eq!(pacer.rate(), None);
    }

    #[test]
    fn a_throttle_paces_just_under_what_got_through() {
        let pacer = WritePacer::default();
        let t0 = Instant::now();
        // 10,000 items/s accepted for over a second.
        for step in 0..=12 {
            pacer.accepted(1_000, t0 + ms(100 * step));
        }
        pacer.throttled(t0 + ms(1_250));
        let rate = pacer.rate().unwrap_or_default();
        assert!((rate - 10_000.0 * DECREASE).abs() < 1.0, "{rate}");
        // Reservations are now spread out: 100 items take 1/rate s each.
        let now = t0 + ms(1_300);
        let first = pacer.reserve(100, now);
        let second = pacer.reserve(100, now);
        assert_eq!(first, now);
        let gap = second.duration_since(first).as_secs_f64();
        assert!((gap - 100.0 / rate).abs() < 1e-6, "{gap}");
    }

    #[test]
    fn one_cut_per_burst_and_recovery_while_nothing_throttles() {
        let pacer = WritePacer::default();
        let t0 = Instant::now();
        pacer.accepted(5_000, t0);
        // The window closes: 5,000 items/s measured.
        pacer.accepted(10, t0 + ms(1_000));
        pacer.throttled(t0 + ms(1_500));
        let after_cut = pacer.rate().unwrap_or_default();
        // The same burst's other throttles do not cut again.
        pacer.throttled(t0 + ms(1_520));
        pacer.throttled(t0 + ms(1_600));
        assert_eq!(pacer.rate(), Some(after_cut));
        // A later burst does.
        pacer.throttled(t0 + ms(1_900));
        let second_cut = pacer.rate().unwrap_or_default();
        assert!(second_cut < after_cut, "{second_cut} < {after_cut}");
        // Accepted writes raise the pace step by step, never more than once per step.
        pacer.accepted(10, t0 + ms(2_200));
        pacer.accepted(10, t0 + ms(2_210));
        let raised = pacer.rate().unwrap_or_default();
        assert!((raised - second_cut * RAISE).abs() < 1e-6, "{raised}");
        // Past the rate of the last throttle it only probes, slowly.
        let mut at = t0 + ms(2_200);
        let mut rate = raised;
        while rate * RAISE <= after_cut {
            at += RAISE_EVERY;
            pacer.accepted(10, at);
            rate = pacer.rate().unwrap_or_default();
        }
        at += RAISE_EVERY;
        pacer.accepted(10, at);
        let probed = pacer.rate().unwrap_or_default();
        assert!(
            (probed - rate * PROBE).abs() < 1e-6,
            "{probed} after {rate}"
        );
    }

    #[test]
    fn the_pace_has_a_floor() {
        let pacer = WritePacer::default();
        let t0 = Instant::now();
        // A measured pace first: a throttle before a measured window sets none (see above).
        pacer.accepted(10, t0);
        pacer.accepted(10, t0 + ms(1_000));
        for step in 4..60 {
            pacer.throttled(t0 + ms(300 * step));
        }
        assert_eq!(pacer.rate(), Some(MIN_RATE));
    }
}
