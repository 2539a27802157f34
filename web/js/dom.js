// DOM helpers. Elements are built node by node: the page's Content-Security-Policy refuses
// `innerHTML` and inline styles in markup (styles set through the CSSOM, `el.style.x = ...`, are fine).

const PROPS = new Set(['value', 'checked', 'textContent', 'indeterminate']);

/** `h('a', {href: '/', class: 'x', onclick: f}, 'text', child, [more])`. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (PROPS.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
const ICONS = {
  heart:
    'M12 20.5s-7.8-4.7-9.6-9.4C1.1 7.6 3.4 4 7 4c2.1 0 3.6 1.1 5 2.9C13.4 5.1 14.9 4 17 4c3.6 0 5.9 3.6 4.6 7.1-1.8 4.7-9.6 9.4-9.6 9.4z',
  comment: 'M4 5h16v11H9l-5 4V5z',
  home: 'M3 11l9-7 9 7v9h-6v-6H9v6H3v-9z',
  plus: 'M12 5v14M5 12h14',
  user: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm-8 8c0-4 4-6 8-6s8 2 8 6',
  gear: 'M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm7.4-3a7.4 7.4 0 0 0-.1-1.3l2-1.6-2-3.4-2.4 1a7.3 7.3 0 0 0-2.2-1.3L14.4 2h-4l-.4 2.6a7.3 7.3 0 0 0-2.2 1.3l-2.4-1-2 3.4 2 1.6a7.4 7.4 0 0 0 0 2.6l-2 1.6 2 3.4 2.4-1a7.3 7.3 0 0 0 2.2 1.3l.4 2.6h4l.4-2.6a7.3 7.3 0 0 0 2.2-1.3l2.4 1 2-3.4-2-1.6c.1-.4.1-.9.1-1.3z',
  out: 'M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10',
  left: 'M15 5l-7 7 7 7',
  right: 'M9 5l7 7-7 7',
  close: 'M6 6l12 12M18 6L6 18',
};

/** An inline SVG icon, hidden from assistive technology (its button or link carries the name). */
export function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', `icon icon-${name}`);
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const dateYear = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'long', timeStyle: 'short' });

/** A `<time>` saying how long ago, with the full date as its title. */
export function timeAgo(iso) {
  const at = new Date(iso);
  const seconds = (Date.now() - at.getTime()) / 1000;
  let text;
  if (seconds < 45) text = 'just now';
  else if (seconds < 3600) text = relative.format(-Math.round(seconds / 60), 'minute');
  else if (seconds < 86400) text = relative.format(-Math.round(seconds / 3600), 'hour');
  else if (seconds < 7 * 86400) text = relative.format(-Math.round(seconds / 86400), 'day');
  else if (at.getFullYear() === new Date().getFullYear()) text = dateOnly.format(at);
  else text = dateYear.format(at);
  return h('time', { datetime: iso, title: full.format(at) }, text);
}

export function plural(n, one, many = `${one}s`) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/** A round avatar: the picture, or the initials on a colour of the user's own. */
export function avatar(user, size = 'small') {
  if (user.avatar_url) {
    return h('img', {
      class: `avatar avatar-${size}`,
      src: user.avatar_url,
      alt: '',
      width: 40,
      height: 40,
      loading: 'lazy',
      decoding: 'async',
    });
  }
  const initials = (user.full_name || '?')
    .trim()
    .split(/\s+/)
    .slice(0, 2)
    .map((w) => [...w][0]?.toUpperCase() ?? '')
    .join('');
  const el = h('span', { class: `avatar avatar-${size} avatar-initials`, 'aria-hidden': 'true' }, initials || '?');
  el.style.backgroundColor = `hsl(${(Number(user.id) * 67) % 360} 45% 42%)`;
  return el;
}

/** Announces `message` in the polite live region for a few seconds. */
export function toast(message, kind = 'info') {
  const region = document.getElementById('toasts');
  const item = h('p', { class: `toast toast-${kind}` }, message);
  region.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

/**
 * A modal question. Resolves true when confirmed. With `typed`, the confirm button stays
 * disabled until that exact text is typed (for what cannot be undone).
 */
export function confirmDialog({ title, text, confirm = 'OK', danger = false, typed = null }) {
  return new Promise((resolve) => {
    const input = typed
      ? h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-label': `Type ${typed} to confirm` })
      : null;
    const ok = h('button', { type: 'submit', class: danger ? 'danger' : 'primary', value: 'ok', disabled: Boolean(typed) }, confirm);
    const form = h(
      'form',
      { method: 'dialog' },
      h('h2', {}, title),
      text ? h('p', {}, text) : null,
      typed ? h('label', { class: 'field' }, h('span', {}, `Type “${typed}” to confirm`), input) : null,
      h('div', { class: 'row end' }, h('button', { type: 'submit', value: 'cancel' }, 'Cancel'), ok),
    );
    const dialog = h('dialog', { class: 'dialog', 'aria-label': title }, form);
    input?.addEventListener('input', () => (ok.disabled = input.value.trim() !== typed));
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    (input ?? ok).focus();
  });
}

/** Shows `message` in `el` (an element with role="alert"), or clears it. */
export function say(el, message) {
  el.textContent = message ?? '';
  el.hidden = !message;
}
