//! Rate limits: logins and sign-ups per client address (against password guessing and sign-up
//! floods), writes per token. A limited request is answered `429` before its handler runs, so it
//! changes nothing.
//!
//! Each key is limited with GCRA (the generic cell rate algorithm, a token bucket kept as one
//! timestamp): `count` requests per `window`, all of them allowed in a burst, then one more every
//! `window / count`. State lives in memory, in a sharded map whose idle keys are swept out; every
//! process applies its own limits.
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
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use chrono::{SecondsFormat, Utc};

use crate::ApiError;
use crate::auth::presented_token;

/// At most `count` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub count: u32,
    pub window: Duration,
}

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

/// The limiters of every class, shared by all workers; register it as `web::Data<RateLimiter>`.
pub struct RateLimiter {
    auth: Option<Limiter>,
    writes: Option<Limiter>,
    behind_proxy: bool,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            auth: limits.auth.map(Limiter::new),
            writes: limits.writes.map(Limiter::new),
            behind_proxy: limits.behind_proxy,
        }
    }

    /// The limiter and key that apply to this request, if any.
    fn classify(&self, req: &ServiceRequest) -> Option<(&Limiter, u64)> {
        let method = req.method();
        // The path as the router matches it (percent-encoded octets decoded), never the raw
        // text: `/accounts/%6Cogin/` reaches the login handler, so it must count as a login.
        if method == Method::POST && is_auth_path(req.match_info().as_str()) {
            let limiter = self.auth.as_ref()?;
            let client = self.client_address(req).map(address_block);
            return Some((limiter, limiter.key(&("auth", client))));
        }
        let writes = [Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
        if !writes.contains(method) {
            return None;
        }
        let limiter = self.writes.as_ref()?;
        let token = presented_token(req.headers())?;
        Some((limiter, limiter.key(&("token", token))))
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
    let Some((limiter, key)) = limiter.as_deref().and_then(|l| l.classify(&req)) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let decision = limiter.check(key);
    let quota = limiter.quota;
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

fn rate_headers(headers: &mut HeaderMap, quota: Quota, decision: &Decision) {
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

/// The outcome of one request against its key's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decision {
    allowed: bool,
    /// Requests still allowed right now after this one.
    remaining: u32,
    /// How long until the whole quota is available again.
    reset: Duration,
    /// How long until the next request is allowed (zero when this one was).
    retry_after: Duration,
}

/// Shards of the key map: writers of different keys rarely wait for each other.
const SHARDS: usize = 64;

/// Keys one shard holds at most (64 × 4096 per class, a few MiB): past that, a flood of new keys
/// (made-up tokens, many addresses) evicts the key closest to going idle instead of growing the
/// map without bound.
const SHARD_CAPACITY: usize = 4096;

/// GCRA over a sharded map of "theoretical arrival times", in nanoseconds since `epoch`.
///
/// A key's stored time is when its bucket would be full again; a request is allowed when that
/// time, pushed one interval further, is at most one window ahead of now. A stored time in the
/// past means the same as no entry, which is what lets idle keys be dropped.
struct Limiter {
    quota: Quota,
    /// `window / count`: the cost of one request.
    interval: u64,
    /// `interval * count`: how far ahead of now the stored time may run.
    tolerance: u64,
    epoch: Instant,
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
    capacity: usize,
}

#[derive(Default)]
struct Shard {
    tats: HashMap<u64, u64, BuildHasherDefault<PreHashed>>,
    /// When to drop the entries that went idle; sweeping at most once a window keeps it cheap.
    next_sweep: u64,
}

impl Limiter {
    fn new(quota: Quota) -> Self {
        let count = u64::from(quota.count.max(1));
        let window = u64::try_from(quota.window.as_nanos()).unwrap_or(u64::MAX);
        let interval = (window / count).max(1);
        Self {
            quota,
            interval,
            tolerance: interval.saturating_mul(count),
            epoch: Instant::now(),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            capacity: SHARD_CAPACITY,
        }
    }

    /// Keys are kept as keyed 64-bit hashes: tokens stay out of memory and every key is the same
    /// size. The random hash key makes collisions impossible to aim for.
    fn key(&self, key: &impl Hash) -> u64 {
        self.hasher.hash_one(key)
    }

    fn check(&self, key: u64) -> Decision {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // The low bits pick the shard; the map hashes nothing again (see `PreHashed`).
        let shard = &self.shards[(key % SHARDS as u64) as usize];
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if now >= shard.next_sweep {
            shard.tats.retain(|_, tat| *tat > now);
            shard.next_sweep = now.saturating_add(self.tolerance);
        }
        let tat = shard.tats.get(&key).copied().unwrap_or(now).max(now);
        let decision = self.decide(tat, now);
        if decision.allowed {
            if shard.tats.len() >= self.capacity && !shard.tats.contains_key(&key) {
                shard.make_room(now, self.capacity);
            }
            shard.tats.insert(key, tat.saturating_add(self.interval));
        }
        decision
    }

    /// The GCRA step for a key whose stored time is `tat` (at least `now`).
    fn decide(&self, tat: u64, now: u64) -> Decision {
        let next = tat.saturating_add(self.interval);
        let ahead = next - now;
        if ahead <= self.tolerance {
            Decision {
                allowed: true,
                remaining: u32::try_from((self.tolerance - ahead) / self.interval)
                    .unwrap_or(u32::MAX),
                reset: Duration::from_nanos(ahead),
                retry_after: Duration::ZERO,
            }
        } else {
            Decision {
                allowed: false,
                remaining: 0,
                reset: Duration::from_nanos(tat - now),
                retry_after: Duration::from_nanos(ahead - self.tolerance),
            }
        }
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

    fn limiter(count: u32, window_secs: u64) -> Limiter {
        Limiter::new(Quota {
            count,
            window: Duration::from_secs(window_secs),
        })
    }

    #[test]
    fn a_burst_of_count_then_one_per_interval() {
        let l = limiter(3, 3);
        let second = 1_000_000_000;
        let mut tat = 0;
        for remaining in [2, 1, 0] {
            let d = l.decide(tat, 0);
            assert!(d.allowed);
            assert_eq!(d.remaining, remaining);
            tat += l.interval;
        }
        let denied = l.decide(tat, 0);
        assert!(!denied.allowed);
        assert_eq!(denied.retry_after, Duration::from_secs(1));
        assert_eq!(denied.reset, Duration::from_secs(3));
        // One interval later exactly one more request fits.
        let d = l.decide(tat, second);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
    }

    #[test]
    fn keys_are_independent_and_idle_keys_are_swept() {
        let l = limiter(1, 3600);
        let (a, b) = (l.key(&"a"), l.key(&"b"));
        assert!(l.check(a).allowed);
        assert!(!l.check(a).allowed);
        assert!(l.check(b).allowed);
        let entries = |l: &Limiter| {
            l.shards
                .iter()
                .map(|s| s.lock().map(|s| s.tats.len()).unwrap_or(0))
                .sum::<usize>()
        };
        assert_eq!(entries(&l), 2);

        let short = Limiter::new(Quota {
            count: 1,
            window: Duration::from_millis(1),
        });
        let keys: Vec<u64> = (0..200).map(|i| short.key(&i)).collect();
        for &k in &keys {
            assert!(short.check(k).allowed);
        }
        std::thread::sleep(Duration::from_millis(5));
        // Touching every shard once sweeps the expired entries; only the new ones stay.
        for &k in &keys[..SHARDS.min(keys.len())] {
            short.check(k);
        }
        for i in 0..SHARDS as u64 {
            short.check(i);
        }
        assert!(entries(&short) <= 2 * SHARDS);
    }

    #[test]
    fn a_flood_of_new_keys_stays_within_capacity() {
        let mut l = limiter(1, 3600);
        l.capacity = 3;
        // Keys that are multiples of SHARDS all land in shard 0.
        for i in 0..10 {
            assert!(l.check(i * SHARDS as u64).allowed);
        }
        let held = l.shards[0].lock().map(|s| s.tats.len()).unwrap_or(0);
        assert_eq!(held, 3);
        // The latest keys are the ones kept.
        assert!(!l.check(9 * SHARDS as u64).allowed);
    }

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
                .map(|(l, _)| std::ptr::eq(l, limiter.auth.as_ref().unwrap_or(l)))
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
