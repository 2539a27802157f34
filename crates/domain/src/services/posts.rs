//! Posts: publishing a picture, reading, editing and deleting a post, an author's posts.

use std::sync::Arc;

use super::{Ports, UserRef, resolve_user};
use crate::Resource;
use crate::model::{ImagePurpose, Post, PostId, UserId};
use crate::pagination::{Page, PageRequest};
use crate::ports::{
    AccountRepository, ImageProcessor, MediaStore, NewPost, PostRepository, PostTextChanges,
};
use crate::values::{AltText, Caption};
use crate::{DomainError, FieldErrors, Result};

/// A change to a post's text; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct PostUpdate {
    pub caption: Option<String>,
    pub alt_text: Option<String>,
}

/// Posts: publishing, reading, editing and deleting them, and an author's list.
#[derive(Clone)]
pub struct PostService {
    accounts: Arc<dyn AccountRepository>,
    posts: Arc<dyn PostRepository>,
    images: Arc<dyn ImageProcessor>,
    media: Arc<dyn MediaStore>,
}

fn text_fields(caption: Option<&str>, alt_text: Option<&str>) -> Result<PostTextChanges> {
    let mut errors = FieldErrors::default();
    let changes = PostTextChanges {
        caption: caption.and_then(|v| errors.check("caption", Caption::parse(v))),
        alt_text: alt_text.and_then(|v| errors.check("alt_text", AltText::parse(v))),
    };
    errors.into_result()?;
    Ok(changes)
}

impl PostService {
    pub fn new(ports: &Ports) -> Self {
        Self {
            accounts: ports.accounts.clone(),
            posts: ports.posts.clone(),
            images: ports.images.clone(),
            media: ports.media.clone(),
        }
    }

    /// Publishes a picture. The text is checked before the picture is decoded; the files are
    /// stored before the row is written, and removed again if the row cannot be.
    ///
    /// # Errors
    /// `Validation`, `UnsupportedMediaType`, `BadRequest("image_too_large")`.
    pub async fn create(
        &self,
        author: UserId,
        image: Vec<u8>,
        caption: Option<&str>,
        alt_text: Option<&str>,
    ) -> Result<Post> {
        let text = text_fields(caption, alt_text)?;
        let processed = self.images.process(image, ImagePurpose::Post).await?;
        let (width, height) = (processed.display.width, processed.display.height);
        let image_key = self
            .media
            .put(processed.display.bytes, processed.display.format)
            .await?;
        let thumbnail_key = match self
            .media
            .put(processed.thumbnail.bytes, processed.thumbnail.format)
            .await
        {
            Ok(key) => key,
            Err(err) => {
                let _ = self.media.delete(vec![image_key]).await;
                return Err(err);
            }
        };
        let new_post = NewPost {
            author,
            image_key: image_key.clone(),
            thumbnail_key: thumbnail_key.clone(),
            width: i32::try_from(width).map_err(DomainError::internal)?,
            height: i32::try_from(height).map_err(DomainError::internal)?,
            caption: text
                .caption
                .unwrap_or(Caption::parse("").map_err(DomainError::internal)?),
            alt_text: text
                .alt_text
                .unwrap_or(AltText::parse("").map_err(DomainError::internal)?),
            placeholder: processed.placeholder,
        };
        match self.posts.create(new_post).await {
            Ok(post) => Ok(post),
            Err(err) => {
                let _ = self.media.delete(vec![image_key, thumbnail_key]).await;
                Err(err)
            }
        }
    }

    /// # Errors
    /// `NotFound(Resource::Post)`.
    pub async fn get(&self, id: PostId, viewer: Option<UserId>) -> Result<Post> {
        self.posts
            .get(id, viewer)
            .await?
            .ok_or(DomainError::NotFound(Resource::Post))
    }

    async fn ensure_author(&self, id: PostId, me: UserId, action: &'static str) -> Result<()> {
        match self.posts.author_of(id).await? {
            None => Err(DomainError::NotFound(Resource::Post)),
            Some(author) if author != me => Err(DomainError::Forbidden(action)),
            Some(_) => Ok(()),
        }
    }

    /// Changes caption and alt text of one's own post.
    ///
    /// # Errors
    /// `NotFound(Resource::Post)`, `Forbidden`, `Validation`.
    pub async fn update(&self, id: PostId, me: UserId, update: PostUpdate) -> Result<Post> {
        self.ensure_author(id, me, "Only the author may edit a post.")
            .await?;
        let changes = text_fields(update.caption.as_deref(), update.alt_text.as_deref())?;
        self.posts.update_text(id, changes, me).await
    }

    /// Deletes one's own post, then its files.
    ///
    /// # Errors
    /// `NotFound(Resource::Post)`, `Forbidden`.
    pub async fn delete(&self, id: PostId, me: UserId) -> Result<()> {
        self.ensure_author(id, me, "Only the author may delete a post.")
            .await?;
        let removed = self.posts.delete(id, me).await?;
        if !removed.keys.is_empty() {
            let _ = self.media.delete(removed.keys).await;
        }
        Ok(())
    }

    /// # Errors
    /// `NotFound(Resource::User)`.
    pub async fn by_author(
        &self,
        author: &UserRef,
        me: UserId,
        page: PageRequest,
    ) -> Result<Page<Post>> {
        let author = resolve_user(self.accounts.as_ref(), author).await?;
        self.posts.by_author(author.id, me, page).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EncodedImage, ImageFormat, Placeholder, ProcessedImage};
    use crate::ports::{
        MockAccountRepository, MockImageProcessor, MockMediaStore, MockPostRepository,
    };

    fn encoded() -> EncodedImage {
        EncodedImage {
            bytes: vec![0],
            format: ImageFormat::Jpeg,
            width: 10,
            height: 10,
        }
    }

    fn service(
        posts: MockPostRepository,
        images: MockImageProcessor,
        media: MockMediaStore,
    ) -> PostService {
        PostService {
            accounts: Arc::new(MockAccountRepository::new()),
            posts: Arc::new(posts),
            images: Arc::new(images),
            media: Arc::new(media),
        }
    }

    #[tokio::test]
    async fn stored_files_are_removed_when_the_row_cannot_be_written() {
        let mut images = MockImageProcessor::new();
        images.expect_process().returning(|_, _| {
            Ok(ProcessedImage {
                display: encoded(),
                thumbnail: encoded(),
                placeholder: Placeholder {
                    blurhash: "LEHV6nWB2yk8pyo0adR*.7kCMdnj".into(),
                    dominant_color: "#808080".into(),
                },
            })
        });
        let mut media = MockMediaStore::new();
        let mut n = 0;
        media.expect_put().times(2).returning(move |_, _| {
            n += 1;
            Ok(format!("key{n}"))
        });
        media
            .expect_delete()
            .withf(|keys| keys == &["key1".to_owned(), "key2".to_owned()])
            .times(1)
            .returning(|_| Ok(()));
        let mut posts = MockPostRepository::new();
        posts
            .expect_create()
            .returning(|_| Err(DomainError::NotFound(Resource::User)));
        let err = service(posts, images, media)
            .create(UserId::new(1), vec![1, 2, 3], Some("hello"), None)
            .await
            .err();
        assert!(matches!(err, Some(DomainError::NotFound(Resource::User))));
    }

    #[tokio::test]
    async fn a_bad_caption_is_refused_before_the_picture_is_decoded() {
        let svc = service(
            MockPostRepository::new(),
            MockImageProcessor::new(),
            MockMediaStore::new(),
        );
        let caption = "x".repeat(2201);
        let err = svc
            .create(UserId::new(1), vec![1], Some(&caption), None)
            .await
            .err();
        assert!(matches!(err, Some(DomainError::Validation(_))));
    }

    #[tokio::test]
    async fn only_the_author_edits() {
        let mut posts = MockPostRepository::new();
        posts
            .expect_author_of()
            .returning(|_| Ok(Some(UserId::new(2))));
        let svc = service(posts, MockImageProcessor::new(), MockMediaStore::new());
        let err = svc
            .update(PostId::new(10), UserId::new(1), PostUpdate::default())
            .await
            .err();
        assert!(matches!(err, Some(DomainError::Forbidden(_))));
        let err = svc.delete(PostId::new(10), UserId::new(1)).await.err();
        assert!(matches!(err, Some(DomainError::Forbidden(_))));
    }
}
