//! What clients receive. Media keys become absolute URLs here and timestamps RFC 3339 in UTC.

use actix_web::{HttpRequest, web};
use being_social_domain::model::{
    Comment, ListedUser, Post, Relationship, User, UserId, UserSummary,
};
use being_social_domain::pagination::Page;
use being_social_domain::services::Profile;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::pagination::{PageBody, encode_cursor};
use crate::public_url::{BaseUrl, PublicUrl};
use being_social_domain::model::CommentId;

/// Absolute URLs for a request, on the base its [`PublicUrl`] policy gives.
#[derive(Debug, Clone)]
pub struct Urls {
    base: String,
    /// `media_url`, when pictures are fetched from elsewhere.
    media: Option<String>,
}

impl Urls {
    /// Under the policy of the application's [`AppState`]; a request outside an application
    /// (a unit test's) gets its `Host` header.
    pub fn from_request(req: &HttpRequest) -> Self {
        let state = req.app_data::<web::Data<AppState>>();
        let base = match state {
            Some(state) => state.public_url.base(req),
            None => PublicUrl::FromHost {
                fallback: BaseUrl::for_address(([127, 0, 0, 1], 80).into()),
            }
            .base(req),
        };
        let media = state.and_then(|state| Some(state.media_url.as_ref()?.as_str().to_owned()));
        Self { base, media }
    }

    pub fn media(&self, key: &str) -> String {
        match &self.media {
            Some(media) => format!("{media}/{key}"),
            None => format!("{}/media/{key}", self.base),
        }
    }

    /// `path` starts with `/`.
    pub fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserBody {
    #[schema(value_type = i64)]
    pub id: UserId,
    /// Only in the caller's own user: nobody reads another person's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub email: Option<String>,
    pub full_name: String,
    pub bio: String,
    pub avatar_url: Option<String>,
    pub post_count: i64,
    pub follower_count: i64,
    pub following_count: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Only for an authenticated viewer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = bool)]
    pub is_following: Option<bool>,
    /// Only for an authenticated viewer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = bool)]
    pub follows_you: Option<bool>,
}

impl UserBody {
    /// The user as another viewer, related to it by `relationship`, sees it (`None`: anonymous):
    /// without the email, which only its owner sees ([`Self::own`], [`Self::of_owner`]).
    pub fn new(user: User, relationship: Option<Relationship>, urls: &Urls) -> Self {
        Self {
            id: user.id,
            email: None,
            full_name: user.full_name,
            bio: user.bio,
            avatar_url: user.avatar_key.as_deref().map(|key| urls.media(key)),
            post_count: user.post_count,
            follower_count: user.follower_count,
            following_count: user.following_count,
            created_at: timestamp(user.created_at),
            is_following: relationship.map(|r| r.is_following),
            follows_you: relationship.map(|r| r.follows_you),
        }
    }

    /// The caller's own user, as it sees itself.
    pub fn own(user: User, urls: &Urls) -> Self {
        Self::of_owner(user, Some(Relationship::default()), urls)
    }

    /// The user with its email: for answers that go to the user itself only (sign-up, login,
    /// its own profile).
    pub fn of_owner(user: User, relationship: Option<Relationship>, urls: &Urls) -> Self {
        let email = user.email.clone();
        Self {
            email: Some(email),
            ..Self::new(user, relationship, urls)
        }
    }

    pub fn listed(listed: ListedUser, urls: &Urls) -> Self {
        Self::new(listed.user, Some(listed.relationship), urls)
    }
}

/// `GET /accounts/{user}/`: the user, and for an authenticated viewer the first page of its posts.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Profile)]
pub struct ProfileBody {
    #[serde(flatten)]
    pub user: UserBody,
    /// Only for an authenticated viewer: the first page of the user's posts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posts: Option<PageBody<PostBody>>,
}

impl ProfileBody {
    /// The profile as `viewer` sees it (`None`: anonymous); only its owner sees the email.
    pub fn new(profile: Profile, viewer: Option<UserId>, urls: &Urls) -> Self {
        let user_id = profile.user.id;
        let posts = profile.posts.map(|page: Page<Post>| {
            PageBody::new(
                page,
                |cursor| {
                    urls.absolute(&format!(
                        "/accounts/{user_id}/posts/?cursor={}",
                        encode_cursor(&cursor)
                    ))
                },
                |post| PostBody::new(post, urls),
            )
        });
        Self {
            user: if viewer == Some(profile.user.id) {
                UserBody::of_owner(profile.user, profile.relationship, urls)
            } else {
                UserBody::new(profile.user, profile.relationship, urls)
            },
            posts,
        }
    }
}

/// What a post or comment shows of its author.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Author)]
pub struct AuthorBody {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub full_name: String,
    pub avatar_url: Option<String>,
}

impl AuthorBody {
    pub fn new(author: UserSummary, urls: &Urls) -> Self {
        Self {
            id: author.id,
            full_name: author.full_name,
            avatar_url: author.avatar_key.as_deref().map(|key| urls.media(key)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Post)]
pub struct PostBody {
    pub id: i64,
    pub author: AuthorBody,
    pub image_url: String,
    pub thumbnail_url: String,
    pub width: i32,
    pub height: i32,
    pub caption: String,
    pub alt_text: String,
    /// The picture's [BlurHash](https://blurha.sh) (4 × 3 components, 3 × 4 for a portrait
    /// picture), to draw before the picture arrives; null for posts made before placeholders.
    #[schema(example = "LEHV6nWB2yk8pyo0adR*.7kCMdnj")]
    pub blurhash: Option<String>,
    /// The picture's average colour, `#rrggbb` (sRGB); null when `blurhash` is.
    #[schema(pattern = "^#[0-9a-f]{6}$", example = "#7a5c3e")]
    pub dominant_color: Option<String>,
    /// Every picture of the post, in order (one to ten); the first is the one the fields above
    /// describe.
    pub media: Vec<MediaBody>,
    pub likes_count: i64,
    pub comments_count: i64,
    pub liked_by_me: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// One picture of a post.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Media)]
pub struct MediaBody {
    /// The display image, at most 2048 px on its long edge.
    pub image_url: String,
    /// At most 1080 px on its long edge, for phones; the display image's URL when that is no
    /// larger (or for pictures made before this rendition existed).
    pub medium_url: String,
    /// At most 320 px on its long edge.
    pub thumbnail_url: String,
    /// Of the display image.
    pub width: i32,
    pub height: i32,
    pub alt_text: String,
    /// As the post's `blurhash`.
    #[schema(example = "LEHV6nWB2yk8pyo0adR*.7kCMdnj")]
    pub blurhash: Option<String>,
    /// As the post's `dominant_color`.
    #[schema(pattern = "^#[0-9a-f]{6}$", example = "#7a5c3e")]
    pub dominant_color: Option<String>,
}

impl PostBody {
    pub fn new(post: Post, urls: &Urls) -> Self {
        let first = MediaBody {
            image_url: urls.media(&post.image_key),
            medium_url: urls.media(post.medium_key.as_deref().unwrap_or(&post.image_key)),
            thumbnail_url: urls.media(&post.thumbnail_key),
            width: post.width,
            height: post.height,
            alt_text: post.alt_text.clone(),
            blurhash: post.placeholder.as_ref().map(|p| p.blurhash.clone()),
            dominant_color: post.placeholder.as_ref().map(|p| p.dominant_color.clone()),
        };
        let mut media = Vec::with_capacity(1 + post.more_pictures.len());
        media.push(first);
        media.extend(post.more_pictures.into_iter().map(|picture| MediaBody {
            image_url: urls.media(&picture.image_key),
            medium_url: urls.media(picture.medium_key.as_deref().unwrap_or(&picture.image_key)),
            thumbnail_url: urls.media(&picture.thumbnail_key),
            width: picture.width,
            height: picture.height,
            alt_text: picture.alt_text,
            blurhash: Some(picture.placeholder.blurhash),
            dominant_color: Some(picture.placeholder.dominant_color),
        }));
        Self {
            id: post.id.get(),
            author: AuthorBody::new(post.author, urls),
            image_url: urls.media(&post.image_key),
            thumbnail_url: urls.media(&post.thumbnail_key),
            width: post.width,
            height: post.height,
            caption: post.caption,
            alt_text: post.alt_text,
            blurhash: post.placeholder.as_ref().map(|p| p.blurhash.clone()),
            dominant_color: post.placeholder.map(|p| p.dominant_color),
            media,
            likes_count: post.likes_count,
            comments_count: post.comments_count,
            liked_by_me: post.liked_by_me,
            created_at: timestamp(post.created_at),
            updated_at: timestamp(post.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Comment)]
pub struct CommentBody {
    pub id: i64,
    pub post_id: i64,
    pub parent_id: Option<i64>,
    pub author: AuthorBody,
    pub content: String,
    pub reply_count: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl CommentBody {
    pub fn new(comment: Comment, urls: &Urls) -> Self {
        Self {
            id: comment.id.get(),
            post_id: comment.post_id.get(),
            parent_id: comment.parent_id.map(CommentId::get),
            author: AuthorBody::new(comment.author, urls),
            content: comment.content,
            reply_count: comment.reply_count,
            created_at: timestamp(comment.created_at),
            updated_at: timestamp(comment.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Login)]
pub struct LoginBody {
    pub token: String,
    pub user: UserBody,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Follow)]
pub struct FollowBody {
    pub following: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Like)]
pub struct LikeBody {
    pub liked: bool,
    pub likes_count: i64,
}

/// `/healthz` and `/readyz` while all is well.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Status)]
pub struct StatusBody {
    #[schema(value_type = String, example = "ok")]
    pub status: &'static str,
}

impl StatusBody {
    pub const OK: Self = Self { status: "ok" };
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn user() -> User {
        User {
            id: UserId::new(7),
            email: "a@example.com".into(),
            full_name: "A".into(),
            bio: String::new(),
            avatar_key: None,
            post_count: 1,
            follower_count: 2,
            following_count: 3,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn user_json() {
        let req = TestRequest::get()
            .insert_header(("host", "api.example"))
            .to_http_request();
        let urls = Urls::from_request(&req);
        let anonymous = serde_json::to_value(UserBody::new(user(), None, &urls)).ok();
        let Some(anonymous) = anonymous else {
            panic!("serialize")
        };
        assert!(anonymous.get("is_following").is_none());
        assert!(anonymous.get("email").is_none());
        assert!(anonymous["avatar_url"].is_null());
        assert_eq!(anonymous["created_at"], "1970-01-01T00:00:00.000000Z");
        let mut with_avatar = user();
        with_avatar.avatar_key = Some("ab.jpg".into());
        let viewer = serde_json::to_value(UserBody::own(with_avatar, &urls)).ok();
        let Some(viewer) = viewer else {
            panic!("serialize")
        };
        assert_eq!(viewer["email"], "a@example.com");
        assert_eq!(viewer["is_following"], false);
        assert_eq!(viewer["follows_you"], false);
        assert_eq!(viewer["avatar_url"], "http://api.example/media/ab.jpg");
    }
}
