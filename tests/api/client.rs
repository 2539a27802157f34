//! The typed client: requests as one user (or nobody), one method per endpoint of the contract,
//! e.g. `app.as_(&ann).like(post)` or `app.anonymous().profile(&ann)`. Each sends what the
//! contract asks for (the path with its trailing slash, the token, the JSON body) and answers the
//! status and the JSON body (`Null` when there is none), for the test to check. Requests that test
//! the edges of the contract (other paths, headers or bytes) use the raw helpers of `helpers`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, png};

/// The status and JSON body of an answer (`Null` when it has none).
pub type Reply = (StatusCode, Value);

/// A user in a path: a [`TestUser`], a bare id, or any text (an email, an id that names nobody,
/// one that is not a number).
pub trait UserRef {
    fn segment(&self) -> String;
}

impl UserRef for TestUser {
    fn segment(&self) -> String {
        self.id.to_string()
    }
}

impl UserRef for i64 {
    fn segment(&self) -> String {
        self.to_string()
    }
}

impl UserRef for str {
    fn segment(&self) -> String {
        self.to_owned()
    }
}

impl UserRef for String {
    fn segment(&self) -> String {
        self.clone()
    }
}

impl<T: UserRef + ?Sized> UserRef for &T {
    fn segment(&self) -> String {
        (**self).segment()
    }
}

/// Requests as one user, or anonymously.
#[derive(Clone, Copy)]
pub struct As<'a> {
    app: &'a TestApp,
    token: Option<&'a str>,
}

impl TestApp {
    /// Requests with `user`'s token.
    pub fn as_<'a>(&'a self, user: &'a TestUser) -> As<'a> {
        As {
            app: self,
            token: Some(&user.token),
        }
    }

    /// Requests without a token.
    pub fn anonymous(&self) -> As<'_> {
        As {
            app: self,
            token: None,
        }
    }
}

impl As<'_> {
    // Accounts.

    /// `GET /accounts/me/`.
    pub async fn me(&self) -> Reply {
        self.app.get("/accounts/me/", self.token).await
    }

    /// `GET /accounts/{user}/`: the profile, with its first page of posts.
    pub async fn profile(&self, user: impl UserRef) -> Reply {
        let path = format!("/accounts/{}/", user.segment());
        self.app.get(&path, self.token).await
    }

    /// `GET /accounts/{user}/posts/`.
    pub async fn posts_of(&self, user: impl UserRef) -> Reply {
        let path = format!("/accounts/{}/posts/", user.segment());
        self.app.get(&path, self.token).await
    }

    /// `PATCH /accounts/{user}/` with `changes`.
    pub async fn edit_profile(&self, user: impl UserRef, changes: Value) -> Reply {
        let path = format!("/accounts/{}/", user.segment());
        self.app.patch(&path, self.token, changes).await
    }

    /// `DELETE /accounts/{user}/`.
    pub async fn delete_account(&self, user: impl UserRef) -> Reply {
        let path = format!("/accounts/{}/", user.segment());
        self.app.delete(&path, self.token).await
    }

    // Follows.

    /// `POST /accounts/follow/{whom}/`: 201 for a new follow, 200 when it was there.
    pub async fn follow(&self, whom: impl UserRef) -> Reply {
        let path = format!("/accounts/follow/{}/", whom.segment());
        self.app.post(&path, self.token, json!({})).await
    }

    /// `DELETE /accounts/follow/{whom}/`.
    pub async fn unfollow(&self, whom: impl UserRef) -> Reply {
        let path = format!("/accounts/follow/{}/", whom.segment());
        self.app.delete(&path, self.token).await
    }

    /// `DELETE /accounts/remove-follower/{who}/`.
    pub async fn remove_follower(&self, who: impl UserRef) -> Reply {
        let path = format!("/accounts/remove-follower/{}/", who.segment());
        self.app.delete(&path, self.token).await
    }

    /// `GET /accounts/follower/{user}/`: the first page of `user`'s followers.
    pub async fn followers(&self, user: impl UserRef) -> Reply {
        let path = format!("/accounts/follower/{}/", user.segment());
        self.app.get(&path, self.token).await
    }

    /// `GET /accounts/following/{user}/`: the first page of whom `user` follows.
    pub async fn following(&self, user: impl UserRef) -> Reply {
        let path = format!("/accounts/following/{}/", user.segment());
        self.app.get(&path, self.token).await
    }

    // Posts.

    /// A new post of a small generated PNG with `caption`; asserts the 201, returns its id.
    pub async fn post(&self, caption: &str) -> i64 {
        let token = self.token.expect("only a user posts");
        let (status, body) = self.app.upload(token, png(40, 30), caption).await;
        assert_eq!(status, StatusCode::CREATED, "upload: {body}");
        body["id"].as_i64().unwrap()
    }

    /// `GET /posts/edit/{post}/`.
    pub async fn get_post(&self, post: i64) -> Reply {
        self.app
            .get(&format!("/posts/edit/{post}/"), self.token)
            .await
    }

    /// `PATCH /posts/edit/{post}/` with `changes`.
    pub async fn edit_post(&self, post: i64, changes: Value) -> Reply {
        self.app
            .patch(&format!("/posts/edit/{post}/"), self.token, changes)
            .await
    }

    /// `DELETE /posts/edit/{post}/`.
    pub async fn delete_post(&self, post: i64) -> Reply {
        self.app
            .delete(&format!("/posts/edit/{post}/"), self.token)
            .await
    }

    // Likes.

    /// `POST /posts/post-reaction/{post}/`: 201 for a new like, 200 when it was there.
    pub async fn like(&self, post: i64) -> Reply {
        self.app
            .post(
                &format!("/posts/post-reaction/{post}/"),
                self.token,
                json!({}),
            )
            .await
    }

    /// `DELETE /posts/delete-like/{post}/`.
    pub async fn unlike(&self, post: i64) -> Reply {
        self.app
            .delete(&format!("/posts/delete-like/{post}/"), self.token)
            .await
    }

    /// `GET /posts/post-reaction/{post}/`: the first page of the post's likers.
    pub async fn likers(&self, post: i64) -> Reply {
        self.app
            .get(&format!("/posts/post-reaction/{post}/"), self.token)
            .await
    }

    // Comments.

    /// `POST /posts/post-comment/{post}/` with `content`.
    pub async fn comment(&self, post: i64, content: &str) -> Reply {
        let path = format!("/posts/post-comment/{post}/");
        self.app
            .post(&path, self.token, json!({"content": content}))
            .await
    }

    /// `POST /posts/post-comment/{post}/{parent}/` with `content`: a reply.
    pub async fn reply(&self, post: i64, parent: i64, content: &str) -> Reply {
        let path = format!("/posts/post-comment/{post}/{parent}/");
        self.app
            .post(&path, self.token, json!({"content": content}))
            .await
    }

    /// `GET /posts/post-comment/{post}/`: the first page of the post's comments.
    pub async fn comments(&self, post: i64) -> Reply {
        self.app
            .get(&format!("/posts/post-comment/{post}/"), self.token)
            .await
    }

    /// `DELETE /posts/delete-comment/{comment}/`: the comment and every reply under it.
    pub async fn delete_comment(&self, comment: i64) -> Reply {
        self.app
            .delete(&format!("/posts/delete-comment/{comment}/"), self.token)
            .await
    }

    // Feed.

    /// `GET /posts/post-feed/`: the first page of the caller's feed.
    pub async fn feed(&self) -> Reply {
        self.app.get("/posts/post-feed/", self.token).await
    }
}
