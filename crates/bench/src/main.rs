//! Load drivers for the benchmark scenarios that wrk's one-request-at-a-time model cannot express.
//!
//! `mutual-follows`: for pair k, users a = first + 2k and b = a + 1 follow each other "at the same
//! instant": both requests (a→b and b→a) are spawned as separate tasks that wait on one barrier and
//! fire together. `--concurrency` pairs are in flight at once (so twice as many requests); when a
//! pair finishes, the next one starts. Every request is timed from the barrier to the end of its
//! answer. The driver reports failures (transport errors and non-2xx answers) and latency
//! percentiles; the counters are checked afterwards by the calling script, in SQL.
//!
//! Output: human lines, then one `RESULT {json}` line for scripts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tokio::sync::{Barrier, Semaphore};

#[derive(Debug, Parser)]
#[command(
    name = "being-social-bench",
    about = "Load drivers for the Being Social benchmark harness."
)]
struct Cli {
    #[command(subcommand)]
    command: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Pairs of users following each other at the same instant.
    MutualFollows {
        /// The server, e.g. http://127.0.0.1:18080.
        #[arg(long)]
        base_url: String,
        /// Token secrets, one a line; line k is user k's token (`being-social seed --tokens-out`).
        #[arg(long)]
        tokens: PathBuf,
        /// The first user of the first pair; pair k is (first + 2k, first + 2k + 1).
        #[arg(long)]
        first_user: usize,
        /// How many pairs.
        #[arg(long, default_value_t = 2_000)]
        pairs: usize,
        /// Pairs in flight at once (each pair is two simultaneous requests).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
}

/// One answered (or failed) request.
struct Outcome {
    /// The HTTP status, or `None` for a transport error.
    status: Option<u16>,
    latency: Duration,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Scenario::MutualFollows {
                base_url,
                tokens,
                first_user,
                pairs,
                concurrency,
            } => mutual_follows(&base_url, &tokens, first_user, pairs, concurrency).await,
        }
    })
}

async fn mutual_follows(
    base_url: &str,
    tokens: &PathBuf,
    first_user: usize,
    pairs: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let text = tokio::fs::read_to_string(tokens)
        .await
        .with_context(|| format!("cannot read the tokens file {}", tokens.display()))?;
    let tokens: Vec<String> = text.lines().map(str::to_owned).collect();
    let last_user = first_user + 2 * pairs - 1;
    if first_user == 0 || last_user > tokens.len() {
        bail!(
            "users {first_user}..={last_user} are not all in the tokens file ({} tokens)",
            tokens.len()
        );
    }
    let concurrency = concurrency.max(1);
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::MAX)
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")?;
    let base = base_url.trim_end_matches('/').to_owned();

    // Open the connections first, so that the measured requests do not pay for TCP handshakes.
    let warm: Vec<_> = (0..2 * concurrency)
        .map(|_| {
            let client = client.clone();
            let url = format!("{base}/healthz");
            tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
        })
        .collect();
    for task in warm {
        task.await
            .context("warm-up task failed")?
            .context("the server does not answer /healthz")?;
    }

    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut running = Vec::with_capacity(pairs);
    for k in 0..pairs {
        let permit = Arc::clone(&slots)
            .acquire_owned()
            .await
            .context("semaphore closed")?;
        let a = first_user + 2 * k;
        let b = a + 1;
        let barrier = Arc::new(Barrier::new(2));
        let mut pair = Vec::with_capacity(2);
        for (me, leader) in [(a, b), (b, a)] {
            let client = client.clone();
            let barrier = Arc::clone(&barrier);
            let url = format!("{base}/accounts/follow/{leader}/");
            let auth = format!("Token {}", tokens[me - 1]);
            pair.push(tokio::spawn(async move {
                barrier.wait().await;
                let sent = Instant::now();
                let result = client.post(url).header("Authorization", auth).send().await;
                let status = match result {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        // Read the body: the answer is complete only then.
                        match response.bytes().await {
                            Ok(_) => Some(status),
                            Err(_) => None,
                        }
                    }
                    Err(_) => None,
                };
                Outcome {
                    status,
                    latency: sent.elapsed(),
                }
            }));
        }
        running.push(tokio::spawn(async move {
            let mut outcomes = Vec::with_capacity(2);
            for task in pair {
                if let Ok(outcome) = task.await {
                    outcomes.push(outcome);
                }
            }
            drop(permit);
            outcomes
        }));
    }
    let mut outcomes = Vec::with_capacity(2 * pairs);
    for task in running {
        outcomes.extend(task.await.context("a pair's task failed")?);
    }
    let elapsed = started.elapsed();
    report(pairs, concurrency, &outcomes, elapsed);
    Ok(())
}

fn report(pairs: usize, concurrency: usize, outcomes: &[Outcome], elapsed: Duration) {
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for outcome in outcomes {
        let key = outcome
            .status
            .map_or_else(|| "transport-error".to_owned(), |s| s.to_string());
        *statuses.entry(key).or_default() += 1;
    }
    let lost = 2 * pairs - outcomes.len();
    let failures = lost
        + outcomes
            .iter()
            .filter(|o| !o.status.is_some_and(|s| (200..300).contains(&s)))
            .count();
    let mut latencies: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    latencies.sort_unstable();
    let ms = |p: f64| percentile(&latencies, p).as_secs_f64() * 1000.0;
    let rps = outcomes.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    println!(
        "mutual-follows: {pairs} pairs, {concurrency} pairs in flight, {} requests in {:.2} s ({rps:.0}/s)",
        outcomes.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "mutual-follows: failures {failures}; statuses {statuses:?}; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(0.50),
        ms(0.90),
        ms(0.99),
        ms(1.0)
    );
    let result = serde_json::json!({
        "scenario": "mutual-follows",
        "pairs": pairs,
        "concurrency": concurrency,
        "requests": outcomes.len(),
        "failures": failures,
        "statuses": statuses,
        "p50_ms": ms(0.50),
        "p90_ms": ms(0.90),
        "p99_ms": ms(0.99),
        "max_ms": ms(1.0),
        "elapsed_s": elapsed.as_secs_f64(),
        "requests_per_s": rps,
    });
    println!("RESULT {result}");
}

/// The nearest-rank percentile of sorted `values` (`p` in 0..=1); zero when empty.
fn percentile(values: &[Duration], p: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&values, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&values, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&values, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
