// A post as a card (feed) or in full (its page): pictures, author, like button, counts, caption.

import { describe, request } from './api.js';
import { blurhashCanvas } from './blurhash.js';
import { avatar, h, icon, plural, timeAgo, toast } from './dom.js';

// Every element showing a post registers here, so that a change made in one place (a like on the
// post's page) shows in the others (the feed kept for the back button).
const watchers = new Map();
const updaters = new WeakMap();

export function watchPost(el, id, update) {
  updaters.set(el, update);
  if (!watchers.has(id)) watchers.set(id, new Set());
  watchers.get(id).add(new WeakRef(el));
}

/** Tells every view of post `changes.id` about new values of some of its fields. */
export function publishPost(changes) {
  const refs = watchers.get(changes.id);
  for (const ref of refs ?? []) {
    const el = ref.deref();
    if (el) updaters.get(el)?.(changes);
    else refs.delete(ref);
  }
}

/** The pictures of a post: `media` when the API sends several, else the post's own picture. */
export function mediaOf(post) {
  if (Array.isArray(post.media) && post.media.length) return post.media;
  return [post];
}

function altOf(item, post) {
  const alt = (item.alt_text ?? post.alt_text ?? '').trim();
  return alt || `Picture posted by ${post.author.full_name}`;
}

const COLOR = /^(#[0-9a-f]{3,8}|rgba?\([\d\s.,%]+\))$/i;

/** One picture: its placeholder (dominant colour, BlurHash) at the right shape, then the image. */
export function picture(item, post, { eager = false, sizes = '(max-width: 640px) 100vw, 600px', square = false } = {}) {
  const width = Number(item.width) || 1;
  const height = Number(item.height) || 1;
  const frame = h('div', { class: square ? 'frame square' : 'frame' });
  if (!square) frame.style.aspectRatio = `${width} / ${height}`;
  const color = item.dominant_color ?? post.dominant_color;
  if (typeof color === 'string' && COLOR.test(color)) frame.style.backgroundColor = color;
  const hash = item.blurhash ?? (item === post ? post.blurhash : null);
  const placeholder = hash ? blurhashCanvas(hash) : null;
  if (placeholder) frame.append(placeholder);
  const img = h('img', {
    src: square ? item.thumbnail_url || item.image_url : item.image_url,
    alt: altOf(item, post),
    width,
    height,
    loading: eager ? 'eager' : 'lazy',
    decoding: 'async',
  });
  if (item.thumbnail_url && item.thumbnail_url !== item.image_url) {
    const thumbWidth = Math.round(width * Math.min(1, 320 / Math.max(width, height)));
    if (thumbWidth < width) {
      img.srcset = `${item.thumbnail_url} ${thumbWidth}w, ${item.image_url} ${width}w`;
      img.sizes = sizes;
    }
  }
  // Shown once decoded, so that the placeholder never gives way to an empty frame.
  const loaded = () =>
    img
      .decode()
      .catch(() => {})
      .then(() => frame.classList.add('loaded'));
  img.addEventListener('load', loaded, { once: true });
  img.addEventListener('error', () => frame.classList.add('broken'), { once: true });
  frame.append(img);
  return frame;
}

/** The pictures of a post: one, or several in a row that scrolls and snaps. */
export function pictures(post, options = {}) {
  const items = mediaOf(post);
  if (items.length === 1) return h('div', { class: 'pictures' }, picture(items[0], post, options));
  const slides = items.map((item, i) =>
    h('li', { class: 'slide', 'aria-label': `Picture ${i + 1} of ${items.length}` }, picture(item, post, { ...options, eager: options.eager && i === 0 })),
  );
  const track = h('ul', { class: 'track', tabindex: '0', 'aria-label': `${items.length} pictures; use the arrow keys` }, slides);
  const counter = h('span', { class: 'counter', 'aria-hidden': 'true' }, `1 / ${items.length}`);
  const go = (step) => track.scrollBy({ left: step * track.clientWidth, behavior: 'smooth' });
  track.addEventListener('scroll', () => {
    const at = Math.round(track.scrollLeft / Math.max(1, track.clientWidth));
    counter.textContent = `${at + 1} / ${items.length}`;
  });
  return h(
    'div',
    { class: 'pictures carousel' },
    track,
    h('button', { type: 'button', class: 'slide-prev', 'aria-label': 'Previous picture', onclick: () => go(-1) }, icon('left')),
    h('button', { type: 'button', class: 'slide-next', 'aria-label': 'Next picture', onclick: () => go(1) }, icon('right')),
    counter,
  );
}

export function authorLine(post, extra = null) {
  return h(
    'header',
    { class: 'card-head' },
    h('a', { class: 'who', href: `/u/${post.author.id}` }, avatar(post.author), h('span', { class: 'name' }, post.author.full_name)),
    h('a', { class: 'when', href: `/p/${post.id}` }, timeAgo(post.created_at)),
    extra,
  );
}

/**
 * The like button and the likes count. A press shows at once (optimistic); the requests follow,
 * one at a time, until the server agrees with the last press; its answer then sets the count.
 */
export function likeControl(post) {
  let confirmed = { liked: Boolean(post.liked_by_me), count: Number(post.likes_count) || 0 };
  let wanted = confirmed.liked;
  let busy = false;
  const label = h('span', { class: 'visually-hidden' }, 'Like');
  const button = h('button', { type: 'button', class: 'like', 'aria-pressed': 'false' }, icon('heart'), label);
  const count = h('a', { class: 'likes', href: `/p/${post.id}/likes` });

  function show(liked, n) {
    button.setAttribute('aria-pressed', String(liked));
    button.title = liked ? 'Unlike' : 'Like';
    count.textContent = plural(Math.max(0, n), 'like');
  }

  async function sync() {
    if (busy) return;
    busy = true;
    try {
      while (wanted !== confirmed.liked) {
        if (wanted) {
          const answer = await request('POST', `/posts/post-reaction/${post.id}/`);
          confirmed = { liked: true, count: answer.likes_count };
        } else {
          // An unlike answers 204 without the count: the post says it.
          await request('DELETE', `/posts/delete-like/${post.id}/`);
          const fresh = await request('GET', `/posts/edit/${post.id}/`);
          confirmed = { liked: Boolean(fresh.liked_by_me), count: fresh.likes_count };
        }
      }
    } catch (err) {
      wanted = confirmed.liked;
      toast(describe(err), 'error');
    } finally {
      busy = false;
      show(confirmed.liked, confirmed.count);
      publishPost({ id: post.id, liked_by_me: confirmed.liked, likes_count: confirmed.count });
    }
  }

  button.addEventListener('click', () => {
    wanted = !wanted;
    show(wanted, confirmed.count + (wanted === confirmed.liked ? 0 : wanted ? 1 : -1));
    sync();
  });
  show(confirmed.liked, confirmed.count);
  return {
    button,
    count,
    update(changes) {
      if (busy || !('likes_count' in changes)) return;
      confirmed = { liked: Boolean(changes.liked_by_me), count: changes.likes_count };
      wanted = confirmed.liked;
      show(confirmed.liked, confirmed.count);
    },
  };
}

export function captionOf(post) {
  if (!post.caption) return null;
  return h('p', { class: 'caption' }, h('a', { class: 'name', href: `/u/${post.author.id}` }, post.author.full_name), ' ', h('span', { class: 'text' }, post.caption));
}

/** A post in the feed. */
export function postCard(post, { eager = false } = {}) {
  const like = likeControl(post);
  const comments = h('a', { class: 'comments-link', href: `/p/${post.id}#comments` });
  const setComments = (n) => {
    comments.replaceChildren(icon('comment'), h('span', {}, n ? plural(n, 'comment') : 'Comment'));
  };
  setComments(post.comments_count);
  const card = h(
    'article',
    { class: 'card', 'data-post': post.id, 'aria-label': `Post by ${post.author.full_name}` },
    authorLine(post),
    pictures(post, { eager }),
    h('div', { class: 'actions' }, like.button, comments),
    h('div', { class: 'card-text' }, like.count, captionOf(post)),
  );
  watchPost(card, post.id, (changes) => {
    like.update(changes);
    if ('comments_count' in changes) setComments(changes.comments_count);
  });
  return card;
}
