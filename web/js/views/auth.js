// Sign up, log in, log out.

import { request, session } from '../api.js';
import { h } from '../dom.js';
import { alertBox, busy, clearError, field, showError } from '../forms.js';
import { forgetKept, navigate } from '../router.js';

/** Where to go after logging in: the page that sent here, if it is one of the app's. */
function destination(query) {
  try {
    const next = new URL(query.get('next') ?? '/', location.origin);
    return next.origin === location.origin ? next.pathname + next.search + next.hash : '/';
  } catch {
    return '/';
  }
}

async function logIn(email, password, remember) {
  const answer = await request('POST', '/accounts/login/', { json: { email, password } });
  session.start(answer.token, answer.user, remember);
  forgetKept();
}

export function loginView({ query }) {
  const email = field('email', 'Email', { type: 'email', autocomplete: 'username', required: true, autofocus: true });
  const password = field('password', 'Password', { type: 'password', autocomplete: 'current-password', required: true });
  const remember = h('input', { type: 'checkbox', name: 'remember' });
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h(
    'form',
    { class: 'card form', novalidate: true },
    alert,
    email.el,
    password.el,
    h('label', { class: 'check' }, remember, ' Stay logged in on this device'),
    h('div', { class: 'row' }, submit),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearError(alert, { email, password });
    if (!form.reportValidity()) return;
    try {
      await busy(submit, () => logIn(email.value.trim(), password.value, remember.checked));
      navigate(destination(query), { replace: true });
    } catch (err) {
      showError(err, alert, { email, password });
    }
  });
  return h(
    'section',
    { class: 'page narrow auth' },
    h('h1', {}, 'Log in'),
    form,
    h('p', { class: 'aside' }, 'New here? ', h('a', { href: '/signup' }, 'Create an account'), '.'),
  );
}

export function signupView({ query }) {
  const name = field('full_name', 'Your name', { autocomplete: 'name', required: true, maxlength: 255, autofocus: true });
  const email = field('email', 'Email', { type: 'email', autocomplete: 'email', required: true });
  const password = field(
    'password',
    'Password',
    { type: 'password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 1024 },
    { hint: 'At least 8 characters.' },
  );
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign up');
  const fields = { full_name: name, email, password };
  const form = h('form', { class: 'card form', novalidate: true }, alert, name.el, email.el, password.el, h('div', { class: 'row' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearError(alert, fields);
    if (!form.reportValidity()) return;
    try {
      await busy(submit, async () => {
        const json = { full_name: name.value.trim(), email: email.value.trim(), password: password.value };
        await request('POST', '/accounts/signup/', { json });
        await logIn(json.email, json.password, false);
      });
      navigate(destination(query), { replace: true, message: `Welcome, ${session.user.full_name}!` });
    } catch (err) {
      showError(err, alert, fields, { email_taken: 'email' });
    }
  });
  return h(
    'section',
    { class: 'page narrow auth' },
    h('h1', {}, 'Create your account'),
    form,
    h('p', { class: 'aside' }, 'Already have an account? ', h('a', { href: '/login' }, 'Log in'), '.'),
  );
}

/** Revokes this session's token (`everywhere`: every token of the account), then forgets it. */
export async function logOut(everywhere = false) {
  try {
    await request('POST', everywhere ? '/accounts/logout-all/' : '/accounts/logout/');
  } catch {
    // Logged out here whatever the server says: the token is forgotten.
  }
  session.end();
  forgetKept();
  navigate('/login', { message: everywhere ? 'You are logged out on every device.' : 'You are logged out.' });
}
