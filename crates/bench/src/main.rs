//! Load drivers for the benchmark scenarios that wrk's one-request-at-a-time model cannot express.
//!
//! `mutual-follows`: for pair k, users a = first + 2k and b = a + 1 follow each other "at the same
//! instant": both requests (a→b and b→a) are spawned as separate tasks that wait on one barrier and
//! fire together. `--concurrency` pairs are in flight at once (so twice as many requests); when a
//! pair finishes, the next one starts. Every request is timed from the barrier to the end of its
//! answer. The driver reports failures (transport errors and non-2xx answers) and latency
//! percentiles; the counters are checked afterwards by the calling script, in SQL.
//!
//! `fixed-rate`: GETs of one URL offered at a fixed rate (requests a second, spread evenly) over a
//! fixed number of keep-alive connections, each connection sending its share on a schedule. This
//! measures latency at a given load, where a closed loop like wrk's measures it at saturation (a
//! closed loop always drives the machine to its limit, so its latency is `connections /
//! throughput`, mostly queueing). A request whose connection was still busy with the previous
//! answer at its scheduled time is timed from that scheduled time, so a stalled server is charged
//! for every request it delayed ("coordinated omission", as wrk2 corrects it); a request sent late
//! only because the driver's timer woke late (tokio's timers have 1 ms granularity) is timed from
//! when it was sent.
//!
//! Output: human lines, then one `RESULT {json}` line for scripts.

mod http1;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
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
    /// GETs of one URL at a fixed rate over a fixed number of connections.
    FixedRate {
        /// The URL to GET.
        #[arg(long)]
        url: String,
        /// A header sent with every request, as `Name: value` (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
        /// Requests a second, all connections together.
        #[arg(long, default_value_t = 2_000.0)]
        rate: f64,
        /// Keep-alive connections; each sends one request at a time.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// How long to send, in seconds.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
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
            Scenario::FixedRate {
                url,
                headers,
                rate,
                connections,
                seconds,
            } => fixed_rate(&url, &headers, rate, connections, seconds).await,
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
    let target = http1::Target::parse(base_url.trim_end_matches('/'))?;
    // Open the connections first, so that the measured requests do not pay for TCP handshakes.
    let mut idle = Vec::with_capacity(2 * concurrency);
    for _ in 0..2 * concurrency {
        idle.push(
            http1::Connection::open(&target)
                .await
                .context("cannot connect to the server")?,
        );
    }
    let idle = Arc::new(Mutex::new(idle));

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
            let barrier = Arc::clone(&barrier);
            let idle = Arc::clone(&idle);
            let target = target.clone();
            let auth = format!("Token {}", tokens[me - 1]);
            let request = target.request(
                "POST",
                &format!("{}accounts/follow/{leader}/", target.path),
                &[("Authorization", &auth)],
            );
            pair.push(tokio::spawn(async move {
                let pooled = idle.lock().ok().and_then(|mut idle| idle.pop());
                barrier.wait().await;
                let sent = Instant::now();
                let mut conn = match pooled {
                    Some(conn) => Ok(conn),
                    None => http1::Connection::open(&target).await,
                };
                let status = match &mut conn {
                    Ok(conn) => conn.send(&request).await.ok(),
                    Err(_) => None,
                };
                let latency = sent.elapsed();
                if let (Some(_), Ok(conn)) = (status, conn)
                    && let Ok(mut idle) = idle.lock()
                {
                    idle.push(conn);
                }
                Outcome { status, latency }
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

async fn fixed_rate(
    url: &str,
    headers: &[String],
    rate: f64,
    connections: usize,
    seconds: f64,
) -> anyhow::Result<()> {
    if !(rate > 0.0 && seconds > 0.0 && connections > 0) {
        bail!("--rate, --seconds and --connections must be positive");
    }
    let target = http1::Target::parse(url)?;
    let mut pairs = Vec::with_capacity(headers.len());
    for header in headers {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("header {header:?} is not `Name: value`"))?;
        pairs.push((name.trim(), value.trim()));
    }
    let request: Arc<[u8]> = target.request("GET", &target.path, &pairs).into();
    // One connection per task, one request at a time; each answers once before the clock starts.
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut conn = http1::Connection::open(&target)
            .await
            .context("cannot connect to the server")?;
        let status = conn
            .send(&request)
            .await
            .context("the URL does not answer")?;
        if !(200..300).contains(&status) {
            bail!("the URL answers {status}");
        }
        conns.push(conn);
    }

    let started = tokio::time::Instant::now();
    let total = (rate * seconds).round() as u64;
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(c, mut conn)| {
            let request = Arc::clone(&request);
            let target = target.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                let mut free_at = started;
                let mut k = c as u64;
                while k < total {
                    let scheduled = started + Duration::from_secs_f64(k as f64 / rate);
                    k += connections as u64;
                    tokio::time::sleep_until(scheduled).await;
                    let sent = tokio::time::Instant::now();
                    let timed_from = latency_start(scheduled, sent, free_at);
                    let status = conn.send(&request).await.ok();
                    free_at = tokio::time::Instant::now();
                    outcomes.push(Outcome {
                        status,
                        latency: free_at - timed_from,
                    });
                    if status.is_none() {
                        // Counted as an error; the next request gets a new connection, or, if
                        // none opens, the rest of this connection's share counts as lost.
                        match http1::Connection::open(&target).await {
                            Ok(fresh) => conn = fresh,
                            Err(_) => break,
                        }
                    }
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for task in tasks {
        outcomes.extend(task.await.context("a connection's task failed")?);
    }
    let elapsed = started.elapsed();

    let summary = Summary::of(
        &outcomes,
        usize::try_from(total).unwrap_or(usize::MAX),
        elapsed,
    );
    println!(
        "fixed-rate: {} requests in {:.2} s ({:.0}/s offered at {rate}/s over {connections} connections); errors {}",
        outcomes.len(),
        elapsed.as_secs_f64(),
        summary.rps,
        summary.failures
    );
    println!("fixed-rate: {}", summary.latencies());
    let mut result = summary.json(&outcomes, elapsed);
    result["scenario"] = "fixed-rate".into();
    result["rate"] = rate.into();
    result["connections"] = connections.into();
    result["errors"] = summary.failures.into();
    println!("RESULT {result}");
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
    let summary = Summary::of(outcomes, 2 * pairs, elapsed);
    println!(
        "mutual-follows: {pairs} pairs, {concurrency} pairs in flight, {} requests in {:.2} s ({:.0}/s)",
        outcomes.len(),
        elapsed.as_secs_f64(),
        summary.rps
    );
    println!(
        "mutual-follows: failures {}; statuses {statuses:?}; {}",
        summary.failures,
        summary.latencies()
    );
    let mut result = summary.json(outcomes, elapsed);
    result["scenario"] = "mutual-follows".into();
    result["pairs"] = pairs.into();
    result["concurrency"] = concurrency.into();
    result["failures"] = summary.failures.into();
    result["statuses"] = serde_json::json!(statuses);
    println!("RESULT {result}");
}

/// What both drivers report of their requests.
struct Summary {
    /// Non-2xx answers, transport errors, and requests that were never sent.
    failures: usize,
    /// Latency percentiles in milliseconds: p50, p90, p99, max.
    ms: [f64; 4],
    /// Requests answered a second.
    rps: f64,
}

impl Summary {
    fn of(outcomes: &[Outcome], expected: usize, elapsed: Duration) -> Self {
        let lost = expected.saturating_sub(outcomes.len());
        let failures = lost
            + outcomes
                .iter()
                .filter(|o| !o.status.is_some_and(|s| (200..300).contains(&s)))
                .count();
        let mut latencies: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
        latencies.sort_unstable();
        let ms = [0.50, 0.90, 0.99, 1.0].map(|p| percentile(&latencies, p).as_secs_f64() * 1000.0);
        let rps = outcomes.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
        Self { failures, ms, rps }
    }

    fn latencies(&self) -> String {
        let [p50, p90, p99, max] = self.ms;
        format!("latency p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms")
    }

    /// The fields both `RESULT` lines share; each driver adds its own.
    fn json(&self, outcomes: &[Outcome], elapsed: Duration) -> serde_json::Value {
        let [p50, p90, p99, max] = self.ms;
        serde_json::json!({
            "requests": outcomes.len(),
            "p50_ms": p50,
            "p90_ms": p90,
            "p99_ms": p99,
            "max_ms": max,
            "elapsed_s": elapsed.as_secs_f64(),
            "requests_per_s": self.rps,
        })
    }
}

/// Where a fixed-rate request's latency starts: at its scheduled time if its connection was still
/// busy then (the server delayed it: coordinated omission corrected), else when it was sent (a
/// timer that woke late is the driver's delay, not the server's).
fn latency_start<T: Ord + Copy>(scheduled: T, sent: T, connection_free_at: T) -> T {
    if connection_free_at > scheduled {
        scheduled
    } else {
        sent
    }
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
    fn a_request_the_server_delayed_is_timed_from_its_schedule() {
        // Scheduled at 10; the previous answer came at 14, so it left at 14: timed from 10.
        assert_eq!(latency_start(10, 14, 14), 10);
        // Scheduled at 10, the connection idle since 7, the timer woke at 11: timed from 11.
        assert_eq!(latency_start(10, 11, 7), 11);
        assert_eq!(latency_start(10, 10, 10), 10);
    }

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
