// The only way the app talks to the server: the public JSON API, with `Authorization: Token <key>`.
// No cookies are sent or kept. The token lives in sessionStorage (this tab, until it closes), or
// in localStorage when the person asked to stay logged in on this device.

const KEY = 'being-social.session';

function stored() {
  try {
    const text = sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY);
    const value = text ? JSON.parse(text) : null;
    return value && typeof value.token === 'string' ? value : null;
  } catch {
    return null;
  }
}

let current = stored();

export const session = {
  get token() {
    return current?.token ?? null;
  },
  /** The logged-in user as the API last described it (`/accounts/me/`, login), or null. */
  get user() {
    return current?.user ?? null;
  },
  start(token, user, remember) {
    current = { token, user, remember: Boolean(remember) };
    this.save();
  },
  setUser(user) {
    if (!current) return;
    current.user = { ...current.user, ...user };
    this.save();
  },
  save() {
    try {
      const text = JSON.stringify(current);
      if (current.remember) {
        localStorage.setItem(KEY, text);
        sessionStorage.removeItem(KEY);
      } else {
        sessionStorage.setItem(KEY, text);
        localStorage.removeItem(KEY);
      }
    } catch {
      // Storage refused (private mode, quota): the session lasts while the page is open.
    }
  },
  end() {
    current = null;
    try {
      sessionStorage.removeItem(KEY);
      localStorage.removeItem(KEY);
    } catch {
      // Nothing stored.
    }
  },
};

/** An answer that is not a success: the API's `{detail, code, errors}`, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, body, retryAfter = null) {
    const detail = typeof body?.detail === 'string' ? body.detail : null;
    super(detail ?? (status ? `The server answered ${status}.` : 'The server could not be reached.'));
    this.status = status;
    this.code = typeof body?.code === 'string' ? body.code : status ? `http_${status}` : 'network_error';
    this.errors = body?.errors && typeof body.errors === 'object' ? body.errors : {};
    this.retryAfter = retryAfter;
  }

  /** The token was refused: expired, revoked (logged out elsewhere, password changed), or unknown. */
  get sessionEnded() {
    return this.status === 401 && (this.code === 'token_expired' || this.code === 'not_authenticated');
  }
}

/** Called with the error when a request made with a token finds the session over. */
let onSessionEnded = () => {};
export function whenSessionEnds(handler) {
  onSessionEnded = handler;
}

function sizeText(bytes) {
  return bytes >= 1024 * 1024 ? `${+(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/** A sentence for a person about what went wrong and what to do. */
export function describe(err) {
  if (!(err instanceof ApiError)) return 'Something went wrong in the page. Reload it and try again.';
  const wait = err.retryAfter ? ` Try again in ${plainSeconds(err.retryAfter)}.` : ' Try again in a moment.';
  switch (err.code) {
    case 'network_error':
      return 'The server could not be reached. Check the connection and try again.';
    case 'rate_limited':
      return `Too many requests for now.${wait}`;
    case 'payload_too_large': {
      const limit = /(\d+) bytes/.exec(err.message);
      return limit
        ? `This file is too large: the server takes pictures up to ${sizeText(Number(limit[1]))}.`
        : `This file is too large. ${err.message}`;
    }
    case 'unsupported_media_type':
      return 'This file is not a picture the server can read: choose a JPEG, PNG, WebP or GIF image.';
    case 'image_too_large':
      return `This picture has too many pixels. ${err.message} Choose a smaller one.`;
    case 'image_bad_shape':
      return `This picture has a shape the server does not take (too long or too narrow). ${err.message}`;
    case 'token_expired':
      return 'Your session has expired. Log in again.';
    case 'not_authenticated':
      return 'You are not logged in, or your session ended. Log in again.';
    default:
      if (err.status === 503) return `The service is busy or briefly unavailable.${wait}`;
      if (err.status >= 500) return 'The server failed to answer. Try again in a moment.';
      if (err.code === 'validation_error') {
        const first = Object.entries(err.errors)[0];
        if (first) return `${err.message} ${first[0].replace(/_/g, ' ')}: ${[first[1]].flat().join(' ')}`;
      }
      return err.message;
  }
}

function plainSeconds(s) {
  return s < 90 ? `${s} second${s === 1 ? '' : 's'}` : `${Math.ceil(s / 60)} minutes`;
}

/**
 * The API's absolute `next` URLs point at its public address; the page may have been opened under
 * another name for the same server (localhost), where its CSP allows only its own origin. The
 * path and query are what matter.
 */
export function local(url) {
  const u = new URL(url, location.origin);
  return u.origin === location.origin ? u.href : u.pathname + u.search;
}

function retryAfter(value) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(1, Math.ceil(seconds));
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(1, Math.ceil((at - Date.now()) / 1000));
}

function parse(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

function failed(status, text, retry, withToken) {
  const err = new ApiError(status, parse(text), retryAfter(retry));
  if (withToken && err.sessionEnded) onSessionEnded(err);
  return err;
}

/** `request('POST', '/posts/post-comment/1/', {json: {content}})` → the parsed answer (null for 204). */
export async function request(method, path, { json, form, signal } = {}) {
  const headers = { Accept: 'application/json' };
  const token = session.token;
  if (token) headers.Authorization = `Token ${token}`;
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let response;
  try {
    response = await fetch(local(path), { method, headers, body, signal, credentials: 'omit', cache: 'no-store' });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ApiError(0, null);
  }
  const text = await response.text();
  if (!response.ok) throw failed(response.status, text, response.headers.get('Retry-After'), Boolean(token));
  return parse(text);
}

/**
 * A multipart upload through XMLHttpRequest, the one browser API that reports upload progress:
 * `progress(fraction)` is called as the bytes leave.
 */
export function upload(method, path, form, progress = () => {}, signal = null) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const token = session.token;
    xhr.open(method, local(path));
    xhr.setRequestHeader('Accept', 'application/json');
    if (token) xhr.setRequestHeader('Authorization', `Token ${token}`);
    xhr.upload.addEventListener('progress', (e) => e.lengthComputable && progress(e.loaded / e.total));
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        progress(1);
        resolve(parse(xhr.responseText));
      } else {
        reject(failed(xhr.status, xhr.responseText, xhr.getResponseHeader('Retry-After'), Boolean(token)));
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, null)));
    xhr.addEventListener('abort', () => reject(new DOMException('Aborted', 'AbortError')));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(form);
  });
}

/** Walks a paginated list: each `load()` returns the next page's results; `done` once `next` is null. */
export function pager(first, { signal } = {}) {
  let next = first;
  return {
    get done() {
      return next === null;
    },
    async load() {
      const page = await request('GET', next, { signal });
      next = page.next ?? null;
      return page.results ?? [];
    },
  };
}

/** A pager that starts from a page already in hand (a profile's first posts). */
export function pagerFrom(page, options) {
  const p = pager(page?.next ?? null, options);
  let first = page?.results ?? [];
  return {
    get done() {
      return first === null && p.done;
    },
    async load() {
      if (first !== null) {
        const results = first;
        first = null;
        return results;
      }
      return p.load();
    },
  };
}
