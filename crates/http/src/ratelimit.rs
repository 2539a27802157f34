//! Rate limits: logins and sign-ups per client address (against password guessing and sign-up
//! floods), writes per token. A limited request is answered `429` before its handler runs, so it
//! changes nothing.
//!
//! Each key is limited with GCRA (the generic cell rate algorithm, a token bucket kept as one
//! timestamp; see [`RateDecision::gcra`]): `count` requests per `window`, all of them allowed in a
//! burst, then one more every `window / count`. The state lives in a [`RateLimitStore`]: by
//! default [`MemoryRateStore`], a sharded map in this process whose idle keys are swept out (every
//! process applies its own limits); with a shared store (Redis, wired by the binary) every process
//! applies the same limits.
//!
//! A shared store that fails or does not answer within its timeout does not hold the request:
//! per [`StoreFailure`] the request goes on unlimited (`Open`) or is answered `503` (`Closed`),
//! the failure is counted ([`RateLimiter::store_errors`]) and logged at most once per
//! [`FAILURE_LOG_EVERY`].
//!
//! Responses of limited routes carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset` (an RFC 3339 time, as Mastodon sends it); a `429` also has `Retry-After`.
//!
//! # Wiring it up
//!
//! ```ignore
//! let limiter = web::Data::new(RateLimiter::new(limits));
//! App::new()
//!     .app_data(limiter.clone())
//!     .wrap(actix_web::middleware::from_fn(being_social_http::ratelimit::enforce))
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use async_trait::async_trait;
use being_social_domain::DomainError;
use being_social_domain::ports::RateLimitStore;
pub use being_social_domain::ports::{Quota, RateDecision};
use chrono::{SecondsFormat, Utc};

use crate::ApiError;
use crate::auth::presented_token;

/// What is limited, and how much. `None` leaves a class unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimits {
    /// Logins and sign-ups together, per client address.
    pub auth: Option<Quota>,
    /// `POST`, `PUT`, `PATCH` and `DELETE` requests that present a token, per token.
    pub writes: Option<Quota>,
    /// Take the client address from the last `X-Forwarded-For` entry (the one the proxy in front
    /// added) instead of the peer address. Only safe when every request comes through that proxy:
    /// otherwise clients choose their own address.
    pub behind_proxy: bool,
}

impl RateLimits {
    /// No limits at all.
    pub fn off() -> Self {
        Self::default()
    }
}

/// What a request does when the shared store cannot say whether it is within its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreFailure {
    /// Let it through unlimited: an outage of the store costs the limits, not the service.
    #[default]
    Open,
    /// Answer `503`: nothing goes unlimited, at the price of every limited route while it lasts.
    Closed,
}

/// How the limiter reaches a shared store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorePolicy {
    /// The longest a request waits for the store's answer; past it, `on_failure` applies.
    pub timeout: Duration,
    pub on_failure: StoreFailure,
}

/// The most often a failing store is logged: one line, with the failures since the last.
pub const FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

/// The limits of every class and the store that keeps their state, shared by all workers;
/// register it as `web::Data<RateLimiter>`.
pub struct RateLimiter {
    auth: Option<Quota>,
    writes: Option<Quota>,
    behind_proxy: bool,
    store: Arc<dyn RateLimitStore>,
    /// `None` for a store in this process, which cannot fail.
    policy: Option<StorePolicy>,
    store_errors: AtomicU64,
    /// Failures not yet logged, and when the last line was (milliseconds since `epoch`, plus 1;
    /// 0 for never).
    unlogged: AtomicU64,
    last_logged: AtomicU64,
    epoch: Instant,
}

/// One class of limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Auth,
    Writes,
}

/// The class names stores see.
pub const AUTH: &str = "auth";
pub const WRITES: &str = "token";

impl Class {
    fn name(self) -> &'static str {
        match self {
            Self::Auth => AUTH,
            Self::Writes => WRITES,
        }
    }
}

impl RateLimiter {
    /// Limits kept in this process's memory.
    pub fn new(limits: RateLimits) -> Self {
        Self::build(limits, Arc::new(MemoryRateStore::new()), None)
    }

    /// Limits kept in `store`, shared with the other processes that use it.
    pub fn shared(limits: RateLimits, store: Arc<dyn RateLimitStore>, policy: StorePolicy) -> Self {
        Self::build(limits, store, Some(policy))
    }

    fn build(
        limits: RateLimits,
        store: Arc<dyn RateLimitStore>,
        policy: Option<StorePolicy>,
    ) -> Self {
        Self {
            auth: limits.auth,
            writes: limits.writes,
            behind_proxy: limits.behind_proxy,
            store,
            policy,
            store_errors: AtomicU64::new(0),
            unlogged: AtomicU64::new(0),
            last_logged: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Checks that failed since start-up (the store failed or did not answer in time).
    pub fn store_errors(&self) -> u64 {
        self.store_errors.load(Ordering::Relaxed)
    }

    /// Whether the store answers now; a store in this process always does.
    pub async fn store_ready(&self) -> bool {
        match self.policy {
            None => true,
            Some(policy) => tokio::time::timeout(policy.timeout, self.store.ready())
                .await
                .unwrap_or(false),
        }
    }

    /// Whether `/readyz` should wait for the store: only when its failure refuses requests.
    pub fn store_gates_readiness(&self) -> bool {
        self.policy
            .is_some_and(|policy| policy.on_failure == StoreFailure::Closed)
    }

    /// The class, quota and subject that apply to this request, if any.
    fn classify(&self, req: &ServiceRequest) -> Option<(Class, Quota, String)> {
        let method = req.method();
        // The path as the router matches it (percent-encoded octets decoded), never the raw
        // text: `/accounts/%6Cogin/` reaches the login handler, so it must count as a login.
        if method == Method::POST && is_auth_path(req.match_info().as_str()) {
            let quota = self.auth?;
            let client = self.client_address(req).map(address_block);
            let subject = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
            return Some((Class::Auth, quota, subject));
        }
        let writes = [Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
        if !writes.contains(method) {
            return None;
        }
        let quota = self.writes?;
        let token = presented_token(req.headers())?;
        Some((Class::Writes, quota, token.to_owned()))
    }

    /// The decision for one request: the store's, or per the policy when the store fails
    /// (`Ok(None)`: let it through unlimited).
    async fn check(
        &self,
        class: Class,
        quota: Quota,
        subject: &str,
    ) -> Result<Option<RateDecision>, DomainError> {
        let Some(policy) = self.policy else {
            return self
                .store
                .check(class.name(), subject, quota)
                .await
                .map(Some);
        };
        let checked = tokio::time::timeout(
            policy.timeout,
            self.store.check(class.name(), subject, quota),
        )
        .await;
        let error = match checked {
            Ok(Ok(decision)) => return Ok(Some(decision)),
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("no answer within {} ms", policy.timeout.as_millis()),
        };
        self.store_errors.fetch_add(1, Ordering::Relaxed);
        self.log_failure(&error, policy.on_failure);
        match policy.on_failure {
            StoreFailure::Open => Ok(None),
            StoreFailure::Closed => Err(DomainError::Unavailable(format!(
                "the rate-limit store failed: {error}"
            ))),
        }
    }

    /// One warning per [`FAILURE_LOG_EVERY`] at most, counting the failures it stands for.
    fn log_failure(&self, error: &str, on_failure: StoreFailure) {
        self.unlogged.fetch_add(1, Ordering::Relaxed);
        let now = u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let last = self.last_logged.load(Ordering::Relaxed);
        let every = u64::try_from(FAILURE_LOG_EVERY.as_millis()).unwrap_or(u64::MAX);
        if last != 0 && now.saturating_sub(last) < every {
            return;
        }
        if self
            .last_logged
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let failures = self.unlogged.swap(0, Ordering::Relaxed);
        let requests = match on_failure {
            StoreFailure::Open => "let through unlimited",
            StoreFailure::Closed => "answered 503",
        };
        tracing::warn!(
            error,
            failures,
            "the rate-limit store failed; limited requests are {requests} while it does"
        );
    }

    fn client_address(&self, req: &ServiceRequest) -> Option<IpAddr> {
        let forwarded = self
            .behind_proxy
            .then(|| last_forwarded_for(req.headers()))
            .flatten();
        forwarded.or_else(|| req.peer_addr().map(|addr| addr.ip()))
    }
}

/// The unit an address is limited by: an IPv4 address, or an IPv6 /64 (one subscriber usually
/// holds a whole /64, so single IPv6 addresses would give everyone 2^64 allowances).
fn address_block(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::from(u64::MAX)))),
        v4 => v4,
    }
}

fn is_auth_path(path: &str) -> bool {
    matches!(
        path.trim_end_matches('/'),
        "/accounts/login" | "/accounts/signup"
    )
}

/// The address the nearest proxy saw: the last entry of the last `X-Forwarded-For` header (the
/// entries before it were written by whoever sent the request, and prove nothing).
fn last_forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers.get_all("x-forwarded-for").last()?.to_str().ok()?;
    last.rsplit(',').next()?.trim().parse().ok()
}

/// Applies the rate limits of the registered [`RateLimiter`] (none when it is not registered).
///
/// # Errors
/// Only the inner service's.
pub async fn enforce<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let limiter = req.app_data::<web::Data<RateLimiter>>().cloned();
    let Some(limiter) = limiter else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let Some((class, quota, subject)) = limiter.classify(&req) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let decision = match limiter.check(class, quota, &subject).await {
        Ok(Some(decision)) => decision,
        Ok(None) => return Ok(next.call(req).await?.map_into_left_body()),
        Err(err) => {
            let response = ApiError::from(err).error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    };
    if decision.allowed {
        let mut response = next.call(req).await?;
        rate_headers(response.headers_mut(), quota, &decision);
        return Ok(response.map_into_left_body());
    }
    let error = ApiError::RateLimited {
        retry_after: decision.retry_after,
    };
    let mut response = error.error_response();
    rate_headers(response.headers_mut(), quota, &decision);
    Ok(req.into_response(response).map_into_right_body())
}

fn rate_headers(headers: &mut HeaderMap, quota: Quota, decision: &RateDecision) {
    let reset =
        Utc::now() + chrono::Duration::from_std(decision.reset).unwrap_or(chrono::Duration::MAX);
    let values = [
        ("x-ratelimit-limit", quota.count.to_string()),
        ("x-ratelimit-remaining", decision.remaining.to_string()),
        (
            "x-ratelimit-reset",
            reset.to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

/// `Retry-After` in whole seconds, rounded up so that a client waiting that long is let in.
pub(crate) fn retry_after_header(retry_after: Duration) -> (header::HeaderName, String) {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    (header::RETRY_AFTER, secs.max(1).to_string())
}

/// Shards of the key map: writers of different keys rarely wait for each other.
const SHARDS: usize = 64;

/// Keys one shard holds at most (64 × 4096 per class, a few MiB): past that, a flood of new keys
/// (made-up tokens, many addresses) evicts the key closest to going idle instead of growing the
/// map without bound.
const SHARD_CAPACITY: usize = 4096;

/// A [`RateLimitStore`] in this process's memory: GCRA over a sharded map of TATs, in
/// nanoseconds since `epoch`, keyed by a keyed 64-bit hash of the class and subject.
/// Logins have a map of their own: a flood of made-up tokens cannot evict the count of an
/// address guessing passwords.
pub struct MemoryRateStore {
    epoch: Instant,
    hasher: RandomState,
    auth: Box<[Mutex<Shard>]>,
    others: Box<[Mutex<Shard>]>,
    capacity: usize,
}

#[derive(Default)]
struct Shard {
    tats: HashMap<u64, u64, BuildHasherDefault<PreHashed>>,
    /// When to drop the entries that went idle; sweeping at most once a window keeps it cheap.
    next_sweep: u64,
}

const NANOSECOND: Duration = Duration::from_nanos(1);

impl Default for MemoryRateStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRateStore {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            hasher: RandomState::new(),
            auth: (0..SHARDS).map(|_| Mutex::default()).collect(),
            others: (0..SHARDS).map(|_| Mutex::default()).collect(),
            capacity: SHARD_CAPACITY,
        }
    }

    /// Keys are kept as keyed 64-bit hashes: tokens stay out of memory and every key is the same
    /// size. The random hash key makes collisions impossible to aim for.
    fn key(&self, class: &str, subject: &str) -> u64 {
        self.hasher.hash_one((class, subject))
    }

    fn shards(&self, class: &str) -> &[Mutex<Shard>] {
        if class == AUTH {
            &self.auth
        } else {
            &self.others
        }
    }

    fn check_key(&self, class: &str, key: u64, quota: Quota) -> RateDecision {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // The low bits pick the shard; the map hashes nothing again (see `PreHashed`).
        let shard = &self.shards(class)[(key % SHARDS as u64) as usize];
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if now >= shard.next_sweep {
            shard.tats.retain(|_, tat| *tat > now);
            shard.next_sweep = now.saturating_add(quota.tolerance(NANOSECOND));
        }
        let tat = shard.tats.get(&key).copied().unwrap_or(now).max(now);
        let decision = RateDecision::gcra(quota, NANOSECOND, tat, now);
        if decision.allowed {
            if shard.tats.len() >= self.capacity && !shard.tats.contains_key(&key) {
                shard.make_room(now, self.capacity);
            }
            let interval = quota.interval(NANOSECOND);
            shard.tats.insert(key, tat.saturating_add(interval));
        }
        decision
    }
}

#[async_trait]
impl RateLimitStore for MemoryRateStore {
    async fn check(
        &self,
        class: &'static str,
        subject: &str,
        quota: Quota,
    ) -> being_social_domain::Result<RateDecision> {
        Ok(self.check_key(class, self.key(class, subject), quota))
    }
}

impl Shard {
    /// Drops the idle keys, and if that is not enough the one that would go idle first.
    fn make_room(&mut self, now: u64, capacity: usize) {
        self.tats.retain(|_, tat| *tat > now);
        if self.tats.len() >= capacity {
            let soonest = self
                .tats
                .iter()
                .min_by_key(|(_, tat)| **tat)
                .map(|(k, _)| *k);
            if let Some(key) = soonest {
                self.tats.remove(&key);
            }
        }
    }
}

/// A hasher for keys that already are hashes.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in rather than lose it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn quota(count: u32, window: Duration) -> Quota {
        Quota { count, window }
    }

    fn entries(shards: &[Mutex<Shard>]) -> usize {
        shards
            .iter()
            .map(|s| s.lock().map(|s| s.tats.len()).unwrap_or(0))
            .sum::<usize>()
    }

    #[test]
    fn keys_are_independent_and_idle_keys_are_swept() {
        let store = MemoryRateStore::new();
        let hour = quota(1, Duration::from_secs(3600));
        let (a, b) = (store.key(WRITES, "a"), store.key(WRITES, "b"));
        assert!(store.check_key(WRITES, a, hour).allowed);
        assert!(!store.check_key(WRITES, a, hour).allowed);
        assert!(store.check_key(WRITES, b, hour).allowed);
        // The same subject in another class is another key.
        let a_auth = store.key(AUTH, "a");
        assert!(store.check_key(AUTH, a_auth, hour).allowed);
        assert_eq!(entries(&store.others), 2);
        assert_eq!(entries(&store.auth), 1);

        let short = MemoryRateStore::new();
        let milli = quota(1, Duration::from_millis(1));
        let keys: Vec<u64> = (0..200)
            .map(|i| short.key(WRITES, &i.to_string()))
            .collect();
        for &k in &keys {
            assert!(short.check_key(WRITES, k, milli).allowed);
        }
        std::thread::sleep(Duration::from_millis(5));
        // Touching every shard once sweeps the expired entries; only the new ones stay.
        for &k in &keys[..SHARDS.min(keys.len())] {
            short.check_key(WRITES, k, milli);
        }
        for i in 0..SHARDS as u64 {
            short.check_key(WRITES, i, milli);
        }
        assert!(entries(&short.others) <= 2 * SHARDS);
    }

    #[test]
    fn a_flood_of_new_keys_stays_within_capacity() {
        let mut store = MemoryRateStore::new();
        store.capacity = 3;
        let hour = quota(1, Duration::from_secs(3600));
        // A login's count lives apart from the flood.
        assert!(store.check_key(AUTH, 0, hour).allowed);
        // Keys that are multiples of SHARDS all land in shard 0.
        for i in 0..10 {
            assert!(store.check_key(WRITES, i * SHARDS as u64, hour).allowed);
        }
        let held = store.others[0].lock().map(|s| s.tats.len()).unwrap_or(0);
        assert_eq!(held, 3);
        // The latest keys are the ones kept, and the login's count is still there.
        assert!(!store.check_key(WRITES, 9 * SHARDS as u64, hour).allowed);
        assert!(!store.check_key(AUTH, 0, hour).allowed);
    }

    /// A store that fails every check, or never answers.
    struct Broken {
        hang: bool,
    }

    #[async_trait]
    impl RateLimitStore for Broken {
        async fn check(
            &self,
            _class: &'static str,
            _subject: &str,
            _quota: Quota,
        ) -> being_social_domain::Result<RateDecision> {
            if self.hang {
                std::future::pending::<()>().await;
            }
            Err(DomainError::Unavailable("connection refused".into()))
        }

        async fn ready(&self) -> bool {
            false
        }
    }

    #[tokio::test]
    async fn a_failing_store_fails_open_or_closed_and_is_counted() {
        let limits = RateLimits {
            auth: Some(quota(1, Duration::from_secs(60))),
            ..RateLimits::off()
        };
        for (hang, on_failure) in [
            (false, StoreFailure::Open),
            (true, StoreFailure::Open),
            (false, StoreFailure::Closed),
            (true, StoreFailure::Closed),
        ] {
            let policy = StorePolicy {
                timeout: Duration::from_millis(20),
                on_failure,
            };
            let limiter = RateLimiter::shared(limits, Arc::new(Broken { hang }), policy);
            let started = Instant::now();
            for _ in 0..3 {
                let checked = limiter.check(Class::Auth, quota(1, HOUR), "x").await;
                match on_failure {
                    StoreFailure::Open => assert!(matches!(checked, Ok(None))),
                    StoreFailure::Closed => {
                        assert!(matches!(checked, Err(DomainError::Unavailable(_))));
                    }
                }
            }
            assert!(started.elapsed() < Duration::from_secs(2));
            assert_eq!(limiter.store_errors(), 3);
            assert!(!limiter.store_ready().await);
            assert_eq!(
                limiter.store_gates_readiness(),
                on_failure == StoreFailure::Closed
            );
        }
        // Memory never fails, and never holds readiness back.
        let memory = RateLimiter::new(limits);
        assert!(memory.store_ready().await);
        assert!(!memory.store_gates_readiness());
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|_| panic!("{s}"));
        assert_eq!(
            address_block(ip("2001:db8:1:2:aaaa::1")),
            address_block(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            address_block(ip("2001:db8:1:2::1")),
            address_block(ip("2001:db8:1:3::1"))
        );
        assert_eq!(address_block(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(address_block(ip("192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn classes() {
        let quota = Some(Quota {
            count: 5,
            window: Duration::from_secs(60),
        });
        let limiter = RateLimiter::new(RateLimits {
            auth: quota,
            writes: quota,
            behind_proxy: false,
        });
        let class = |req: TestRequest| {
            let req = req.to_srv_request();
            limiter
                .classify(&req)
                .map(|(class, _, _)| class == Class::Auth)
        };
        assert_eq!(
            class(TestRequest::post().uri("/accounts/login/")),
            Some(true)
        );
        assert_eq!(
            class(TestRequest::post().uri("/accounts/signup")),
            Some(true)
        );
        assert_eq!(class(TestRequest::get().uri("/accounts/login/")), None);
        assert_eq!(class(TestRequest::post().uri("/posts/create/")), None);
        let with_token = |req: TestRequest| req.insert_header(("authorization", "Token abc"));
        assert_eq!(
            class(with_token(TestRequest::delete().uri("/posts/1/"))),
            Some(false)
        );
        assert_eq!(class(with_token(TestRequest::get().uri("/posts/1/"))), None);
        assert!(
            RateLimiter::new(RateLimits::off())
                .classify(&TestRequest::post().uri("/accounts/login/").to_srv_request())
                .is_none()
        );
    }

    #[test]
    fn forwarded_for_is_read_only_behind_a_proxy() {
        let req = || {
            TestRequest::post()
                .uri("/accounts/login/")
                .peer_addr("10.0.0.1:1234".parse().unwrap_or_else(|_| panic!("addr")))
                .insert_header(("x-forwarded-for", "6.6.6.6, 192.0.2.7"))
                .to_srv_request()
        };
        let direct = RateLimiter::new(RateLimits::off());
        assert_eq!(direct.client_address(&req()), "10.0.0.1".parse().ok());
        let proxied = RateLimiter::new(RateLimits {
            behind_proxy: true,
            ..RateLimits::off()
        });
        assert_eq!(proxied.client_address(&req()), "192.0.2.7".parse().ok());
    }
}
