// The figures for the closing note: initial JS gzipped, time to first render of a board,
// and Chromium's memory after rendering a 100k-entry run.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { assertNoPageErrors, boardLive, browserMemory, cfg, launch, links, logEntryCount, median, personPage, server, until } from '../lib.mjs';

const kb = (bytes) => Math.round((bytes / 1024) * 10) / 10;

/** What index.html loads before any route (the entry script and its preloads), gzipped as
 *  `npm run size` counts it, and the largest lazy chunk. */
export async function initialJs({ figures }) {
  const html = readFileSync(join(cfg.webDist, 'index.html'), 'utf8');
  const initial = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
  assert.ok(initial.length > 0, 'index.html loads a script');
  const gz = (file) => gzipSync(readFileSync(join(cfg.webDist, file)), { level: 9 }).length;
  const initialGz = initial.reduce((n, f) => n + gz(f), 0);
  const lazy = readdirSync(join(cfg.webDist, 'assets'))
    .filter((f) => f.endsWith('.js') && !initial.includes(`assets/${f}`))
    .map((f) => ({ file: f, kb: kb(gz(`assets/${f}`)) }))
    .sort((a, b) => b.kb - a.kb);
  figures.initial_js_gzip_kb = kb(initialGz);
  figures.initial_js_files = initial;
  figures.largest_lazy_chunks_gzip_kb = lazy.slice(0, 3);
  assert.ok(initialGz <= 300 * 1024, `initial JS ${kb(initialGz)} KB gz is over the 300 KB budget`);
}

/** Records, from the page's own clock (0 = navigation start), when the first card is in
 *  the DOM and when the frame holding it has been painted. */
const watchFirstCard = () => {
  window.__firstCard = null;
  const observer = new MutationObserver(() => {
    if (window.__firstCard !== null || !document.querySelector('[data-testid^="card-"]')) return;
    const inserted = performance.now();
    window.__firstCard = { inserted };
    observer.disconnect();
    requestAnimationFrame(() => setTimeout(() => (window.__firstCard.painted = performance.now()), 0));
  });
  observer.observe(document, { childList: true, subtree: true });
};

/** Navigation start → first card painted on a board of 100 tasks: cold (a new browser
 *  context, so nothing cached) and warm (a reload), five times each. */
export async function boardFirstRender({ browser, figures }) {
  const cold = [];
  const warm = [];
  let transfer;
  for (let i = 0; i < 5; i++) {
    const { context, page } = await personPage(browser, cfg.owner);
    await page.addInitScript(watchFirstCard);
    for (const sample of [cold, warm]) {
      if (sample === cold) await page.goto(links.board(cfg.timedProject));
      else await page.reload();
      const t = await until('the first card to be painted', () => page.evaluate(() => window.__firstCard?.painted));
      sample.push(t);
      await boardLive(page);
      if (i === 0 && sample === cold) {
        const cards = await page.locator('[data-testid^="card-"]').count();
        assert.equal(cards, cfg.timedTasks, 'every task of the timed board is shown');
        transfer = await page.evaluate(() => {
          const resources = performance.getEntriesByType('resource');
          const js = resources.filter((r) => /\.js(\?|$)/.test(r.name));
          const end = (re) => Math.round(resources.find((r) => re.test(r.name))?.responseEnd ?? NaN);
          return {
            files: js.length,
            bytes: js.reduce((n, r) => n + r.encodedBodySize, 0),
            // Where the time goes, on the same clock as the first card.
            milestones_ms: {
              shell_js_loaded: Math.max(...js.filter((r) => !/\/Board-/.test(r.name)).slice(0, 2).map((r) => Math.round(r.responseEnd))),
              session_loaded: end(/\/api\/v1\/me$/),
              board_chunk_loaded: end(/\/assets\/Board-[^/]*\.js$/),
              tasks_loaded: end(/\/tasks\?/),
            },
          };
        });
        transfer.milestones_ms.first_card_painted = Math.round(t);
      }
    }
    assertNoPageErrors(context);
    await context.close();
  }
  const ms = (xs) => xs.map((x) => Math.round(x));
  figures.board_first_card_painted_ms = {
    tasks: cfg.timedTasks,
    cold_median: Math.round(median(cold)),
    warm_median: Math.round(median(warm)),
    cold: ms(cold),
    warm: ms(warm),
  };
  figures.board_js_transferred = { files: transfer.files, gzip_kb: kb(transfer.bytes) };
  figures.board_first_load_milestones_ms = transfer.milestones_ms;
}

/** A fresh Chromium opens the task whose run printed 100k lines, renders its conversation,
 *  scrolls it end to end; then the memory of all of Chromium's processes is read. */
export async function memoryWith100kEntries({ figures }) {
  // The run was started by the Rust test before this suite; wait for it.
  const attempt = await until(
    'the 100k-line run to finish',
    async () => {
      const a = await server('GET', `attempts/${cfg.bigAttempt}`);
      return ['succeeded', 'failed', 'cancelled'].includes(a.status) && a;
    },
    { limit: 100_000, every: 500 },
  );
  assert.equal(attempt.status, 'succeeded', JSON.stringify(attempt));
  const { items: [process] } = await server('GET', `attempts/${cfg.bigAttempt}/processes`);
  const entries = await logEntryCount(process.id);
  assert.ok(entries >= cfg.bigLines, `the run has ${entries} entries, fewer than ${cfg.bigLines}`);

  const browser = await launch();
  try {
    const { context, page } = await personPage(browser, cfg.owner);
    const cdp = await context.newCDPSession(page);
    const gcThenHeap = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      await cdp.send('Performance.enable');
      const { metrics } = await cdp.send('Performance.getMetrics');
      const get = (name) => metrics.find((m) => m.name === name)?.value ?? 0;
      return { jsHeapMb: Math.round(get('JSHeapUsedSize') / 1024 / 102.4) / 10, domNodes: get('Nodes') };
    };
    // What this Chromium takes with one blank tab: the part no page can change.
    await gcThenHeap();
    const idle = await browserMemory(browser);

    const t0 = Date.now();
    await page.goto(`${links.task(cfg.bigTask)}?attempt=${cfg.bigAttempt}`);
    const conversation = page.getByTestId('conversation');
    await conversation.getByTestId('entry').first().waitFor({ timeout: 60_000 });
    const rows = await until(
      'every entry to be counted in the conversation',
      () => conversation.getByTestId('entry').first().evaluate((e, n) => Number(e.getAttribute('aria-setsize')) >= n && e.getAttribute('aria-setsize'), entries),
      { limit: 60_000 },
    );
    const renderedMs = Date.now() - t0;

    // To the end, then back to the top in big steps, timing the frames.
    const scroll = await conversation.evaluate(async (el) => {
      const frame = () => new Promise((r) => requestAnimationFrame(() => r(performance.now())));
      el.scrollTop = el.scrollHeight;
      for (let i = 0; i < 5; i++) await frame();
      const last = [...el.querySelectorAll('[data-testid="entry"]')].map((e) => e.innerText.trim()).pop();
      const gaps = [];
      let prev = await frame();
      const step = Math.ceil(el.scrollHeight / 120);
      for (let i = 0; i < 120; i++) {
        el.scrollTop = Math.max(0, el.scrollTop - step);
        const now = await frame();
        gaps.push(now - prev);
        prev = now;
      }
      gaps.sort((a, b) => a - b);
      return {
        last,
        rowsInDom: el.querySelectorAll('[data-testid="entry"]').length,
        frameMedianMs: Math.round(gaps[Math.floor(gaps.length / 2)] * 10) / 10,
        frameP95Ms: Math.round(gaps[Math.floor(gaps.length * 0.95)] * 10) / 10,
      };
    });
    assert.equal(scroll.last, String(cfg.bigLines), 'the last line is shown at the end');

    const heap = await gcThenHeap();
    const memory = await browserMemory(browser);
    assertNoPageErrors(context);
    // The tab's own process: the biggest renderer that is not Chromium's UI.
    const tab = memory.processes.filter((p) => p.type === 'renderer').sort((a, b) => b.pssMb - a.pssMb)[0];
    figures.run_100k = {
      entries,
      conversation_rows: Number(rows),
      open_to_rendered_ms: renderedMs,
      entry_rows_in_dom: scroll.rowsInDom,
      scroll_frame_median_ms: scroll.frameMedianMs,
      scroll_frame_p95_ms: scroll.frameP95Ms,
    };
    figures.chromium_memory_mb = {
      target: 300,
      tab_renderer_pss: tab?.pssMb,
      all_processes_pss: memory.pssMb,
      all_processes_rss_sum: memory.rssMb,
      idle_chromium_pss: idle.pssMb,
      js_heap_after_gc: heap.jsHeapMb,
      dom_nodes: heap.domNodes,
      processes: memory.processes.map(({ type, pssMb, rssMb }) => ({ type, pssMb, rssMb })),
    };
    if (memory.pssMb > 300) console.log(`note  all of Chromium takes ${memory.pssMb} MB (PSS) with the 100k run open (${idle.pssMb} MB idle)`);
    assert.ok(tab && tab.pssMb <= 300, `the tab's renderer takes ${tab?.pssMb} MB with the 100k run open: over the 300 MB target`);
  } finally {
    await browser.close();
  }
}
