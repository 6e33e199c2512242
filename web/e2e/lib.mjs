// Helpers for the end-to-end suite: configuration from the environment the Rust test sets,
// Chromium, sign-in, the server's own view of things (through an org token), the board's
// drag and drop, reading a virtualized conversation, and Chromium's memory.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite through \`cargo nextest run -p api dashboard\``);
  return value;
}

export const cfg = {
  chromium: process.env.SY_CHROMIUM || '/usr/bin/chromium',
  base: need('SY_E2E_BASE'),
  org: need('SY_E2E_ORG'),
  token: need('SY_E2E_TOKEN'),
  owner: need('SY_E2E_OWNER'),
  member: need('SY_E2E_MEMBER'),
  project: need('SY_E2E_PROJECT'),
  projectName: need('SY_E2E_PROJECT_NAME'),
  timedProject: need('SY_E2E_TIMED_PROJECT'),
  timedTasks: Number(need('SY_E2E_TIMED_TASKS')),
  bigTask: need('SY_E2E_BIG_TASK'),
  bigAttempt: need('SY_E2E_BIG_ATTEMPT'),
  bigLines: Number(need('SY_E2E_BIG_LINES')),
  shots: need('SY_E2E_SHOTS'),
  webDist: need('SY_E2E_WEB_DIST'),
  /** Executor → { task, profile } for the real-agent scenarios. */
  realAgents: JSON.parse(need('SY_E2E_REAL_AGENTS')),
};

export const links = {
  board: (project = cfg.project) => `/orgs/${cfg.org}/projects/${project}`,
  task: (id) => `/orgs/${cfg.org}/tasks/${id}`,
};

export const LAPTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Debian's Chromium, headless, with the flags this machine needs. */
export function launch() {
  return chromium.launch({
    executablePath: cfg.chromium,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** A new browser context (a separate cookie jar: one person) with bounded waits. Uncaught
 *  page errors are collected in `context.pageErrors`; `assertNoPageErrors` fails on them. */
export async function newContext(browser, options = {}) {
  const context = await browser.newContext({ baseURL: cfg.base, viewport: LAPTOP, ...options });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(20_000);
  context.pageErrors = [];
  context.on('page', (page) => page.on('pageerror', (e) => context.pageErrors.push(e)));
  return context;
}

export function assertNoPageErrors(context) {
  if (context.pageErrors.length > 0) {
    throw new Error(`uncaught errors in the page:\n${context.pageErrors.map((e) => e.stack || e).join('\n')}`);
  }
}

/** Signs `login` into `context` through the development sign-in endpoint (the cookies
 *  land in the context, as the form would leave them). */
export async function signInQuietly(context, login) {
  const res = await context.request.post('/api/v1/auth/dev/login', { data: { login } });
  if (!res.ok()) throw new Error(`dev sign-in of ${login}: ${res.status()} ${await res.text()}`);
}

/** A page in a new context with `login` signed in. */
export async function personPage(browser, login, options = {}) {
  const context = await newContext(browser, options);
  await signInQuietly(context, login);
  const page = await context.newPage();
  return { context, page };
}

/** The api as the suite itself sees it: an org token, for checks of what the server holds. */
export async function server(method, rel, body) {
  const res = await fetch(`${cfg.base}/api/v1/orgs/${cfg.org}/${rel}`, {
    method,
    headers: { authorization: `Bearer ${cfg.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${rel}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** How many entries a process's log holds on the server: every page of `GET …/logs`
 *  read, each from the previous one's `next_cursor`. */
export async function logEntryCount(processId) {
  let entries = 0;
  let after = null;
  for (;;) {
    const page = await server('GET', `processes/${processId}/logs${after === null ? '' : `?after=${after}`}`);
    for (const p of page.patches) if (p.op === 'append') entries = Math.max(entries, p.index + 1);
    if (!page.next_cursor) return entries;
    after = page.next_cursor;
  }
}

/** A TCP proxy in front of the api that can drop the network: `cut()` closes every open
 *  connection mid-stream (as a dead Wi-Fi or a restarted load balancer would) and refuses
 *  new ones until `restore()`. Point a browser context's baseURL at `url`. */
export async function cuttableProxy(target = cfg.base) {
  const { hostname, port } = new URL(target);
  const pairs = new Set();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(port), hostname);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = () => {
    refusing = true;
    for (const { client, upstream } of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut,
    restore: () => {
      refusing = false;
    },
    close: () => {
      cut();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Polls `check` (which returns a truthy value when done) every `every` ms for `limit` ms. */
export async function until(what, check, { limit = 15_000, every = 100 } = {}) {
  const start = Date.now();
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() - start > limit) throw new Error(`timed out after ${limit} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Saves a screenshot under SY_E2E_SHOTS (without the focus ring that a page heading
 *  takes after navigation). */
export async function shot(page, name) {
  await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
  await page.screenshot({ path: join(cfg.shots, name) });
}

/** The board's live-updates badge is open. */
export async function boardLive(page) {
  await page.getByTestId('board-connection').locator('[data-state="open"]').waitFor();
}

/** Creates a task through the board's "New task" dialog; returns its key (e.g. WEB-3). */
export async function createTaskOnBoard(page, title) {
  const cards = page.locator('[data-testid^="card-"]');
  const before = new Set(await cards.evaluateAll((els) => els.map((e) => e.getAttribute('data-testid'))));
  await page.getByRole('button', { name: 'New task', exact: true }).click();
  await page.getByLabel('Title', { exact: true }).fill(title);
  await page.getByRole('button', { name: 'Create task', exact: true }).click();
  const testId = await until(`a new card titled ${JSON.stringify(title)}`, async () => {
    for (const id of await cards.filter({ hasText: title }).evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')))) {
      if (!before.has(id)) return id;
    }
    return null;
  });
  return testId.slice('card-'.length);
}

/** Drags a card into another column with the mouse, as a person would: press on the card,
 *  move past dnd-kit's activation distance, glide over in steps, let go. */
export async function dragCard(page, key, status) {
  const card = page.getByTestId(`card-${key}`);
  const column = page.getByTestId(`column-${status}`);
  await card.scrollIntoViewIfNeeded();
  // Press on the key: not the title link, the handle or the card's controls.
  const grip = await card.getByText(key, { exact: true }).first().boundingBox();
  const target = await column.boundingBox();
  if (!grip || !target) throw new Error(`card ${key} or column ${status} is not on screen`);
  const from = { x: grip.x + grip.width / 2, y: grip.y + grip.height / 2 };
  const to = { x: target.x + target.width / 2, y: target.y + Math.min(target.height / 2, 160) };
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(from.x + 8, from.y + 8, { steps: 4 });
  await page.mouse.move(to.x, to.y, { steps: 20 });
  await page.mouse.move(to.x + 2, to.y + 2, { steps: 2 });
  await page.mouse.up();
}

/** Every entry of the conversation (it is virtualized: scrolls it top to bottom and reads
 *  the rows by their position); returns their texts in order and the rows it counts. */
export async function readConversation(page) {
  return page.getByTestId('conversation').evaluate(async (el) => {
    const rows = new Map();
    const grab = () => {
      for (const row of el.querySelectorAll('[data-testid="entry"]')) {
        rows.set(Number(row.getAttribute('aria-posinset')), row.innerText.trim());
      }
    };
    const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    el.scrollTop = 0;
    await frames();
    grab();
    for (let guard = 0; el.scrollTop + el.clientHeight < el.scrollHeight - 1 && guard < 100_000; guard++) {
      el.scrollTop += Math.max(40, Math.floor(el.clientHeight * 0.6));
      await frames();
      grab();
    }
    const any = el.querySelector('[data-testid="entry"], [data-testid="process"]');
    return {
      texts: [...rows.entries()].sort((a, b) => a[0] - b[0]).map(([, text]) => text),
      rows: Number(any?.getAttribute('aria-setsize') ?? 0),
    };
  });
}

/** Records every change of every connection badge (`[data-state]` on `.badge`) from page
 *  load on, as `window.__badges = [{label, state, t}]`. */
export const recordBadges = () => {
  const log = [];
  window.__badges = log;
  const note = (el) => {
    const label = (el.querySelector('.visually-hidden')?.textContent ?? '').replace(/:\s*$/, '');
    const state = el.getAttribute('data-state');
    const last = [...log].reverse().find((x) => x.el === el);
    if (!last || last.state !== state) log.push({ el, label, state, t: performance.now() });
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes' && r.target instanceof Element && r.target.matches('.badge[data-state]')) note(r.target);
      for (const n of r.addedNodes ?? []) {
        if (!(n instanceof Element)) continue;
        if (n.matches('.badge[data-state]')) note(n);
        for (const b of n.querySelectorAll('.badge[data-state]')) note(b);
      }
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
};

/** The states the badge labelled `label` went through, in order, without repeats. */
export async function badgeStates(page, label) {
  return page.evaluate((label) => {
    const states = (window.__badges ?? []).filter((b) => b.label === label).map((b) => b.state);
    return states.filter((s, i) => i === 0 || s !== states[i - 1]);
  }, label);
}

/** Memory of every process of `browser` (from CDP's process list and /proc): resident
 *  (RSS, which counts shared pages once per process) and proportional (PSS) sizes, in MB. */
export async function browserMemory(browser) {
  const cdp = await browser.newBrowserCDPSession();
  const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
  await cdp.detach();
  const mb = (kb) => Math.round((kb / 1024) * 10) / 10;
  const field = (text, name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  const processes = [];
  let rss = 0;
  let pss = 0;
  for (const p of processInfo) {
    try {
      const status = readFileSync(`/proc/${p.id}/status`, 'utf8');
      const rollup = readFileSync(`/proc/${p.id}/smaps_rollup`, 'utf8');
      const r = field(status, 'VmRSS');
      const s = field(rollup, 'Pss');
      rss += r;
      pss += s;
      const cmdline = readFileSync(`/proc/${p.id}/cmdline`, 'utf8');
      // Headless Chromium's own UI runs in a WebUI renderer of its own.
      const type = cmdline.includes('--top-chrome-webui') ? 'renderer (browser UI)' : p.type;
      processes.push({ type, pid: p.id, rssMb: mb(r), pssMb: mb(s) });
    } catch {
      // gone already
    }
  }
  return { rssMb: mb(rss), pssMb: mb(pss), processes };
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
