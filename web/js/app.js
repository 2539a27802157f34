// The entry point: routes, the navigation bar, and what happens when the session ends.

import { request, session, whenSessionEnds } from './api.js';
import { h, icon } from './dom.js';
import { afterRender, forgetKept, navigate, route, start } from './router.js';
import { logOut, loginView, signupView } from './views/auth.js';
import { composeView } from './views/compose.js';
import { feedView } from './views/feed.js';
import { likersView, postView } from './views/post.js';
import { peopleView, profileView } from './views/profile.js';
import { settingsView } from './views/settings.js';

route(/^\/$/, feedView, { auth: true, keep: true });
route(/^\/login$/, loginView, { guest: true });
route(/^\/signup$/, signupView, { guest: true });
route(/^\/new$/, composeView, { auth: true });
route(/^\/settings$/, settingsView, { auth: true });
route(/^\/p\/(\d+)$/, postView, { auth: true });
route(/^\/p\/(\d+)\/likes$/, likersView, { auth: true });
route(/^\/u\/(\d+)$/, profileView);
route(/^\/u\/(\d+)\/(followers|following)$/, peopleView, { auth: true });

// A refused token (expired, revoked by "log out everywhere" or a password change elsewhere):
// back to the login page, which returns here afterwards.
whenSessionEnds((err) => {
  if (!session.token) return;
  session.end();
  forgetKept();
  const here = location.pathname + location.search;
  navigate(`/login?next=${encodeURIComponent(here)}`, {
    replace: true,
    message:
      err.code === 'token_expired'
        ? 'Your session has expired. Please log in again.'
        : 'Your session has ended (logged out, perhaps from another device). Please log in again.',
  });
});

function renderNav() {
  const bar = document.getElementById('nav');
  const user = session.user;
  const here = location.pathname;
  const link = (href, name, label) =>
    h('a', { href, class: 'nav-link', 'aria-current': here === href ? 'page' : null, title: label }, icon(name), h('span', { class: 'label' }, label));
  const items = user
    ? [
        link('/', 'home', 'Feed'),
        link('/new', 'plus', 'New post'),
        link(`/u/${user.id}`, 'user', 'Profile'),
        link('/settings', 'gear', 'Settings'),
        h('button', { type: 'button', class: 'nav-link', title: 'Log out', onclick: () => logOut() }, icon('out'), h('span', { class: 'label' }, 'Log out')),
      ]
    : [link('/login', 'user', 'Log in'), link('/signup', 'plus', 'Sign up')];
  bar.replaceChildren(h('a', { class: 'brand', href: '/' }, 'Being Social'), h('div', { class: 'nav-items' }, items));
}

afterRender(renderNav);
start(() => Boolean(session.token));

// Who is logged in, afresh (a name or avatar changed on another device); a refused token ends
// the session here too.
if (session.token) {
  request('GET', '/accounts/me/')
    .then((me) => {
      session.setUser(me);
      renderNav();
    })
    .catch(() => {});
}
