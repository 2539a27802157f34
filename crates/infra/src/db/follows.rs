//! Follows. Both users' counters change in the transaction that adds or removes the edge, after
//! both user rows are locked in ascending id order: two people following each other at the same
//! instant queue on the lower id instead of deadlocking.

use async_trait::async_trait;
use being_social_domain::model::{ListedUser, UserId};
use being_social_domain::pagination::{Page, PageRequest};
use being_social_domain::ports::FollowRepository;
use being_social_domain::{DomainError, Result};
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;

use super::models::{NewFollowRow, UserRow};
use super::schema::{Ts, follows, users};
use super::{Database, DbResult, Dialect, listed_page, newest_first_start};

/// Moves both counters of one edge by `$delta` in one statement: the follower's
/// `following_count` and the leader's `follower_count` (the two rows are already locked).
macro_rules! move_edge_counters {
    ($conn:expr, $follower:expr, $leader:expr, $delta:expr) => {{
        let (follower, leader, delta): (i64, i64, i64) = ($follower, $leader, $delta);
        let delta = delta.into_sql::<BigInt>();
        let zero = 0_i64.into_sql::<BigInt>();
        diesel::update(users::table.filter(users::id.eq_any([follower, leader])))
            .set((
                users::following_count.eq(users::following_count
                    + case_when(users::id.eq(follower), delta).otherwise(zero)),
                users::follower_count
                    .eq(users::follower_count
                        + case_when(users::id.eq(leader), delta).otherwise(zero)),
            ))
            .execute($conn)
            .await?
    }};
}

/// Which side of the edge a list shows.
#[derive(Clone, Copy)]
enum Side {
    /// Users who follow the given user.
    Followers,
    /// Users the given user follows.
    Following,
}

impl Database {
    async fn follow_list(
        &self,
        user: UserId,
        side: Side,
        page: PageRequest,
    ) -> Result<Page<ListedUser>> {
        let (at, id) = newest_first_start(page.after);
        let limit = page.fetch_limit();
        let rows: Vec<(Ts, UserRow)> = async {
            with_conn!(self, conn => {
                let rows = match side {
                    Side::Followers => {
                        follows::table
                            .inner_join(users::table.on(users::id.eq(follows::follower_id)))
                            .filter(follows::leader_id.eq(user))
                            .filter(follows::created_at.le(at))
                            .filter(follows::created_at.lt(at).or(follows::follower_id.lt(id)))
                            .order((follows::created_at.desc(), follows::follower_id.desc()))
                            .limit(limit)
                            .select((follows::created_at, UserRow::as_select()))
                            .load(conn)
                            .await?
                    }
                    Side::Following => {
                        follows::table
                            .inner_join(users::table.on(users::id.eq(follows::leader_id)))
                            .filter(follows::follower_id.eq(user))
                            .filter(follows::created_at.le(at))
                            .filter(follows::created_at.lt(at).or(follows::leader_id.lt(id)))
                            .order((follows::created_at.desc(), follows::leader_id.desc()))
                            .limit(limit)
                            .select((follows::created_at, UserRow::as_select()))
                            .load(conn)
                            .await?
                    }
                };
                DbResult::Ok(rows)
            })
        }
        .await?;
        Ok(listed_page(rows, &page))
    }
}

#[async_trait]
impl FollowRepository for Database {
    #[tracing::instrument(skip(self))]
    async fn follow(&self, follower: UserId, leader: UserId) -> Result<bool> {
        let mut pair = [follower, leader];
        pair.sort_unstable();
        let created = async {
            transaction!(self, conn => {
                if conn.lock_users(&pair).await?.len() != 2 {
                    return Err(DomainError::NotFound("user").into());
                }
                let inserted = diesel::insert_into(follows::table)
                    .values(NewFollowRow {
                        follower_id: follower,
                        leader_id: leader,
                        created_at: Ts::now(),
                    })
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                if inserted == 1 {
                    move_edge_counters!(conn, follower, leader, 1);
                }
                Ok(inserted == 1)
            })
        }
        .await?;
        Ok(created)
    }

    #[tracing::instrument(skip(self))]
    async fn unfollow(&self, follower: UserId, leader: UserId) -> Result<bool> {
        let mut pair = [follower, leader];
        pair.sort_unstable();
        let removed = async {
            transaction!(self, conn => {
                conn.lock_users(&pair).await?;
                let deleted = diesel::delete(follows::table.find((follower, leader)))
                    .execute(conn)
                    .await?;
                if deleted == 1 {
                    move_edge_counters!(conn, follower, leader, -1);
                }
                Ok(deleted == 1)
            })
        }
        .await?;
        Ok(removed)
    }

    #[tracing::instrument(skip(self))]
    async fn followers(&self, user: UserId, page: PageRequest) -> Result<Page<ListedUser>> {
        self.follow_list(user, Side::Followers, page).await
    }

    #[tracing::instrument(skip(self))]
    async fn following(&self, user: UserId, page: PageRequest) -> Result<Page<ListedUser>> {
        self.follow_list(user, Side::Following, page).await
    }
}
