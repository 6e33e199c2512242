// Comments on a task: one person writes (markdown), the other's open task view shows it
// live, and it is still there after a reload.
import assert from 'node:assert/strict';
import { assertNoPageErrors, cfg, links, personPage, server, until } from '../lib.mjs';

export async function commentsReachTheOtherPersonLive({ browser }) {
  const task = await server('POST', `projects/${cfg.project}/tasks`, { title: 'Talk it over' });
  const ada = await personPage(browser, cfg.owner);
  const grace = await personPage(browser, cfg.member);
  for (const { page } of [ada, grace]) {
    await page.goto(links.task(task.id));
    await page.getByTestId('comments').getByText('No comments yet.').waitFor();
  }

  await ada.page.getByLabel('Add a comment').fill('Split this into **two** tasks?');
  await ada.page.getByRole('button', { name: 'Comment', exact: true }).click();
  const seen = grace.page.getByTestId('comment').filter({ hasText: 'Split this into two tasks?' });
  await seen.waitFor({ timeout: 10_000 });
  assert.equal(await seen.locator('strong', { hasText: 'two' }).count(), 1, 'markdown is rendered');
  assert.equal(await seen.getByText(cfg.owner, { exact: true }).count(), 1, 'the author is named');
  // The writer's box empties once her own request is answered, which may come after the
  // other browser heard of the comment; then the comment shows once on her side too.
  await until("the writer's comment box is empty again", async () =>
    (await ada.page.getByLabel('Add a comment').inputValue()) === '');
  await ada.page.getByTestId('comment').filter({ hasText: 'Split this into two tasks?' }).waitFor();
  assert.equal(await ada.page.getByTestId('comment').count(), 1);

  await grace.page.reload();
  await grace.page.getByTestId('comment').filter({ hasText: 'Split this into two tasks?' }).waitFor();
  for (const { context } of [ada, grace]) {
    assertNoPageErrors(context);
    await context.close();
  }
}
