// Sign in → the board → a new task → its page → a script attempt whose lines arrive live →
// its diff → back to the board → drag the card to Done, which it still is after a reload.
import assert from 'node:assert/strict';
import { assertNoPageErrors, boardLive, cfg, createTaskOnBoard, dragCard, links, newContext, readConversation, server, shot, until } from '../lib.mjs';

export const TITLE = 'Edit the readme from the browser';
const LINES = 8;
const SCRIPT = [
  `for i in $(seq 1 ${LINES}); do echo "line $i"; sleep 0.3; done`,
  `sed -i 's/^# test repo$/# Edited from the browser/' README.md`,
  `echo 'A line the browser test added.' >> README.md`,
].join('\n');

export async function signInCreateRunDragToDone({ browser, shared, figures }) {
  const context = await newContext(browser);
  const page = await context.newPage();

  // The development sign-in form.
  await page.goto('/login');
  await page.getByLabel('Login', { exact: true }).fill(cfg.owner);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));

  // The projects list, then the project's board.
  await page.getByRole('link', { name: cfg.projectName, exact: true }).click();
  await page.waitForURL(`**${links.board()}`);
  await boardLive(page);

  // A new task lands in To do.
  const key = await createTaskOnBoard(page, TITLE);
  await page.getByTestId('column-todo').getByTestId(`card-${key}`).waitFor();

  // Its page.
  await page.getByTestId(`card-${key}`).getByRole('link').click();
  await page.getByTestId('task').waitFor();
  const taskId = /\/tasks\/([^/?#]+)/.exec(page.url())?.[1];
  assert.ok(taskId, `a task URL: ${page.url()}`);

  // A script attempt: prints numbered lines slowly, then edits the readme.
  await page.getByLabel('Executor profile').selectOption('script');
  await page.getByLabel('Prompt', { exact: true }).fill(SCRIPT);
  // When each line first shows, on the page's clock.
  await page.evaluate(() => {
    const seen = {};
    window.__lineSeen = seen;
    new MutationObserver(() => {
      for (const e of document.querySelectorAll('[data-testid="entry"]')) {
        const m = /^line (\d+)$/.exec(e.textContent.trim());
        if (m && !(m[1] in seen)) seen[m[1]] = performance.now();
      }
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
  const startedAt = Date.now();
  await page.getByRole('button', { name: 'Start attempt', exact: true }).click();

  // The lines arrive live while the script prints them (0.3 s apart), not at its end.
  const line = (n) => page.getByTestId('entry').filter({ hasText: new RegExp(`^line ${n}$`) });
  await line(1).waitFor({ timeout: 60_000 });
  const firstEntryMs = Date.now() - startedAt;
  await line(LINES).waitFor({ timeout: 30_000 });
  const seen = await page.evaluate(() => window.__lineSeen);
  const spreadMs = seen[LINES] - seen[1];
  assert.ok(spreadMs >= 1000, `line 1 showed ${Math.round(spreadMs)} ms before line ${LINES}: not live (${JSON.stringify(seen)})`);
  await page.locator('[data-testid="attempt"][data-status="succeeded"]').waitFor({ timeout: 60_000 });
  const { texts } = await readConversation(page);
  const lines = texts.filter((t) => /^line \d+$/.test(t));
  assert.deepEqual(lines, Array.from({ length: LINES }, (_, i) => `line ${i + 1}`));
  await shot(page, 'task-view.png');

  // The diff: the readme, changed.
  await page.getByRole('tab', { name: /^Changes/ }).click();
  const diff = page.getByTestId('diff');
  await diff.waitFor();
  const file = diff.locator('[data-testid="diff-file"][data-path="README.md"]');
  await file.waitFor();
  await file.getByText('Edited from the browser').first().waitFor();
  await file.getByText('A line the browser test added.').first().waitFor();
  await shot(page, 'task-view-changes.png');

  // Back to the board: the run moved the task to In review; drag it to Done.
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: cfg.projectName }).click();
  await page.waitForURL(`**${links.board()}`);
  await boardLive(page);
  await page.getByTestId('column-inreview').getByTestId(`card-${key}`).waitFor();
  await dragCard(page, key, 'done');
  await page.getByTestId('column-done').getByTestId(`card-${key}`).waitFor();
  await until('the server to hold the move', async () => (await server('GET', `tasks/${taskId}`)).status === 'done');
  await page.getByTestId(`card-${key}`).and(page.locator(':not([aria-busy])')).waitFor();

  // Still there after a reload.
  await page.reload();
  await page.locator(`[data-testid="column-done"] [data-testid="card-${key}"][data-status="done"]`).waitFor();
  await shot(page, 'board.png');

  assertNoPageErrors(context);
  await context.close();
  shared.task = { id: taskId, key };
  figures.script_attempt = { start_click_to_first_entry_ms: firstEntryMs, first_to_last_line_shown_ms: Math.round(spreadMs) };
}
