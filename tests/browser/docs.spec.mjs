// The /docs page in a real headless browser: Debian's chromium driven by playwright-core.
//
// Starts the real server binary on a fresh SQLite file, opens /docs, checks that the operations
// are rendered, runs "Try it out" -> "Execute" on GET /healthz and POST /accounts/signup/, then
// authorizes with a token through the "Authorize" dialog and calls GET /accounts/me/. Every
// request the page makes must stay on the server: the page has to work without internet.
//
// Run with scripts/browser-test.sh (or `node --test docs.spec.mjs` with BINARY set).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanUp, launchBrowser, refuseOffsite, startServer, TIMEOUT } from './harness.mjs';

let base;
let context;
let page;
let offsite;
const pageErrors = [];

async function api(method, path, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Token ${token}`;
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

before(async () => {
  base = await startServer('bs-browser-data-');
  context = await launchBrowser('bs-browser-profile-');
  // Anything not on our server is refused and remembered: the page must not need the internet.
  offsite = await refuseOffsite(context, (url) => url.startsWith(base));
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (err) => pageErrors.push(String(err)));
});

after(() => cleanUp(context));

/// Expands an operation, presses "Try it out" (then `prepare`, if any) and "Execute"; returns
/// the status and body the page shows.
async function tryItOut(id, prepare) {
  const op = page.locator(`#${id}`);
  await op.locator('.opblock-summary').first().click();
  await op.getByRole('button', { name: 'Try it out' }).click();
  if (prepare) await prepare(op);
  await op.getByRole('button', { name: 'Execute' }).click();
  const live = op.locator('.live-responses-table tbody .response').first();
  const status = (await live.locator('.response-col_status').innerText()).trim();
  const body = await live.locator('.response-col_description pre').first().innerText();
  return { status, body };
}

test('/docs renders every operation of the contract', async () => {
  const response = await page.goto(`${base}/docs`);
  assert.equal(response.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/docs/');
  await page.locator('.opblock').first().waitFor();
  const paths = await page.locator('.opblock-summary-path').allInnerTexts();
  const shown = new Set(paths.map((p) => p.replace(/\u200b/g, '').trim()));
  for (const path of [
    '/accounts/signup/',
    '/accounts/login/',
    '/accounts/{user}/',
    '/accounts/follow/{id}/',
    '/posts/create/',
    '/posts/edit/{id}/',
    '/posts/post-comment/{post_id}/{comment_id}/',
    '/posts/post-feed/',
    '/media/{key}',
    '/healthz',
  ]) {
    assert.ok(shown.has(path), `${path} is not shown; shown: ${[...shown].join(', ')}`);
  }
  assert.ok((await page.locator('.opblock').count()) >= 30);
  await page.getByRole('button', { name: /Authorize/ }).first().waitFor();
});

test('"Try it out" calls the server: GET /healthz and POST /accounts/signup/', async () => {
  const health = await tryItOut('operations-service-healthz');
  assert.equal(health.status, '200', health.body);
  assert.match(health.body, /"status": "ok"/);

  const signup = await tryItOut('operations-accounts-signup', async (op) => {
    await op.locator('textarea.body-param__text').fill(
      JSON.stringify({ email: 'docs@example.com', full_name: 'Docs', password: 'docs-password' }),
    );
  });
  assert.equal(signup.status, '201', signup.body);
  assert.match(signup.body, /docs@example\.com/);
});

test('"Authorize" with a token, then GET /accounts/me/', async () => {
  const login = await api('POST', '/accounts/login/', {
    email: 'docs@example.com',
    password: 'docs-password',
  });
  assert.equal(login.status, 200);

  await page.getByRole('button', { name: /Authorize/ }).first().click();
  const dialog = page.locator('.modal-ux');
  const scheme = dialog
    .locator('.auth-container')
    .filter({ has: page.locator('h4', { hasText: /^token/ }) });
  await scheme.locator('input').fill(`Token ${login.body.token}`);
  // Each scheme is a form of its own, with its own "Authorize" (labelled "Apply credentials").
  await scheme.locator('button.authorize').click();
  await scheme.getByText('Authorized').waitFor();
  await dialog.getByRole('button', { name: 'Close' }).first().click();

  const me = await tryItOut('operations-accounts-me');
  assert.equal(me.status, '200', me.body);
  assert.match(me.body, /docs@example\.com/);
});

test('the page asked nothing of the internet and raised no error', () => {
  assert.deepEqual(offsite, []);
  assert.deepEqual(pageErrors, []);
});
