//! The process-wide memory budget of picture processing.
//!
//! Decoding a picture needs memory in proportion to its pixels, not to its bytes: a 116 KB PNG can
//! decode to hundreds of megabytes. Each job therefore reserves its estimated peak (see
//! [`super::decode::Header::cost`]) from one budget before it decodes anything, and gives it back
//! when its blocking work ends, whether or not the request that started it is still waiting.
//! Jobs that do not fit wait their turn, up to a deadline; past it, or when too many are already
//! waiting, the upload is answered `503` instead of growing the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use being_social_domain::{DomainError, Result};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const MIB: u64 = 1024 * 1024;

/// How many jobs may wait for the budget at once. Each waiting upload holds its body (up to the
/// upload limit) in memory; beyond this many, more would only pile up bodies.
pub const MAX_WAITING_JOBS: usize = 64;

/// A semaphore of mebibytes shared by every picture job of the process, and one of jobs: no
/// more jobs run at once than there are cores to run them (more would only hold their memory
/// longer while they share the cores).
#[derive(Debug, Clone)]
pub struct ImageBudget {
    permits: Arc<Semaphore>,
    mebibytes: u32,
    jobs: Arc<Semaphore>,
    wait: Duration,
    waiting: Arc<AtomicUsize>,
}

/// What a job holds while it runs: its share of the memory and its place among the jobs.
#[derive(Debug)]
pub struct Reservation {
    _memory: OwnedSemaphorePermit,
    _job: OwnedSemaphorePermit,
}

impl Default for ImageBudget {
    fn default() -> Self {
        Self::new(Self::DEFAULT_BYTES, Self::DEFAULT_WAIT)
    }
}

impl ImageBudget {
    /// Sized for a machine with 1 GB of memory: with the default upload limit, 16 worst-case
    /// uploads at once keep the whole process under 512 MiB (`tests/process/memory.rs`).
    pub const DEFAULT_BYTES: u64 = 256 * MIB;
    /// About how long 16 of the largest pictures take to process on two cores.
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

    /// A budget of `bytes` (at least 1 MiB) for as many jobs at once as the machine has cores,
    /// where a job waits at most `wait` for its turn.
    pub fn new(bytes: u64, wait: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_jobs(bytes, cores, wait)
    }

    /// A budget of `bytes` (at least 1 MiB) for at most `jobs` (at least 1) jobs at once.
    pub fn with_jobs(bytes: u64, jobs: usize, wait: Duration) -> Self {
        let mebibytes = u32::try_from(bytes / MIB).unwrap_or(u32::MAX).max(1);
        Self {
            permits: Arc::new(Semaphore::new(mebibytes as usize)),
            mebibytes,
            jobs: Arc::new(Semaphore::new(jobs.max(1))),
            wait,
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The whole budget in bytes.
    pub fn bytes(&self) -> u64 {
        u64::from(self.mebibytes) * MIB
    }

    /// Bytes not reserved by any job now.
    pub fn available_bytes(&self) -> u64 {
        self.permits.available_permits() as u64 * MIB
    }

    /// Reserves `bytes` (rounded up to whole mebibytes) until the returned permit is dropped.
    ///
    /// # Errors
    /// `Overloaded` when [`MAX_WAITING_JOBS`] jobs are already waiting or the share is not free
    /// within the wait. A job larger than the whole budget is the caller's to refuse first; here
    /// it would wait for all of it.
    pub async fn reserve(&self, bytes: u64) -> Result<Reservation> {
        let wanted = u32::try_from(bytes.div_ceil(MIB))
            .unwrap_or(u32::MAX)
            .clamp(1, self.mebibytes);
        let now = (
            self.jobs.clone().try_acquire_owned(),
            self.permits.clone().try_acquire_many_owned(wanted),
        );
        if let (Ok(job), Ok(memory)) = now {
            return Ok(Reservation {
                _memory: memory,
                _job: job,
            });
        }
        drop(now);
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING_JOBS {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(busy());
        }
        // The turn first, then the memory: a job waiting for memory holds its turn, so the jobs
        // that wait are served in order and a large one is not overtaken forever by small ones.
        let acquired = tokio::time::timeout(self.wait, async {
            let job = self.jobs.clone().acquire_owned().await?;
            let memory = self.permits.clone().acquire_many_owned(wanted).await?;
            Ok::<_, tokio::sync::AcquireError>(Reservation {
                _memory: memory,
                _job: job,
            })
        })
        .await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match acquired {
            Ok(Ok(reservation)) => Ok(reservation),
            // Timed out, or a semaphore was closed (they never are).
            _ => Err(busy()),
        }
    }
}

fn busy() -> DomainError {
    DomainError::Overloaded("The server is busy processing other pictures. Try again shortly.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_share_the_budget_and_wait_their_turn() {
        let budget = ImageBudget::with_jobs(10 * MIB, 4, Duration::from_secs(5));
        let first = budget
            .reserve(6 * MIB)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(budget.available_bytes(), 4 * MIB);
        // A part of a mebibyte counts as a whole one.
        let second = budget
            .reserve(3 * MIB + 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(budget.available_bytes(), 0);

        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve(5 * MIB).await.map(drop) })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(second);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "5 MiB are not free yet");
        drop(first);
        assert!(matches!(waiter.await, Ok(Ok(()))));
        assert_eq!(budget.available_bytes(), 10 * MIB);
    }

    #[tokio::test]
    async fn no_more_jobs_run_than_allowed() {
        let budget = ImageBudget::with_jobs(100 * MIB, 2, Duration::from_millis(50));
        let first = budget.reserve(MIB).await.unwrap_or_else(|e| panic!("{e}"));
        let _second = budget.reserve(MIB).await.unwrap_or_else(|e| panic!("{e}"));
        let refused = budget.reserve(MIB).await;
        assert!(
            matches!(refused, Err(DomainError::Overloaded(_))),
            "{refused:?}"
        );
        drop(first);
        assert!(budget.reserve(MIB).await.is_ok());
    }

    #[tokio::test]
    async fn a_job_that_cannot_get_its_share_in_time_is_refused() {
        let budget = ImageBudget::new(4 * MIB, Duration::from_millis(50));
        let held = budget
            .reserve(4 * MIB)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = budget.reserve(MIB).await;
        assert!(
            matches!(refused, Err(DomainError::Overloaded(_))),
            "{refused:?}"
        );
        drop(held);
        assert!(budget.reserve(MIB).await.is_ok());
    }

    #[tokio::test]
    async fn too_many_waiting_jobs_are_refused_at_once() {
        let budget = ImageBudget::with_jobs(MIB, 1, Duration::from_secs(60));
        let held = budget.reserve(MIB).await.unwrap_or_else(|e| panic!("{e}"));
        let waiters: Vec<_> = (0..MAX_WAITING_JOBS)
            .map(|_| {
                let budget = budget.clone();
                tokio::spawn(async move { budget.reserve(MIB).await.map(drop) })
            })
            .collect();
        while budget.waiting.load(Ordering::Acquire) < MAX_WAITING_JOBS {
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        let refused = budget.reserve(MIB).await;
        assert!(matches!(refused, Err(DomainError::Overloaded(_))));
        assert!(started.elapsed() < Duration::from_secs(30));
        drop(held);
        for waiter in waiters {
            assert!(matches!(waiter.await, Ok(Ok(()))));
        }
    }

    #[test]
    fn the_budget_is_whole_mebibytes_and_never_empty() {
        assert_eq!(ImageBudget::new(0, Duration::ZERO).bytes(), MIB);
        assert_eq!(
            ImageBudget::new(3 * MIB + 5, Duration::ZERO).bytes(),
            3 * MIB
        );
    }
}
