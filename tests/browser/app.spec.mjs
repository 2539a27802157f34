// The web app (web/, served at /) in a real headless browser: Debian's chromium driven by
// playwright-core against the real server binary on a fresh SQLite file.
//
// The whole story of issue 16: two people sign up, Ann posts two pictures with alt text, Bob
// follows her, sees the post in his feed, likes it (the count changes before the server answers),
// comments, Ann replies, Bob unlikes, Ann deletes the comment thread. Then: infinite scroll across
// three pages of a feed, uploads refused for size and type with their messages, a 429 with its
// Retry-After on a second server with tight limits, a revoked token sending the page to the login,
// a phone-width layout without horizontal scrolling, the size of a first load, and no request
// leaving 127.0.0.1. Screenshots of the main pages go to $SCREENSHOTS
// (default target/browser-screenshots/).
//
// Run with scripts/browser-test.sh (or `node --test app.spec.mjs` with BINARY set).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import { cleanUp, launchBrowser, refuseOffsite, startServer, TIMEOUT } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const SCREENSHOTS = process.env.SCREENSHOTS ?? resolve(here, '../../target/browser-screenshots');
/** The test server's upload limit, small so that refusing a file is quick. */
const MAX_UPLOAD = 1024 * 1024;
/** Posts per feed page in the app (web/js/views/feed.js). */
const FEED_PAGE = 10;

let base;
let context;
let offsite;
const pageErrors = [];
const cspViolations = [];
const pages = {};
const people = {
  ann: { name: 'Ann Archer', email: 'ann@example.com', password: 'ann-password-1' },
  bob: { name: 'Bob Baker', email: 'bob@example.com', password: 'bob-password-1' },
  cat: { name: 'Cat Carter', email: 'cat@example.com', password: 'cat-password-1' },
};
let annPost; // The id of Ann's newest post.

// ---------------------------------------------------------------------------------------------
// Helpers

/** A server on a fresh SQLite file, with the small upload limit; resolves to its base URL. */
function startAppServer(extraEnv = {}) {
  return startServer('bs-app-data-', { MAX_UPLOAD_BYTES: String(MAX_UPLOAD), ...extraEnv });
}

async function api(method, path, { body, token, form, at = base } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Token ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${at}${path}`, {
    method,
    headers,
    body: form ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await response.text();
  const json = /json/.test(response.headers.get('content-type') ?? '') && text;
  return { status: response.status, headers: response.headers, text, body: json ? JSON.parse(text) : null };
}

/** A PNG of `width` x `height`: a gradient in `rgb`'s hue, different for each `seed`. */
function png(width, height, rgb, seed = 0) {
  const row = 1 + width * 3;
  const raw = Buffer.alloc(row * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = y * row + 1 + x * 3;
      const shade = (x + y + seed * 17) % 256;
      raw[at] = (rgb[0] + shade) % 256;
      raw[at + 1] = (rgb[1] + (y * 255) / height) % 256;
      raw[at + 2] = (rgb[2] + (x * 255) / width) % 256;
    }
  }
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function shot(page, name, options = {}) {
  // A full-page picture starts at the top, where the sticky bar belongs.
  if (options.fullPage) await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), ...options });
}

/** A new tab; each tab keeps its own session (sessionStorage), so each can be another person. */
async function newPage(name) {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (err) => pageErrors.push(`${name}: ${err}`));
  page.on('console', (message) => {
    if (/Content.Security.Policy|Trusted Type/i.test(message.text())) cspViolations.push(`${name}: ${message.text()}`);
  });
  pages[name] = page;
  return page;
}

/**
 * The tab of `name`, brought to the front: chromium throttles animation frames in background
 * tabs, and playwright waits for them before each click.
 */
async function tab(name) {
  const page = pages[name];
  await page.bringToFront();
  return page;
}

/** The token the app keeps for `page`'s session. */
async function tokenOf(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('being-social.session') ?? 'null')?.token);
}

async function noHorizontalScroll(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

async function signUp(page, who) {
  await page.bringToFront();
  await page.goto(`${base}/`);
  await page.waitForURL(/\/login\?next=/);
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByRole('heading', { name: 'Create your account' }).waitFor();
  await page.getByLabel('Your name').fill(who.name);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.waitForURL(`${base}/`);
  await page.getByText(`Welcome, ${who.name}!`).waitFor();
  who.token = await tokenOf(page);
  who.id = (await api('GET', '/accounts/me/', { token: who.token })).body.id;
  assert.ok(who.id, 'signed up and logged in');
}

// A hold on like requests, to see the count change before the server has answered.
let likeGate = null;

// ---------------------------------------------------------------------------------------------

before(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  base = await startAppServer();
  context = await launchBrowser('bs-app-profile-', {
    viewport: { width: 1280, height: 900 },
    // No fading in: screenshots show pictures as they are once loaded.
    reducedMotion: 'reduce',
  });
  // Every request must go to the server on 127.0.0.1 (or be a local data:/blob: URL); anything
  // else is refused and remembered.
  offsite = await refuseOffsite(
    context,
    (url) => new URL(url).hostname === '127.0.0.1',
    async (route) => {
      const request = route.request();
      if (likeGate && request.method() === 'POST' && request.url().includes('/posts/post-reaction/')) {
        await likeGate.promise;
      }
    },
  );
  for (const page of context.pages()) await page.close().catch(() => {});
});

after(() => cleanUp(context));

// ---------------------------------------------------------------------------------------------

test('the shell: strict CSP, no-cache, immutable assets; the API keeps its JSON 404s', async () => {
  const page = await api('GET', '/');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  const csp = page.headers.get('content-security-policy');
  for (const rule of ["default-src 'none'", "script-src 'self';", "style-src 'self';", "connect-src 'self'", "frame-ancestors 'none'"]) {
    assert.ok(csp.includes(rule), `${rule} in ${csp}`);
  }
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const asset = /href="(\/assets\/[0-9a-f]+\/app\.css)"/.exec(page.text)?.[1];
  assert.ok(asset, page.text);
  const css = await api('GET', asset);
  assert.equal(css.status, 200);
  assert.match(css.headers.get('cache-control'), /immutable/);

  // Client-side routes answer the shell to browsers...
  const route = await fetch(`${base}/p/1`, { headers: { Accept: 'text/html' } });
  assert.equal(route.status, 200);
  assert.match(await route.text(), /<script type="module"/);
  // ...and API clients, and the API's own paths, keep their JSON 404s.
  for (const [path, accept] of [
    ['/nope', '*/*'],
    ['/p/1', 'application/json'],
    ['/accounts/nope/extra/', 'text/html'],
    ['/posts/nope/', 'text/html'],
    ['/media/nope', 'text/html'],
  ]) {
    const response = await fetch(`${base}${path}`, { headers: { Accept: accept } });
    assert.equal(response.status, 404, path);
    assert.equal((await response.json()).code, 'not_found', path);
  }
});

test('two people sign up', async () => {
  const ann = await newPage('ann');
  const bob = await newPage('bob');
  await signUp(ann, people.ann);
  await shot(ann, 'feed-empty');
  await bob.bringToFront();
  await bob.goto(`${base}/signup`);
  await shot(bob, 'signup');
  await signUp(bob, people.bob);
  assert.notEqual(people.ann.token, people.bob.token);
});

test('Ann posts two pictures, each with its alt text', async () => {
  const page = await tab('ann');
  await page.getByRole('link', { name: 'New post' }).click();
  await page.getByRole('heading', { name: 'New post' }).waitFor();
  await page.locator('input[type=file]').setInputFiles([
    { name: 'harbour.png', mimeType: 'image/png', buffer: png(800, 600, [20, 80, 160], 1) },
    { name: 'meadow.png', mimeType: 'image/png', buffer: png(600, 800, [40, 160, 60], 2) },
  ]);
  await page.getByLabel('Alt text for harbour.png').fill('Boats in a blue harbour at dawn');
  await page.getByLabel('Alt text for meadow.png').fill('A green meadow under a tall sky');
  await page.getByLabel('Caption').fill('Two views from the weekend');
  await page.getByText('Each picture is shared as a post of its own').waitFor();
  await shot(page, 'compose', { fullPage: true });
  await page.getByRole('button', { name: 'Share 2 posts' }).click();
  await page.getByText('2 posts shared.').waitFor();
  assert.equal(new URL(page.url()).pathname, '/');

  const cards = page.getByRole('article', { name: `Post by ${people.ann.name}` });
  await cards.nth(1).waitFor();
  assert.equal(await cards.count(), 2);
  // Newest first: the second upload is on top. The pictures carry their alt text, load lazily,
  // and offer the thumbnail through srcset.
  const first = cards.first().locator('img:not(.avatar)');
  assert.equal(await first.getAttribute('alt'), 'A green meadow under a tall sky');
  assert.equal(await cards.nth(1).locator('img:not(.avatar)').getAttribute('alt'), 'Boats in a blue harbour at dawn');
  // The first picture of the feed loads at once, the others when they come near.
  assert.equal(await first.getAttribute('loading'), 'eager');
  assert.equal(await cards.nth(1).locator('img:not(.avatar)').getAttribute('loading'), 'lazy');
  assert.match(await first.getAttribute('srcset'), /\/media\/.+ 240w, .+\/media\/.+ 600w/);

  const posts = await api('GET', `/accounts/${people.ann.id}/posts/`, { token: people.ann.token });
  assert.equal(posts.body.results.length, 2);
  assert.equal(posts.body.results[1].alt_text, 'Boats in a blue harbour at dawn');
  annPost = posts.body.results[0].id;
});

test('Bob finds Ann, follows her and sees her posts in his feed', async () => {
  const page = await tab('bob');
  await page.getByRole('link', { name: 'Feed' }).click();
  await page.getByRole('searchbox', { name: /Find someone/ }).fill(people.ann.email);
  await page.getByRole('button', { name: 'Find' }).click();
  await page.getByRole('heading', { name: people.ann.name }).waitFor();
  assert.equal(new URL(page.url()).pathname, `/u/${people.ann.id}`);
  await page.locator('.grid .tile').nth(1).waitFor();

  await page.getByRole('button', { name: 'Follow', exact: true }).click();
  await page.getByRole('button', { name: 'Unfollow' }).waitFor();
  await page.getByRole('link', { name: '1 follower' }).waitFor();
  await shot(page, 'profile', { fullPage: true });
  const ann = await api('GET', `/accounts/${people.ann.id}/`, { token: people.bob.token });
  assert.equal(ann.body.is_following, true);
  assert.equal(ann.body.follower_count, 1);

  await page.getByRole('link', { name: 'Feed' }).click();
  const cards = page.getByRole('article', { name: `Post by ${people.ann.name}` });
  await cards.nth(1).waitFor();
  assert.equal(await cards.count(), 2);
  await cards.first().locator('.frame.loaded').waitFor();
  await shot(page, 'feed');
});

test('Bob likes the post (at once, then as the server says) and comments', async () => {
  const page = await tab('bob');
  const card = page.locator(`article[data-post="${annPost}"]`);
  const like = card.getByRole('button', { name: 'Like' });
  assert.equal(await like.getAttribute('aria-pressed'), 'false');

  // Hold the like request: the button and the count must change before the server answers.
  let release;
  likeGate = { promise: new Promise((r) => (release = r)) };
  const answered = page.waitForResponse((r) => r.url().includes(`/posts/post-reaction/${annPost}/`) && r.request().method() === 'POST');
  await like.click();
  await card.getByRole('link', { name: '1 like' }).waitFor();
  assert.equal(await like.getAttribute('aria-pressed'), 'true');
  release();
  likeGate = null;
  assert.equal((await answered).status(), 201);
  const post = await api('GET', `/posts/edit/${annPost}/`, { token: people.bob.token });
  assert.equal(post.body.likes_count, 1);
  assert.equal(post.body.liked_by_me, true);

  await card.getByRole('link', { name: 'Comment' }).click();
  await page.waitForURL(`${base}/p/${annPost}#comments`);
  await page.getByText('No comments yet.').waitFor();
  await page.getByLabel('Add a comment').fill('Lovely light!');
  await page.getByRole('button', { name: 'Post', exact: true }).click();
  const comment = page.locator('li.comment', { hasText: 'Lovely light!' });
  await comment.waitFor();
  await page.getByRole('heading', { name: 'Comments 1' }).waitFor();
  // Bob may delete his own comment; he cannot delete Ann's post.
  await comment.getByRole('button', { name: 'Delete' }).waitFor();
  assert.equal(await page.locator('.tools').count(), 0);
});

test('Ann replies to the comment', async () => {
  const page = await tab('ann');
  await page.goto(`${base}/p/${annPost}`);
  const comment = page.locator('li.comment', { hasText: 'Lovely light!' });
  await comment.waitFor();
  await comment.getByRole('button', { name: 'Reply' }).click();
  await page.getByLabel(`Reply to ${people.bob.name}`).fill('Thank you, it was early.');
  await comment.getByRole('button', { name: 'Reply', exact: true }).last().click();
  const reply = comment.locator('.replies li.comment', { hasText: 'Thank you, it was early.' });
  await reply.waitFor();
  await comment.getByRole('button', { name: 'Hide replies' }).waitFor();
  await page.getByRole('heading', { name: 'Comments 2' }).waitFor();
  await shot(page, 'post', { fullPage: true });
  const post = await api('GET', `/posts/edit/${annPost}/`, { token: people.ann.token });
  assert.equal(post.body.comments_count, 2);
});

test('Bob unlikes the post, with the keyboard', async () => {
  const page = await tab('bob');
  await page.reload();
  await page.locator('li.comment', { hasText: 'Thank you' }).or(page.getByRole('button', { name: 'View 1 reply' })).first().waitFor();
  const like = page.getByRole('button', { name: 'Like' });
  assert.equal(await like.getAttribute('aria-pressed'), 'true');
  await like.focus();
  const answered = page.waitForResponse((r) => r.url().includes(`/posts/edit/${annPost}/`) && r.request().method() === 'GET');
  await page.keyboard.press('Enter');
  await page.getByRole('link', { name: '0 likes' }).waitFor();
  assert.equal(await like.getAttribute('aria-pressed'), 'false');
  await answered;
  await page.getByRole('link', { name: '0 likes' }).waitFor();
  const post = await api('GET', `/posts/edit/${annPost}/`, { token: people.bob.token });
  assert.equal(post.body.likes_count, 0);
  assert.equal(post.body.liked_by_me, false);
});

test('Ann deletes the comment thread on her post', async () => {
  const page = await tab('ann');
  const comment = page.locator('li.comment', { hasText: 'Lovely light!' }).first();
  await comment.locator('.comment-actions').first().getByRole('button', { name: 'Delete' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete this comment?' });
  await dialog.getByText('Its 1 reply (and theirs) will be deleted too.').waitFor();
  await dialog.getByRole('button', { name: 'Delete' }).click();
  await page.getByText('Comment deleted.').waitFor();
  assert.equal(await page.locator('li.comment').count(), 0);
  await page.getByRole('heading', { name: 'Comments', exact: true }).waitFor();
  const post = await api('GET', `/posts/edit/${annPost}/`, { token: people.ann.token });
  assert.equal(post.body.comments_count, 0);
  const comments = await api('GET', `/posts/post-comment/${annPost}/`, { token: people.ann.token });
  assert.deepEqual(comments.body.results, []);
});

test('several pictures and placeholders, when the API sends them, are shown', async () => {
  // The API may add `media` (several pictures), `blurhash` and `dominant_color` to a post; the
  // app uses them when present. Here the answer is extended on its way to the page.
  const page = await tab('bob');
  const hash = 'LEHV6nWB2yk8pyo0adR*.7kCMdnj';
  const url = `${base}/posts/edit/${annPost}/`;
  await page.route(url, async (route) => {
    if (route.request().method() !== 'GET') return route.fallback();
    const response = await route.fetch();
    const post = await response.json();
    const picture = (alt) => ({
      image_url: post.image_url,
      thumbnail_url: post.thumbnail_url,
      width: post.width,
      height: post.height,
      alt_text: alt,
      blurhash: hash,
      dominant_color: '#336699',
    });
    return route.fulfill({ response, json: { ...post, blurhash: hash, media: [picture('First of two'), picture('Second of two')] } });
  });
  try {
    await page.goto(`${base}/p/${annPost}`);
    const slides = page.locator('.carousel .slide');
    await slides.nth(1).waitFor();
    assert.equal(await slides.count(), 2);
    assert.equal(await slides.nth(0).locator('img').getAttribute('alt'), 'First of two');
    assert.equal(await slides.nth(1).locator('img').getAttribute('alt'), 'Second of two');
    assert.equal(await page.locator('.carousel canvas.placeholder').count(), 2);
    await page.getByText('1 / 2').waitFor();
    await page.getByRole('button', { name: 'Next picture' }).click();
    await page.getByText('2 / 2').waitFor();
    await page.waitForFunction(() => {
      const track = document.querySelector('.carousel .track');
      return track.scrollLeft >= track.scrollWidth - track.clientWidth - 1;
    });
    await page.locator('.carousel .slide').nth(1).locator('.frame.loaded').waitFor();
    await shot(page, 'post-several-pictures');
  } finally {
    await page.unroute(url);
  }
});

test('the feed scrolls through three pages', async () => {
  const cat = people.cat;
  assert.equal((await api('POST', '/accounts/signup/', { body: { email: cat.email, full_name: cat.name, password: cat.password } })).status, 201);
  const login = await api('POST', '/accounts/login/', { body: { email: cat.email, password: cat.password } });
  const total = 2 * FEED_PAGE + 5;
  for (let i = 1; i <= total; i++) {
    const form = new FormData();
    form.append('image', new Blob([png(400, 300, [i * 9, 100, 200 - i * 5], i)], { type: 'image/png' }), `cat-${i}.png`);
    form.append('caption', `Cat post ${i}`);
    form.append('alt_text', `Pattern number ${i}`);
    const created = await api('POST', '/posts/create/', { token: login.body.token, form });
    assert.equal(created.status, 201, created.text);
  }

  const page = await newPage('cat');
  const feedRequests = [];
  page.on('request', (r) => r.url().includes('/posts/post-feed/') && feedRequests.push(r.url()));
  await page.goto(`${base}/login`);
  await page.getByLabel('Email').fill(cat.email);
  await page.getByLabel('Password').fill(cat.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  const cards = page.locator('article.card');
  await cards.nth(FEED_PAGE - 1).waitFor();
  // Scrolling to the end loads the next page, until there is none.
  const end = page.getByText('You are all caught up.');
  for (let rounds = 0; !(await end.isVisible()); rounds++) {
    assert.ok(rounds < 10, `still scrolling after ${await cards.count()} posts`);
    await page.locator('.list-end').scrollIntoViewIfNeeded();
    await Promise.race([end.waitFor(), cards.nth(await cards.count()).waitFor()]).catch(() => {});
  }
  assert.equal(await cards.count(), total);
  assert.equal(feedRequests.length, 3, feedRequests.join('\n'));
  assert.ok(feedRequests.every((u) => u.includes(`limit=${FEED_PAGE}`)));
  assert.ok(feedRequests.slice(1).every((u) => u.includes('cursor=')));
  const captions = await page.locator('article.card .caption .text').allInnerTexts();
  assert.deepEqual(
    captions,
    Array.from({ length: total }, (_, i) => `Cat post ${total - i}`),
  );
  await end.scrollIntoViewIfNeeded();
  await cards.last().locator('.frame.loaded').waitFor();
  await shot(page, 'feed-end');
});

test('uploads refused for size or type show why', async () => {
  const page = await tab('ann');
  await page.goto(`${base}/new`);
  await page.getByRole('heading', { name: 'New post' }).waitFor();
  const big = Buffer.alloc(2 * MAX_UPLOAD, 7);
  await page.locator('input[type=file]').setInputFiles([
    { name: 'huge.png', mimeType: 'image/png', buffer: big },
    { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a picture') },
  ]);
  await page.getByRole('button', { name: 'Share 2 posts' }).click();
  const huge = page.locator('.preview-item', { hasText: 'huge.png' });
  await huge.getByText('This file is too large: the server takes pictures up to 1 MB.').waitFor();
  const notes = page.locator('.preview-item', { hasText: 'notes.txt' });
  await notes.getByText('This file is not a picture the server can read').waitFor();
  await page.getByText('The pictures were not shared: see why under each.').waitFor();
  await shot(page, 'upload-refused', { fullPage: true });
  const posts = await api('GET', `/accounts/${people.ann.id}/posts/`, { token: people.ann.token });
  assert.equal(posts.body.results.length, 2);
});

test('Ann edits a caption and its alt text, then deletes that post', async () => {
  const page = await tab('ann');
  const posts = await api('GET', `/accounts/${people.ann.id}/posts/`, { token: people.ann.token });
  const older = posts.body.results[1].id;
  await page.goto(`${base}/p/${older}`);
  await page.getByRole('button', { name: 'Edit' }).click();
  await page.getByRole('textbox', { name: 'Caption' }).fill('The harbour, early');
  await page.getByRole('textbox', { name: 'Alt text' }).fill('Fishing boats moored in a calm blue harbour');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Caption saved.').waitFor();
  await page.locator('.caption .text', { hasText: 'The harbour, early' }).waitFor();
  const img = page.locator('article.card img:not(.avatar)');
  assert.equal(await img.getAttribute('alt'), 'Fishing boats moored in a calm blue harbour');
  const edited = await api('GET', `/posts/edit/${older}/`, { token: people.ann.token });
  assert.equal(edited.body.caption, 'The harbour, early');
  assert.equal(edited.body.alt_text, 'Fishing boats moored in a calm blue harbour');

  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('dialog', { name: 'Delete this post?' }).getByRole('button', { name: 'Delete post' }).click();
  await page.waitForURL(`${base}/u/${people.ann.id}`);
  await page.getByText('Your post was deleted.').waitFor();
  await page.locator('.grid .tile').first().waitFor();
  assert.equal(await page.locator('.grid .tile').count(), 1);
  assert.equal((await api('GET', `/posts/edit/${older}/`, { token: people.ann.token })).status, 404);
});

test('a phone-width screen: no horizontal scrolling', async () => {
  const page = await tab('ann');
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [path, name, ready] of [
    ['/', 'phone-feed', () => page.locator('article.card .frame.loaded').first().waitFor()],
    [`/p/${annPost}`, 'phone-post', () => page.getByRole('heading', { name: 'Comments' }).waitFor()],
    [`/u/${people.ann.id}`, 'phone-profile', () => page.locator('.grid .frame.loaded').first().waitFor()],
    ['/new', 'phone-compose', () => page.getByRole('heading', { name: 'New post' }).waitFor()],
    ['/settings', 'phone-settings', () => page.getByRole('heading', { name: 'Settings' }).waitFor()],
  ]) {
    await page.goto(`${base}${path}`);
    await ready();
    assert.ok(await noHorizontalScroll(page), `${path} scrolls sideways at 390 px`);
    await shot(page, name);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('lists: likers, followers (with removal), following', async () => {
  const bob = await tab('bob');
  await bob.goto(`${base}/p/${annPost}`);
  await bob.getByRole('button', { name: 'Like' }).click();
  await bob.getByRole('link', { name: '1 like' }).click();
  await bob.getByRole('heading', { name: 'Liked by' }).waitFor();
  await bob.locator('li.person', { hasText: people.bob.name }).waitFor();
  await shot(bob, 'likers');

  const ann = await tab('ann');
  await ann.goto(`${base}/u/${people.ann.id}/followers`);
  const row = ann.locator('li.person', { hasText: people.bob.name });
  await row.getByRole('button', { name: 'Follow back' }).waitFor();
  await shot(ann, 'followers');
  await row.getByRole('button', { name: 'Remove' }).click();
  await ann.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
  await ann.getByText(`${people.bob.name} no longer follows you.`).waitFor();
  const me = await api('GET', `/accounts/${people.ann.id}/`, { token: people.ann.token });
  assert.equal(me.body.follower_count, 0);

  await ann.goto(`${base}/u/${people.bob.id}/following`);
  await ann.getByText('Not following anyone yet.').waitFor();
});

test('settings: edit the profile and the avatar', async () => {
  const page = await tab('ann');
  await page.goto(`${base}/settings`);
  await page.getByLabel('Bio').fill('Early mornings, boats and meadows.');
  await page.getByRole('button', { name: 'Save profile' }).click();
  await page.getByText('Profile saved.').waitFor();
  await page.locator('#avatar').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: png(300, 300, [200, 120, 40], 5) });
  await page.getByText('Profile picture changed.').waitFor();
  await page.locator('.avatar-edit img.avatar').waitFor();
  await shot(page, 'settings', { fullPage: true });
  const me = await api('GET', '/accounts/me/', { token: people.ann.token });
  assert.equal(me.body.bio, 'Early mornings, boats and meadows.');
  assert.ok(me.body.avatar_url);
});

test('a token revoked elsewhere sends the page to the login, and back after it', async () => {
  const page = await tab('bob');
  assert.equal((await api('POST', '/accounts/logout-all/', { token: people.bob.token })).status, 204);
  await page.getByRole('link', { name: 'Profile' }).click();
  await page.waitForURL(/\/login\?next=/);
  await page.getByText('Your session has ended').waitFor();
  assert.equal(await tokenOf(page), undefined);
  await page.getByLabel('Email').fill(people.bob.email);
  await page.getByLabel('Password').fill(people.bob.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: people.bob.name }).waitFor();
  assert.equal(new URL(page.url()).pathname, `/u/${people.bob.id}`);
});

test('too many logins: the 429 and its Retry-After are shown', async () => {
  const limited = await startAppServer({ RATE_LIMITS: 'on', AUTH_RATE_LIMIT: '2', AUTH_RATE_WINDOW: '600s' });
  const page = await newPage('limited');
  await page.goto(`${limited}/login`);
  await page.getByLabel('Email').fill('nobody@example.com');
  await page.getByLabel('Password').fill('wrong-password');
  const submit = page.locator('form button[type=submit]');
  for (let i = 0; i < 2; i++) {
    await submit.click();
    await page.getByRole('alert').getByText('Invalid email or password.').waitFor();
    await page.locator('form button[type=submit]:not([disabled])').waitFor();
  }
  await submit.click();
  await page.getByRole('alert').getByText(/Too many requests for now\. Try again in \d+ (seconds|minutes)\./).waitFor();
  assert.ok(await submit.isDisabled(), 'the button waits for Retry-After');
  assert.match(await submit.innerText(), /Log in \(\d+ s\)/);
  await shot(page, 'rate-limited');
});

test('Ann deletes her account, after typing her email', async () => {
  const page = await tab('ann');
  await page.goto(`${base}/settings`);
  await page.getByRole('button', { name: 'Delete my account' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete your account?' });
  const confirm = dialog.getByRole('button', { name: 'Delete my account' });
  assert.ok(await confirm.isDisabled());
  await dialog.getByRole('textbox').fill(people.ann.email);
  await confirm.click();
  await page.waitForURL(`${base}/signup`);
  await page.getByText('Your account and everything in it is deleted.').waitFor();
  assert.equal((await api('GET', `/accounts/${people.ann.id}/`)).status, 404);
});

test('a first load is small, and asks nothing of the internet', async () => {
  // A fresh profile: nothing cached.
  const fresh = await launchBrowser('bs-app-first-');
  try {
    const page = fresh.pages()[0] ?? (await fresh.newPage());
    const finished = [];
    page.on('requestfinished', (r) => finished.push(r));
    await page.goto(`${base}/login`);
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    await page.waitForLoadState('networkidle');
    let bodies = 0;
    let headers = 0;
    for (const r of finished) {
      const sizes = await r.sizes();
      bodies += sizes.responseBodySize;
      headers += sizes.responseHeadersSize;
      assert.equal(new URL(r.url()).hostname, '127.0.0.1', r.url());
    }
    assert.ok(finished.length > 0, 'the first load made no request');
    const bytes = bodies + headers;
    console.log(`# first load: ${finished.length} requests, ${bytes} bytes received (${bodies} of bodies, compressed)`);
    assert.ok(bytes < 100 * 1024, `first load is ${bytes} bytes`);
  } finally {
    await fresh.close();
  }
});

test('no request left 127.0.0.1; no page error; no CSP violation', () => {
  assert.deepEqual(offsite, []);
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(cspViolations, []);
});
