// Profiles, their posts, followers and following; follow buttons; finding someone.

import { describe, pager, pagerFrom, request, session } from '../api.js';
import { avatar, confirmDialog, h, plural, toast } from '../dom.js';
import { endless } from '../list.js';
import { picture } from '../posts.js';
import { forgetKept, navigate } from '../router.js';

/**
 * Follow / Unfollow, changing at once and put back if the server refuses. `changed(following)`
 * runs once the server has answered.
 */
export function followButton(user, changed = () => {}) {
  let following = Boolean(user.is_following);
  let busy = false;
  const button = h('button', { type: 'button' });
  const show = () => {
    button.textContent = following ? 'Unfollow' : user.follows_you ? 'Follow back' : 'Follow';
    button.className = following ? 'follow' : 'follow primary';
  };
  button.addEventListener('click', async () => {
    if (busy) return;
    busy = true;
    following = !following;
    show();
    try {
      if (following) await request('POST', `/accounts/follow/${user.id}/`);
      else await request('DELETE', `/accounts/follow/${user.id}/`);
      user.is_following = following;
      forgetKept();
      await changed(following);
    } catch (err) {
      following = !following;
      show();
      toast(describe(err), 'error');
    } finally {
      busy = false;
    }
  });
  show();
  return button;
}

/** A person in a list: avatar, name, bio, and a follow button (or `extra`). */
export function personRow(user, extra = null) {
  const me = session.user;
  return h(
    'li',
    { class: 'person', 'data-user': user.id },
    h(
      'a',
      { class: 'who', href: `/u/${user.id}` },
      avatar(user),
      h('span', { class: 'who-text' }, h('span', { class: 'name' }, user.full_name), user.bio ? h('span', { class: 'bio' }, user.bio) : null),
    ),
    h('div', { class: 'person-actions' }, me && user.id !== me.id ? followButton(user) : null, extra),
  );
}

/** A search box: a person by email (or id). The API has no directory, so this is how to find someone. */
export function findPeople() {
  const input = h('input', {
    type: 'search',
    name: 'user',
    placeholder: 'Find someone by email',
    'aria-label': 'Find someone by their email or id',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const message = h('p', { class: 'field-error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit' }, 'Find');
  const form = h('form', { class: 'find', role: 'search' }, input, button, message);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const query = input.value.trim();
    message.hidden = true;
    if (!query) return;
    try {
      button.disabled = true;
      const user = await request('GET', `/accounts/${encodeURIComponent(query)}/`);
      navigate(`/u/${user.id}`);
    } catch (err) {
      message.textContent = err.status === 404 ? `Nobody has the email or id “${query}”.` : describe(err);
      message.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function postTile(post) {
  return h(
    'li',
    { class: 'tile' },
    h('a', { href: `/p/${post.id}` }, picture((post.media ?? [post])[0], post, { square: true, sizes: '(max-width: 640px) 33vw, 300px' })),
  );
}

export async function profileView({ params, signal }) {
  let user = await request('GET', `/accounts/${params[0]}/`, { signal });
  const me = session.user;
  const self = me?.id === user.id;
  if (self) session.setUser({ ...user, posts: undefined });

  const counts = h('ul', { class: 'counts' });
  const badge = h('span', { class: 'badge', hidden: true }, 'Follows you');
  const showCounts = () => {
    counts.replaceChildren(
      h('li', {}, h('strong', {}, user.post_count.toLocaleString()), ` ${user.post_count === 1 ? 'post' : 'posts'}`),
      h('li', {}, h('a', { href: `/u/${user.id}/followers` }, h('strong', {}, user.follower_count.toLocaleString()), ` ${user.follower_count === 1 ? 'follower' : 'followers'}`)),
      h('li', {}, h('a', { href: `/u/${user.id}/following` }, h('strong', {}, user.following_count.toLocaleString()), ' following')),
    );
    badge.hidden = !user.follows_you;
  };
  showCounts();

  let action = null;
  if (self) action = h('a', { class: 'button', href: '/settings' }, 'Edit profile');
  else if (me)
    action = followButton(user, async () => {
      const fresh = await request('GET', `/accounts/${user.id}/`);
      user = { ...user, ...fresh };
      showCounts();
    });

  let posts;
  if (user.posts) {
    const grid = h('ul', { class: 'grid', 'aria-label': 'Posts' });
    const { footer } = endless(grid, pagerFrom(user.posts, { signal }), postTile, {
      empty: self ? ['No posts yet. ', h('a', { href: '/new' }, 'Post your first picture'), '.'] : 'No posts yet.',
    });
    posts = [grid, footer];
  } else {
    posts = h('p', { class: 'status' }, h('a', { href: `/login?next=/u/${user.id}` }, 'Log in'), ` to see ${user.full_name}’s posts.`);
  }

  return h(
    'section',
    { class: 'page profile' },
    h(
      'header',
      { class: 'profile-head' },
      avatar(user, 'large'),
      h(
        'div',
        { class: 'profile-text' },
        h('div', { class: 'profile-title' }, h('h1', {}, user.full_name), badge),
        counts,
        user.bio ? h('p', { class: 'bio' }, user.bio) : null,
        action ? h('div', { class: 'row' }, action) : null,
      ),
    ),
    posts,
  );
}

export async function peopleView({ params, signal }) {
  const [id, kind] = params;
  const user = await request('GET', `/accounts/${id}/`, { signal });
  const me = session.user;
  const own = me?.id === user.id;
  const list = h('ul', { class: 'people' });

  const removeButton = (follower) => {
    const button = h('button', { type: 'button', class: 'danger' }, 'Remove');
    button.addEventListener('click', async () => {
      const yes = await confirmDialog({
        title: `Remove ${follower.full_name}?`,
        text: `${follower.full_name} will no longer follow you (and is not told).`,
        confirm: 'Remove',
        danger: true,
      });
      if (!yes) return;
      try {
        await request('DELETE', `/accounts/remove-follower/${follower.id}/`);
        button.closest('li')?.remove();
        forgetKept();
        toast(`${follower.full_name} no longer follows you.`);
      } catch (err) {
        toast(describe(err), 'error');
      }
    });
    return button;
  };

  const path = kind === 'followers' ? `/accounts/follower/${id}/` : `/accounts/following/${id}/`;
  const { footer } = endless(list, pager(`${path}?limit=30`, { signal }), (u) => personRow(u, own && kind === 'followers' ? removeButton(u) : null), {
    empty: kind === 'followers' ? 'No followers yet.' : 'Not following anyone yet.',
  });
  const title = kind === 'followers' ? `${plural(user.follower_count, 'follower')} of ${user.full_name}` : `${user.full_name} follows`;
  return h(
    'section',
    { class: 'page narrow' },
    h('p', { class: 'back' }, h('a', { href: `/u/${user.id}` }, `← ${user.full_name}`)),
    h('h1', {}, title),
    h(
      'nav',
      { class: 'tabs', 'aria-label': 'Lists' },
      h('a', { href: `/u/${id}/followers`, 'aria-current': kind === 'followers' ? 'page' : null }, 'Followers'),
      h('a', { href: `/u/${id}/following`, 'aria-current': kind === 'following' ? 'page' : null }, 'Following'),
    ),
    list,
    footer,
  );
}
