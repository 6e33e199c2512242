#!/usr/bin/env node
// Prints the gzipped size of what the first page load fetches (the entry script and the
// modules index.html preloads, plus CSS) and of every lazy chunk; fails over the budget.
//   npm run size [-- --budget-kb 300]
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const dist = resolve(dirname(fileURLToPath(import.meta.url)), '../dist');
const at = process.argv.indexOf('--budget-kb');
const budgetKb = at >= 0 ? Number(process.argv[at + 1]) : 300;
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const initial = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
const gz = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

let initialJs = 0;
for (const file of initial) {
  const size = gz(file);
  if (file.endsWith('.js')) initialJs += size;
  console.log(`initial  ${kb(size).padStart(9)}  ${file}`);
}
for (const file of readdirSync(join(dist, 'assets')).sort()) {
  if (!file.endsWith('.js') || initial.includes(`assets/${file}`)) continue;
  console.log(`lazy     ${kb(gz(`assets/${file}`)).padStart(9)}  assets/${file}`);
}
console.log(`initial JS, gzipped: ${kb(initialJs)} (budget ${budgetKb} KB)`);
if (initialJs > budgetKb * 1024) {
  console.error('the initial JS is over budget: split the new code into a lazy route or chunk');
  process.exit(1);
}
