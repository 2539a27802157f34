// What the browser tests share: the real server binary on a fresh SQLite file, Debian's chromium
// on a fresh profile, a route that keeps every request on the machine, and the cleanup of all of
// it. Each spec file runs in a process of its own, so what is started here belongs to one file.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const BINARY = process.env.BINARY ?? resolve(here, '../../target/debug/being-social');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const TIMEOUT = 30_000;

const servers = [];
const dirs = [];

/** A fresh temporary folder, removed by `cleanUp`. */
export async function tempDir(prefix) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

/**
 * Starts the binary on a fresh SQLite file in a folder named after `prefix`, with rate limits
 * off unless `env` says otherwise; resolves to its base URL once it answers.
 */
export async function startServer(prefix, env = {}) {
  const data = await tempDir(prefix);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = { log: '' };
  server.process = spawn(BINARY, [], {
    env: {
      ...process.env,
      BIND: `127.0.0.1:${port}`,
      DATABASE_URL: `sqlite://${join(data, 'db.sqlite')}`,
      MEDIA_DIR: join(data, 'media'),
      RATE_LIMITS: 'off',
      RUST_LOG: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.process.stdout.on('data', (d) => (server.log += d));
  server.process.stderr.on('data', (d) => (server.log += d));
  servers.push(server);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.process.exitCode !== null) {
      throw new Error(`the server exited (${server.process.exitCode}):\n${server.log}`);
    }
    try {
      if ((await fetch(`${url}/healthz`)).ok) return url;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`the server did not start:\n${server.log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Headless chromium on a fresh profile (a folder named after `prefix`); `options` adds to what
 * playwright's launchPersistentContext is given (a viewport, reducedMotion, ...).
 */
export async function launchBrowser(prefix, options = {}) {
  const profile = await tempDir(prefix);
  // A persistent context is how playwright takes a user-data-dir: a fresh one for each run.
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ...options,
    args: CHROMIUM_ARGS,
  });
}

/**
 * Lets through only the requests of `context` that are data: or blob: URLs or that `isLocal`
 * accepts, after `beforeContinue` (if any) is done with them; anything else is refused and its
 * URL added to the list this resolves to, for a test to find empty.
 */
export async function refuseOffsite(context, isLocal, beforeContinue) {
  const offsite = [];
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (!(url.startsWith('data:') || url.startsWith('blob:') || isLocal(url))) {
      offsite.push(url);
      return route.abort();
    }
    if (beforeContinue) await beforeContinue(route);
    return route.continue();
  });
  return offsite;
}

/** Closes `context`, stops every server started here and removes every temporary folder. */
export async function cleanUp(context) {
  await context?.close();
  for (const server of servers) {
    if (server.process.exitCode === null) {
      server.process.kill('SIGTERM');
      await new Promise((r) => server.process.once('exit', r));
    }
  }
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}
