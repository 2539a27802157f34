// A new post: pictures chosen or dropped, previewed, each with its alt text; a caption; uploads
// with progress, and the server's refusals (too large, not a picture, too many pixels) shown on the
// picture they concern.

import { describe, upload } from '../api.js';
import { h, icon, plural, say } from '../dom.js';
import { alertBox, field } from '../forms.js';
import { forgetKept, navigate } from '../router.js';

const ACCEPT = 'image/jpeg,image/png,image/webp,image/gif';
const MOST = 10;

function size(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

export function composeView() {
  const items = [];
  let uploading = false;

  const input = h('input', { type: 'file', id: 'pictures', name: 'image', accept: ACCEPT, multiple: true, class: 'file-input' });
  const drop = h(
    'label',
    { for: 'pictures', class: 'drop' },
    icon('plus'),
    h('span', { class: 'drop-title' }, 'Choose pictures'),
    h('span', { class: 'hint' }, 'or drop them here: JPEG, PNG, WebP or GIF'),
  );
  const previews = h('ol', { class: 'previews', 'aria-label': 'Chosen pictures' });
  const caption = field('caption', 'Caption', { rows: 3, maxlength: 2200 }, { multiline: true, counter: 2200 });
  const note = h('p', { class: 'hint', hidden: true }, 'Each picture is shared as a post of its own, with this caption.');
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Share');

  const refresh = () => {
    submit.disabled = uploading || items.length === 0;
    note.hidden = items.length < 2;
    submit.textContent = items.length > 1 ? `Share ${items.length} posts` : 'Share';
  };

  function makeItem(file) {
    const url = URL.createObjectURL(file);
    const alt = field('alt_text', `Alt text for ${file.name}`, { rows: 2, maxlength: 1000 }, { multiline: true, hint: 'Describe the picture for people who cannot see it.' });
    const progress = h('progress', { max: '1', value: '0', hidden: true, 'aria-label': `Upload of ${file.name}` });
    const error = h('p', { class: 'field-error', role: 'alert', hidden: true });
    const remove = h('button', { type: 'button', class: 'icon-button', 'aria-label': `Remove ${file.name}`, title: 'Remove' }, icon('close'));
    const li = h(
      'li',
      { class: 'preview-item' },
      h('img', {
        class: 'preview',
        src: url,
        alt: `Preview of ${file.name}`,
        onerror: (event) => event.target.replaceWith(h('span', { class: 'preview preview-none' }, 'No preview')),
      }),
      h('div', { class: 'preview-text' }, h('p', { class: 'file-name' }, `${file.name} · ${size(file.size)}`), alt.el, progress, error),
      remove,
    );
    const item = { file, url, alt, progress, error, li, remove };
    remove.addEventListener('click', () => {
      items.splice(items.indexOf(item), 1);
      URL.revokeObjectURL(url);
      li.remove();
      refresh();
      (previews.querySelector('textarea') ?? drop).focus();
    });
    return item;
  }

  function add(files) {
    say(alert, null);
    for (const file of files) {
      if (items.length >= MOST) {
        say(alert, `At most ${MOST} pictures at a time.`);
        break;
      }
      const item = makeItem(file);
      items.push(item);
      previews.append(item.li);
    }
    refresh();
    items.at(-1)?.alt.control.focus();
  }

  input.addEventListener('change', () => {
    add([...input.files]);
    input.value = '';
  });
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add('over');
    });
  }
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    add([...(event.dataTransfer?.files ?? [])]);
  });

  const form = h(
    'form',
    { class: 'card form compose', novalidate: true },
    alert,
    input,
    drop,
    previews,
    caption.el,
    note,
    h('div', { class: 'row' }, submit),
  );

  const warn = (event) => event.preventDefault();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (uploading || !items.length) return;
    uploading = true;
    refresh();
    say(alert, null);
    caption.error(null);
    window.addEventListener('beforeunload', warn);
    const posted = [];
    const total = items.length;
    for (const item of [...items]) {
      const data = new FormData();
      data.append('image', item.file, item.file.name);
      data.append('caption', caption.value);
      data.append('alt_text', item.alt.value.trim());
      item.error.hidden = true;
      item.progress.hidden = false;
      item.progress.value = 0;
      item.remove.disabled = true;
      try {
        const post = await upload('POST', '/posts/create/', data, (fraction) => (item.progress.value = fraction));
        posted.push(post);
        items.splice(items.indexOf(item), 1);
        URL.revokeObjectURL(item.url);
        item.li.remove();
      } catch (err) {
        item.progress.hidden = true;
        item.remove.disabled = false;
        say(
          item.error,
          err.code === 'network_error'
            ? 'The upload was cut off: the connection dropped, or the file is larger than the server takes.'
            : describe(err),
        );
        if (err.errors?.caption) caption.error([err.errors.caption].flat().join(' '));
        if (err.errors?.alt_text) item.alt.error([err.errors.alt_text].flat().join(' '));
        if (err.sessionEnded) break;
      }
    }
    window.removeEventListener('beforeunload', warn);
    uploading = false;
    refresh();
    if (posted.length) forgetKept();
    if (!form.isConnected) return;
    if (!items.length) {
      navigate(posted.length === 1 ? `/p/${posted[0].id}` : '/', { message: posted.length === 1 ? 'Your post is shared.' : `${plural(posted.length, 'post')} shared.` });
      return;
    }
    say(
      alert,
      posted.length
        ? `${posted.length} of ${total} shared. The pictures below were not: see why under each.`
        : items.length === 1
          ? 'The picture was not shared: see why below.'
          : 'The pictures were not shared: see why under each.',
    );
    alert.focus();
  });

  return h('section', { class: 'page narrow' }, h('h1', {}, 'New post'), form);
}
