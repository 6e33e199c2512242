// Two people (two browser contexts: two cookie jars) on the same board. What one does —
// create a task, drag a card, edit a title — shows up in the other's board live, with no
// reload.
import assert from 'node:assert/strict';
import { assertNoPageErrors, boardLive, cfg, createTaskOnBoard, dragCard, links, personPage } from '../lib.mjs';

export async function twoPeopleSeeEachOtherLive({ browser, figures }) {
  const ada = await personPage(browser, cfg.owner);
  const grace = await personPage(browser, cfg.member);
  for (const { page } of [ada, grace]) {
    await page.goto(links.board());
    await boardLive(page);
    // Survives only as long as the document does: proves nobody reloaded.
    await page.evaluate(() => {
      window.__sameDocument = true;
    });
  }

  // Ada creates a task: it appears on Grace's board.
  let t = Date.now();
  const key = await createTaskOnBoard(ada.page, 'Made by Ada, seen by Grace');
  await grace.page.getByTestId('column-todo').getByTestId(`card-${key}`).waitFor({ timeout: 10_000 });
  const createdSeenMs = Date.now() - t;

  // Grace drags it to In progress: it moves on Ada's board.
  t = Date.now();
  await dragCard(grace.page, key, 'inprogress');
  await grace.page.getByTestId('column-inprogress').getByTestId(`card-${key}`).waitFor();
  await ada.page.getByTestId('column-inprogress').getByTestId(`card-${key}`).waitFor({ timeout: 10_000 });
  const movedSeenMs = Date.now() - t;

  // Ada renames it: Grace's card shows the new title.
  await ada.page.getByRole('button', { name: `Edit ${key}`, exact: true }).click();
  await ada.page.getByLabel('Title', { exact: true }).fill('Renamed by Ada');
  await ada.page.getByRole('button', { name: 'Save', exact: true }).click();
  await grace.page.getByTestId(`card-${key}`).getByText('Renamed by Ada').waitFor({ timeout: 10_000 });

  for (const { page, context } of [ada, grace]) {
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the board was not reloaded');
    assertNoPageErrors(context);
    await context.close();
  }
  figures.live_update_between_browsers_ms = { create: createdSeenMs, drag_move: movedSeenMs };
}
