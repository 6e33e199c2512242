import { describe, expect, it } from 'vitest';
import {
  buildFileTree,
  collapsedByDefault,
  decodeEditChange,
  displayPath,
  editHunks,
  type FileDiff,
  fileKey,
  fileMarkers,
  hiddenContentNote,
  type Hunk,
  languageOf,
  lineDiff,
  parseUnifiedDiff,
  splitRows,
  treeOrder,
  unifiedRows,
} from './diffModel';

const file = (path: string, over: Partial<FileDiff> = {}): FileDiff => ({
  path,
  change: 'modified',
  binary: false,
  additions: 1,
  deletions: 1,
  hunks: [],
  ...over,
});

const hunk: Hunk = {
  header: '@@ -10,5 +10,6 @@ fn main()',
  old_start: 10,
  old_lines: 5,
  new_start: 10,
  new_lines: 6,
  lines: [
    { origin: ' ', content: 'a' },
    { origin: '-', content: 'b' },
    { origin: '-', content: 'c' },
    { origin: '+', content: 'B' },
    { origin: ' ', content: 'd' },
    { origin: '+', content: 'e' },
    { origin: '+', content: 'f' },
    { origin: ' ', content: 'g' },
  ],
};

describe('file tree', () => {
  it('nests files in folders, folders first, and merges single-folder chains', () => {
    const files = [file('src/task/view.ts'), file('README.md'), file('src/task/model.ts', { additions: 5 }), file('web/src/api/client.ts')];
    const tree = buildFileTree(files);
    expect(tree.map((n) => `${n.type}:${n.name}`)).toEqual(['dir:src/task', 'dir:web/src/api', 'file:README.md']);
    const src = tree[0];
    expect(src?.type === 'dir' && src.children.map((c) => c.name)).toEqual(['model.ts', 'view.ts']);
    expect(src).toMatchObject({ additions: 6, deletions: 2, path: 'src/task' });
    expect(treeOrder(tree)).toEqual([2, 0, 3, 1]);
  });

  it('keeps a folder with several children as its own node', () => {
    const tree = buildFileTree([file('a/b/x.ts'), file('a/c/y.ts')]);
    expect(tree).toHaveLength(1);
    const a = tree[0];
    expect(a?.name).toBe('a');
    expect(a?.type === 'dir' && a.children.map((c) => c.name)).toEqual(['b', 'c']);
  });

  it('an empty diff is an empty tree', () => {
    expect(buildFileTree([])).toEqual([]);
  });
});

describe('rows', () => {
  it('numbers unified rows on both sides', () => {
    const rows = unifiedRows(hunk);
    expect(rows.map((r) => [r.origin, r.oldNo, r.newNo, r.content])).toEqual([
      [' ', 10, 10, 'a'],
      ['-', 11, null, 'b'],
      ['-', 12, null, 'c'],
      ['+', null, 11, 'B'],
      [' ', 13, 12, 'd'],
      ['+', null, 13, 'e'],
      ['+', null, 14, 'f'],
      [' ', 14, 15, 'g'],
    ]);
  });

  it('pairs removed lines with the added lines that replace them in split rows', () => {
    const rows = splitRows(hunk);
    const show = (c: { no: number; content: string } | null) => (c ? `${c.no}:${c.content}` : '—');
    expect(rows.map((r) => [show(r.left), show(r.right)])).toEqual([
      ['10:a', '10:a'],
      ['11:b', '11:B'],
      ['12:c', '—'],
      ['13:d', '12:d'],
      ['—', '13:e'],
      ['—', '14:f'],
      ['14:g', '15:g'],
    ]);
  });
});

describe('parsing an agent edit', () => {
  it('reads the hunks of a unified diff, skipping file headers and no-newline markers', () => {
    const text = [
      'diff --git a/src/x.rs b/src/x.rs',
      'index 1111111..2222222 100644',
      '--- a/src/x.rs',
      '+++ b/src/x.rs',
      '@@ -1,3 +1,3 @@ mod x;',
      ' one',
      '-two',
      '+TWO',
      ' three',
      '\\ No newline at end of file',
      '@@ -20 +20,2 @@',
      ' twenty',
      '+more',
      '',
    ].join('\n');
    const hunks = parseUnifiedDiff(text);
    expect(hunks).toHaveLength(2);
    expect(hunks[0]).toMatchObject({ old_start: 1, old_lines: 3, new_start: 1, new_lines: 3, header: '@@ -1,3 +1,3 @@ mod x;' });
    expect(hunks[0]?.lines.map((l) => l.origin + l.content)).toEqual([' one', '-two', '+TWO', ' three']);
    expect(hunks[1]).toMatchObject({ old_start: 20, old_lines: 1, new_start: 20, new_lines: 2 });
  });

  it('takes bare +/- lines without a header as one hunk', () => {
    const hunks = parseUnifiedDiff('-old\n+new\n');
    expect(hunks).toHaveLength(1);
    expect(hunks[0]).toMatchObject({ old_lines: 1, new_lines: 1 });
  });

  it('diffs a replacement by lines, with context', () => {
    const before = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].join('\n');
    const after = ['a', 'b', 'c', 'd', 'E', 'f', 'g', 'h', 'i', 'j', 'k'].join('\n');
    const hunks = lineDiff(before, after, 1);
    expect(hunks.map((h) => h.header)).toEqual(['@@ -4,3 +4,3 @@', '@@ -10,1 +10,2 @@']);
    expect(hunks[0]?.lines.map((l) => l.origin + l.content)).toEqual([' d', '-e', '+E', ' f']);
    expect(hunks[1]?.lines.map((l) => l.origin + l.content)).toEqual([' j', '+k']);
  });

  it('shows a new file as all added', () => {
    const hunks = editHunks({ op: 'write', content: 'x\ny\n' });
    expect(hunks).toHaveLength(1);
    expect(hunks[0]).toMatchObject({ old_start: 0, old_lines: 0, new_start: 1, new_lines: 2 });
  });

  it('identical texts have no hunks', () => {
    expect(lineDiff('same', 'same')).toEqual([]);
  });

  it('decodes the wire form of edit changes and rejects others', () => {
    expect(decodeEditChange({ op: 'replace', old_text: 'a', new_text: 'b' })).toEqual({ op: 'replace', old_text: 'a', new_text: 'b', replace_all: false });
    expect(decodeEditChange({ op: 'diff', unified_diff: '+x' })).toEqual({ op: 'diff', unified_diff: '+x' });
    expect(decodeEditChange({ op: 'rename', new_path: 'b.ts' })).toEqual({ op: 'rename', new_path: 'b.ts' });
    expect(decodeEditChange({ op: 'delete' })).toEqual({ op: 'delete' });
    expect(decodeEditChange('modified')).toBeNull();
    expect(decodeEditChange({ op: 'write' })).toBeNull();
    expect(decodeEditChange({ op: 'explode' })).toBeNull();
  });
});

describe('big diffs', () => {
  const summary = (n: number) => ({ summary: { additions: n, deletions: 0, files_changed: 1 } });
  const lines = (n: number): Hunk[] => [
    { header: '', old_start: 0, old_lines: 0, new_start: 1, new_lines: n, lines: Array.from({ length: n }, () => ({ origin: '+', content: 'x' })) },
  ];

  it('collapses big, binary and empty files by default', () => {
    expect(collapsedByDefault(file('a', { additions: 10, deletions: 0, hunks: lines(10) }), summary(10))).toBe(false);
    expect(collapsedByDefault(file('a', { additions: 401, deletions: 0, hunks: lines(401) }), summary(401))).toBe(true);
    expect(collapsedByDefault(file('a', { binary: true }), summary(0))).toBe(true);
    expect(collapsedByDefault(file('a', { hunks: [] }), summary(0))).toBe(true);
  });

  it('in a huge diff only small files start open', () => {
    expect(collapsedByDefault(file('a', { additions: 60, deletions: 0, hunks: lines(60) }), summary(20_000))).toBe(true);
    expect(collapsedByDefault(file('a', { additions: 20, deletions: 0, hunks: lines(20) }), summary(20_000))).toBe(false);
  });

  it('a 1,000-line replacement stays cheap', () => {
    const a = Array.from({ length: 1000 }, (_, i) => `line ${i}`).join('\n');
    const b = Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? `LINE ${i}` : `line ${i}`)).join('\n');
    const hunks = lineDiff(a, b);
    expect(hunks.reduce((n, h) => n + h.lines.filter((l) => l.origin === '+').length, 0)).toBe(100);
  });
});

describe('languages', () => {
  it('maps paths to highlight.js languages', () => {
    expect(languageOf('web/src/App.tsx')).toBe('typescript');
    expect(languageOf('api/src/main.rs')).toBe('rust');
    expect(languageOf('deploy/docker/Dockerfile')).toBe('dockerfile');
    expect(languageOf('Cargo.toml')).toBe('ini');
    expect(languageOf('LICENSE')).toBeNull();
    expect(languageOf('x.unknownext')).toBeNull();
  });
});

describe('hostile file names and marked files', () => {
  it('spells out control and invisible characters in a path, and keeps the rest', () => {
    expect(displayPath('new\nline.txt')).toBe('new\\nline.txt');
    expect(displayPath('tab\there\r')).toBe('tab\\there\\r');
    expect(displayPath('evil\u202Etxt.exe')).toBe('evil\\u{202e}txt.exe');
    expect(displayPath('zero\u200Bwidth\u001b[31m')).toBe('zero\\u{200b}width\\u{1b}[31m');
    expect(displayPath('quo"te\'s café/ü.txt')).toBe('quo"te\'s café/ü.txt');
  });

  it('tells apart two paths that are not UTF-8 and show alike', () => {
    const a = file('caf\uFFFD.txt', { path_raw: 'Y2Fm6S50eHQ=' });
    const b = file('caf\uFFFD.txt', { path_raw: 'Y2Fm/y50eHQ=' });
    const plain = file('caf\uFFFD.txt');
    expect(new Set([a, b, plain].map(fileKey)).size).toBe(3);
    expect(fileMarkers(a)).toEqual(['name not UTF-8']);
    expect(fileMarkers(plain)).toEqual([]);
  });

  it('marks links, files too large for text and binaries, and says why no lines show', () => {
    expect(fileMarkers(file('link', { symlink: true }))).toEqual(['symlink']);
    const huge = file('huge.log', { binary: true, too_large: true, hunks: [] });
    expect(fileMarkers(huge)).toEqual(['too large']);
    expect(hiddenContentNote(huge)).toMatch(/4 MiB/);
    expect(hiddenContentNote(file('a.png', { binary: true }))).toMatch(/binary/);
    expect(hiddenContentNote(file('x', { truncated: true }))).toMatch(/size limit/);
    expect(hiddenContentNote(file('x', { hunks: [hunk] }))).toBeNull();
  });
});
