// Moving cards without a pointer: the card's "Move to…" menu, and dnd-kit's keyboard drag
// (focus the handle, Space to lift, arrows to carry, Space to drop). Both must reach the
// server, as a mouse drag does.
import assert from 'node:assert/strict';
import { assertNoPageErrors, boardLive, cfg, createTaskOnBoard, links, personPage, server, until } from '../lib.mjs';

/** The server's copy of the task with board key `key`. */
async function taskByKey(key) {
  let cursor = '';
  for (;;) {
    const page = await server('GET', `projects/${cfg.project}/tasks?limit=100${cursor}`);
    const task = page.items.find((t) => t.key === key);
    if (task) return task;
    if (!page.next_cursor) throw new Error(`no task ${key} on the server`);
    cursor = `&cursor=${encodeURIComponent(page.next_cursor)}`;
  }
}

export async function movesWithTheMenuAndTheKeyboard({ browser }) {
  const { context, page } = await personPage(browser, cfg.owner);
  await page.goto(links.board());
  await boardLive(page);
  const key = await createTaskOnBoard(page, 'Moved without a mouse');
  const created = await taskByKey(key);
  assert.equal(created.origin, 'ui', 'a task made on the board is recorded as made in the dashboard');

  // The menu: straight to In review.
  await page.getByRole('combobox', { name: `Move ${key} to…` }).selectOption('inreview');
  await page.getByTestId('column-inreview').getByTestId(`card-${key}`).waitFor();
  await until('the server to hold the menu move', async () => (await taskByKey(key)).status === 'inreview');

  // The keyboard: lift, one column to the left, drop.
  const handle = page.getByRole('button', { name: `Drag ${key}`, exact: true });
  await handle.focus();
  await page.keyboard.press('Space');
  const lifted = page.getByTestId(`card-${key}`).and(page.locator('.is-dragging'));
  await lifted.waitFor();
  await page.keyboard.press('ArrowLeft');
  await page.getByText(`${key} is over In progress`).first().waitFor({ state: 'attached' });
  await page.keyboard.press('Space');
  await page.getByTestId('column-inprogress').getByTestId(`card-${key}`).waitFor();
  await until('the server to hold the keyboard move', async () => (await taskByKey(key)).status === 'inprogress');
  // The next lift starts from a finished drag, so the `lifted` wait below sees the new one.
  await lifted.waitFor({ state: 'detached' });
  // The keyboard stays with the card in its new place.
  await until('focus on the moved card\'s handle', () =>
    page.evaluate((label) => document.activeElement?.getAttribute('aria-label') === label, `Drag ${key}`),
  );

  // Lifted and put back with Escape: nothing moves.
  await page.keyboard.press('Space');
  await lifted.waitFor();
  // dnd-kit's keyboard sensor starts listening for arrows a task later than the lift
  // renders `.is-dragging`, so an arrow pressed at once can be lost: press until the carry
  // is announced. A press that did land twice carries the card on to Done, which is as
  // good a place to cancel from.
  const carried = page.getByText(new RegExp(`${key} is over (In review|Done)`)).first();
  for (let tries = 1; ; tries++) {
    await page.keyboard.press('ArrowRight');
    try {
      await carried.waitFor({ state: 'attached', timeout: 1000 });
      break;
    } catch (e) {
      if (tries >= 10) throw e;
    }
  }
  await page.keyboard.press('Escape');
  await lifted.waitFor({ state: 'detached' });
  await page.getByTestId('column-inprogress').getByTestId(`card-${key}`).waitFor();
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await taskByKey(key)).status, 'inprogress', 'Escape cancels a keyboard drag');

  assertNoPageErrors(context);
  await context.close();
}
