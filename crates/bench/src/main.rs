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
//! `posts`: `POST /posts/create/` of a tiny picture by each of several authors in turn, one
//! request at a time, `--rounds` times; latency percentiles per author. `follow-cycle`: for
//! round k, follower `first + k` follows then unfollows each of several leaders in turn, one
//! request at a time; percentiles per leader and action. Both measure what one write costs by
//! itself, so that authors or leaders of very different sizes compare in one run, interleaved
//! (a drift of the machine's load affects both alike).
//!
//! `delivery`: an author posts, one post at a time; from the post's answer (its commit) the
//! driver polls a follower's first feed page until the post is on it, and reports that delay's
//! percentiles (to the answer of the first poll that shows it, so one poll interval over).
//!
//! `uploads`: `POST /posts/create/` of one picture file (a 12-megapixel phone JPEG in the
//! harness) by one author: a few uploads to warm up, then `--sequential` one at a time (the
//! server's CPU per upload, from its `/proc/<pid>/stat`), then `--uploads` with `--concurrency`
//! of them in flight (latency percentiles, uploads a second, and the server's peak RSS over its
//! RSS before the first upload, sampled every 5 ms and from `VmHWM`).
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

/// The server a scenario drives, and its users' tokens.
#[derive(Debug, clap::Args)]
struct ServerArgs {
    /// The server, e.g. http://127.0.0.1:18080.
    #[arg(long)]
    base_url: String,
    /// Token secrets, one a line; line k is user k's token (`being-social seed --tokens-out`).
    #[arg(long)]
    tokens: PathBuf,
}

impl ServerArgs {
    /// The token secrets, and the server's root as a target (its path ends in `/`).
    async fn open(&self) -> anyhow::Result<(Vec<String>, http1::Target)> {
        let tokens = read_tokens(&self.tokens).await?;
        let root = format!("{}/", self.base_url.trim_end_matches('/'));
        Ok((tokens, http1::Target::parse(&root)?))
    }
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Pairs of users following each other at the same instant.
    MutualFollows {
        #[command(flatten)]
        server: ServerArgs,
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
    /// Posts of a tiny picture by several authors in turn, one request at a time.
    Posts {
        #[command(flatten)]
        server: ServerArgs,
        /// `label=user id` (repeatable), e.g. `celebrity=810001`.
        #[arg(long = "author", required = true)]
        authors: Vec<String>,
        /// How many posts each author makes.
        #[arg(long, default_value_t = 200)]
        rounds: usize,
    },
    /// Follow then unfollow of several leaders in turn, a new follower each round.
    FollowCycle {
        #[command(flatten)]
        server: ServerArgs,
        /// `label=user id` (repeatable), e.g. `prolific=810003`.
        #[arg(long = "leader", required = true)]
        leaders: Vec<String>,
        /// The follower of round 0; round k's is first + k.
        #[arg(long)]
        first_follower: usize,
        #[arg(long, default_value_t = 200)]
        rounds: usize,
    },
    /// Uploads of one picture file: CPU per upload, latency at a concurrency, peak RSS.
    Uploads {
        #[command(flatten)]
        server: ServerArgs,
        /// The author of the posts.
        #[arg(long)]
        author: usize,
        /// The picture to upload.
        #[arg(long)]
        file: PathBuf,
        /// The server's process id (its CPU time and RSS are read from /proc).
        #[arg(long)]
        server_pid: u32,
        /// Uploads one at a time first, for the CPU per upload.
        #[arg(long, default_value_t = 20)]
        sequential: usize,
        /// Uploads of the concurrent phase.
        #[arg(long, default_value_t = 100)]
        uploads: usize,
        /// Uploads in flight at once in the concurrent phase.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// From a post's answer to its presence on page 1 of a follower's feed.
    Delivery {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        author: usize,
        /// The follower whose feed is polled.
        #[arg(long)]
        follower: usize,
        /// Posts, one at a time (the next once the last has arrived).
        #[arg(long, default_value_t = 100)]
        posts: usize,
        /// Pause between two polls, in milliseconds.
        #[arg(long, default_value_t = 5)]
        poll_ms: u64,
        /// A post not there after this many seconds counts as a failure.
        #[arg(long, default_value_t = 30.0)]
        give_up_s: f64,
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
                server,
                first_user,
                pairs,
                concurrency,
            } => mutual_follows(&server, first_user, pairs, concurrency).await,
            Scenario::FixedRate {
                url,
                headers,
                rate,
                connections,
                seconds,
            } => fixed_rate(&url, &headers, rate, connections, seconds).await,
            Scenario::Posts {
                server,
                authors,
                rounds,
            } => posts(&server, &authors, rounds).await,
            Scenario::FollowCycle {
                server,
                leaders,
                first_follower,
                rounds,
            } => follow_cycle(&server, &leaders, first_follower, rounds).await,
            Scenario::Uploads {
                server,
                author,
                file,
                server_pid,
                sequential,
                uploads: count,
                concurrency,
            } => {
                let run = UploadRun {
                    sequential,
                    uploads: count,
                    concurrency,
                };
                uploads(&server, author, &file, server_pid, run).await
            }
            Scenario::Delivery {
                server,
                author,
                follower,
                posts,
                poll_ms,
                give_up_s,
            } => delivery(&server, author, follower, posts, poll_ms, give_up_s).await,
        }
    })
}

async fn mutual_follows(
    server: &ServerArgs,
    first_user: usize,
    pairs: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let (tokens, target) = server.open().await?;
    let last_user = first_user + 2 * pairs - 1;
    if first_user == 0 || last_user > tokens.len() {
        bail!(
            "users {first_user}..={last_user} are not all in the tokens file ({} tokens)",
            tokens.len()
        );
    }
    let concurrency = concurrency.max(1);
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
                    outcomes.push((
                        timed_from - started,
                        Outcome {
                            status,
                            latency: free_at - timed_from,
                        },
                    ));
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
    let mut timed = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for task in tasks {
        timed.extend(task.await.context("a connection's task failed")?);
    }
    let elapsed = started.elapsed();
    // When the slowest requests were timed from: stalls that hit every connection at once show
    // as several at the same instant, a slow request of its own as one.
    timed.sort_by_key(|(_, outcome)| std::cmp::Reverse(outcome.latency));
    let slowest: Vec<String> = timed
        .iter()
        .take(8)
        .map(|(at, outcome)| {
            format!(
                "{:.1} ms at {:.3} s",
                outcome.latency.as_secs_f64() * 1000.0,
                at.as_secs_f64()
            )
        })
        .collect();
    let outcomes: Vec<Outcome> = timed.into_iter().map(|(_, outcome)| outcome).collect();

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
    println!("fixed-rate: slowest: {}", slowest.join(", "));
    let mut result = summary.json(&outcomes, elapsed);
    result["scenario"] = "fixed-rate".into();
    result["rate"] = rate.into();
    result["connections"] = connections.into();
    result["errors"] = summary.failures.into();
    println!("RESULT {result}");
    Ok(())
}

/// Token secrets, one a line: line k is user k's.
async fn read_tokens(path: &PathBuf) -> anyhow::Result<Vec<String>> {
    let text = tokio::fs::read_to_string(path)
        .await
        .with_context(|| format!("cannot read the tokens file {}", path.display()))?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// The `Authorization` header value of `user`.
fn auth_of(tokens: &[String], user: usize) -> anyhow::Result<String> {
    let token = user
        .checked_sub(1)
        .and_then(|i| tokens.get(i))
        .with_context(|| format!("user {user} is not in the tokens file"))?;
    Ok(format!("Token {token}"))
}

/// `label=id` pairs.
fn labelled(specs: &[String]) -> anyhow::Result<Vec<(String, usize)>> {
    specs
        .iter()
        .map(|spec| {
            let (label, id) = spec
                .split_once('=')
                .with_context(|| format!("{spec:?} is not label=id"))?;
            Ok((label.to_owned(), id.parse().context("not a user id")?))
        })
        .collect()
}

/// A small PNG (16 x 16) and the multipart body of a post carrying it.
const BOUNDARY: &str = "being-social-bench-boundary";

fn post_body() -> anyhow::Result<Vec<u8>> {
    let img = image::RgbImage::from_fn(16, 16, |x, y| {
        image::Rgb([(x * 16) as u8, (y * 16) as u8, 128])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .context("cannot encode the picture")?;
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nbench\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&png.into_inner());
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    Ok(body)
}

fn post_request(target: &http1::Target, auth: &str, body: &[u8]) -> Vec<u8> {
    target.request_with_body(
        "POST",
        &format!("{}posts/create/", target.path),
        &[("Authorization", auth)],
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        body,
    )
}

/// The multipart body of a post carrying `picture` as its only image.
fn upload_body(picture: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(picture);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// CPU seconds (user and system) of a process so far.
fn process_cpu(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // After the command name (in parentheses, which may hold spaces): fields 3 onwards.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("a malformed stat line")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("a short stat line")?.parse::<f64>()?)
    };
    // utime and stime are fields 14 and 15, the 12th and 13th after the name.
    let hz = 100.0; // USER_HZ, 100 on Linux whatever the kernel's HZ
    Ok((ticks(11)? + ticks(12)?) / hz)
}

/// A `kB` field (`VmRSS`, `VmHWM`) of a process's status, in bytes.
fn process_memory(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|v| {
                    v.trim_start_matches(':')
                        .trim()
                        .split(' ')
                        .next()?
                        .parse()
                        .ok()
                })
        })
        .map_or(0, |kib: u64| kib * 1024)
}

/// The phases of an upload run.
#[derive(Debug, Clone, Copy)]
struct UploadRun {
    sequential: usize,
    uploads: usize,
    concurrency: usize,
}

async fn uploads(
    server: &ServerArgs,
    author: usize,
    file: &PathBuf,
    server_pid: u32,
    run: UploadRun,
) -> anyhow::Result<()> {
    let (tokens, target) = server.open().await?;
    let picture = tokio::fs::read(file)
        .await
        .with_context(|| format!("cannot read {}", file.display()))?;
    let request = Arc::new(post_request(
        &target,
        &auth_of(&tokens, author)?,
        &upload_body(&picture),
    ));
    let rss_before = process_memory(server_pid, "VmRSS");

    // Warm-up, then one at a time: the server's CPU per upload.
    let mut conn = http1::Connection::open(&target)
        .await
        .context("cannot connect to the server")?;
    for _ in 0..3 {
        let outcome = timed(&mut conn, &target, &request).await;
        if outcome.status != Some(201) {
            bail!("a warm-up upload was answered {:?}", outcome.status);
        }
    }
    let cpu_start = process_cpu(server_pid)?;
    let started = Instant::now();
    let mut sequential = Vec::with_capacity(run.sequential);
    for _ in 0..run.sequential {
        sequential.push(timed(&mut conn, &target, &request).await);
    }
    let sequential_elapsed = started.elapsed();
    let cpu_sequential = process_cpu(server_pid)? - cpu_start;
    drop(conn);

    // `concurrency` connections, each one upload at a time, until `uploads` are done; the
    // server's RSS sampled meanwhile.
    let hwm_before = process_memory(server_pid, "VmHWM");
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = Arc::clone(&sampling);
        tokio::spawn(async move {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(process_memory(server_pid, "VmRSS"));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peak
        })
    };
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cpu_start = process_cpu(server_pid)?;
    let started = Instant::now();
    let mut workers = Vec::with_capacity(run.concurrency);
    for _ in 0..run.concurrency {
        let (target, request, next) = (target.clone(), Arc::clone(&request), Arc::clone(&next));
        workers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            let mut conn = http1::Connection::open(&target).await?;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < run.uploads {
                outcomes.push(timed(&mut conn, &target, &request).await);
            }
            anyhow::Ok(outcomes)
        }));
    }
    let mut concurrent = Vec::with_capacity(run.uploads);
    for worker in workers {
        concurrent.extend(worker.await??);
    }
    let elapsed = started.elapsed();
    let cpu_concurrent = process_cpu(server_pid)? - cpu_start;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let sampled_peak = sampler.await?;
    let hwm_after = process_memory(server_pid, "VmHWM");
    // VmHWM counts only if the phase raised it (else it is an earlier peak's).
    let peak = if hwm_after > hwm_before {
        sampled_peak.max(hwm_after)
    } else {
        sampled_peak
    };
    let growth = peak.saturating_sub(rss_before);
    let mib = |bytes: u64| bytes as f64 / f64::from(1u32 << 20);

    let seq = Summary::of(&sequential, run.sequential, sequential_elapsed);
    let conc = Summary::of(&concurrent, run.uploads, elapsed);
    let cpu_ms = |cpu: f64, n: usize| 1000.0 * cpu / n.max(1) as f64;
    println!(
        "uploads: {} bytes a picture; one at a time: {} uploads, server CPU {:.1} ms each, {}",
        picture.len(),
        sequential.len(),
        cpu_ms(cpu_sequential, sequential.len()),
        seq.latencies()
    );
    println!(
        "uploads: {} in flight: {} uploads, {:.1} a second, server CPU {:.1} ms each, failures {}; {}",
        run.concurrency,
        concurrent.len(),
        conc.rps,
        cpu_ms(cpu_concurrent, concurrent.len()),
        conc.failures,
        conc.latencies()
    );
    println!(
        "uploads: server RSS {:.1} MiB before the first upload, peak {:.1} MiB at {} in flight: \
         {:.1} MiB more, {:.1} MiB per upload in flight",
        mib(rss_before),
        mib(peak),
        run.concurrency,
        mib(growth),
        mib(growth) / run.concurrency as f64
    );
    let mut result = conc.json(&concurrent, elapsed);
    result["scenario"] = "uploads".into();
    result["picture_bytes"] = picture.len().into();
    result["failures"] = (seq.failures + conc.failures).into();
    result["sequential_cpu_ms"] = cpu_ms(cpu_sequential, sequential.len()).into();
    result["sequential_p50_ms"] = seq.ms[0].into();
    result["concurrent_cpu_ms"] = cpu_ms(cpu_concurrent, concurrent.len()).into();
    result["concurrency"] = run.concurrency.into();
    result["rss_before_mib"] = mib(rss_before).into();
    result["rss_peak_mib"] = mib(peak).into();
    result["rss_growth_per_upload_mib"] = (mib(growth) / run.concurrency as f64).into();
    println!("RESULT {result}");
    Ok(())
}

/// Sends `request` on `conn` (a new connection after a transport error) and times it.
async fn timed(conn: &mut http1::Connection, target: &http1::Target, request: &[u8]) -> Outcome {
    let sent = Instant::now();
    let status = conn.send(request).await.ok();
    let latency = sent.elapsed();
    if status.is_none()
        && let Ok(fresh) = http1::Connection::open(target).await
    {
        *conn = fresh;
    }
    Outcome { status, latency }
}

/// Prints one line per label and adds `<label>_p50_ms`, `_p99_ms`, `_max_ms`, `_failures` to
/// `result`.
fn report_labelled(
    scenario: &str,
    groups: &[(String, Vec<Outcome>)],
    expected: usize,
    elapsed: Duration,
    result: &mut serde_json::Value,
) {
    for (label, outcomes) in groups {
        let summary = Summary::of(outcomes, expected, elapsed);
        println!(
            "{scenario}: {label}: {} requests, failures {}; {}",
            outcomes.len(),
            summary.failures,
            summary.latencies()
        );
        let [p50, _, p99, max] = summary.ms;
        result[format!("{label}_p50_ms")] = p50.into();
        result[format!("{label}_p99_ms")] = p99.into();
        result[format!("{label}_max_ms")] = max.into();
        result[format!("{label}_failures")] = summary.failures.into();
    }
}

async fn posts(server: &ServerArgs, authors: &[String], rounds: usize) -> anyhow::Result<()> {
    let (tokens, target) = server.open().await?;
    let authors = labelled(authors)?;
    let body = post_body()?;
    let requests: Vec<Vec<u8>> = authors
        .iter()
        .map(|(_, id)| Ok(post_request(&target, &auth_of(&tokens, *id)?, &body)))
        .collect::<anyhow::Result<_>>()?;
    let mut conn = http1::Connection::open(&target)
        .await
        .context("cannot connect to the server")?;
    let mut groups: Vec<(String, Vec<Outcome>)> = authors
        .iter()
        .map(|(label, _)| (label.clone(), Vec::with_capacity(rounds)))
        .collect();
    let started = Instant::now();
    for round in 0..rounds {
        // Each author first in turn, so neither always follows the other.
        for i in 0..authors.len() {
            let a = (i + round) % authors.len();
            let outcome = timed(&mut conn, &target, &requests[a]).await;
            groups[a].1.push(outcome);
        }
    }
    let elapsed = started.elapsed();
    let mut result = serde_json::json!({ "scenario": "posts", "rounds": rounds });
    report_labelled("posts", &groups, rounds, elapsed, &mut result);
    println!("RESULT {result}");
    Ok(())
}

async fn follow_cycle(
    server: &ServerArgs,
    leaders: &[String],
    first_follower: usize,
    rounds: usize,
) -> anyhow::Result<()> {
    let (tokens, target) = server.open().await?;
    let leaders = labelled(leaders)?;
    let mut conn = http1::Connection::open(&target)
        .await
        .context("cannot connect to the server")?;
    // Per leader: follows, then unfollows.
    let mut groups: Vec<(String, Vec<Outcome>)> = Vec::new();
    for (label, _) in &leaders {
        groups.push((format!("{label}_follow"), Vec::with_capacity(rounds)));
        groups.push((format!("{label}_unfollow"), Vec::with_capacity(rounds)));
    }
    let started = Instant::now();
    for round in 0..rounds {
        let auth = auth_of(&tokens, first_follower + round)?;
        for i in 0..leaders.len() {
            let l = (i + round) % leaders.len();
            let path = format!("{}accounts/follow/{}/", target.path, leaders[l].1);
            for (k, method) in ["POST", "DELETE"].into_iter().enumerate() {
                let request = target.request(method, &path, &[("Authorization", &auth)]);
                let outcome = timed(&mut conn, &target, &request).await;
                groups[2 * l + k].1.push(outcome);
            }
        }
    }
    let elapsed = started.elapsed();
    let mut result = serde_json::json!({ "scenario": "follow-cycle", "rounds": rounds });
    report_labelled("follow-cycle", &groups, rounds, elapsed, &mut result);
    println!("RESULT {result}");
    Ok(())
}

/// The `id` of a post's JSON answer.
fn post_id(body: &[u8]) -> Option<i64> {
    serde_json::from_slice::<serde_json::Value>(body).ok()?["id"].as_i64()
}

/// Whether post `id` is on a feed page's JSON answer.
fn page_has(body: &[u8], id: i64) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|page| {
            page["results"]
                .as_array()
                .map(|posts| posts.iter().any(|p| p["id"].as_i64() == Some(id)))
        })
        .unwrap_or(false)
}

async fn delivery(
    server: &ServerArgs,
    author: usize,
    follower: usize,
    posts: usize,
    poll_ms: u64,
    give_up_s: f64,
) -> anyhow::Result<()> {
    let (tokens, target) = server.open().await?;
    let body = post_body()?;
    let create = post_request(&target, &auth_of(&tokens, author)?, &body);
    let page = target.request(
        "GET",
        &format!("{}posts/post-feed/?limit=30", target.path),
        &[("Authorization", &auth_of(&tokens, follower)?)],
    );
    let mut poster = http1::Connection::open(&target)
        .await
        .context("cannot connect to the server")?;
    let mut poller = http1::Connection::open(&target)
        .await
        .context("cannot connect to the server")?;
    let give_up = Duration::from_secs_f64(give_up_s);
    let mut outcomes = Vec::with_capacity(posts);
    let mut polls = 0_usize;
    let mut post_latencies = Vec::with_capacity(posts);
    let started = Instant::now();
    for _ in 0..posts {
        let sent = Instant::now();
        let (status, answer) = poster.send_for_body(&create).await?;
        let committed = Instant::now();
        post_latencies.push(committed - sent);
        let Some(id) = post_id(&answer).filter(|_| status == 201) else {
            outcomes.push(Outcome {
                status: Some(status),
                latency: Duration::ZERO,
            });
            continue;
        };
        let outcome = loop {
            let (status, body) = poller.send_for_body(&page).await?;
            polls += 1;
            if status == 200 && page_has(&body, id) {
                break Outcome {
                    status: Some(200),
                    latency: committed.elapsed(),
                };
            }
            if committed.elapsed() > give_up {
                break Outcome {
                    status: None,
                    latency: committed.elapsed(),
                };
            }
            tokio::time::sleep(Duration::from_millis(poll_ms)).await;
        };
        outcomes.push(outcome);
    }
    let elapsed = started.elapsed();
    let summary = Summary::of(&outcomes, posts, elapsed);
    println!(
        "delivery: {} posts by user {author}, polled on user {follower}'s page 1 every {poll_ms} ms ({polls} polls); not delivered {}",
        outcomes.len(),
        summary.failures
    );
    println!("delivery: commit to page 1: {}", summary.latencies());
    post_latencies.sort_unstable();
    let mut result = summary.json(&outcomes, elapsed);
    result["scenario"] = "delivery".into();
    result["failures"] = summary.failures.into();
    result["polls"] = polls.into();
    result["post_p99_ms"] = (percentile(&post_latencies, 0.99).as_secs_f64() * 1000.0).into();
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
