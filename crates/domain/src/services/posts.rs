//! Posts: publishing pictures, reading, editing and deleting a post, an author's posts.

use std::sync::Arc;

use super::{Ports, UserRef, resolve_user};
use crate::Resource;
use crate::model::{
    EncodedImage, ImageFormat, ImagePurpose, MAX_PICTURES_PER_POST, Post, PostId, UserId,
    with_webp_siblings,
};
use crate::pagination::{Page, PageRequest};
use crate::ports::{
    AccountRepository, ImageProcessor, MediaStore, NewPicture, NewPost, PostRepository,
    PostTextChanges,
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

    /// Publishes up to [`MAX_PICTURES_PER_POST`] pictures as one post, in the order given. The
    /// `n`-th alt text describes the `n`-th picture (pictures without one get an empty one).
    ///
    /// All or nothing: the text and every picture's header are checked before any picture is
    /// decoded; the pictures are then processed one after the other (each reserves its own
    /// share of the image budget, never all of them at once), and each one's files are stored
    /// as soon as it is done; the row (with every picture) is written last. Should any step
    /// fail, every file stored so far is removed again and nothing is written.
    ///
    /// # Errors
    /// `Validation` (no picture, more alt texts than pictures, a text too long),
    /// `BadRequest("too_many_images")`, and what [`ImageProcessor::process`] returns.
    pub async fn create(
        &self,
        author: UserId,
        images: Vec<Vec<u8>>,
        caption: Option<&str>,
        alt_texts: Vec<String>,
    ) -> Result<Post> {
        let mut errors = FieldErrors::default();
        let caption = errors.check("caption", Caption::parse(caption.unwrap_or_default()));
        let alts: Vec<Option<AltText>> = alt_texts
            .iter()
            .map(|text| errors.check("alt_text", AltText::parse(text)))
            .collect();
        errors.into_result()?;
        if images.is_empty() {
            return Err(DomainError::validation("image", "No file was submitted."));
        }
        if images.len() > MAX_PICTURES_PER_POST {
            return Err(DomainError::BadRequest {
                code: "too_many_images",
                detail: format!(
                    "A post has at most {MAX_PICTURES_PER_POST} pictures; {} were sent.",
                    images.len()
                ),
            });
        }
        if alts.len() > images.len() {
            return Err(DomainError::validation(
                "alt_text",
                "There are more alt texts than pictures: the n-th alt_text describes the n-th \
                 image.",
            ));
        }
        let empty = AltText::parse("").map_err(DomainError::internal)?;
        let caption = caption.ok_or_else(|| DomainError::internal("a caption without error"))?;
        let mut alts: Vec<AltText> = alts
            .into_iter()
            .map(|alt| alt.unwrap_or_else(|| empty.clone()))
            .collect();
        alts.resize(images.len(), empty);
        for image in &images {
            self.images.check(image, ImagePurpose::Post)?;
        }

        let mut stored = Vec::new();
        let mut pictures = Vec::with_capacity(images.len());
        for (image, alt_text) in images.into_iter().zip(alts) {
            match self.publish_picture(image, alt_text, &mut stored).await {
                Ok(picture) => pictures.push(picture),
                Err(err) => {
                    self.discard(stored).await;
                    return Err(err);
                }
            }
        }
        let mut pictures = pictures.into_iter();
        let Some(first) = pictures.next() else {
            return Err(DomainError::internal("a post without pictures"));
        };
        let new_post = NewPost {
            author,
            image_key: first.image_key,
            medium_key: first.medium_key,
            thumbnail_key: first.thumbnail_key,
            width: first.width,
            height: first.height,
            caption,
            alt_text: first.alt_text,
            placeholder: first.placeholder,
            more_pictures: pictures.collect(),
        };
        match self.posts.create(new_post).await {
            Ok(post) => Ok(post),
            Err(err) => {
                self.discard(stored).await;
                Err(err)
            }
        }
    }

    /// Processes one picture and stores its files, adding their keys to `stored` as each is
    /// written (so that the caller can remove them all should a later step fail).
    async fn publish_picture(
        &self,
        image: Vec<u8>,
        alt_text: AltText,
        stored: &mut Vec<String>,
    ) -> Result<NewPicture> {
        let processed = self.images.process(image, ImagePurpose::Post).await?;
        let (width, height) = (processed.display.width, processed.display.height);
        let image_key = self.store(processed.display, stored).await?;
        let medium_key = match processed.medium {
            Some(medium) => Some(self.store(medium, stored).await?),
            None => None,
        };
        let thumbnail_key = self.store(processed.thumbnail, stored).await?;
        Ok(NewPicture {
            image_key,
            medium_key,
            thumbnail_key,
            width: i32::try_from(width).map_err(DomainError::internal)?,
            height: i32::try_from(height).map_err(DomainError::internal)?,
            alt_text,
            placeholder: processed.placeholder,
        })
    }

    /// Stores one rendition, and its WebP beside it when it has one; returns the rendition's key
    /// (the WebP's is found from it, [`crate::model::sibling_key`]).
    async fn store(&self, image: EncodedImage, stored: &mut Vec<String>) -> Result<String> {
        let key = self.media.put(image.bytes, image.format, None).await?;
        stored.push(key.clone());
        if let Some(webp) = image.webp {
            let sibling = self
                .media
                .put(webp, ImageFormat::WebP, Some(key.clone()))
                .await?;
            stored.push(sibling);
        }
        Ok(key)
    }

    /// Removes files that no row refers to (best effort: a failure is logged by the store).
    async fn discard(&self, keys: Vec<String>) {
        if !keys.is_empty() {
            let _ = self.media.delete(keys).await;
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
        self.discard(with_webp_siblings(removed.keys)).await;
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
    use crate::model::{Placeholder, ProcessedImage};
    use crate::ports::{
        MockAccountRepository, MockImageProcessor, MockMediaStore, MockPostRepository,
    };

    fn encoded() -> EncodedImage {
        EncodedImage {
            bytes: vec![0],
            format: ImageFormat::Jpeg,
            width: 10,
            height: 10,
            webp: None,
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

    fn processed() -> ProcessedImage {
        ProcessedImage {
            display: encoded(),
            medium: None,
            thumbnail: encoded(),
            placeholder: Placeholder {
                blurhash: "LEHV6nWB2yk8pyo0adR*.7kCMdnj".into(),
                dominant_color: "#808080".into(),
            },
        }
    }

    /// Images whose every header is fine and that all process into [`processed`].
    fn accepting_images() -> MockImageProcessor {
        let mut images = MockImageProcessor::new();
        images.expect_check().returning(|_, _| Ok(()));
        images.expect_process().returning(|_, _| Ok(processed()));
        images
    }

    /// A store that expects `puts` files and names them `key1`, `key2`, ... in turn.
    fn numbering_media(puts: usize) -> MockMediaStore {
        let mut media = MockMediaStore::new();
        let mut n = 0;
        media.expect_put().times(puts).returning(move |_, _, _| {
            n += 1;
            Ok(format!("key{n}"))
        });
        media
    }

    /// The error of user 1's post of `pictures`, if any.
    async fn create_error(
        svc: &PostService,
        pictures: Vec<Vec<u8>>,
        caption: Option<&str>,
        alt_texts: &[&str],
    ) -> Option<DomainError> {
        let alt_texts = alt_texts.iter().map(|&alt| alt.to_owned()).collect();
        svc.create(UserId::new(1), pictures, caption, alt_texts)
            .await
            .err()
    }

    #[tokio::test]
    async fn stored_files_are_removed_when_the_row_cannot_be_written() {
        let mut media = numbering_media(2);
        media
            .expect_delete()
            .withf(|keys| keys == &["key1".to_owned(), "key2".to_owned()])
            .times(1)
            .returning(|_| Ok(()));
        let mut posts = MockPostRepository::new();
        posts
            .expect_create()
            .returning(|_| Err(DomainError::NotFound(Resource::User)));
        let svc = service(posts, accepting_images(), media);
        let err = create_error(&svc, vec![vec![1, 2, 3]], Some("hello"), &[]).await;
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
        let err = create_error(&svc, vec![vec![1]], Some(&caption), &[]).await;
        assert!(matches!(err, Some(DomainError::Validation(_))));
    }

    #[tokio::test]
    async fn one_bad_picture_stores_nothing() {
        // The third of three pictures fails to decode: the files of the first two go again and
        // no row is written.
        let mut images = MockImageProcessor::new();
        images.expect_check().times(3).returning(|_, _| Ok(()));
        images.expect_process().times(3).returning(|bytes, _| {
            if bytes == [3] {
                Err(DomainError::UnsupportedMediaType)
            } else {
                Ok(processed())
            }
        });
        let mut media = numbering_media(4);
        media
            .expect_delete()
            .withf(|keys| keys.len() == 4 && keys[0] == "key1" && keys[3] == "key4")
            .times(1)
            .returning(|_| Ok(()));
        let svc = service(MockPostRepository::new(), images, media);
        let err = create_error(&svc, vec![vec![1], vec![2], vec![3]], None, &[]).await;
        assert!(matches!(err, Some(DomainError::UnsupportedMediaType)));
    }

    #[tokio::test]
    async fn a_bad_header_refuses_the_post_before_any_picture_is_processed() {
        let mut images = MockImageProcessor::new();
        images.expect_check().returning(|bytes, _| {
            if bytes == [2] {
                Err(DomainError::UnsupportedMediaType)
            } else {
                Ok(())
            }
        });
        let svc = service(MockPostRepository::new(), images, MockMediaStore::new());
        let err = create_error(&svc, vec![vec![1], vec![2]], None, &[]).await;
        assert!(matches!(err, Some(DomainError::UnsupportedMediaType)));
    }

    #[tokio::test]
    async fn eleven_pictures_or_more_alt_texts_than_pictures_are_refused() {
        let svc = service(
            MockPostRepository::new(),
            MockImageProcessor::new(),
            MockMediaStore::new(),
        );
        let err = create_error(&svc, vec![vec![1]; 11], None, &[]).await;
        assert!(
            matches!(
                err,
                Some(DomainError::BadRequest {
                    code: "too_many_images",
                    ..
                })
            ),
            "{err:?}"
        );
        let err = create_error(&svc, vec![vec![1]], None, &["a", "b"]).await;
        assert!(matches!(err, Some(DomainError::Validation(_))), "{err:?}");
    }

    #[tokio::test]
    async fn alt_texts_pair_with_pictures_in_order() {
        // Three pictures without a medium rendition: a display and a thumbnail each.
        let mut media = numbering_media(6);
        let mut posts = MockPostRepository::new();
        posts
            .expect_create()
            .withf(|post| {
                post.alt_text.as_str() == "first"
                    && post.image_key == "key1"
                    && post.more_pictures.len() == 2
                    && post.more_pictures[0].alt_text.as_str() == "second"
                    && post.more_pictures[0].image_key == "key3"
                    && post.more_pictures[1].alt_text.as_str().is_empty()
                    && post.more_pictures[1].thumbnail_key == "key6"
            })
            .times(1)
            .returning(|_| Err(DomainError::Unavailable("stop here".into())));
        media.expect_delete().times(1).returning(|_| Ok(()));
        let svc = service(posts, accepting_images(), media);
        let pictures = vec![vec![1], vec![2], vec![3]];
        let err = create_error(&svc, pictures, None, &["first", " second "]).await;
        assert!(matches!(err, Some(DomainError::Unavailable(_))), "{err:?}");
    }

    #[tokio::test]
    async fn each_webp_is_stored_beside_its_rendition() {
        let mut images = MockImageProcessor::new();
        images.expect_check().returning(|_, _| Ok(()));
        images.expect_process().returning(|_, _| {
            let with_webp = EncodedImage {
                webp: Some(vec![9]),
                ..encoded()
            };
            Ok(ProcessedImage {
                display: with_webp.clone(),
                medium: Some(with_webp),
                ..processed()
            })
        });
        let mut media = MockMediaStore::new();
        let mut n = 0;
        media
            .expect_put()
            .times(5)
            .returning(move |_, format, beside| {
                n += 1;
                // display, its WebP, medium, its WebP, thumbnail
                match (n, format, beside.as_deref()) {
                    (1 | 3 | 5, ImageFormat::Jpeg, None) => Ok(format!("k{n}.jpg")),
                    (2, ImageFormat::WebP, Some("k1.jpg")) => Ok("k1.webp".into()),
                    (4, ImageFormat::WebP, Some("k3.jpg")) => Ok("k3.webp".into()),
                    other => panic!("unexpected put {other:?}"),
                }
            });
        let mut posts = MockPostRepository::new();
        posts
            .expect_create()
            .withf(|post| {
                post.image_key == "k1.jpg"
                    && post.medium_key.as_deref() == Some("k3.jpg")
                    && post.thumbnail_key == "k5.jpg"
            })
            .times(1)
            .returning(|_| Err(DomainError::Unavailable("stop here".into())));
        media
            .expect_delete()
            .withf(|keys| keys == &["k1.jpg", "k1.webp", "k3.jpg", "k3.webp", "k5.jpg"])
            .times(1)
            .returning(|_| Ok(()));
        let svc = service(posts, images, media);
        let err = create_error(&svc, vec![vec![1]], None, &[]).await;
        assert!(matches!(err, Some(DomainError::Unavailable(_))), "{err:?}");
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
