//! Coalescing: requests for the same key that arrive while the batches of that key are running
//! are gathered and run together as the next batch.
//!
//! There is no timer and no waiting for a batch to fill: the first request of an idle key starts
//! at once (a lone request is as fast as without batching), and batches grow only as large as the
//! arrivals during the previous batch. Under contention this turns N row-locked transactions into
//! N / batch-size transactions, each answering every request of its batch after its commit.
//!
//! Up to `depth` batches of one key run at the same time. With two, a batch does its inserts while
//! the previous one holds the row lock and waits for its commit to reach the disk, so the disk
//! flush and the database's work overlap instead of alternating.
//!
//! Each batch runs in a spawned task, so a client that goes away never cancels a batch midway.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

/// The most requests one batch carries; bounds a transaction's size and a statement's binds.
pub const MAX_BATCH: usize = 512;

/// The answer to a request whose batch task ended without answering it (it panicked).
pub fn batch_task_failed() -> being_social_domain::DomainError {
    being_social_domain::DomainError::internal("a batch task ended without answering")
}

type RunBatch<K, Req, Resp> =
    dyn Fn(K, Vec<Req>) -> Pin<Box<dyn Future<Output = Vec<Resp>> + Send>> + Send + Sync;

type Waiting<Req, Resp> = Vec<(Req, oneshot::Sender<Resp>)>;

/// One key's requests waiting for a batch, and how many drain tasks run for it.
struct Queue<Req, Resp> {
    waiting: Waiting<Req, Resp>,
    draining: usize,
}

/// Upper bounds of the batch-size buckets of [`CoalescerStats::batch_sizes`]; one more bucket
/// counts the larger batches.
pub const BATCH_SIZE_BOUNDS: [u64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/// Figures for the metrics endpoint: a few relaxed atomics, touched once per request (`waiting`)
/// and once per batch (the rest), never under contention of their own.
#[derive(Debug, Default)]
pub struct CoalescerStats {
    /// Batches run.
    pub batches: AtomicU64,
    /// Requests carried by those batches.
    pub requests: AtomicU64,
    pub largest_batch: AtomicU64,
    /// Requests queued for a batch that has not started yet.
    pub waiting: AtomicU64,
    /// How many batches had a size up to each of [`BATCH_SIZE_BOUNDS`] (not cumulative), then
    /// larger ones.
    batch_sizes: [AtomicU64; BATCH_SIZE_BOUNDS.len() + 1],
}

impl CoalescerStats {
    fn record_batch(&self, size: u64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(size, Ordering::Relaxed);
        self.largest_batch.fetch_max(size, Ordering::Relaxed);
        self.waiting.fetch_sub(size, Ordering::Relaxed);
        let bucket = BATCH_SIZE_BOUNDS.partition_point(|&bound| bound < size);
        self.batch_sizes[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// Batches per size bucket (see [`BATCH_SIZE_BOUNDS`]), not cumulative; the last entry counts
    /// the batches larger than every bound.
    pub fn batch_sizes(&self) -> [u64; BATCH_SIZE_BOUNDS.len() + 1] {
        std::array::from_fn(|i| self.batch_sizes[i].load(Ordering::Relaxed))
    }
}

pub struct Coalescer<K, Req, Resp> {
    inner: Arc<Inner<K, Req, Resp>>,
}

impl<K, Req, Resp> Clone for Coalescer<K, Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K, Req, Resp> {
    /// A key is present while a drain task runs for it.
    queues: Mutex<HashMap<K, Queue<Req, Resp>>>,
    max_batch: usize,
    depth: usize,
    run: Box<RunBatch<K, Req, Resp>>,
    stats: CoalescerStats,
}

impl<K, Req, Resp> Coalescer<K, Req, Resp>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    Req: Send + 'static,
    Resp: Send + 'static,
{
    /// `run` receives a key and its batch (at most `max_batch` requests, in arrival order) and must
    /// return one response per request, in the same order. At most `depth` batches of one key run
    /// at the same time.
    pub fn new<F, Fut>(max_batch: usize, depth: usize, run: F) -> Self
    where
        F: Fn(K, Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Resp>> + Send + 'static,
    {
        Self {
            inner: Arc::new(Inner {
                queues: Mutex::new(HashMap::new()),
                max_batch: max_batch.max(1),
                depth: depth.max(1),
                run: Box::new(move |key, batch| Box::pin(run(key, batch))),
                stats: CoalescerStats::default(),
            }),
        }
    }

    /// Runs `request` in the next batch of `key` and returns its response; `None` only if the
    /// batch task died (a bug: it is logged by the runtime).
    pub async fn submit(&self, key: K, request: Req) -> Option<Resp> {
        let (tx, rx) = oneshot::channel();
        // Counted before the request is visible to a drain task, which subtracts it.
        self.inner.stats.waiting.fetch_add(1, Ordering::Relaxed);
        let start_drain = {
            let mut queues = self.inner.lock();
            let queue = queues.entry(key.clone()).or_insert_with(|| Queue {
                waiting: Vec::new(),
                draining: 0,
            });
            queue.waiting.push((request, tx));
            let start = queue.draining < self.inner.depth;
            if start {
                queue.draining += 1;
            }
            start
        };
        if start_drain {
            tokio::spawn(drain(self.inner.clone(), key));
        }
        rx.await.ok()
    }

    pub fn stats(&self) -> &CoalescerStats {
        &self.inner.stats
    }
}

impl<K, Req, Resp> Inner<K, Req, Resp> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Queue<Req, Resp>>> {
        // The map is never left half-updated, so a poisoned lock is still consistent.
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Hash + Eq, Req, Resp> Inner<K, Req, Resp> {
    /// One drain task of `key` ends. The last one removes the key, dropping the requests still
    /// queued (none when it ends normally: it ends only on an empty queue).
    fn leave(&self, queues: &mut HashMap<K, Queue<Req, Resp>>, key: &K) {
        let Some(queue) = queues.get_mut(key) else {
            return;
        };
        queue.draining = queue.draining.saturating_sub(1);
        if queue.draining == 0 {
            let dropped = queue.waiting.len() as u64;
            queues.remove(key);
            self.stats.waiting.fetch_sub(dropped, Ordering::Relaxed);
        }
    }
}

/// Accounts for a drain task that ends abnormally (a panic in a batch): the last one to go removes
/// the key, so that the next request starts a new task instead of waiting forever; requests still
/// queued then are dropped (their callers see `None`). A normal end does the same itself, in the
/// same critical section that finds the queue empty: doing it later could strand a request queued
/// in between.
struct PanicGuard<'a, K: Hash + Eq, Req, Resp> {
    inner: &'a Inner<K, Req, Resp>,
    key: &'a K,
    finished: bool,
}

impl<K: Hash + Eq, Req, Resp> Drop for PanicGuard<'_, K, Req, Resp> {
    fn drop(&mut self) {
        if !self.finished {
            self.inner.leave(&mut self.inner.lock(), self.key);
        }
    }
}

async fn drain<K, Req, Resp>(inner: Arc<Inner<K, Req, Resp>>, key: K)
where
    K: Hash + Eq + Clone,
{
    let mut guard = PanicGuard {
        inner: &inner,
        key: &key,
        finished: false,
    };
    loop {
        let batch: Waiting<Req, Resp> = {
            let mut queues = inner.lock();
            let Some(queue) = queues.get_mut(&key) else {
                guard.finished = true;
                return;
            };
            if queue.waiting.is_empty() {
                inner.leave(&mut queues, &key);
                guard.finished = true;
                return;
            }
            let take = queue.waiting.len().min(inner.max_batch);
            queue.waiting.drain(..take).collect()
        };
        inner.stats.record_batch(batch.len() as u64);
        let (requests, senders): (Vec<Req>, Vec<oneshot::Sender<Resp>>) = batch.into_iter().unzip();
        let responses = (inner.run)(key.clone(), requests).await;
        for (sender, response) in senders.into_iter().zip(responses) {
            let _ = sender.send(response);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_lone_request_runs_at_once_and_concurrent_ones_share_batches() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let recorded = sizes.clone();
        let coalescer = Coalescer::new(100, 1, move |key: u8, batch: Vec<u32>| {
            recorded.lock().unwrap().push(batch.len());
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                batch.into_iter().map(|r| (key, r * 2)).collect::<Vec<_>>()
            }
        });
        assert_eq!(coalescer.submit(1, 5).await, Some((1, 10)));
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let c = coalescer.clone();
                tokio::spawn(async move { c.submit(2, i).await })
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap(), Some((2, i as u32 * 2)));
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 51);
        assert!(sizes.len() < 51, "requests were not coalesced: {sizes:?}");
        assert!(coalescer.inner.lock().is_empty(), "idle keys are removed");

        let stats = coalescer.stats();
        assert_eq!(stats.batches.load(Ordering::Relaxed), sizes.len() as u64);
        assert_eq!(stats.requests.load(Ordering::Relaxed), 51);
        assert_eq!(stats.waiting.load(Ordering::Relaxed), 0);
        let largest = *sizes.iter().max().unwrap() as u64;
        assert_eq!(stats.largest_batch.load(Ordering::Relaxed), largest);
        let buckets = stats.batch_sizes();
        assert_eq!(buckets.iter().sum::<u64>(), sizes.len() as u64);
        let expected: Vec<u64> = (0..buckets.len())
            .map(|i| {
                let low = if i == 0 { 0 } else { BATCH_SIZE_BOUNDS[i - 1] };
                let high = BATCH_SIZE_BOUNDS.get(i).copied().unwrap_or(u64::MAX);
                sizes
                    .iter()
                    .filter(|&&s| (s as u64) > low && (s as u64) <= high)
                    .count() as u64
            })
            .collect();
        assert_eq!(buckets.to_vec(), expected, "sizes {sizes:?}");
    }

    #[tokio::test]
    async fn requests_queued_behind_a_batch_count_as_waiting() {
        let (release, gate) = tokio::sync::watch::channel(false);
        let coalescer = Coalescer::new(10, 1, move |_: u8, batch: Vec<u32>| {
            let mut gate = gate.clone();
            async move {
                let _ = gate.wait_for(|open| *open).await;
                batch
            }
        });
        let first = tokio::spawn({
            let c = coalescer.clone();
            async move { c.submit(1, 1).await }
        });
        // The first batch starts and blocks on the gate; the next two queue behind it.
        while coalescer.stats().batches.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        let queued: Vec<_> = (2..4)
            .map(|i| {
                let c = coalescer.clone();
                tokio::spawn(async move { c.submit(1, i).await })
            })
            .collect();
        while coalescer.stats().waiting.load(Ordering::Relaxed) < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(coalescer.stats().waiting.load(Ordering::Relaxed), 2);
        release.send(true).unwrap();
        assert_eq!(first.await.unwrap(), Some(1));
        for handle in queued {
            assert!(handle.await.unwrap().is_some());
        }
        assert_eq!(coalescer.stats().waiting.load(Ordering::Relaxed), 0);
        assert_eq!(coalescer.stats().batches.load(Ordering::Relaxed), 2);
    }

    /// Requests arriving while drain tasks end must all be answered. The race this guards against
    /// (a request queued between "queue empty" and the key's removal) is narrow: this stress test
    /// exercises the path but does not reproduce the old race reliably; the benchmark did, once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_request_is_lost_between_batches() {
        let coalescer = Coalescer::new(4, 2, |_: u8, batch: Vec<u32>| async move {
            tokio::task::yield_now().await;
            batch
        });
        for round in 0..50 {
            let handles: Vec<_> = (0..40)
                .map(|i| {
                    let c = coalescer.clone();
                    tokio::spawn(async move {
                        if i % 3 == 0 {
                            tokio::task::yield_now().await;
                        }
                        c.submit(1, i).await
                    })
                })
                .collect();
            for (i, handle) in handles.into_iter().enumerate() {
                assert_eq!(handle.await.unwrap(), Some(i as u32), "round {round}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_depth_batches_of_a_key_run_at_once() {
        let running = Arc::new(AtomicU64::new(0));
        let most = Arc::new(AtomicU64::new(0));
        let (r, m) = (running.clone(), most.clone());
        let coalescer = Coalescer::new(3, 2, move |_: u8, batch: Vec<u32>| {
            let (r, m) = (r.clone(), m.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                batch
            }
        });
        let handles: Vec<_> = (0..60)
            .map(|i| {
                let c = coalescer.clone();
                tokio::spawn(async move { c.submit(1, i).await })
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap(), Some(i as u32));
        }
        assert_eq!(
            most.load(Ordering::SeqCst),
            2,
            "two batches overlap, never three"
        );
        assert!(coalescer.inner.lock().is_empty(), "idle keys are removed");
    }

    #[tokio::test]
    async fn a_panicking_batch_frees_its_key() {
        let coalescer = Coalescer::new(10, 2, |_: u8, batch: Vec<u32>| async move {
            if batch.contains(&13) {
                panic!("boom");
            }
            batch
        });
        assert_eq!(coalescer.submit(1, 13).await, None);
        tokio::task::yield_now().await;
        assert_eq!(coalescer.submit(1, 7).await, Some(7));
    }
}
