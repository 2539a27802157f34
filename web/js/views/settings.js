// One's own account: profile and avatar, password, sessions, and deleting the account.

import { describe, request, session, upload } from '../api.js';
import { avatar, confirmDialog, h, say, toast } from '../dom.js';
import { alertBox, busy, clearError, field, showError } from '../forms.js';
import { forgetKept, navigate } from '../router.js';
import { logOut } from './auth.js';

export async function settingsView({ signal }) {
  let me = await request('GET', '/accounts/me/', { signal });
  session.setUser(me);

  // Avatar: uploaded as soon as it is chosen, with its progress.
  const face = h('div', { class: 'avatar-edit' }, avatar(me, 'large'));
  const avatarInput = h('input', { type: 'file', id: 'avatar', accept: 'image/jpeg,image/png,image/webp,image/gif', class: 'file-input' });
  const avatarProgress = h('progress', { max: '1', value: '0', hidden: true, 'aria-label': 'Upload of the new picture' });
  const avatarError = h('p', { class: 'field-error', role: 'alert', hidden: true });
  avatarInput.addEventListener('change', async () => {
    const file = avatarInput.files[0];
    avatarInput.value = '';
    if (!file) return;
    say(avatarError, null);
    const data = new FormData();
    data.append('avatar', file, file.name);
    avatarProgress.hidden = false;
    try {
      me = await upload('PATCH', `/accounts/${me.id}/`, data, (f) => (avatarProgress.value = f));
      session.setUser(me);
      forgetKept();
      face.replaceChildren(avatar(me, 'large'));
      toast('Profile picture changed.');
    } catch (err) {
      say(avatarError, describe(err));
    } finally {
      avatarProgress.hidden = true;
    }
  });

  const name = field('full_name', 'Name', { required: true, maxlength: 255, autocomplete: 'name' });
  const bio = field('bio', 'Bio', { rows: 3, maxlength: 255 }, { multiline: true, counter: 255 });
  name.value = me.full_name;
  bio.value = me.bio ?? '';
  const profileAlert = alertBox();
  const saveProfile = h('button', { type: 'submit', class: 'primary' }, 'Save profile');
  const profileForm = h(
    'form',
    { class: 'card form', novalidate: true, 'aria-labelledby': 'profile-title' },
    h('h2', { id: 'profile-title' }, 'Profile'),
    profileAlert,
    h(
      'div',
      { class: 'avatar-row' },
      face,
      h('div', {}, avatarInput, h('label', { for: 'avatar', class: 'button' }, 'Change picture'), avatarProgress, avatarError),
    ),
    name.el,
    bio.el,
    h('div', { class: 'row' }, saveProfile, h('a', { href: `/u/${me.id}` }, 'See your profile')),
  );
  profileForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const fields = { full_name: name, bio };
    clearError(profileAlert, fields);
    try {
      me = await busy(saveProfile, () => request('PATCH', `/accounts/${me.id}/`, { json: { full_name: name.value.trim(), bio: bio.value } }));
      session.setUser(me);
      forgetKept();
      toast('Profile saved.');
    } catch (err) {
      showError(err, profileAlert, fields);
    }
  });

  const current = field('current_password', 'Current password', { type: 'password', autocomplete: 'current-password', required: true });
  const fresh = field('password', 'New password', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 }, { hint: 'At least 8 characters. Your other devices will be logged out.' });
  const passwordAlert = alertBox();
  const savePassword = h('button', { type: 'submit', class: 'primary' }, 'Change password');
  const passwordForm = h(
    'form',
    { class: 'card form', novalidate: true, 'aria-labelledby': 'password-title' },
    h('h2', { id: 'password-title' }, 'Password'),
    passwordAlert,
    current.el,
    fresh.el,
    h('div', { class: 'row' }, savePassword),
  );
  passwordForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const fields = { current_password: current, password: fresh };
    clearError(passwordAlert, fields);
    if (!passwordForm.reportValidity()) return;
    try {
      await busy(savePassword, () => request('PATCH', `/accounts/${me.id}/`, { json: { current_password: current.value, password: fresh.value } }));
      current.value = '';
      fresh.value = '';
      toast('Password changed. Your other devices are logged out.');
    } catch (err) {
      showError(err, passwordAlert, fields);
    }
  });

  const sessions = h(
    'section',
    { class: 'card form', 'aria-labelledby': 'sessions-title' },
    h('h2', { id: 'sessions-title' }, 'Sessions'),
    h('p', {}, 'Log out here, or on every device where you are logged in (phones, other browsers).'),
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'button', onclick: () => logOut(false) }, 'Log out'),
      h('button', { type: 'button', onclick: () => logOut(true) }, 'Log out everywhere'),
    ),
  );

  const deleteButton = h('button', { type: 'button', class: 'danger' }, 'Delete my account');
  deleteButton.addEventListener('click', async () => {
    const yes = await confirmDialog({
      title: 'Delete your account?',
      text: 'Your profile, posts, pictures, likes, comments and follows are deleted for good. This cannot be undone.',
      confirm: 'Delete my account',
      danger: true,
      typed: me.email,
    });
    if (!yes) return;
    try {
      await request('DELETE', `/accounts/${me.id}/`);
      session.end();
      forgetKept();
      navigate('/signup', { replace: true, message: 'Your account and everything in it is deleted.' });
    } catch (err) {
      toast(describe(err), 'error');
    }
  });
  const danger = h(
    'section',
    { class: 'card form danger-zone', 'aria-labelledby': 'delete-title' },
    h('h2', { id: 'delete-title' }, 'Delete account'),
    h('p', {}, 'Everything you shared goes with it, and the people you follow and who follow you lose you.'),
    h('div', { class: 'row' }, deleteButton),
  );

  return h('section', { class: 'page narrow settings' }, h('h1', {}, 'Settings'), profileForm, passwordForm, sessions, danger);
}
