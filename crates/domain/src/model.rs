//! Entities as the rest of the system sees them. Media are referred to by the key the server
//! issued; turning a key into a URL is the HTTP layer's business.

use std::fmt;

use chrono::{DateTime, Utc};

/// Declares a typed id: an `i64` that cannot be passed where another kind of id is expected.
macro_rules! id_type {
    ($(#[doc = $doc:literal])* $name:ident) => {
        $(#[doc = $doc])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            pub const fn new(raw: i64) -> Self {
                Self(raw)
            }

            /// The number, for storage and for the wire.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl From<i64> for $name {
            fn from(raw: i64) -> Self {
                Self(raw)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A user's id.
    UserId
);
id_type!(
    /// A post's id.
    PostId
);
id_type!(
    /// A comment's id.
    CommentId
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub full_name: String,
    pub bio: String,
    pub avatar_key: Option<String>,
    pub post_count: i64,
    pub follower_count: i64,
    pub following_count: i64,
    pub created_at: DateTime<Utc>,
}

impl User {
    pub fn summary(&self) -> UserSummary {
        UserSummary {
            id: self.id,
            full_name: self.full_name.clone(),
            avatar_key: self.avatar_key.clone(),
        }
    }
}

/// What a post or comment shows of its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub id: UserId,
    pub full_name: String,
    pub avatar_key: Option<String>,
}

/// How an authenticated viewer relates to another user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relationship {
    /// The viewer follows the user.
    pub is_following: bool,
    /// The user follows the viewer.
    pub follows_you: bool,
}

/// A user in a list (followers, following, likers), with the time of the edge that put it there:
/// lists are ordered and paginated by that time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedUser {
    pub user: User,
    pub since: DateTime<Utc>,
    /// How the viewer relates to the listed user; filled by the services, one query per page.
    pub relationship: Relationship,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follow {
    pub follower_id: UserId,
    pub leader_id: UserId,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Like {
    pub user_id: UserId,
    pub post_id: PostId,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub id: PostId,
    pub author: UserSummary,
    pub image_key: String,
    /// The 1080 px rendition; None when the display image is no larger (or for posts made before
    /// it existed): the display image serves.
    pub medium_key: Option<String>,
    pub thumbnail_key: String,
    pub width: i32,
    pub height: i32,
    pub caption: String,
    pub alt_text: String,
    /// None for posts made before placeholders were computed.
    pub placeholder: Option<Placeholder>,
    /// The post's second to last pictures, in order: the fields above describe its first.
    pub more_pictures: Vec<Picture>,
    pub likes_count: i64,
    pub comments_count: i64,
    /// Whether the viewer the post was read for likes it (false for anonymous reads).
    pub liked_by_me: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One picture of a post beyond its first (whose fields are the [`Post`]'s own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub image_key: String,
    /// As [`Post::medium_key`].
    pub medium_key: Option<String>,
    pub thumbnail_key: String,
    pub width: i32,
    pub height: i32,
    pub alt_text: String,
    pub placeholder: Placeholder,
}

/// The most pictures one post may have (Instagram's and Pixelfed's number).
pub const MAX_PICTURES_PER_POST: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: CommentId,
    pub post_id: PostId,
    pub parent_id: Option<CommentId>,
    pub author: UserSummary,
    pub content: String,
    pub reply_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Who owns a comment and the post under it: what deciding a deletion needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentOwnership {
    pub post_id: PostId,
    pub comment_author: UserId,
    pub post_author: UserId,
}

/// The result of a like: whether this request created it, and the count after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LikeOutcome {
    pub created: bool,
    pub likes_count: i64,
}

/// A processed picture ready to be stored: a display image, for a post's picture a medium one
/// (unless the display image is no larger), and a thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedImage {
    pub display: EncodedImage,
    /// At most 1080 px on its long edge, for phones' screens.
    pub medium: Option<EncodedImage>,
    pub thumbnail: EncodedImage,
    pub placeholder: Placeholder,
}

/// What a client draws before a picture's bytes arrive: its [BlurHash](https://blurha.sh) and its
/// average colour (`#rrggbb`, sRGB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub blurhash: String,
    pub dominant_color: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedImage {
    pub bytes: Vec<u8>,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    /// The same pixels as WebP, when that is smaller than `bytes`: stored beside them
    /// ([`sibling_key`]) for clients that accept it.
    pub webp: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    WebP,
}

impl ImageFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::WebP => "image/webp",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::WebP => "webp",
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext {
            "jpg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "webp" => Some(Self::WebP),
            _ => None,
        }
    }
}

/// The key of the same picture in `format`, stored beside `key` (`MediaStore::put`'s
/// `beside`): a key is a name, a dot and its format's extension, and the formats of one picture
/// share the name. `None` when `key` has no extension or already is of `format`.
pub fn sibling_key(key: &str, format: ImageFormat) -> Option<String> {
    let (name, extension) = key.rsplit_once('.')?;
    (!name.is_empty() && extension != format.extension())
        .then(|| format!("{name}.{}", format.extension()))
}

/// `keys` with the WebP key beside each one that may have one (JPEG and PNG keys): what removing
/// pictures removes.
pub fn with_webp_siblings(keys: Vec<String>) -> Vec<String> {
    let mut all = Vec::with_capacity(keys.len() * 2);
    for key in keys {
        let sibling = key
            .rsplit_once('.')
            .filter(|(_, ext)| matches!(*ext, "jpg" | "png"))
            .and_then(|_| sibling_key(&key, ImageFormat::WebP));
        all.push(key);
        all.extend(sibling);
    }
    all
}

/// What a picture is for: posts keep their aspect ratio, avatars are cropped square.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImagePurpose {
    Post,
    Avatar,
}

/// Bytes read back from media storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMedia {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

/// A new login token: the secret is shown to the client once, only its hash is kept.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub secret: String,
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IssuedToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_share_the_name() {
        let key = "0123456789abcdef0123456789abcdef.jpg";
        assert_eq!(
            sibling_key(key, ImageFormat::WebP).as_deref(),
            Some("0123456789abcdef0123456789abcdef.webp")
        );
        assert_eq!(sibling_key(key, ImageFormat::Jpeg), None);
        assert_eq!(sibling_key("noextension", ImageFormat::WebP), None);
        assert_eq!(sibling_key(".jpg", ImageFormat::WebP), None);
        assert_eq!(
            with_webp_siblings(vec!["a.jpg".into(), "b.png".into(), "c.webp".into()]),
            ["a.jpg", "a.webp", "b.png", "b.webp", "c.webp"]
        );
    }
}
