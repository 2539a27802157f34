//! The home feed, read from the materialised `feed_entries` that creating a post fills (fan-out
//! on write; follows and unfollows keep it in db/follows.rs): a page is an index range of the
//! viewer's entries joined to their posts, whatever the viewer follows.

use async_trait::async_trait;
use being_social_domain::Result;
use being_social_domain::model::{Post, UserId};
use being_social_domain::pagination::{Page, PageRequest};
use being_social_domain::ports::FeedRepository;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::models::{AuthorRow, PostRow};
use super::page::{PostWithLike, into_posts, post_cursor};
use super::schema::{feed_entries, likes, posts, users};
use super::{Database, DbResult, newest_first_start};

#[async_trait]
impl FeedRepository for Database {
    #[tracing::instrument(skip(self))]
    async fn feed(&self, viewer: UserId, page: PageRequest) -> Result<Page<Post>> {
        let viewer = viewer.get();
        let (at, id) = newest_first_start(page.after);
        let limit = page.fetch_limit();
        // A range of the viewer's materialised feed (see migrations/*_feed_entries), joined to
        // its posts: an index-only scan of `limit` entries, whatever the viewer follows.
        let rows: Vec<PostWithLike> = async {
            with_conn!(self, conn => {
                DbResult::Ok(newest_first_page!(
                    feed_entries::table
                        .inner_join(posts_with_likes!(viewer))
                        .filter(feed_entries::viewer_id.eq(viewer)),
                    feed_entries::created_at,
                    feed_entries::post_id,
                    (at, id),
                    limit
                )
                .select(post_with_like_columns!())
                .load(conn)
                .await?)
            })
        }
        .await?;
        Ok(Page::from_rows(into_posts(rows), &page, post_cursor))
    }
}
