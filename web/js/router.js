// Client-side routes: the server answers every page path outside the API with the same shell,
// and this picks the view from the path.

import { describe } from './api.js';
import { h } from './dom.js';

const routes = [];
let notice = null;
let controller = null;
let kept = null; // The feed, kept while elsewhere so that "back" finds it where it was.
let onRender = () => {};

/** `route(/^\/p\/(\d+)$/, view, {auth, keep})`; a view gets `{params, query, signal}`, returns an element. */
export function route(pattern, view, options = {}) {
  routes.push({ pattern, view, ...options });
}

export function afterRender(fn) {
  onRender = fn;
}

/** Goes to `path`; `message` is shown once at the top of the next page. */
export function navigate(path, { replace = false, message = null } = {}) {
  notice = message;
  remember();
  if (replace) history.replaceState({}, '', path);
  else history.pushState({}, '', path);
  render(false);
}

export function takeNotice() {
  const n = notice;
  notice = null;
  return n;
}

/** Forgets the kept feed (after logging out, or when its content is stale). */
export function forgetKept() {
  kept = null;
}

function remember() {
  history.replaceState({ ...history.state, scroll: window.scrollY }, '');
}

export function start(isLoggedIn) {
  history.scrollRestoration = 'manual';
  window.addEventListener('popstate', () => render(true));
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const a = event.target.closest?.('a[href]');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !isAppPath(url.pathname)) return;
    if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
    event.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
  loggedIn = isLoggedIn;
  render(false);
}

let loggedIn = () => false;

const API = /^\/(accounts|posts|media|docs|openapi\.json|healthz|readyz|metrics|assets)(\/|$)/;
function isAppPath(path) {
  return !API.test(path);
}

async function render(fromHistory) {
  const main = document.getElementById('main');
  const path = location.pathname.replace(/(.)\/+$/, '$1');
  const query = new URLSearchParams(location.search);
  const match = routes.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  const leaving = main.querySelector(':scope > [data-keep]');
  if (leaving) kept = { el: leaving, path: leaving.dataset.keep };
  controller?.abort();
  controller = new AbortController();
  const { signal } = controller;

  if (!match) {
    show(main, notFound(), fromHistory);
    return;
  }
  const { r, m } = match;
  if (r.auth && !loggedIn()) {
    history.replaceState({}, '', `/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    render(false);
    return;
  }
  if (r.guest && loggedIn()) {
    history.replaceState({}, '', '/');
    render(false);
    return;
  }
  if (r.keep && fromHistory && kept?.path === path) {
    show(main, kept.el, true);
    return;
  }
  main.setAttribute('aria-busy', 'true');
  let el;
  try {
    el = await r.view({ params: m.slice(1), query, signal });
  } catch (err) {
    if (err?.name === 'AbortError' || signal.aborted) return;
    el = failure(err);
  }
  if (signal.aborted) return;
  main.removeAttribute('aria-busy');
  if (r.keep) el.dataset.keep = path;
  show(main, el, fromHistory);
}

function show(main, el, fromHistory) {
  const message = takeNotice();
  main.replaceChildren(...(message ? [h('p', { class: 'notice', role: 'status' }, message)] : []), el);
  onRender();
  const heading = main.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    document.title = `${heading.textContent} · Being Social`;
  }
  const scroll = fromHistory ? history.state?.scroll ?? 0 : 0;
  window.scrollTo(0, scroll);
  if (!first) (heading ?? main).focus({ preventScroll: true });
  first = false;
  if (!fromHistory && location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}
let first = true;

function notFound() {
  return h('section', { class: 'page narrow' }, h('h1', {}, 'Page not found'), h('p', {}, 'Nothing lives at this address. ', h('a', { href: '/' }, 'Go to your feed'), '.'));
}

/** The page of a view that could not load: what happened, and a way on. */
export function failure(err) {
  let title = 'Something went wrong';
  if (err?.status === 404) title = 'Not found';
  else if (err?.status === 403) title = 'Not allowed';
  const detail = err?.status === 404 ? 'It may have been deleted.' : null;
  return h(
    'section',
    { class: 'page narrow' },
    h('h1', {}, title),
    h('p', { class: 'alert' }, describe(err)),
    detail && h('p', {}, detail),
    h('p', {}, h('button', { type: 'button', onclick: () => render(false) }, 'Try again'), ' ', h('a', { href: '/' }, 'Go to your feed')),
  );
}

export function rerender() {
  render(false);
}
