// Diffs as the task view shows them: the attempt's diff (shared::wire::Diff, already in
// files and hunks) as a file tree and as unified or split rows; and an agent's file edit
// (a unified diff, a string replacement or a whole new file) turned into the same hunks.
import type { Schemas } from '../api/types';

export type Diff = Schemas['Diff'];
export type FileDiff = Schemas['FileDiff'];
export type Hunk = Schemas['Hunk'];
export type DiffLine = Schemas['DiffLine'];

// ---------------------------------------------------------------------------------------
// Paths and markers

/** A path as the diff shows it: control characters (a newline, a tab, an escape…) and
 *  invisible format characters (zero-width, bidirectional overrides) spelled out as
 *  `\n`, `\t`, `\u{202e}`, so a file name can neither break a line nor hide or reorder
 *  what it shows. */
export function displayPath(path: string): string {
  return path.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`;
  });
}

/** What tells a file apart from the others in a diff: its exact bytes when its path is
 *  not UTF-8 (two such paths can show alike), its path otherwise. */
export const fileKey = (file: Pick<FileDiff, 'path' | 'path_raw'>): string =>
  file.path_raw ? `raw:${file.path_raw}` : `path:${file.path}`;

/** Short labels of what is unusual about a file, for its header. */
export function fileMarkers(file: FileDiff): string[] {
  const markers: string[] = [];
  if (file.symlink) markers.push('symlink');
  if (file.too_large) markers.push('too large');
  else if (file.binary) markers.push('binary');
  if (file.path_raw || file.old_path_raw) markers.push('name not UTF-8');
  return markers;
}

/** Why a file's lines are not shown, or null when they are. */
export function hiddenContentNote(file: FileDiff): string | null {
  if (file.too_large) return 'Over the 4 MiB limit for text: its content is not shown.';
  if (file.binary) return 'A binary file: no text to show.';
  if (file.truncated) return 'Past the diff’s size limit: only the line counts are kept for this file.';
  if (file.hunks.length === 0) return 'No line changes (a mode change, an empty file or a rename).';
  return null;
}

// ---------------------------------------------------------------------------------------
// File tree

export interface TreeDir {
  type: 'dir';
  /** One or more path segments: a chain of single-child folders is one node (`src/api`). */
  name: string;
  path: string;
  children: TreeNode[];
  additions: number;
  deletions: number;
}

export interface TreeFile {
  type: 'file';
  name: string;
  path: string;
  /** The file's position in `Diff.files`. */
  index: number;
  change: FileDiff['change'];
  additions: number;
  deletions: number;
}

export type TreeNode = TreeDir | TreeFile;

/** The changed files as a folder tree: folders first, then files, each by name; folders
 *  with a single folder inside are merged into one node. */
export function buildFileTree(files: readonly FileDiff[]): TreeNode[] {
  const root: TreeDir = { type: 'dir', name: '', path: '', children: [], additions: 0, deletions: 0 };
  const dirs = new Map<string, TreeDir>([['', root]]);
  files.forEach((file, index) => {
    const parts = file.path.split('/').filter(Boolean);
    const name = parts.pop() ?? file.path;
    let parent = root;
    let path = '';
    parent.additions += file.additions;
    parent.deletions += file.deletions;
    for (const part of parts) {
      path = path ? `${path}/${part}` : part;
      let dir = dirs.get(path);
      if (!dir) {
        dir = { type: 'dir', name: part, path, children: [], additions: 0, deletions: 0 };
        dirs.set(path, dir);
        parent.children.push(dir);
      }
      dir.additions += file.additions;
      dir.deletions += file.deletions;
      parent = dir;
    }
    parent.children.push({
      type: 'file',
      name,
      path: file.path,
      index,
      change: file.change,
      additions: file.additions,
      deletions: file.deletions,
    });
  });
  const finish = (dir: TreeDir): TreeNode[] => {
    const out = dir.children.map((child): TreeNode => {
      if (child.type === 'file') return child;
      let merged = child;
      while (merged.children.length === 1 && merged.children[0]?.type === 'dir') {
        const only = merged.children[0];
        merged = { ...only, name: `${merged.name}/${only.name}` };
      }
      return { ...merged, children: finish(merged) };
    });
    return out.sort((a, b) => (a.type !== b.type ? (a.type === 'dir' ? -1 : 1) : a.name.localeCompare(b.name)));
  };
  return finish(root);
}

/** The files in the order the tree shows them (for the file list beside it). */
export function treeOrder(nodes: readonly TreeNode[]): number[] {
  const out: number[] = [];
  const walk = (list: readonly TreeNode[]) => {
    for (const node of list) {
      if (node.type === 'file') out.push(node.index);
      else walk(node.children);
    }
  };
  walk(nodes);
  return out;
}

// ---------------------------------------------------------------------------------------
// Rows

/** One side of a line: its number in the old or new file, and its text. */
export interface Cell {
  no: number;
  content: string;
  origin: '+' | '-' | ' ';
}

/** A unified-view row. */
export interface UnifiedRow {
  origin: '+' | '-' | ' ';
  oldNo: number | null;
  newNo: number | null;
  content: string;
}

/** A split-view row: removed lines beside the added lines that replace them; context on
 *  both sides. A side is null where the other side has no counterpart. */
export interface SplitRow {
  left: Cell | null;
  right: Cell | null;
}

const originOf = (o: string): '+' | '-' | ' ' => (o === '+' || o === '-' ? o : ' ');

export function unifiedRows(hunk: Hunk): UnifiedRow[] {
  let oldNo = hunk.old_start;
  let newNo = hunk.new_start;
  return hunk.lines.map((line) => {
    const origin = originOf(line.origin);
    const row: UnifiedRow = {
      origin,
      oldNo: origin === '+' ? null : oldNo,
      newNo: origin === '-' ? null : newNo,
      content: line.content,
    };
    if (origin !== '+') oldNo += 1;
    if (origin !== '-') newNo += 1;
    return row;
  });
}

export function splitRows(hunk: Hunk): SplitRow[] {
  const rows: SplitRow[] = [];
  let oldNo = hunk.old_start;
  let newNo = hunk.new_start;
  let removed: Cell[] = [];
  let added: Cell[] = [];
  const flush = () => {
    const n = Math.max(removed.length, added.length);
    for (let i = 0; i < n; i++) rows.push({ left: removed[i] ?? null, right: added[i] ?? null });
    removed = [];
    added = [];
  };
  for (const line of hunk.lines) {
    const origin = originOf(line.origin);
    if (origin === '-') {
      removed.push({ no: oldNo++, content: line.content, origin });
    } else if (origin === '+') {
      added.push({ no: newNo++, content: line.content, origin });
    } else {
      flush();
      rows.push({
        left: { no: oldNo++, content: line.content, origin },
        right: { no: newNo++, content: line.content, origin },
      });
    }
  }
  flush();
  return rows;
}

/** The text of a hunk's old side and new side, one line per entry, for highlighting. */
export function hunkSides(hunk: Hunk): { old: string[]; new: string[] } {
  const old: string[] = [];
  const neu: string[] = [];
  for (const line of hunk.lines) {
    if (line.origin !== '+') old.push(line.content);
    if (line.origin !== '-') neu.push(line.content);
  }
  return { old, new: neu };
}

// ---------------------------------------------------------------------------------------
// Size

/** Changed lines in a file. */
export const changedLines = (file: FileDiff) => file.additions + file.deletions;

/** Lines in a file's hunks (what rendering it costs). */
export const renderedLines = (file: FileDiff) => file.hunks.reduce((n, h) => n + h.lines.length, 0);

/** A file this big starts collapsed; so does every file of a diff this big but a few. */
export const BIG_FILE_LINES = 400;
export const BIG_DIFF_LINES = 5_000;

/** Whether a file starts collapsed: binary, big, a deletion, or part of a big diff. */
export function collapsedByDefault(file: FileDiff, diff: Pick<Diff, 'summary'>): boolean {
  if (file.binary || file.hunks.length === 0) return true;
  const lines = Math.max(changedLines(file), renderedLines(file));
  if (lines > BIG_FILE_LINES) return true;
  if (file.change === 'deleted' && lines > 40) return true;
  const total = diff.summary.additions + diff.summary.deletions;
  return total > BIG_DIFF_LINES && lines > 50;
}

// ---------------------------------------------------------------------------------------
// Parsing an agent's edit

const HUNK_HEADER = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$/;

/** Parses the hunks of a unified diff (one file's, or an agent's patch hunk): file headers
 *  are skipped, `\ No newline` markers dropped. Lines before any `@@` header are taken as
 *  one hunk starting at line 1, since agents sometimes send bare `+`/`-` lines. */
export function parseUnifiedDiff(text: string): Hunk[] {
  const hunks: Hunk[] = [];
  let current: Hunk | null = null;
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (const raw of lines) {
    const header = HUNK_HEADER.exec(raw);
    if (header) {
      current = {
        header: raw,
        old_start: Number(header[1]),
        old_lines: header[2] === undefined ? 1 : Number(header[2]),
        new_start: Number(header[3]),
        new_lines: header[4] === undefined ? 1 : Number(header[4]),
        lines: [],
      };
      hunks.push(current);
      continue;
    }
    if (!current && /^(diff --git |index |--- |\+\+\+ |new file mode|deleted file mode|similarity |rename |old mode|new mode|\*\*\* )/.test(raw)) {
      continue;
    }
    if (raw.startsWith('\\')) continue; // "\ No newline at end of file"
    const origin = raw[0];
    if (origin !== '+' && origin !== '-' && origin !== ' ') {
      if (raw === '' && current) current.lines.push({ origin: ' ', content: '' });
      continue;
    }
    if (!current) {
      current = { header: '', old_start: 1, old_lines: 0, new_start: 1, new_lines: 0, lines: [] };
      hunks.push(current);
    }
    current.lines.push({ origin, content: raw.slice(1) });
  }
  for (const h of hunks) {
    if (h.header === '') {
      h.old_lines = h.lines.filter((l) => l.origin !== '+').length;
      h.new_lines = h.lines.filter((l) => l.origin !== '-').length;
    }
  }
  return hunks;
}

/** Past this many cells the line diff gives up on pairing lines and shows the old text
 *  removed and the new text added. */
const MAX_DIFF_CELLS = 4_000_000;

/** A line diff of two texts (longest common subsequence after trimming the common head
 *  and tail), as hunks with `context` lines around each change. */
export function lineDiff(oldText: string, newText: string, context = 3): Hunk[] {
  const a = oldText === '' ? [] : oldText.split(/\r?\n/);
  const b = newText === '' ? [] : newText.split(/\r?\n/);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);

  const ops: DiffLine[] = [];
  for (let i = 0; i < head; i++) ops.push({ origin: ' ', content: a[i] ?? '' });
  if ((midA.length + 1) * (midB.length + 1) > MAX_DIFF_CELLS) {
    for (const l of midA) ops.push({ origin: '-', content: l });
    for (const l of midB) ops.push({ origin: '+', content: l });
  } else {
    // lcs[i][j]: the LCS length of midA[i..] and midB[j..], in one flat array.
    const n = midA.length;
    const m = midB.length;
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] =
          midA[i] === midB[j] ? (lcs[(i + 1) * w + j + 1] ?? 0) + 1 : Math.max(lcs[(i + 1) * w + j] ?? 0, lcs[i * w + j + 1] ?? 0);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (midA[i] === midB[j]) {
        ops.push({ origin: ' ', content: midA[i] ?? '' });
        i++;
        j++;
      } else if ((lcs[(i + 1) * w + j] ?? 0) >= (lcs[i * w + j + 1] ?? 0)) {
        ops.push({ origin: '-', content: midA[i++] ?? '' });
      } else {
        ops.push({ origin: '+', content: midB[j++] ?? '' });
      }
    }
    while (i < n) ops.push({ origin: '-', content: midA[i++] ?? '' });
    while (j < m) ops.push({ origin: '+', content: midB[j++] ?? '' });
  }
  for (let i = a.length - tail; i < a.length; i++) ops.push({ origin: ' ', content: a[i] ?? '' });
  return hunksFromOps(ops, context);
}

/** Cuts a full line-by-line comparison into hunks with `context` lines around changes. */
export function hunksFromOps(ops: readonly DiffLine[], context: number): Hunk[] {
  const changed: number[] = [];
  ops.forEach((op, i) => {
    if (op.origin !== ' ') changed.push(i);
  });
  if (changed.length === 0) return [];
  // Ranges [start, end) of ops to show, merged when their context touches.
  const ranges: [number, number][] = [];
  for (const i of changed) {
    const start = Math.max(0, i - context);
    const end = Math.min(ops.length, i + context + 1);
    const last = ranges[ranges.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else ranges.push([start, end]);
  }
  // Line numbers at each op.
  const oldAt: number[] = [];
  const newAt: number[] = [];
  let o = 1;
  let n = 1;
  for (const op of ops) {
    oldAt.push(o);
    newAt.push(n);
    if (op.origin !== '+') o++;
    if (op.origin !== '-') n++;
  }
  return ranges.map(([start, end]) => {
    const lines = ops.slice(start, end).map((l) => ({ ...l }));
    const oldLines = lines.filter((l) => l.origin !== '+').length;
    const newLines = lines.filter((l) => l.origin !== '-').length;
    const oldStart = oldLines === 0 ? (oldAt[start] ?? 1) - 1 : (oldAt[start] ?? 1);
    const newStart = newLines === 0 ? (newAt[start] ?? 1) - 1 : (newAt[start] ?? 1);
    return {
      header: `@@ -${oldStart},${oldLines} +${newStart},${newLines} @@`,
      old_start: oldStart,
      old_lines: oldLines,
      new_start: newStart,
      new_lines: newLines,
      lines,
    };
  });
}

/** One change of an agent's file edit, as shared/src/logs.rs `FileChange` sends it. (The
 *  generated schema.ts mistypes these as the diff's `FileChange` enum: the two Rust types
 *  share a name in the OpenAPI document, so they are decoded here at run time.) */
export type EditChange =
  | { op: 'write'; content: string }
  | { op: 'replace'; old_text: string; new_text: string; replace_all?: boolean }
  | { op: 'diff'; unified_diff: string }
  | { op: 'create' }
  | { op: 'update' }
  | { op: 'delete' }
  | { op: 'rename'; new_path: string };

/** Decodes one element of a `file_edit` action's `changes`; null for anything else. */
export function decodeEditChange(value: unknown): EditChange | null {
  if (!value || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  const str = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : null);
  switch (v.op) {
    case 'write': {
      const content = str('content');
      return content === null ? null : { op: 'write', content };
    }
    case 'replace': {
      const oldText = str('old_text');
      const newText = str('new_text');
      return oldText === null || newText === null
        ? null
        : { op: 'replace', old_text: oldText, new_text: newText, replace_all: v.replace_all === true };
    }
    case 'diff': {
      const d = str('unified_diff');
      return d === null ? null : { op: 'diff', unified_diff: d };
    }
    case 'create':
    case 'update':
    case 'delete':
      return { op: v.op };
    case 'rename': {
      const p = str('new_path');
      return p === null ? null : { op: 'rename', new_path: p };
    }
    default:
      return null;
  }
}

/** The hunks an edit change shows; empty for changes without content. */
export function editHunks(change: EditChange): Hunk[] {
  switch (change.op) {
    case 'write':
      return lineDiff('', change.content.replace(/\n$/, ''));
    case 'replace':
      return lineDiff(change.old_text, change.new_text);
    case 'diff':
      return parseUnifiedDiff(change.unified_diff);
    default:
      return [];
  }
}

// ---------------------------------------------------------------------------------------
// Languages

const EXTENSIONS: Record<string, string> = {
  ts: 'typescript',
  tsx: 'typescript',
  mts: 'typescript',
  cts: 'typescript',
  js: 'javascript',
  jsx: 'javascript',
  mjs: 'javascript',
  cjs: 'javascript',
  rs: 'rust',
  py: 'python',
  go: 'go',
  java: 'java',
  kt: 'kotlin',
  rb: 'ruby',
  c: 'c',
  h: 'c',
  cc: 'cpp',
  cpp: 'cpp',
  hpp: 'cpp',
  cs: 'csharp',
  sh: 'bash',
  bash: 'bash',
  zsh: 'bash',
  json: 'json',
  yml: 'yaml',
  yaml: 'yaml',
  toml: 'ini',
  ini: 'ini',
  css: 'css',
  scss: 'css',
  html: 'xml',
  xml: 'xml',
  svg: 'xml',
  vue: 'xml',
  md: 'markdown',
  markdown: 'markdown',
  sql: 'sql',
  diff: 'diff',
  patch: 'diff',
};

const FILE_NAMES: Record<string, string> = {
  dockerfile: 'dockerfile',
  makefile: 'makefile',
  'cargo.lock': 'ini',
};

/** The highlight.js language for a path, or null to show it plain. */
export function languageOf(path: string): string | null {
  const base = path.split('/').pop()?.toLowerCase() ?? '';
  const byName = FILE_NAMES[base];
  if (byName) return byName;
  const dot = base.lastIndexOf('.');
  if (dot < 0) return null;
  return EXTENSIONS[base.slice(dot + 1)] ?? null;
}
