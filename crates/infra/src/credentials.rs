//! Password hashes with argon2id and login tokens with SHA-256.
//!
//! Passwords are slow to hash on purpose, so every hash and verification runs on tokio's blocking
//! pool. Tokens are 256 random bits: SHA-256 is enough to store them, since nobody can guess them
//! and the hash only protects them if the token table leaks.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::Error as HashError;
use argon2::{Algorithm, Argon2, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use async_trait::async_trait;
use being_social_domain::model::IssuedToken;
use being_social_domain::ports::Credentials;
use being_social_domain::{DomainError, Result};
use rand::TryRng;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// The password behind the dummy hash. Never matches anything that matters: the dummy hash is
/// only verified to spend time, and the answer is always false.
const DUMMY_PASSWORD: &[u8] = b"being-social dummy password for unknown accounts";

/// Argon2 parameters that cannot be used (memory below 8 KiB per lane, zero iterations, ...).
#[derive(Debug, thiserror::Error)]
#[error("invalid argon2 parameters: {0}")]
pub struct InvalidArgon2Params(String);

/// [`Credentials`] with argon2id hashes in PHC strings (`$argon2id$v=19$m=...`).
///
/// Verification reads the parameters from the stored hash, so hashes made with older settings
/// keep working after the settings change.
#[derive(Clone)]
pub struct Argon2Credentials {
    argon2: Argon2<'static>,
    /// A hash of [`DUMMY_PASSWORD`] with the current parameters, made on first use on the
    /// blocking pool rather than at construction, which may happen on the executor.
    dummy_hash: Arc<OnceLock<Option<PasswordHash>>>,
    /// One permit per core: hashes beyond that wait here instead of filling the blocking pool
    /// (each takes 19 MiB and a core for tens of milliseconds), so a burst of sign-ups or logins
    /// cannot starve everything else.
    hashing: Arc<Semaphore>,
}

fn hashing_permits() -> Arc<Semaphore> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    Arc::new(Semaphore::new(cores))
}

impl Argon2Credentials {
    /// OWASP's recommended argon2id settings: 19 MiB of memory, 2 iterations, 1 lane.
    pub const DEFAULT_MEMORY_KIB: u32 = 19 * 1024;
    pub const DEFAULT_ITERATIONS: u32 = 2;
    pub const DEFAULT_PARALLELISM: u32 = 1;

    /// argon2id with these costs and a 32-byte output.
    ///
    /// # Errors
    /// When argon2 rejects the combination (see [`argon2::Params::new`]).
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    ) -> Result<Self, InvalidArgon2Params> {
        let params = argon2::Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| InvalidArgon2Params(e.to_string()))?;
        Ok(Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            dummy_hash: Arc::new(OnceLock::new()),
            hashing: hashing_permits(),
        })
    }
}

impl Default for Argon2Credentials {
    fn default() -> Self {
        // The OWASP parameters are valid constants; `Params::DEFAULT` is exactly them.
        Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2::Params::DEFAULT),
            dummy_hash: Arc::new(OnceLock::new()),
            hashing: hashing_permits(),
        }
    }
}

impl std::fmt::Debug for Argon2Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let params = self.argon2.params();
        f.debug_struct("Argon2Credentials")
            .field("memory_kib", &params.m_cost())
            .field("iterations", &params.t_cost())
            .field("parallelism", &params.p_cost())
            .finish()
    }
}

impl Argon2Credentials {
    /// Runs CPU-heavy work on the blocking pool, at most one task per core at a time; a panic
    /// there becomes `Internal`.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| DomainError::internal(format!("password hashing closed: {e}")))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| DomainError::internal(format!("password hashing task failed: {e}")))?
    }
}

/// Spends the work of one real verification and discards the answer, so that an unknown account,
/// or one whose stored hash is unreadable, answers as slowly as a wrong password.
fn spend_dummy_verification(
    argon2: &Argon2<'static>,
    dummy: &OnceLock<Option<PasswordHash>>,
    password: &[u8],
) {
    let mut made_now = false;
    let hash = dummy.get_or_init(|| {
        made_now = true;
        match argon2.hash_password(DUMMY_PASSWORD) {
            Ok(hash) => Some(hash),
            Err(e) => {
                tracing::error!(error = %e, "could not compute the dummy password hash");
                None
            }
        }
    });
    // Making the dummy hash cost exactly one hash already.
    if made_now {
        return;
    }
    match hash {
        Some(hash) => {
            let _ = argon2.verify_password(password, hash);
        }
        None => {
            let _ = argon2.hash_password(password);
        }
    }
}

#[async_trait]
impl Credentials for Argon2Credentials {
    async fn hash_password(&self, password: String) -> Result<String> {
        let argon2 = self.argon2.clone();
        self.blocking(move || {
            argon2
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| DomainError::internal(format!("password hashing failed: {e}")))
        })
        .await
    }

    async fn verify_password(&self, password: String, hash: Option<String>) -> Result<bool> {
        let argon2 = self.argon2.clone();
        let dummy = Arc::clone(&self.dummy_hash);
        self.blocking(move || {
            let password = password.as_bytes();
            let Some(stored) = hash else {
                spend_dummy_verification(&argon2, &dummy, password);
                return Ok(false);
            };
            let parsed = match PasswordHash::new(&stored) {
                Ok(parsed) => parsed,
                Err(e) => {
                    tracing::error!(error = %e, "stored password hash is malformed");
                    spend_dummy_verification(&argon2, &dummy, password);
                    return Ok(false);
                }
            };
            match argon2.verify_password(password, &parsed) {
                Ok(()) => Ok(true),
                Err(HashError::PasswordInvalid) => Ok(false),
                Err(e @ (HashError::OutOfMemory | HashError::Internal | HashError::RngFailure)) => {
                    Err(DomainError::internal(format!(
                        "password verification failed: {e}"
                    )))
                }
                // Unknown algorithm, bad parameters or salt: the stored hash is unusable, which
                // is a data problem to fix, not a reason to let anyone in or fail the login.
                Err(e) => {
                    tracing::error!(error = %e, "stored password hash cannot be verified");
                    Ok(false)
                }
            }
        })
        .await
    }

    fn issue_token(&self) -> IssuedToken {
        let mut bytes = [0u8; 32];
        if let Err(e) = rand::rngs::SysRng.try_fill_bytes(&mut bytes) {
            // The thread-local generator is a CSPRNG seeded from the OS; it is a sound fallback
            // for a transient failure of the direct OS call, and the signature cannot fail.
            tracing::warn!(error = %e, "OS random generator failed; using the thread generator");
            rand::fill(&mut bytes[..]);
        }
        let secret = hex::encode(bytes);
        let hash = self.hash_token(&secret);
        IssuedToken { secret, hash }
    }

    fn hash_token(&self, secret: &str) -> Vec<u8> {
        Sha256::digest(secret.as_bytes()).to_vec()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let creds = Argon2Credentials::default();
        let hash = creds.hash_password("correct horse".into()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            creds
                .verify_password("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !creds
                .verify_password("wrong horse".into(), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn two_hashes_of_one_password_differ() {
        let creds = Argon2Credentials::default();
        let a = creds.hash_password("same".into()).await.unwrap();
        let b = creds.hash_password("same".into()).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn unknown_account_is_false() {
        let creds = Argon2Credentials::default();
        // First call makes the dummy hash, the second verifies against it.
        assert!(!creds.verify_password("x".into(), None).await.unwrap());
        assert!(!creds.verify_password("x".into(), None).await.unwrap());
        assert!(creds.dummy_hash.get().is_some_and(Option::is_some));
        // The dummy password itself does not log anyone in either.
        let dummy = String::from_utf8(DUMMY_PASSWORD.to_vec()).unwrap();
        assert!(!creds.verify_password(dummy, None).await.unwrap());
    }

    #[tokio::test]
    async fn malformed_hash_is_false() {
        let creds = Argon2Credentials::default();
        for bad in [
            "",
            "not a hash",
            "$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA",
            "$md5$abc",
        ] {
            assert!(
                !creds
                    .verify_password("x".into(), Some(bad.into()))
                    .await
                    .unwrap(),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn hashes_from_other_parameters_still_verify() {
        let old = Argon2Credentials::new(8 * 1024, 1, 1).unwrap();
        let hash = old.hash_password("pw".into()).await.unwrap();
        let current = Argon2Credentials::default();
        assert!(
            current
                .verify_password("pw".into(), Some(hash))
                .await
                .unwrap()
        );
    }

    #[test]
    fn rejects_unusable_parameters() {
        assert!(Argon2Credentials::new(19 * 1024, 0, 1).is_err());
        assert!(Argon2Credentials::new(1, 2, 1).is_err());
        assert!(Argon2Credentials::new(19 * 1024, 2, 0).is_err());
    }

    #[test]
    fn tokens_are_random_hex_and_hashed() {
        let creds = Argon2Credentials::default();
        let token = creds.issue_token();
        assert_eq!(token.secret.len(), 64);
        assert!(
            token
                .secret
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(token.hash, creds.hash_token(&token.secret));
        assert_ne!(creds.issue_token().secret, token.secret);
        assert_eq!(format!("{token:?}"), "IssuedToken(***)");
    }

    #[test]
    fn hash_token_is_sha256_of_the_text() {
        let creds = Argon2Credentials::default();
        let a = creds.hash_token("abc");
        assert_eq!(a.len(), 32);
        assert_eq!(a, creds.hash_token("abc"));
        assert_ne!(a, creds.hash_token("abd"));
        assert_eq!(
            hex::encode(&a),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
