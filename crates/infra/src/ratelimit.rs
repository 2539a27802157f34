//! Rate-limit state in Redis, shared by every server process that uses the same Redis: a client
//! spreading its requests over N processes is limited as by one.
//!
//! Each check is one Lua script ([`GCRA_SCRIPT`]), run atomically by Redis: it reads the key's
//! TAT, decides, and stores the new TAT with an expiry at that time (an idle key goes away by
//! itself). Time is Redis's own clock (`TIME`, in microseconds), so the processes' clocks need not
//! agree. The script is sent by its SHA1 (`EVALSHA`), and in full only when Redis does not know
//! it yet (after a restart). The decision's figures come from the same
//! [`RateDecision::gcra`] that the in-process store uses.
//!
//! Keys are `being-social:ratelimit:<class>:<first 128 bits of SHA-256(subject), hex>`: neither
//! tokens nor addresses are stored as they are.
//!
//! The connection (redis-rs's connection manager: one multiplexed connection for every request)
//! is opened on first use and dropped after a failure; while Redis cannot be reached, a new one
//! is tried at most once per [`RECONNECT_EVERY`], and checks in between fail at once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use being_social_domain::ports::{Quota, RateDecision, RateLimitStore};
use being_social_domain::{DomainError, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::{Digest, Sha256};

/// One GCRA step. KEYS[1]: the key; ARGV[1]: the interval, ARGV[2]: the tolerance, both in
/// microseconds. Returns the key's TAT before the step (at least now) and now, in microseconds.
/// Numbers go out as `%.0f` texts: Lua's numbers are doubles, and `tostring` would write large
/// ones in exponent form (microseconds since 1970 are about 2^51, exact in a double).
pub const GCRA_SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local ahead = tat + interval - now
if ahead <= tolerance then
  redis.call('SET', KEYS[1], string.format('%.0f', tat + interval),
    'PX', string.format('%.0f', math.ceil(ahead / 1000)))
end
return {string.format('%.0f', tat), string.format('%.0f', now)}
";

/// The unit of the script's times.
const MICROSECOND: Duration = Duration::from_micros(1);

/// The least time between two attempts to open a connection while Redis is unreachable.
pub const RECONNECT_EVERY: Duration = Duration::from_secs(1);

const KEY_PREFIX: &str = "being-social:ratelimit";

/// [`RateLimitStore`] in Redis.
pub struct RedisRateLimitStore {
    client: redis::Client,
    timeout: Duration,
    script: redis::Script,
    connection: tokio::sync::RwLock<Option<ConnectionManager>>,
    /// When the last attempt to connect failed.
    failed_at: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RedisRateLimitStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the URL, which may hold a password.
        f.debug_struct("RedisRateLimitStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, err: &redis::RedisError) -> DomainError {
    // redis-rs's errors name the server's answer or the IO error, never the URL's password.
    DomainError::Unavailable(format!("redis: {what}: {err}"))
}

impl RedisRateLimitStore {
    /// A store on the Redis at `url` (`redis://[:PASSWORD@]HOST[:PORT][/DB]`, or `rediss://`),
    /// whose every command gets at most `timeout`. Connects on first use.
    ///
    /// # Errors
    /// When the URL cannot be read (the message does not repeat it).
    pub fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        let client = redis::Client::open(url)
            .map_err(|err| format!("not a Redis URL ({:?})", err.kind()))?;
        Ok(Self {
            client,
            timeout,
            script: redis::Script::new(GCRA_SCRIPT),
            connection: tokio::sync::RwLock::new(None),
            failed_at: Mutex::new(None),
        })
    }

    /// The shared connection, opened now if there is none (at most once per
    /// [`RECONNECT_EVERY`] while that fails).
    async fn connection(&self) -> Result<ConnectionManager> {
        if let Some(connection) = self.connection.read().await.as_ref() {
            return Ok(connection.clone());
        }
        let mut slot = self.connection.write().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        {
            let failed_at = self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
            if failed_at.is_some_and(|at| at.elapsed() < RECONNECT_EVERY) {
                return Err(DomainError::Unavailable(
                    "redis: not connected (retrying)".into(),
                ));
            }
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let opened = tokio::time::timeout(
            self.timeout,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await;
        let failure = match opened {
            Ok(Ok(connection)) => {
                *slot = Some(connection.clone());
                return Ok(connection);
            }
            Ok(Err(err)) => unavailable("cannot connect", &err),
            Err(_) => DomainError::Unavailable(format!(
                "redis: no connection within {} ms",
                self.timeout.as_millis()
            )),
        };
        *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        Err(failure)
    }

    /// Drops `failed` after a failure, so that the next check (after [`RECONNECT_EVERY`]) opens
    /// a new connection rather than wait on one that may be dead: recovery does not depend on
    /// how the connection manager retries.
    async fn forget(&self, failed: ConnectionManager) {
        drop(failed);
        *self.connection.write().await = None;
        *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    fn key(class: &str, subject: &str) -> String {
        let digest = Sha256::digest(subject.as_bytes());
        format!(
            "{KEY_PREFIX}:{class}:{}",
            hex::encode(digest.get(..16).unwrap_or_default())
        )
    }
}

#[async_trait]
impl RateLimitStore for RedisRateLimitStore {
    async fn check(
        &self,
        class: &'static str,
        subject: &str,
        quota: Quota,
    ) -> Result<RateDecision> {
        let mut connection = self.connection().await?;
        let mut invocation = self.script.key(Self::key(class, subject));
        invocation
            .arg(quota.interval(MICROSECOND))
            .arg(quota.tolerance(MICROSECOND));
        let answer = tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<(u64, u64)>(&mut connection),
        )
        .await;
        let failure = match answer {
            Ok(Ok((tat, now))) => return Ok(RateDecision::gcra(quota, MICROSECOND, tat, now)),
            Ok(Err(err)) => unavailable("the rate-limit script failed", &err),
            Err(_) => DomainError::Unavailable(format!(
                "redis: no answer within {} ms",
                self.timeout.as_millis()
            )),
        };
        self.forget(connection).await;
        Err(failure)
    }

    async fn ready(&self) -> bool {
        let Ok(mut connection) = self.connection().await else {
            return false;
        };
        let ping = redis::cmd("PING");
        let answer =
            tokio::time::timeout(self.timeout, ping.query_async::<String>(&mut connection)).await;
        let ready = matches!(answer, Ok(Ok(pong)) if pong == "PONG");
        if !ready {
            self.forget(connection).await;
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hide_their_subject() {
        let key = RedisRateLimitStore::key("token", "secret-token");
        assert!(key.starts_with("being-social:ratelimit:token:"), "{key}");
        assert!(!key.contains("secret"));
        assert_eq!(key.len(), "being-social:ratelimit:token:".len() + 32);
        assert_ne!(key, RedisRateLimitStore::key("auth", "secret-token"));
    }

    #[test]
    fn a_bad_url_is_refused_without_repeating_it() {
        let err = RedisRateLimitStore::new("nope://:hunter2@x", Duration::from_millis(10))
            .err()
            .unwrap_or_default();
        assert!(!err.is_empty() && !err.contains("hunter2"), "{err}");
    }
}
