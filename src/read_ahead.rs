//! A bounded queue from one blocking producer (the file reader) to many async
//! consumers (the execution workers), with hysteresis.
//!
//! A plain bounded channel wakes a full producer on every item taken: with a
//! reader far faster than the executions, that is a sleep and a wake-up of the
//! reader thread per invoice. Here the producer waits only when `high` items
//! are queued, and is woken once the queue has drained to `low`: one wake-up
//! per `high - low` items. Consumers take single items, so every worker stays
//! busy whatever the file's size.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// The producer's end. Dropping it closes the queue once it is drained.
pub struct Producer<T> {
    tx: async_channel::Sender<T>,
    room: Arc<Room>,
}

/// A consumer's end (cheap to clone).
pub struct Consumer<T> {
    rx: async_channel::Receiver<T>,
    room: Arc<Room>,
}

impl<T> Clone for Consumer<T> {
    fn clone(&self) -> Self {
        Consumer { rx: self.rx.clone(), room: self.room.clone() }
    }
}

struct Room {
    queued: AtomicUsize,
    high: usize,
    low: usize,
    lock: Mutex<()>,
    drained: Condvar,
}

/// A queue holding at most `high` items; a full producer resumes at `low`.
pub fn read_ahead<T>(high: usize, low: usize) -> (Producer<T>, Consumer<T>) {
    assert!(low < high, "read_ahead: low ({low}) must be below high ({high})");
    let (tx, rx) = async_channel::unbounded();
    let room = Arc::new(Room { queued: AtomicUsize::new(0), high, low, lock: Mutex::new(()), drained: Condvar::new() });
    (Producer { tx, room: room.clone() }, Consumer { rx, room })
}

impl<T> Producer<T> {
    /// Queues `item`, first waiting (blocking the thread) while the queue is
    /// full. `Err(item)` when every consumer is gone.
    pub fn push(&self, item: T) -> Result<(), T> {
        let room = &*self.room;
        if room.queued.load(Ordering::Acquire) >= room.high {
            let mut guard = room.lock.lock().unwrap_or_else(|p| p.into_inner());
            while room.queued.load(Ordering::Acquire) > room.low {
                if self.tx.is_closed() {
                    return Err(item);
                }
                guard = room.drained.wait(guard).unwrap_or_else(|p| p.into_inner());
            }
        }
        room.queued.fetch_add(1, Ordering::AcqRel);
        self.tx.try_send(item).map_err(|e| {
            room.queued.fetch_sub(1, Ordering::AcqRel);
            e.into_inner()
        })
    }
}

impl<T> Consumer<T> {
    /// The next item; `None` once the producer is gone and the queue is empty.
    pub async fn pop(&self) -> Option<T> {
        let item = self.rx.recv().await.ok()?;
        let room = &*self.room;
        if room.queued.fetch_sub(1, Ordering::AcqRel) == room.low + 1 {
            // Under the lock, so that a producer about to wait cannot miss it.
            let _guard = room.lock.lock().unwrap_or_else(|p| p.into_inner());
            room.drained.notify_one();
        }
        Some(item)
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        // The last consumer gone: close the queue now (its receiver is only
        // dropped after this) and wake a waiting producer to see it.
        if self.rx.receiver_count() == 1 {
            self.rx.close();
            let _guard = self.room.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.room.drained.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_item_arrives_once_and_the_producer_waits_at_high() {
        let (tx, rx) = read_ahead::<u32>(8, 4);
        let producer = tokio::task::spawn_blocking(move || {
            for i in 0..10_000 {
                assert!(tx.room.queued.load(Ordering::Acquire) <= 8, "never more than high queued");
                tx.push(i).expect("consumers are there");
            }
        });
        let mut consumers = Vec::new();
        for _ in 0..4 {
            let rx = rx.clone();
            consumers.push(tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(i) = rx.pop().await {
                    got.push(i);
                }
                got
            }));
        }
        drop(rx);
        producer.await.unwrap();
        let mut all = Vec::new();
        for c in consumers {
            all.extend(c.await.unwrap());
        }
        all.sort_unstable();
        assert_eq!(all, (0..10_000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_waiting_producer_learns_that_the_consumers_are_gone() {
        let (tx, rx) = read_ahead::<u32>(2, 1);
        let producer = tokio::task::spawn_blocking(move || (0..10).map(|i| tx.push(i)).position(|r| r.is_err()));
        // Let the producer fill the queue and wait, then leave.
        while rx.room.queued.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        drop(rx);
        assert_eq!(producer.await.unwrap(), Some(2), "the third push fails");
    }
}
