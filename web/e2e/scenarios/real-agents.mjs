// The real Claude Code and Codex CLIs in the task view: an org executor profile points each
// at a local fake of its vendor's API (set up by api/tests/api/dashboard.rs, which scripts
// the model: a shell command writing NOTES.md and showing it, then a final answer). Starts
// the attempt from the task page's form, waits for it to succeed, checks the conversation
// (the prompt where the agent echoes it, the command's card with its output, the answer,
// token usage) and saves it as docs/screenshots/real-<agent>-conversation.png.
import assert from 'node:assert/strict';
import { assertNoPageErrors, cfg, links, personPage, readConversation, shot } from '../lib.mjs';

const PROMPT = 'Write the release notes to NOTES.md: one entry, for real agents in the task view.';
const NOTES = '- Real agents in the task view';
const ANSWER = 'The release notes are in NOTES.md: one entry, for real agents in the task view.';
/** Tall enough to show the whole turn, from the prompt to the token usage. */
const VIEWPORT = { width: 1280, height: 1100 };
/** A real CLI starting in a sandbox, on two shared cores. */
const RUN_LIMIT_MS = 100_000;

/** `echoesPrompt`: the agent reports the prompt back, so it shows in the conversation
 *  (Codex's app-server does; Claude Code's stream-json does not echo what the worker
 *  writes to its stdin). */
async function realAgentConversation(browser, { executor, echoesPrompt, screenshot }) {
  const { task, profile } = cfg.realAgents[executor];
  const { context, page } = await personPage(browser, cfg.owner, { viewport: VIEWPORT });
  await page.goto(links.task(task));
  await page.getByTestId('task').waitFor();

  await page.getByLabel('Executor profile').selectOption(profile);
  await page.getByLabel('Prompt', { exact: true }).fill(PROMPT);
  await page.getByRole('button', { name: 'Start attempt', exact: true }).click();
  await page
    .locator('[data-testid="attempt"][data-status="succeeded"], [data-testid="attempt"][data-status="failed"]')
    .waitFor({ timeout: RUN_LIMIT_MS });
  const status = await page.getByTestId('attempt').getAttribute('data-status');
  const { texts } = await readConversation(page);
  assert.equal(status, 'succeeded', `the ${executor} attempt succeeded; its conversation:\n${texts.join('\n---\n')}`);

  // The command's card: run, succeeded, with the file it wrote in its output.
  const card = page
    .getByTestId('entry')
    .locator('[data-action="command_run"][data-status="success"]')
    .filter({ hasText: 'NOTES.md' });
  await card.waitFor();
  await card.locator('.tool-body').getByText(NOTES).first().waitFor();
  // The prompt (where the agent echoes it), the command, the answer, the token usage.
  const at = (what, test) => {
    const i = texts.findIndex(test);
    assert.ok(i >= 0, `${what} is in the conversation:\n${texts.join('\n---\n')}`);
    return i;
  };
  const prompt = echoesPrompt ? at('the prompt', (t) => t.includes(PROMPT)) : -1;
  const command = at('the command', (t) => t.includes('cat NOTES.md'));
  const answer = at('the answer', (t) => t.includes(ANSWER));
  const usage = at('the token usage', (t) => /^Tokens: [\d,]+ in/.test(t));
  assert.ok(prompt < command && command < answer && answer < usage, `in order: ${[prompt, command, answer, usage]}`);
  // The attempt's summary counts them too.
  await page.getByTestId('attempt').locator('dd').filter({ hasText: /^[\d,]+ in · [\d,]+ out/ }).waitFor();
  // The answer's Markdown is rendered (the file name in bold).
  await page.getByTestId('entry').filter({ hasText: ANSWER }).locator('strong', { hasText: 'NOTES.md' }).waitFor();

  // The turn in view, from the prompt (or the top) down.
  const first = echoesPrompt ? page.getByTestId('entry').filter({ hasText: PROMPT }) : page.getByTestId('process');
  await first.evaluate((row) => {
    const list = row.closest('[data-testid="conversation"]');
    list.scrollTop += row.getBoundingClientRect().top - list.getBoundingClientRect().top - 4;
  });
  await page.getByTestId('entry').filter({ hasText: ANSWER }).waitFor();
  await shot(page, screenshot);
  assertNoPageErrors(context);
  await context.close();
}

export async function realClaudeCodeConversation({ browser }) {
  await realAgentConversation(browser, { executor: 'claude-code', echoesPrompt: false, screenshot: 'real-claude-code-conversation.png' });
}

export async function realCodexConversation({ browser }) {
  await realAgentConversation(browser, { executor: 'codex', echoesPrompt: true, screenshot: 'real-codex-conversation.png' });
}
