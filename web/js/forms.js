// Form fields that show the API's validation errors beside the field they name.

import { describe } from './api.js';
import { h } from './dom.js';

let serial = 0;

/** A labelled input (or textarea with `multiline`), with room for its error and a hint. */
export function field(name, label, attrs = {}, { multiline = false, hint = null, counter = null } = {}) {
  const id = `f-${name}-${++serial}`;
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  const control = h(multiline ? 'textarea' : 'input', {
    id,
    name,
    'aria-describedby': [hintEl && `${id}-hint`, `${id}-error`].filter(Boolean).join(' '),
    ...attrs,
  });
  let count = null;
  if (counter) {
    count = h('span', { class: 'count', 'aria-hidden': 'true' });
    const update = () => (count.textContent = `${[...control.value].length} / ${counter}`);
    control.addEventListener('input', update);
    update();
  }
  const wrap = h('div', { class: 'field' }, h('label', { for: id }, label, count), control, hintEl, error);
  return {
    el: wrap,
    control,
    get value() {
      return control.value;
    },
    set value(v) {
      control.value = v;
      control.dispatchEvent(new Event('input'));
    },
    error(message) {
      error.textContent = message ?? '';
      error.hidden = !message;
      if (message) control.setAttribute('aria-invalid', 'true');
      else control.removeAttribute('aria-invalid');
    },
  };
}

/**
 * Puts an API error on a form: each `errors` entry beside its field (the first such field gets the
 * focus), and a sentence in the form's alert. `also` maps error codes without `errors` to a field
 * (`email_taken` → the email field).
 */
export function showError(err, alert, fields = {}, also = {}) {
  for (const f of Object.values(fields)) f.error(null);
  let first = null;
  const errors = { ...(err?.errors ?? {}) };
  if (err?.code && also[err.code]) errors[also[err.code]] = [err.message];
  for (const [name, messages] of Object.entries(errors)) {
    const f = fields[name];
    if (!f) continue;
    f.error([messages].flat().join(' '));
    first ??= f;
  }
  alert.textContent = first && err.code === 'validation_error' ? 'Please correct the fields marked below.' : describe(err);
  alert.hidden = false;
  (first?.control ?? alert).focus?.();
}

export function clearError(alert, fields = {}) {
  alert.hidden = true;
  alert.textContent = '';
  for (const f of Object.values(fields)) f.error(null);
}

export function alertBox() {
  return h('p', { class: 'alert', role: 'alert', hidden: true, tabindex: '-1' });
}

/**
 * Runs `work` with `button` disabled. After a 429 the button stays disabled for the Retry-After
 * seconds, counting them down, so that the person sees when trying again will work.
 */
export async function busy(button, work) {
  const text = (button.dataset.label ??= button.textContent);
  button.disabled = true;
  try {
    return await work();
  } catch (err) {
    if (err?.status === 429 && err.retryAfter) hold(button, text, err.retryAfter);
    throw err;
  } finally {
    if (!button.dataset.holding) button.disabled = false;
  }
}

function hold(button, text, seconds) {
  button.dataset.holding = '1';
  let left = seconds;
  const tick = () => {
    if (left <= 0) {
      delete button.dataset.holding;
      button.textContent = text;
      button.disabled = false;
      return;
    }
    button.textContent = `${text} (${left} s)`;
    left -= 1;
    setTimeout(tick, 1000);
  };
  tick();
}
