//! Time as the engine sees it: a [`Clock`] gives the current instant and sleeps. The
//! [`TokioClock`] follows tokio's timer (so `tokio::time::pause` makes tests instant);
//! the [`ManualClock`] only moves when a test advances it and records every sleep, so
//! Retry backoff, Wait and TimeoutSeconds are checked without waiting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

/// The current time and a way to wait; injected into the [`Engine`](crate::Engine).
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
    /// Waits `d`; must not block a thread.
    async fn sleep(&self, d: Duration);
}

/// Wall-clock time that advances with tokio's timer.
#[derive(Debug, Clone)]
pub struct TokioClock {
    wall: DateTime<Utc>,
    base: tokio::time::Instant,
}

impl TokioClock {
    pub fn new() -> Self {
        TokioClock { wall: Utc::now(), base: tokio::time::Instant::now() }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.base);
        self.wall + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    async fn sleep(&self, d: Duration) {
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}

#[derive(Default)]
struct ManualState {
    now: Option<DateTime<Utc>>,
    sleeps: Vec<Duration>,
    waiters: Vec<(DateTime<Utc>, oneshot::Sender<()>)>,
}

/// A virtual clock for tests: time stands still until [`ManualClock::advance`] (or
/// [`ManualClock::advance_to_next`]) moves it; every requested sleep is recorded.
#[derive(Clone, Default)]
pub struct ManualClock {
    state: Arc<Mutex<ManualState>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        let c = ManualClock::default();
        c.lock().now = Some(start);
        c
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every duration a sleeper asked for, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// How many sleepers are waiting.
    pub fn waiting(&self) -> usize {
        self.lock().waiters.len()
    }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    pub fn advance(&self, d: Duration) {
        let mut st = self.lock();
        let now = st.now.unwrap_or_else(Utc::now) + chrono::Duration::from_std(d).unwrap_or_default();
        st.now = Some(now);
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut st.waiters).into_iter().partition(|(t, _)| *t <= now);
        st.waiters = rest;
        drop(st);
        for (_, tx) in due {
            let _ = tx.send(());
        }
    }

    /// Moves time to the earliest pending deadline (if any) and wakes its sleepers;
    /// returns whether anyone was waiting.
    pub fn advance_to_next(&self) -> bool {
        let st = self.lock();
        let Some(next) = st.waiters.iter().map(|(t, _)| *t).min() else { return false };
        let now = st.now.unwrap_or_else(Utc::now);
        drop(st);
        self.advance((next - now).to_std().unwrap_or_default());
        true
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let mut st = self.lock();
        *st.now.get_or_insert_with(Utc::now)
    }

    async fn sleep(&self, d: Duration) {
        let rx = {
            let mut st = self.lock();
            st.sleeps.push(d);
            if d.is_zero() {
                return;
            }
            let deadline = *st.now.get_or_insert_with(Utc::now) + chrono::Duration::from_std(d).unwrap_or_default();
            let (tx, rx) = oneshot::channel();
            st.waiters.push((deadline, tx));
            rx
        };
        let _ = rx.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_only_when_advanced() {
        let start = Utc::now();
        let c = ManualClock::new(start);
        let c2 = c.clone();
        let h = tokio::spawn(async move { c2.sleep(Duration::from_secs(5)).await });
        while c.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        c.advance(Duration::from_secs(4));
        tokio::task::yield_now().await;
        assert!(!h.is_finished());
        assert!(c.advance_to_next());
        h.await.unwrap();
        assert_eq!(c.now(), start + chrono::Duration::seconds(5));
        assert_eq!(c.sleeps(), vec![Duration::from_secs(5)]);
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let c = TokioClock::new();
        let t0 = c.now();
        c.sleep(Duration::from_secs(3600)).await;
        assert_eq!((c.now() - t0).num_seconds(), 3600);
    }
}
