//! Sessions: login tokens, stored only as hashes, with when each was issued and last used (the services
//! decide from those whether a token has expired; the sweep deletes the expired ones here).

use async_trait::async_trait;
use being_social_domain::model::UserId;
use being_social_domain::ports::{SessionRepository, StoredToken};
use being_social_domain::{DomainError, Result};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel_async::RunQueryDsl;

use super::models::{NewTokenRow, UserRow};
use super::schema::{Ts, tokens, users};
use super::{Database, DbResult, is_violation};
use crate::coalesce::{Coalescer, CoalescerStats, MAX_BATCH, batch_task_failed};
use std::collections::HashMap;

/// A token row joined to its owner, as lookups read it.
pub(crate) type TokenAndOwner = (Ts, Ts, UserRow);

pub(crate) fn stored_token((created_at, last_used_at, user): TokenAndOwner) -> StoredToken {
    StoredToken {
        user: user.into(),
        created_at: created_at.0,
        last_used_at: last_used_at.0,
    }
}

/// A cut-off moved into the range both backends store: an instant before every stored timestamp
/// (the domain's "nothing expires") becomes the earliest one, which matches no row either.
fn storable(at: DateTime<Utc>) -> Ts {
    Ts::from(at.clamp(Ts::earliest().0, Ts::latest().0))
}

/// Token lookups in flight at once; each is one indexed read.
const TOKEN_LOOKUPS_AT_ONCE: usize = 2;

/// [`SessionRepository`]: lookups that arrive together are answered by one `hash = ANY(...)`
/// query (a lookup alone is a batch of one); writes go straight to the database. Revocation stays
/// immediate: nothing is cached, a lookup reads the committed state.
#[derive(Clone)]
pub struct Sessions {
    db: Database,
    coalescer: Coalescer<(), Vec<u8>, Result<Option<StoredToken>>>,
}

impl Sessions {
    pub fn new(db: Database) -> Self {
        let runner = db.clone();
        let coalescer = Coalescer::new(MAX_BATCH, TOKEN_LOOKUPS_AT_ONCE, move |(), hashes| {
            let db = runner.clone();
            async move { db.find_tokens(hashes).await }
        });
        Self { db, coalescer }
    }

    pub fn stats(&self) -> &CoalescerStats {
        self.coalescer.stats()
    }
}

#[async_trait]
impl SessionRepository for Sessions {
    async fn insert(&self, user: UserId, token_hash: Vec<u8>) -> Result<()> {
        self.db.insert_token(user, token_hash).await
    }

    #[tracing::instrument(skip_all)]
    async fn find(&self, token_hash: Vec<u8>) -> Result<Option<StoredToken>> {
        self.coalescer
            .submit((), token_hash)
            .await
            .unwrap_or_else(|| Err(batch_task_failed()))
    }

    async fn touch(
        &self,
        token_hash: Vec<u8>,
        used_at: DateTime<Utc>,
        if_before: DateTime<Utc>,
    ) -> Result<()> {
        self.db.touch_token(token_hash, used_at, if_before).await
    }

    async fn revoke(&self, token_hash: Vec<u8>) -> Result<()> {
        self.db.revoke_token(token_hash).await
    }

    async fn revoke_all(&self, user: UserId) -> Result<u64> {
        self.db.revoke_tokens_of(user).await
    }

    async fn delete_expired(
        &self,
        created_before: DateTime<Utc>,
        used_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64> {
        self.db
            .delete_expired_tokens(created_before, used_before, limit)
            .await
    }
}

impl Database {
    #[tracing::instrument(skip_all, fields(user))]
    pub(crate) async fn insert_token(&self, user: UserId, token_hash: Vec<u8>) -> Result<()> {
        let user = user.get();
        let now = Ts::now();
        let row = NewTokenRow {
            hash: token_hash,
            user_id: user,
            created_at: now,
            last_used_at: now,
        };
        let result: DbResult<usize> = async {
            with_conn!(self, conn => {
                Ok(diesel::insert_into(tokens::table).values(&row).execute(conn).await?)
            })
        }
        .await;
        match result {
            Ok(_) => Ok(()),
            // The account was deleted between the password check and now.
            Err(err) if is_violation(&err, &DatabaseErrorKind::ForeignKeyViolation) => {
                Err(DomainError::InvalidCredentials)
            }
            Err(err) => Err(err.into()),
        }
    }

    #[tracing::instrument(skip_all)]
    pub(crate) async fn touch_token(
        &self,
        token_hash: Vec<u8>,
        used_at: DateTime<Utc>,
        if_before: DateTime<Utc>,
    ) -> Result<()> {
        let (used_at, if_before) = (storable(used_at), storable(if_before));
        let result: DbResult<usize> = async {
            with_conn!(self, conn => {
                Ok(diesel::update(
                    tokens::table
                        .filter(tokens::hash.eq(&token_hash))
                        .filter(tokens::last_used_at.lt(if_before)),
                )
                .set(tokens::last_used_at.eq(used_at))
                .execute(conn)
                .await?)
            })
        }
        .await;
        if let Err(err) = &result {
            // The services go on without it (the request is answered); say why here.
            tracing::warn!(error = %err, "cannot record the use of a token");
        }
        result.map(|_| ()).map_err(Into::into)
    }

    #[tracing::instrument(skip_all)]
    pub(crate) async fn revoke_token(&self, token_hash: Vec<u8>) -> Result<()> {
        async {
            with_conn!(self, conn => {
                diesel::delete(tokens::table.find(&token_hash)).execute(conn).await?;
                DbResult::Ok(())
            })
        }
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    pub(crate) async fn revoke_tokens_of(&self, user: UserId) -> Result<u64> {
        let user = user.get();
        let deleted: usize = async {
            with_conn!(self, conn => {
                DbResult::Ok(
                    diesel::delete(tokens::table.filter(tokens::user_id.eq(user)))
                        .execute(conn)
                        .await?,
                )
            })
        }
        .await?;
        Ok(deleted as u64)
    }

    #[tracing::instrument(skip(self))]
    pub(crate) async fn delete_expired_tokens(
        &self,
        created_before: DateTime<Utc>,
        used_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64> {
        let (created_before, used_before) = (storable(created_before), storable(used_before));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // The doomed tokens are read as two index ranges, each in its index's order, then
        // deleted by primary key. One statement with `created_at < $1 OR last_used_at < $2`
        // reads every token under the generic plans the pool's connections use
        // (`force_generic_plan`), and a `DELETE ... WHERE hash IN (subquery)` joins the subquery
        // to a scan of the whole table: 99 ms on 810,000 live tokens, at each process's start and
        // every `token_sweep_interval`, however few had expired. Like this, a sweep costs what it
        // deletes.
        //
        // No transaction spans the reads and the delete, and the delete checks the expiry again:
        // an expired token is never used again, so a token read as expired is still expired when
        // it is deleted, unless a process whose clock is behind used it in between, and then it
        // stays. Two processes sweeping at once: the second finds fewer rows to delete.
        let deleted: usize = async {
            with_conn!(self, conn => {
                let mut doomed: Vec<Vec<u8>> = tokens::table
                    .filter(tokens::created_at.lt(created_before))
                    .order(tokens::created_at)
                    .select(tokens::hash)
                    .limit(limit)
                    .load(conn)
                    .await?;
                let idle: Vec<Vec<u8>> = tokens::table
                    .filter(tokens::last_used_at.lt(used_before))
                    .order(tokens::last_used_at)
                    .select(tokens::hash)
                    .limit(limit)
                    .load(conn)
                    .await?;
                doomed.extend(idle);
                doomed.sort_unstable();
                doomed.dedup();
                doomed.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
                if doomed.is_empty() {
                    return DbResult::Ok(0);
                }
                let still_expired = tokens::created_at
                    .lt(created_before)
                    .or(tokens::last_used_at.lt(used_before));
                DbResult::Ok(
                    diesel::delete(
                        tokens::table
                            .filter(tokens::hash.eq_any(&doomed))
                            .filter(still_expired),
                    )
                    .execute(conn)
                    .await?,
                )
            })
        }
        .await?;
        Ok(deleted as u64)
    }

    /// The tokens of a batch of hashes with their owners, in one query.
    pub(crate) async fn find_tokens(
        &self,
        hashes: Vec<Vec<u8>>,
    ) -> Vec<Result<Option<StoredToken>>> {
        let found: DbResult<Vec<(Vec<u8>, TokenAndOwner)>> = async {
            with_conn!(self, conn => {
                DbResult::Ok(tokens::table
                    .inner_join(users::table)
                    .filter(tokens::hash.eq_any(&hashes))
                    .select((
                        tokens::hash,
                        (tokens::created_at, tokens::last_used_at, UserRow::as_select()),
                    ))
                    .load(conn)
                    .await?)
            })
        }
        .await;
        match found {
            Ok(rows) => {
                let by_hash: HashMap<Vec<u8>, TokenAndOwner> = rows.into_iter().collect();
                hashes
                    .iter()
                    .map(|hash| Ok(by_hash.get(hash).cloned().map(stored_token)))
                    .collect()
            }
            Err(err) => {
                let err = DomainError::from(err);
                hashes.iter().map(|_| Err(err.clone())).collect()
            }
        }
    }
}
