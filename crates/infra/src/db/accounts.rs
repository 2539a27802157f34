//! Accounts: creation, lookup, profile changes, relationships, and account deletion.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use async_trait::async_trait;
use being_social_domain::model::{Relationship, User, UserId};
use being_social_domain::ports::{
    AccountRepository, NewUser, ProfileChanges, RemovedMedia, StoredCredentials, UpdatedProfile,
};
use being_social_domain::values::email_key;
use being_social_domain::{DomainError, Result};
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel_async::RunQueryDsl;

use super::feed::FeedRows;
use super::models::{NewUserRow, PostMediaRow, UserChangeset, UserRow};
use super::schema::{
    Ts, comments, feed_entries, feed_state, follows, likes, post_media, posts, tokens, users,
};
use super::{Database, DbError, DbResult, Dialect, IDS_PER_STATEMENT, is_violation};
use being_social_domain::Resource;

/// How often an account deletion re-runs when the accounts it must lock changed meanwhile.
const DELETE_ATTEMPTS: usize = 8;

impl Database {
    async fn credentials_where_id_or_email(
        &self,
        id: Option<UserId>,
        email: Option<&str>,
    ) -> DbResult<Option<StoredCredentials>> {
        let id = id.map(UserId::get);
        let found: Option<(UserRow, String)> = with_conn!(self, conn => {
            let mut query = users::table
                .select((UserRow::as_select(), users::password_hash))
                .into_boxed();
            if let Some(id) = id {
                query = query.filter(users::id.eq(id));
            }
            if let Some(email) = email {
                query = query.filter(users::email_key.eq(email_key(email)));
            }
            query.first(conn).await.optional()?
        });
        Ok(found.map(|(user, password_hash)| StoredCredentials {
            user: user.into(),
            password_hash,
        }))
    }

    /// One attempt at deleting an account; `DbError::Retry` when its neighbours changed between
    /// reading and locking them.
    async fn delete_account_once(&self, id: UserId) -> DbResult<RemovedMedia> {
        let id = id.get();
        transaction!(self, conn => {
            let before = conn.neighbours(UserId::new(id)).await?;
            conn.lock_users_for_deletion(id, &before.iter().copied().collect::<Vec<_>>()).await?;
            // The account is now locked FOR UPDATE: nobody can follow it, be followed by it, or
            // write a row that references it until this transaction ends.
            let exists = users::table.find(id).select(users::id).first::<i64>(conn).await.optional()?;
            if exists.is_none() {
                return Err(DomainError::NotFound(Resource::User).into());
            }
            let after = conn.neighbours(UserId::new(id)).await?;
            if !after.is_subset(&before) {
                return Err(DbError::Retry);
            }

            // Posts: its own are deleted (FOR UPDATE), the ones it liked or commented on get
            // their counters corrected (FOR NO KEY UPDATE). Users were locked first.
            let own_posts: Vec<i64> = posts::table
                .filter(posts::author_id.eq(id))
                .select(posts::id)
                .load(conn)
                .await?;
            let liked: Vec<i64> = likes::table
                .filter(likes::user_id.eq(id))
                .select(likes::post_id)
                .load(conn)
                .await?;
            let commented: Vec<i64> = comments::table
                .filter(comments::author_id.eq(id))
                .select(comments::post_id)
                .distinct()
                .load(conn)
                .await?;
            let own: HashSet<i64> = own_posts.iter().copied().collect();
            let touched: BTreeSet<i64> = liked
                .iter()
                .chain(&commented)
                .copied()
                .filter(|p| !own.contains(p))
                .collect();
            conn.lock_posts(&own_posts, true).await?;
            conn.lock_posts(&touched.iter().copied().collect::<Vec<_>>(), false).await?;

            // Comments on other people's posts, with every reply beneath them.
            let doomed = conn.threads_of_author(id).await?;
            if !doomed.is_empty() {
                // Read the rows before deleting them: SQLite runs ON DELETE CASCADE row by row,
                // so a reply that the cascade removes before the statement reaches it is missing
                // from DELETE ... RETURNING, and the counters would be corrected by too little.
                let mut removed: Vec<(i64, i64, Option<i64>)> = Vec::with_capacity(doomed.len());
                for chunk in doomed.chunks(IDS_PER_STATEMENT) {
                    removed.extend(
                        comments::table
                            .filter(comments::id.eq_any(chunk))
                            .select((comments::id, comments::post_id, comments::parent_id))
                            .load::<(i64, i64, Option<i64>)>(conn)
                            .await?,
                    );
                }
                for chunk in doomed.chunks(IDS_PER_STATEMENT) {
                    diesel::delete(comments::table.filter(comments::id.eq_any(chunk)))
                        .execute(conn)
                        .await?;
                }
                let removed_ids: HashSet<i64> = removed.iter().map(|r| r.0).collect();
                let mut per_post: BTreeMap<i64, i64> = BTreeMap::new();
                let mut per_parent: BTreeMap<i64, i64> = BTreeMap::new();
                for (_, post, parent) in &removed {
                    *per_post.entry(*post).or_default() += 1;
                    if let Some(parent) = parent.filter(|p| !removed_ids.contains(p)) {
                        *per_parent.entry(parent).or_default() += 1;
                    }
                }
                for (post, n) in per_post {
                    diesel::update(posts::table.find(post))
                        .set(posts::comments_count.eq(posts::comments_count - n))
                        .execute(conn)
                        .await?;
                }
                for (parent, n) in per_parent {
                    diesel::update(comments::table.find(parent))
                        .set(comments::reply_count.eq(comments::reply_count - n))
                        .execute(conn)
                        .await?;
                }
            }

            // Likes on other people's posts.
            let unliked: Vec<i64> = diesel::delete(likes::table.filter(likes::user_id.eq(id)))
                .returning(likes::post_id)
                .get_results(conn)
                .await?;
            let unliked: Vec<i64> = unliked.into_iter().filter(|p| !own.contains(p)).collect();
            for chunk in unliked.chunks(IDS_PER_STATEMENT) {
                diesel::update(posts::table.filter(posts::id.eq_any(chunk)))
                    .set(posts::likes_count.eq(posts::likes_count - 1))
                    .execute(conn)
                    .await?;
            }

            // Follows, both ways.
            let leaders: Vec<i64> = diesel::delete(follows::table.filter(follows::follower_id.eq(id)))
                .returning(follows::leader_id)
                .get_results(conn)
                .await?;
            for chunk in leaders.chunks(IDS_PER_STATEMENT) {
                diesel::update(users::table.filter(users::id.eq_any(chunk)))
                    .set(users::follower_count.eq(users::follower_count - 1))
                    .execute(conn)
                    .await?;
            }
            let followers: Vec<i64> = diesel::delete(follows::table.filter(follows::leader_id.eq(id)))
                .returning(follows::follower_id)
                .get_results(conn)
                .await?;
            for chunk in followers.chunks(IDS_PER_STATEMENT) {
                diesel::update(users::table.filter(users::id.eq_any(chunk)))
                    .set((
                        users::following_count.eq(users::following_count - 1),
                        users::follows_version.eq(users::follows_version + 1),
                    ))
                    .execute(conn)
                    .await?;
            }

            // Its feed (its own posts leave the other feeds with the posts, below), after its
            // follows: an outbox worker copying to it holds the edge until its chunk commits,
            // so once the edges are gone nothing more arrives. The state row before the entries
            // (the feed's lock order, db/feed.rs).
            diesel::delete(feed_state::table.find(id)).execute(conn).await?;
            diesel::delete(feed_entries::table.filter(feed_entries::viewer_id.eq(id)))
                .execute(conn)
                .await?;

            // Its own posts (their likes and comments cascade; their other pictures too, read
            // first for their keys; their feed entries are withdrawn), tokens, and the account.
            let mut more: Vec<String> = Vec::new();
            for chunk in own_posts.chunks(IDS_PER_STATEMENT) {
                let rows: Vec<PostMediaRow> = diesel::delete(post_media::table.filter(post_media::post_id.eq_any(chunk)))
                    .returning(PostMediaRow::as_returning())
                    .get_results(conn)
                    .await?;
                more.extend(rows.into_iter().flat_map(PostMediaRow::keys));
            }
            let media: Vec<(String, Option<String>, String)> = diesel::delete(posts::table.filter(posts::author_id.eq(id)))
                .returning((posts::image_key, posts::medium_key, posts::thumbnail_key))
                .get_results(conn)
                .await?;
            conn.withdraw(&own_posts).await?;
            diesel::delete(tokens::table.filter(tokens::user_id.eq(id))).execute(conn).await?;
            let avatar: Option<Option<String>> = diesel::delete(users::table.find(id))
                .returning(users::avatar_key)
                .get_result(conn)
                .await
                .optional()?;
            let mut keys: Vec<String> = media
                .into_iter()
                .flat_map(|(image, medium, thumbnail)| [Some(image), medium, Some(thumbnail)])
                .flatten()
                .collect();
            keys.extend(more);
            keys.extend(avatar.flatten());
            Ok(RemovedMedia { keys })
        })
    }
}

/// Everyone an account follows or is followed by: the users whose counters its deletion changes.
pub(crate) trait NeighbourQuery: Send {
    async fn neighbours(&mut self, id: UserId) -> QueryResult<BTreeSet<i64>>;
}

macro_rules! neighbour_query {
    ($conn:ty) => {
        impl NeighbourQuery for $conn {
            async fn neighbours(&mut self, id: UserId) -> QueryResult<BTreeSet<i64>> {
                let id = id.get();
                let leaders: Vec<i64> = follows::table
                    .filter(follows::follower_id.eq(id))
                    .select(follows::leader_id)
                    .load(self)
                    .await?;
                let followers: Vec<i64> = follows::table
                    .filter(follows::leader_id.eq(id))
                    .select(follows::follower_id)
                    .load(self)
                    .await?;
                Ok(leaders.into_iter().chain(followers).collect())
            }
        }
    };
}
neighbour_query!(diesel_async::AsyncPgConnection);
neighbour_query!(super::SqliteConn);

#[async_trait]
impl AccountRepository for Database {
    #[tracing::instrument(skip_all)]
    async fn create(&self, user: NewUser) -> Result<User> {
        let row = NewUserRow {
            email: user.email.as_str(),
            email_key: user.email.key(),
            full_name: user.full_name.as_str(),
            password_hash: &user.password_hash,
            created_at: Ts::now(),
        };
        let result: DbResult<UserRow> = async {
            with_conn!(self, conn => {
                Ok(diesel::insert_into(users::table)
                    .values(&row)
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await?)
            })
        }
        .await;
        match result {
            Ok(row) => Ok(row.into()),
            Err(err) if is_violation(&err, &DatabaseErrorKind::UniqueViolation) => {
                Err(DomainError::Conflict {
                    code: "email_taken",
                    detail: "A user with this email already exists.".into(),
                })
            }
            Err(err) => Err(err.into()),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>> {
        let id = id.get();
        let row: Option<UserRow> = async {
            with_conn!(self, conn => {
                DbResult::Ok(users::table.find(id).select(UserRow::as_select()).first(conn).await.optional()?)
            })
        }
        .await?;
        Ok(row.map(User::from))
    }

    #[tracing::instrument(skip(self))]
    async fn find_by_email(&self, email: &str) -> Result<Option<User>> {
        let row: Option<UserRow> = async {
            with_conn!(self, conn => {
                DbResult::Ok(users::table
                    .filter(users::email_key.eq(email_key(email)))
                    .select(UserRow::as_select())
                    .first(conn)
                    .await
                    .optional()?)
            })
        }
        .await?;
        Ok(row.map(User::from))
    }

    #[tracing::instrument(skip(self))]
    async fn credentials_by_email(&self, email: &str) -> Result<Option<StoredCredentials>> {
        Ok(self
            .credentials_where_id_or_email(None, Some(email))
            .await?)
    }

    #[tracing::instrument(skip(self))]
    async fn credentials_by_id(&self, id: UserId) -> Result<Option<StoredCredentials>> {
        Ok(self.credentials_where_id_or_email(Some(id), None).await?)
    }

    #[tracing::instrument(skip(self, changes))]
    async fn update_profile(&self, id: UserId, changes: ProfileChanges) -> Result<UpdatedProfile> {
        let id = id.get();
        let new_avatar = changes.avatar_key.is_some();
        let nothing_to_change = changes.is_empty();
        // A new password ends every other session: with the old one, a thief's token would
        // outlive the change meant to lock the thief out.
        let revoke_tokens = changes.password_hash.is_some();
        let keep_token = changes.keep_token.unwrap_or_default();
        let changeset = UserChangeset {
            full_name: changes.full_name.map(|v| v.into_inner()),
            bio: changes.bio.map(|v| v.into_inner()),
            password_hash: changes.password_hash,
            avatar_key: changes.avatar_key.map(Some),
        };
        let (previous_avatar, row): (Option<String>, UserRow) = async {
            transaction!(self, conn => {
                // Locked, so that the avatar read here is the one this update replaces, and an
                // account deletion cannot slip between the read and the update.
                if conn.lock_users(&[id]).await?.is_empty() {
                    return Err(DomainError::NotFound(Resource::User).into());
                }
                let previous: Option<String> =
                    users::table.find(id).select(users::avatar_key).first(conn).await?;
                let row = if nothing_to_change {
                    users::table.find(id).select(UserRow::as_select()).first(conn).await?
                } else {
                    diesel::update(users::table.find(id))
                        .set(&changeset)
                        .returning(UserRow::as_returning())
                        .get_result(conn)
                        .await?
                };
                if revoke_tokens {
                    diesel::delete(
                        tokens::table
                            .filter(tokens::user_id.eq(id))
                            .filter(tokens::hash.ne(&keep_token)),
                    )
                    .execute(conn)
                    .await?;
                }
                Ok((previous, row))
            })
        }
        .await?;
        Ok(UpdatedProfile {
            user: row.into(),
            replaced_avatar: previous_avatar.filter(|_| new_avatar),
        })
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, id: UserId) -> Result<RemovedMedia> {
        for _ in 0..DELETE_ATTEMPTS {
            match self.delete_account_once(id).await {
                Err(DbError::Retry) => continue,
                other => return Ok(other?),
            }
        }
        Err(DbError::Retry.into())
    }

    #[tracing::instrument(skip(self, others))]
    async fn relationships(
        &self,
        viewer: UserId,
        others: Vec<UserId>,
    ) -> Result<Vec<Relationship>> {
        let viewer = viewer.get();
        let others: Vec<i64> = others.iter().map(|user| user.get()).collect();
        let (following, followed_by): (Vec<i64>, Vec<i64>) = async {
            with_conn!(self, conn => {
                let following = follows::table
                    .filter(follows::follower_id.eq(viewer))
                    .filter(follows::leader_id.eq_any(&others))
                    .select(follows::leader_id)
                    .load(conn)
                    .await?;
                let followed_by = follows::table
                    .filter(follows::leader_id.eq(viewer))
                    .filter(follows::follower_id.eq_any(&others))
                    .select(follows::follower_id)
                    .load(conn)
                    .await?;
                DbResult::Ok((following, followed_by))
            })
        }
        .await?;
        let following: HashSet<i64> = following.into_iter().collect();
        let followed_by: HashSet<i64> = followed_by.into_iter().collect();
        Ok(others
            .iter()
            .map(|id| Relationship {
                is_following: following.contains(id),
                follows_you: followed_by.contains(id),
            })
            .collect())
    }
}
