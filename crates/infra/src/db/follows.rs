//! Follows. Both users' counters change in the transaction that adds or removes the edge, after
//! both user rows are locked in ascending id order: two people following each other at the same
//! instant queue on the lower id instead of deadlocking.
//!
//! A follow copies the leader's newest posts into the follower's materialised feed and an
//! unfollow removes them, in the same transactions (db/feed.rs).
//!
//! Follows are added in batches ([`Database::follow_batch`]): many edges in one transaction, every
//! user row of the batch locked at once in ascending id, then the edges, their counters and the
//! feed copies, in one statement on PostgreSQL ([`Dialect::add_follows`]). A single follow is a batch of one;
//! [`Follows`] gathers the follows that arrive together.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use being_social_domain::model::{ListedUser, UserId};
use being_social_domain::pagination::{Page, PageRequest};
use being_social_domain::ports::FollowRepository;

use being_social_domain::{DomainError, Result};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::dialect::follow_counts;
use super::feed::{FeedRows, per_viewer};
use super::models::UserRow;
use super::schema::{Ts, follows, users};
use super::{Database, DbResult, Dialect, listed_page, newest_first_start};
use crate::coalesce::{Coalescer, CoalescerStats, MAX_BATCH, batch_task_failed};
use being_social_domain::Resource;

/// Which side of the edge a list shows.
#[derive(Clone, Copy)]
enum Side {
    /// Users who follow the given user.
    Followers,
    /// Users the given user follows.
    Following,
}

/// The edges of `edges` whose follower is so close to `max` follows that the batch could take
/// them past it, from the followers' counts in `locked` (`(id, following_count)`, read under
/// their row locks). Usually none.
fn near_follow_limit(edges: &[(i64, i64)], locked: &[(i64, i64)], max: i64) -> Vec<(i64, i64)> {
    locked
        .iter()
        .filter_map(|&(follower, count)| {
            let theirs = edges.iter().filter(|e| e.0 == follower).count() as i64;
            (theirs > 0 && count + theirs > max).then_some(follower)
        })
        .flat_map(|follower| edges.iter().copied().filter(move |e| e.0 == follower))
        .collect()
}

/// Of the edges `near` the limit, those that would take their follower past `max` follows: a
/// follower's new edges in order until the limit; one in `already` (it exists) always passes.
fn past_follow_limit(
    near: &[(i64, i64)],
    locked: &[(i64, i64)],
    max: i64,
    already: &HashSet<(i64, i64)>,
) -> HashSet<(i64, i64)> {
    let mut room: HashMap<i64, i64> = locked.iter().map(|&(id, n)| (id, max - n)).collect();
    near.iter()
        .copied()
        .filter(|edge| !already.contains(edge))
        .filter(|edge| {
            let left = room.entry(edge.0).or_default();
            *left -= 1;
            *left < 0
        })
        .collect()
}

impl Database {
    /// Adds the follows `(follower, leader)` of `edges` in one transaction and answers each edge,
    /// in order: whether the follow is new, or `NotFound(Resource::User)` if either user does not
    /// exist, or `following_limit` if it would take the follower past the most follows allowed.
    /// An edge present twice is new only for its first occurrence; a self-follow is refused
    /// without touching the others.
    pub(crate) async fn follow_batch(&self, edges: Vec<(UserId, UserId)>) -> Vec<Result<bool>> {
        let edges: Vec<(i64, i64)> = edges.iter().map(|(f, l)| (f.get(), l.get())).collect();
        let mut users: Vec<i64> = edges.iter().flat_map(|&(f, l)| [f, l]).collect();
        users.sort_unstable();
        users.dedup();
        let mut unique: Vec<(i64, i64)> = edges.iter().copied().filter(|(f, l)| f != l).collect();
        unique.sort_unstable();
        unique.dedup();
        let (rules, max) = (self.feed, self.max_following);
        // The users that exist, the edges inserted, and those refused for the follow limit.
        type Settled = (HashSet<i64>, HashSet<(i64, i64)>, HashSet<(i64, i64)>);
        let result: DbResult<Settled> = async {
            transaction!(self, conn => {
                let locked = conn.lock_users(&users).await?;
                let existing: HashSet<i64> = locked.iter().map(|&(id, _)| id).collect();
                unique.retain(|(f, l)| existing.contains(f) && existing.contains(l));
                let near = near_follow_limit(&unique, &locked, max);
                let already: HashSet<(i64, i64)> = if near.is_empty() {
                    HashSet::new()
                } else {
                    let (followers, leaders): (Vec<i64>, Vec<i64>) = near.iter().copied().unzip();
                    follows::table
                        .filter(follows::follower_id.eq_any(&followers))
                        .filter(follows::leader_id.eq_any(&leaders))
                        .select((follows::follower_id, follows::leader_id))
                        .load(conn)
                        .await?
                        .into_iter()
                        .collect()
                };
                let refused = past_follow_limit(&near, &locked, max, &already);
                unique.retain(|edge| !refused.contains(edge));
                let (inserted, backfilled) = if unique.is_empty() {
                    (Vec::new(), Vec::new())
                } else {
                    conn.add_follows(&unique, Ts::now(), rules.follow_backfill).await?
                };
                if !backfilled.is_empty() {
                    conn.settle(&per_viewer(backfilled), &rules).await?;
                }
                Ok((existing, inserted.into_iter().collect(), refused))
            })
        }
        .await;
        match result {
            Ok((existing, mut inserted, refused)) => edges
                .iter()
                .map(|edge| {
                    if edge.0 == edge.1 {
                        Err(DomainError::cannot_follow_self())
                    } else if refused.contains(edge) {
                        Err(DomainError::following_limit(max))
                    } else if existing.contains(&edge.0) && existing.contains(&edge.1) {
                        Ok(inserted.remove(edge))
                    } else {
                        Err(DomainError::NotFound(Resource::User))
                    }
                })
                .collect(),
            Err(err) => {
                let err = DomainError::from(err);
                edges.iter().map(|_| Err(err.clone())).collect()
            }
        }
    }

    async fn follow_list(
        &self,
        user: UserId,
        side: Side,
        page: PageRequest,
    ) -> Result<Page<ListedUser>> {
        let user = user.get();
        let (at, id) = newest_first_start(page.after);
        let limit = page.fetch_limit();
        let rows: Vec<(Ts, UserRow)> = async {
            with_conn!(self, conn => {
                let rows = match side {
                    Side::Followers => {
                        newest_first_page!(
                            follows::table
                                .inner_join(users::table.on(users::id.eq(follows::follower_id)))
                                .filter(follows::leader_id.eq(user)),
                            follows::created_at,
                            follows::follower_id,
                            (at, id),
                            limit
                        )
                        .select((follows::created_at, UserRow::as_select()))
                        .load(conn)
                        .await?
                    }
                    Side::Following => {
                        newest_first_page!(
                            follows::table
                                .inner_join(users::table.on(users::id.eq(follows::leader_id)))
                                .filter(follows::follower_id.eq(user)),
                            follows::created_at,
                            follows::leader_id,
                            (at, id),
                            limit
                        )
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

/// Follow batches in flight at once. Batches lock their users in ascending id, so two of them
/// cannot deadlock; they only queue where they share a user. While one waits for its commit to
/// reach the disk, the others lock and insert.
const FOLLOW_BATCHES_AT_ONCE: usize = 2;

/// [`FollowRepository`]: follows coalesced into shared transactions, whoever they concern;
/// unfollows and the lists go straight to the database.
#[derive(Clone)]
pub struct Follows {
    db: Database,
    coalescer: Coalescer<(), (UserId, UserId), Result<bool>>,
}

impl Follows {
    pub fn new(db: Database) -> Self {
        let runner = db.clone();
        let coalescer = Coalescer::new(MAX_BATCH, FOLLOW_BATCHES_AT_ONCE, move |(), edges| {
            let db = runner.clone();
            async move { db.follow_batch(edges).await }
        });
        Self { db, coalescer }
    }

    pub fn stats(&self) -> &CoalescerStats {
        self.coalescer.stats()
    }
}

#[async_trait]
impl FollowRepository for Follows {
    #[tracing::instrument(skip(self))]
    async fn follow(&self, follower: UserId, leader: UserId) -> Result<bool> {
        self.coalescer
            .submit((), (follower, leader))
            .await
            .unwrap_or_else(|| Err(batch_task_failed()))
    }

    async fn unfollow(&self, follower: UserId, leader: UserId) -> Result<bool> {
        self.db.unfollow(follower, leader).await
    }

    async fn followers(&self, user: UserId, page: PageRequest) -> Result<Page<ListedUser>> {
        self.db.follow_list(user, Side::Followers, page).await
    }

    async fn following(&self, user: UserId, page: PageRequest) -> Result<Page<ListedUser>> {
        self.db.follow_list(user, Side::Following, page).await
    }
}

impl Database {
    #[tracing::instrument(skip(self))]
    pub(crate) async fn unfollow(&self, follower: UserId, leader: UserId) -> Result<bool> {
        let follower = follower.get();
        let leader = leader.get();
        let mut pair = [follower, leader];
        pair.sort_unstable();
        let removed = async {
            transaction!(self, conn => {
                conn.lock_users(&pair).await?;
                let deleted = diesel::delete(follows::table.find((follower, leader)))
                    .execute(conn)
                    .await?;
                if deleted == 1 {
                    conn.move_follow_counts(&follow_counts(&[(follower, leader)], -1)).await?;
                    // The leader's posts leave the follower's feed. No post of the leader's is
                    // being copied meanwhile: one made in its own transaction waits for the
                    // leader's row, and the outbox worker keeps the edge it copies along from
                    // being deleted until its chunk commits (db/feed.rs).
                    conn.forget(follower, leader).await?;
                }
                Ok(deleted == 1)
            })
        }
        .await?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_followers_the_batch_could_take_past_the_limit_are_looked_at() {
        // User 1 follows 8 and sends two; user 2 follows 7 and sends one.
        let edges = [(1, 20), (1, 21), (2, 22)];
        let locked = [(1, 8), (2, 7), (20, 0), (21, 0), (22, 0)];
        assert!(near_follow_limit(&edges, &locked, 10).is_empty());
        assert_eq!(
            near_follow_limit(&edges, &locked, 9),
            vec![(1, 20), (1, 21)]
        );
        assert_eq!(near_follow_limit(&edges, &locked, 7).len(), 3);
    }

    #[test]
    fn new_edges_fill_the_room_left_in_order_and_existing_ones_always_pass() {
        let near = [(1, 20), (1, 21), (1, 22), (1, 23)];
        let locked = [(1, 8)];
        let already = HashSet::from([(1, 21)]);
        // Room for two: 20 and 22 pass (21 exists already), 23 is refused.
        let refused = past_follow_limit(&near, &locked, 10, &already);
        assert_eq!(refused, HashSet::from([(1, 23)]));
        let refused = past_follow_limit(&near, &[(1, 10)], 10, &already);
        assert_eq!(refused, HashSet::from([(1, 20), (1, 22), (1, 23)]));
    }
}
