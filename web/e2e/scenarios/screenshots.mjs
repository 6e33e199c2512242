// The board and the task view in dark and on a phone (light on a laptop is taken by the
// main flow), saved under docs/screenshots/.
import { assertNoPageErrors, boardLive, cfg, LAPTOP, links, PHONE, personPage, shot } from '../lib.mjs';

const LOOKS = [
  { suffix: '-dark', viewport: LAPTOP, colorScheme: 'dark' },
  { suffix: '-phone', viewport: PHONE, colorScheme: 'light', isMobile: true, hasTouch: true },
  { suffix: '-phone-dark', viewport: PHONE, colorScheme: 'dark', isMobile: true, hasTouch: true },
];

export async function screenshotsLightDarkLaptopPhone({ browser, shared }) {
  if (!shared.task) throw new Error('needs the task of the main flow (run it first)');
  for (const { suffix, ...options } of LOOKS) {
    const { context, page } = await personPage(browser, cfg.owner, options);
    await page.goto(links.board());
    await boardLive(page);
    await page.getByTestId(`card-${shared.task.key}`).waitFor();
    await shot(page, `board${suffix}.png`);

    await page.goto(links.task(shared.task.id));
    await page.locator('[data-testid="attempt"][data-status="succeeded"]').waitFor();
    await page.getByTestId('entry').first().waitFor();
    await shot(page, `task-view${suffix}.png`);
    assertNoPageErrors(context);
    await context.close();
  }
}
