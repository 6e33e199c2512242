#!/usr/bin/env node
// The dashboard's end-to-end suite: playwright-core driving Debian's Chromium against the
// real stack (api + scheduler + workers on Postgres, Redis, S3 and git). The Rust test
// `api/tests/api/dashboard.rs` starts that stack, seeds it and runs this file with the
// fixtures in SY_E2E_* variables (`cargo nextest run -p api dashboard`); run it by hand
// against a stack kept up with SY_E2E_SERVE (see that file).
//
// Each scenario is a named function; a failure is reported by name and fails the run.
// The figures for the closing note are printed at the end and written to figures.json
// beside the screenshots (SY_E2E_SHOTS: .dev/screenshots, or docs/screenshots on a refresh). Set SY_E2E_ONLY=<substring> to run some scenarios only.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { signInCreateRunDragToDone } from './scenarios/main-flow.mjs';
import { twoPeopleSeeEachOtherLive } from './scenarios/two-people.mjs';
import { movesWithTheMenuAndTheKeyboard } from './scenarios/moves-without-a-mouse.mjs';
import { commentsReachTheOtherPersonLive } from './scenarios/comments.mjs';
import { droppedLogStreamResumesWithNoGap } from './scenarios/dropped-stream.mjs';
import { screenshotsLightDarkLaptopPhone } from './scenarios/screenshots.mjs';
import { boardFirstRender, initialJs, memoryWith100kEntries } from './scenarios/figures.mjs';
import { realClaudeCodeConversation, realCodexConversation } from './scenarios/real-agents.mjs';
import { cfg, launch } from './lib.mjs';

const SCENARIO_LIMIT_MS = 120_000;

const scenarios = [
  signInCreateRunDragToDone,
  twoPeopleSeeEachOtherLive,
  movesWithTheMenuAndTheKeyboard,
  commentsReachTheOtherPersonLive,
  droppedLogStreamResumesWithNoGap,
  screenshotsLightDarkLaptopPhone,
  initialJs,
  boardFirstRender,
  memoryWith100kEntries,
  // Last: real agent CLIs load the machine, which the timed scenarios above must not see.
  realClaudeCodeConversation,
  realCodexConversation,
];

/** What scenarios hand to later ones (the task the first one ran, ...). */
const shared = {};
const figures = {};
const only = process.env.SY_E2E_ONLY;

mkdirSync(cfg.shots, { recursive: true });
const started = Date.now();
const browser = await launch();
const version = browser.version();
console.log(`Chromium ${version} against ${cfg.base}`);
const results = [];
for (const scenario of scenarios) {
  if (only && !scenario.name.includes(only)) continue;
  const t0 = Date.now();
  let timer;
  try {
    await Promise.race([
      scenario({ browser, shared, figures }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`took longer than ${SCENARIO_LIMIT_MS} ms`)), SCENARIO_LIMIT_MS);
      }),
    ]);
    results.push({ name: scenario.name, ok: true, ms: Date.now() - t0 });
    console.log(`ok    ${scenario.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    results.push({ name: scenario.name, ok: false, ms: Date.now() - t0, error: String(e?.stack ?? e) });
    console.log(`FAIL  ${scenario.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n${e?.stack ?? e}`);
  } finally {
    clearTimeout(timer);
  }
}
await browser.close();

const failed = results.filter((r) => !r.ok);
console.log(`\n${results.length - failed.length} of ${results.length} scenarios passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (Object.keys(figures).length > 0) {
  console.log('\nFigures:');
  for (const [name, value] of Object.entries(figures)) console.log(`  ${name}: ${JSON.stringify(value)}`);
  if (!only) {
    const out = { measured_at: new Date().toISOString(), chromium: version, ...figures };
    writeFileSync(join(cfg.shots, 'figures.json'), `${JSON.stringify(out, null, 2)}\n`);
  }
}
process.exit(failed.length === 0 ? 0 : 1);
