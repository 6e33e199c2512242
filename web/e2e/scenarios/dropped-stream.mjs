// A log stream cut mid-run (the connection drops and stays down while the script prints)
// reconnects with Last-Event-ID: afterwards the conversation holds every line exactly once, and the
// log's connection badge went open → reconnecting → open.
import assert from 'node:assert/strict';
import { assertNoPageErrors, badgeStates, cfg, cuttableProxy, links, logEntryCount, personPage, readConversation, recordBadges, server, until } from '../lib.mjs';

const LINES = 60;
const SCRIPT = `for i in $(seq 1 ${LINES}); do echo "line $i"; sleep 0.1; done`;

export async function droppedLogStreamResumesWithNoGap({ browser, figures }) {
  const task = await server('POST', `projects/${cfg.project}/tasks`, { title: 'Survive a dropped stream' });
  // The browser reaches the api through a proxy that can drop the connections.
  const proxy = await cuttableProxy();
  const { context, page } = await personPage(browser, cfg.owner, { baseURL: proxy.url });
  await page.addInitScript(recordBadges);
  await page.goto(links.task(task.id));
  await page.getByLabel('Executor profile').selectOption('script');
  await page.getByLabel('Prompt', { exact: true }).fill(SCRIPT);
  await page.getByRole('button', { name: 'Start attempt', exact: true }).click();
  await page.waitForURL(/[?&]attempt=/);
  const attemptId = new URL(page.url()).searchParams.get('attempt');
  const streamRequests = [];
  page.on('request', (r) => {
    if (r.url().includes('/logs/stream')) streamRequests.push({ at: Date.now(), lastEventId: r.headers()['last-event-id'] });
  });

  const line = (n) => page.getByTestId('entry').filter({ hasText: new RegExp(`^line ${n}$`) });
  await line(3).waitFor({ timeout: 60_000 });
  const { items: [process] } = await server('GET', `attempts/${attemptId}/processes`);
  const logBadge = page.locator('.badge[data-state]', { hasText: 'Log:' });
  await logBadge.and(page.locator('[data-state="open"]')).waitFor();

  // Cut: the stream drops while the script keeps printing.
  proxy.cut();
  const cutAt = Date.now();
  await logBadge.and(page.locator('[data-state="reconnecting"]')).waitFor({ timeout: 10_000 });
  const atCut = await logEntryCount(process.id);
  // Down until the server holds lines the page cannot have received.
  await until(
    'the script to print on while the network is down',
    async () => (await logEntryCount(process.id)) >= atCut + 8,
    { limit: 20_000 },
  );
  proxy.restore();
  await logBadge.and(page.locator('[data-state="open"]')).waitFor({ timeout: 20_000 });
  const reconnectedMs = Date.now() - cutAt;
  const resumed = streamRequests.filter((r) => r.at >= cutAt);
  assert.ok(resumed.length > 0, 'the log stream was requested again');
  assert.ok(
    resumed.every((r) => Number(r.lastEventId) >= 2),
    `every reconnect resumes after the lines seen (Last-Event-ID): ${JSON.stringify(resumed)}`,
  );

  await page.locator('[data-testid="attempt"][data-status="succeeded"]').waitFor({ timeout: 60_000 });
  await until('the stream to deliver the last line', async () => (await line(LINES).count()) > 0, { limit: 10_000 });
  const { texts } = await readConversation(page);
  const counts = new Map();
  for (const t of texts) {
    const m = /^line (\d+)$/.exec(t);
    if (m) counts.set(Number(m[1]), (counts.get(Number(m[1])) ?? 0) + 1);
  }
  const wrong = [];
  for (let n = 1; n <= LINES; n++) if (counts.get(n) !== 1) wrong.push(`line ${n} × ${counts.get(n) ?? 0}`);
  assert.deepEqual(wrong, [], `every line exactly once: ${wrong.join(', ')}`);
  assert.equal(counts.size, LINES, 'no other numbered line');

  const states = await badgeStates(page, 'Log');
  const i = states.indexOf('open');
  const j = states.indexOf('reconnecting', i + 1);
  assert.ok(i >= 0 && j > i && states.indexOf('open', j + 1) > j, `the log badge went open → reconnecting → open: ${states.join(' → ')}`);

  assertNoPageErrors(context);
  await context.close();
  await proxy.close();
  figures.dropped_stream = {
    lines_printed_while_down: 8,
    cut_to_live_again_ms: reconnectedMs,
    reconnects_with_last_event_id: resumed.map((r) => Number(r.lastEventId)),
    log_badge: states.join(' → '),
  };
}
