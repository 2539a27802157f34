// The home feed: posts of the people followed and one's own, newest first, a page at a time.

import { pager } from '../api.js';
import { h } from '../dom.js';
import { endless } from '../list.js';
import { postCard } from '../posts.js';
import { findPeople } from './profile.js';

/** Posts per page of the feed. */
export const FEED_PAGE = 10;

export function feedView() {
  const list = h('div', { class: 'feed' });
  let shown = 0;
  // The first picture is the largest thing on the page: it loads at once, the others lazily.
  const card = (post) => postCard(post, { eager: shown++ === 0 });
  const { footer } = endless(list, pager(`/posts/post-feed/?limit=${FEED_PAGE}`), card, {
    empty: ['Your feed is empty. ', h('a', { href: '/new' }, 'Post a picture'), ', or find someone to follow above.'],
    end: 'You are all caught up.',
  });
  return h('section', { class: 'page feed-page' }, h('h1', { class: 'visually-hidden' }, 'Feed'), findPeople(), list, footer);
}
