//! Following, unfollowing, removing followers, and the two lists.

use std::sync::Arc;

use super::{Ports, UserRef, resolve_user, with_relationships};
use crate::model::{ListedUser, UserId};
use crate::pagination::{Page, PageRequest};
use crate::ports::{AccountRepository, FollowRepository};
use crate::{DomainError, Result};

/// The two lists of a user's follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowList {
    /// The users who follow them.
    Followers,
    /// The users they follow.
    Following,
}

/// Following, unfollowing, removing followers, and the two lists.
#[derive(Clone)]
pub struct FollowService {
    accounts: Arc<dyn AccountRepository>,
    follows: Arc<dyn FollowRepository>,
}

impl FollowService {
    pub fn new(ports: &Ports) -> Self {
        Self {
            accounts: ports.accounts.clone(),
            follows: ports.follows.clone(),
        }
    }

    /// Follows `leader`. Returns whether the follow is new (`false`: it already existed).
    ///
    /// # Errors
    /// `BadRequest("cannot_follow_self")`, `NotFound(Resource::User)`.
    pub async fn follow(&self, me: UserId, leader: UserId) -> Result<bool> {
        if me == leader {
            return Err(DomainError::cannot_follow_self());
        }
        self.follows.follow(me, leader).await
    }

    /// Stops following `leader`; not following, or an unknown user, is already that state.
    pub async fn unfollow(&self, me: UserId, leader: UserId) -> Result<()> {
        if me != leader {
            self.follows.unfollow(me, leader).await?;
        }
        Ok(())
    }

    /// Removes `follower` from my followers; idempotent like [`FollowService::unfollow`].
    pub async fn remove_follower(&self, me: UserId, follower: UserId) -> Result<()> {
        if me != follower {
            self.follows.unfollow(follower, me).await?;
        }
        Ok(())
    }

    /// The users on `user`'s `list` (who follows them, or whom they follow), most recent first,
    /// as `viewer` sees them.
    ///
    /// # Errors
    /// `NotFound(Resource::User)`.
    pub async fn list(
        &self,
        list: FollowList,
        user: &UserRef,
        viewer: UserId,
        page: PageRequest,
    ) -> Result<Page<ListedUser>> {
        let user = resolve_user(self.accounts.as_ref(), user).await?;
        let page = match list {
            FollowList::Followers => self.follows.followers(user.id, page).await?,
            FollowList::Following => self.follows.following(user.id, page).await?,
        };
        with_relationships(self.accounts.as_ref(), viewer, page).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockAccountRepository, MockFollowRepository};

    fn service(follows: MockFollowRepository) -> FollowService {
        FollowService {
            accounts: Arc::new(MockAccountRepository::new()),
            follows: Arc::new(follows),
        }
    }

    #[tokio::test]
    async fn following_yourself_is_refused_before_the_store() {
        let svc = service(MockFollowRepository::new());
        let err = svc.follow(UserId::new(7), UserId::new(7)).await.err();
        assert!(matches!(
            err,
            Some(DomainError::BadRequest {
                code: "cannot_follow_self",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn remove_follower_removes_the_reverse_edge() {
        let mut follows = MockFollowRepository::new();
        follows
            .expect_unfollow()
            .withf(|follower, leader| *follower == UserId::new(9) && *leader == UserId::new(1))
            .times(1)
            .returning(|_, _| Ok(true));
        assert!(
            service(follows)
                .remove_follower(UserId::new(1), UserId::new(9))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn unfollowing_yourself_touches_nothing() {
        let svc = service(MockFollowRepository::new());
        assert!(svc.unfollow(UserId::new(3), UserId::new(3)).await.is_ok());
    }
}
