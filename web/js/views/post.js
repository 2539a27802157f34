// A post's page: its pictures, caption (editable by its author), likes, and threaded comments.

import { describe, pager, request, session } from '../api.js';
import { avatar, confirmDialog, h, plural, timeAgo, toast } from '../dom.js';
import { alertBox, busy, clearError, field, showError } from '../forms.js';
import { endless } from '../list.js';
import { authorLine, captionOf, likeControl, mediaOf, pictures, publishPost, watchPost } from '../posts.js';
import { forgetKept, navigate } from '../router.js';
import { personRow } from './profile.js';

const COMMENT_MAX = 2200;

export async function postView({ params, signal }) {
  let post = await request('GET', `/posts/edit/${params[0]}/`, { signal });
  const me = session.user;
  const mine = post.author.id === me?.id;
  const like = likeControl(post);
  const count = h('span', { class: 'count-badge' });
  const setCount = (n) => {
    post.comments_count = n;
    count.textContent = n ? String(n) : '';
  };
  setCount(post.comments_count);

  const captionBox = h('div', { class: 'caption-box' }, captionOf(post));
  const picturesBox = h('div', {}, pictures(post, { eager: true, sizes: '(max-width: 640px) 100vw, 640px' }));

  /** Counts from the server after a change whose effect on them is not known here. */
  async function refresh() {
    try {
      const fresh = await request('GET', `/posts/edit/${post.id}/`);
      setCount(fresh.comments_count);
      publishPost({ id: post.id, comments_count: fresh.comments_count, likes_count: fresh.likes_count, liked_by_me: fresh.liked_by_me });
    } catch {
      // The counts stay as they are.
    }
  }

  function editCaption() {
    const caption = field('caption', 'Caption', { rows: 4, maxlength: COMMENT_MAX }, { multiline: true, counter: COMMENT_MAX });
    caption.value = post.caption ?? '';
    const single = mediaOf(post).length === 1;
    const alt = single
      ? field('alt_text', 'Alt text', { rows: 2, maxlength: 1000 }, { multiline: true, hint: 'Describes the picture for people who cannot see it.' })
      : null;
    if (alt) alt.value = post.alt_text ?? '';
    const alert = alertBox();
    const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
    const form = h(
      'form',
      { class: 'form inline-form', 'aria-label': 'Edit caption' },
      alert,
      caption.el,
      alt?.el,
      h('div', { class: 'row' }, save, h('button', { type: 'button', onclick: () => captionBox.replaceChildren(captionOf(post) ?? '') }, 'Cancel')),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearError(alert, { caption, alt_text: alt });
      try {
        const json = { caption: caption.value };
        if (alt) json.alt_text = alt.value;
        post = await busy(save, () => request('PATCH', `/posts/edit/${post.id}/`, { json }));
        captionBox.replaceChildren(captionOf(post) ?? '');
        picturesBox.replaceChildren(pictures(post, { eager: true, sizes: '(max-width: 640px) 100vw, 640px' }));
        forgetKept();
        toast('Caption saved.');
      } catch (err) {
        showError(err, alert, alt ? { caption, alt_text: alt } : { caption });
      }
    });
    captionBox.replaceChildren(form);
    caption.control.focus();
  }

  async function deletePost() {
    const yes = await confirmDialog({
      title: 'Delete this post?',
      text: 'Its pictures, likes and comments are deleted with it. This cannot be undone.',
      confirm: 'Delete post',
      danger: true,
    });
    if (!yes) return;
    try {
      await request('DELETE', `/posts/edit/${post.id}/`);
      forgetKept();
      navigate(`/u/${me.id}`, { replace: true, message: 'Your post was deleted.' });
    } catch (err) {
      toast(describe(err), 'error');
    }
  }

  const tools = mine
    ? h(
        'div',
        { class: 'tools' },
        h('button', { type: 'button', class: 'link', onclick: editCaption }, 'Edit'),
        h('button', { type: 'button', class: 'link danger', onclick: deletePost }, 'Delete'),
      )
    : null;

  const ctx = { post, me, postAuthor: post.author.id, changed: refresh };
  const thread = h('ol', { class: 'comments', 'aria-label': 'Comments' });
  const comments = endless(thread, pager(`/posts/post-comment/${post.id}/?limit=20`, { signal }), (c) => commentItem(c, ctx), {
    empty: 'No comments yet.',
    auto: false,
    more: 'More comments',
  });
  const newComment = commentForm('Add a comment', 'Post', async (content) => {
    const c = await request('POST', `/posts/post-comment/${post.id}/`, { json: { content } });
    comments.adopt(c, commentItem(c, ctx));
    setCount(post.comments_count + 1);
    publishPost({ id: post.id, comments_count: post.comments_count });
  });

  const article = h(
    'article',
    { class: 'card full', 'data-post': post.id, 'aria-labelledby': 'post-title' },
    h('h1', { class: 'visually-hidden', id: 'post-title' }, `Post by ${post.author.full_name}`),
    authorLine(post, tools),
    picturesBox,
    h('div', { class: 'actions' }, like.button, like.count),
    captionBox,
    h(
      'section',
      { class: 'thread', 'aria-labelledby': 'comments' },
      h('h2', { id: 'comments' }, 'Comments ', count),
      thread,
      comments.footer,
      newComment,
    ),
  );
  watchPost(article, post.id, (changes) => {
    like.update(changes);
    if ('comments_count' in changes) setCount(changes.comments_count);
  });
  return h('section', { class: 'page post-page' }, article);
}

/** A textarea and a button; `send(content)` posts it. Ctrl+Enter sends too. */
function commentForm(label, action, send, { onCancel = null, autofocus = false } = {}) {
  const content = field('content', label, { rows: 2, maxlength: COMMENT_MAX, required: true }, { multiline: true });
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, action);
  const form = h(
    'form',
    { class: 'comment-form', novalidate: true },
    alert,
    content.el,
    h('div', { class: 'row' }, submit, onCancel && h('button', { type: 'button', onclick: onCancel }, 'Cancel')),
  );
  content.control.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearError(alert, { content });
    const text = content.value.trim();
    if (!text) {
      content.error('Write something first.');
      content.control.focus();
      return;
    }
    try {
      await busy(submit, () => send(text));
      content.value = '';
    } catch (err) {
      showError(err, alert, { content });
    }
  });
  if (autofocus) queueMicrotask(() => content.control.focus());
  return form;
}

/**
 * A comment with its replies (loaded when opened) and a reply form. Deleting is offered to its
 * author and to the post's author; it takes every reply beneath it.
 */
function commentItem(c, ctx, onRemoved = () => {}) {
  let replyCount = Number(c.reply_count) || 0;
  let replies = null;
  const li = h('li', { class: 'comment', id: `comment-${c.id}`, 'data-comment': c.id });
  const toggle = h('button', { type: 'button', class: 'link', 'aria-expanded': 'false' });
  const showToggle = () => {
    const open = toggle.getAttribute('aria-expanded') === 'true';
    toggle.hidden = replyCount === 0;
    toggle.textContent = open ? 'Hide replies' : `View ${plural(replyCount, 'reply', 'replies')}`;
  };
  const repliesBox = h('div', { class: 'replies-box' });

  function openReplies() {
    if (!replies) {
      const list = h('ol', { class: 'comments replies', 'aria-label': `Replies to ${c.author.full_name}` });
      const childRemoved = () => {
        replyCount = Math.max(0, replyCount - 1);
        showToggle();
      };
      replies = endless(list, pager(`/posts/post-comment/${ctx.post.id}/${c.id}/?limit=20`), (r) => commentItem(r, ctx, childRemoved), {
        empty: '',
        auto: false,
        more: 'More replies',
      });
      replies.list = list;
      repliesBox.append(list, replies.footer);
    }
    repliesBox.hidden = false;
    toggle.setAttribute('aria-expanded', 'true');
    showToggle();
  }

  toggle.addEventListener('click', () => {
    if (toggle.getAttribute('aria-expanded') === 'true') {
      repliesBox.hidden = true;
      toggle.setAttribute('aria-expanded', 'false');
      showToggle();
    } else {
      openReplies();
    }
  });

  const replyButton = h('button', { type: 'button', class: 'link' }, 'Reply');
  const formBox = h('div', { class: 'reply-form' });
  replyButton.addEventListener('click', () => {
    if (formBox.firstChild) {
      formBox.querySelector('textarea')?.focus();
      return;
    }
    const close = () => {
      formBox.replaceChildren();
      replyButton.focus();
    };
    const form = commentForm(
      `Reply to ${c.author.full_name}`,
      'Reply',
      async (content) => {
        const reply = await request('POST', `/posts/post-comment/${ctx.post.id}/${c.id}/`, { json: { content } });
        replyCount += 1;
        const wasLoaded = Boolean(replies);
        openReplies();
        if (wasLoaded) replies.adopt(reply, commentItem(reply, ctx, () => ((replyCount = Math.max(0, replyCount - 1)), showToggle())));
        showToggle();
        formBox.replaceChildren();
        ctx.changed();
      },
      { onCancel: close, autofocus: true },
    );
    formBox.replaceChildren(form);
  });

  const mayDelete = c.author.id === ctx.me?.id || ctx.postAuthor === ctx.me?.id;
  const deleteButton = mayDelete ? h('button', { type: 'button', class: 'link danger' }, 'Delete') : null;
  deleteButton?.addEventListener('click', async () => {
    const yes = await confirmDialog({
      title: 'Delete this comment?',
      text: replyCount ? `Its ${plural(replyCount, 'reply', 'replies')} (and theirs) will be deleted too.` : null,
      confirm: 'Delete',
      danger: true,
    });
    if (!yes) return;
    try {
      await request('DELETE', `/posts/delete-comment/${c.id}/`);
      li.remove();
      onRemoved();
      toast('Comment deleted.');
      ctx.changed();
    } catch (err) {
      toast(describe(err), 'error');
    }
  });

  showToggle();
  li.append(
    h(
      'div',
      { class: 'comment-main' },
      h('a', { href: `/u/${c.author.id}`, class: 'comment-avatar', tabindex: '-1', 'aria-hidden': 'true' }, avatar(c.author)),
      h(
        'div',
        { class: 'comment-text' },
        h('p', { class: 'meta' }, h('a', { class: 'name', href: `/u/${c.author.id}` }, c.author.full_name), ' ', timeAgo(c.created_at)),
        h('p', { class: 'content' }, c.content),
        h('div', { class: 'comment-actions' }, replyButton, deleteButton, toggle),
      ),
    ),
    formBox,
    repliesBox,
  );
  return li;
}

export async function likersView({ params, signal }) {
  const id = params[0];
  const list = h('ul', { class: 'people' });
  const { footer } = endless(list, pager(`/posts/post-reaction/${id}/?limit=30`, { signal }), (u) => personRow(u), {
    empty: 'Nobody has liked this post yet.',
  });
  return h(
    'section',
    { class: 'page narrow' },
    h('p', { class: 'back' }, h('a', { href: `/p/${id}` }, '← Back to the post')),
    h('h1', {}, 'Liked by'),
    list,
    footer,
  );
}
