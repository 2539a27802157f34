// Lists that fill themselves a page at a time, following the API's `next` cursor.

import { describe } from './api.js';
import { h } from './dom.js';

/**
 * Appends `render(item)` to `list` for every item of `pager`, one page at a time: the next page
 * loads when the end of the list comes near the viewport (`auto`), or when "Show more" is
 * pressed (always there, for keyboards and for browsers without IntersectionObserver).
 * Returns `{footer, load, adopt}`; place `footer` right after `list`.
 */
export function endless(list, pager, render, options = {}) {
  const { empty = 'Nothing here yet.', end = '', auto = true, more = 'Show more' } = options;
  const seen = new Set();
  const status = h('p', { class: 'status', role: 'status' });
  const button = h('button', { type: 'button', class: 'more', hidden: true }, more);
  const footer = h('div', { class: 'list-end' }, status, button);
  let loading = false;
  let observer = null;
  let retry = null;

  const show = (message) => {
    status.replaceChildren(...[message ?? ''].flat());
    status.hidden = !message;
  };

  async function load() {
    if (loading || pager.done) return;
    clearTimeout(retry);
    loading = true;
    button.hidden = true;
    list.setAttribute('aria-busy', 'true');
    show('Loading…');
    let ok = false;
    try {
      const items = await pager.load();
      ok = true;
      for (const item of items) {
        if (seen.has(item.id)) continue;
        seen.add(item.id);
        list.append(render(item));
      }
      show(null);
      if (pager.done) {
        observer?.disconnect();
        show(seen.size ? end : empty);
      } else {
        button.textContent = more;
        button.hidden = false;
      }
    } catch (err) {
      if (err?.name === 'AbortError') return;
      show(describe(err));
      button.textContent = 'Try again';
      button.hidden = false;
      if (auto && err.retryAfter) retry = setTimeout(load, err.retryAfter * 1000);
    } finally {
      loading = false;
      list.removeAttribute('aria-busy');
    }
    // Still near the end (a short page, a tall screen): observing afresh reports it again. Not
    // after a failure, which waits for "Try again" (or for the server's Retry-After).
    if (ok && observer && !pager.done) {
      observer.unobserve(footer);
      observer.observe(footer);
    }
  }

  button.addEventListener('click', load);
  if (auto && 'IntersectionObserver' in window) {
    observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && load(), {
      rootMargin: '0px 0px 800px 0px',
    });
    observer.observe(footer);
  } else {
    load();
  }
  return {
    footer,
    load,
    /** Adds an item made here (a new comment) unless a page already brought it. */
    adopt(item, el) {
      if (seen.has(item.id)) return;
      seen.add(item.id);
      list.append(el);
      if (pager.done) show(end);
    },
  };
}
