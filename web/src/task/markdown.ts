// A small Markdown reader for agent messages and task descriptions: headings, paragraphs,
// fenced and indented code, lists (nested, with task boxes), quotes, tables, rules, and
// inline code, emphasis, strike-through, links and autolinks. It produces a tree of plain
// data that Markdown.tsx renders as React elements, so HTML in the text (`<script>`,
// `<img onerror=…>`) is never parsed as HTML: it stays text. Links keep only http(s),
// mailto and relative targets; images become links (no request to an agent-chosen URL).

export type Inline =
  | { type: 'text'; text: string }
  | { type: 'code'; text: string }
  | { type: 'strong'; children: Inline[] }
  | { type: 'em'; children: Inline[] }
  | { type: 'del'; children: Inline[] }
  | { type: 'link'; href: string | null; children: Inline[] }
  | { type: 'break' };

export interface ListItem {
  /** A task-list box: `[ ]` false, `[x]` true. */
  checked: boolean | null;
  children: Block[];
}

export type Block =
  | { type: 'heading'; level: 1 | 2 | 3 | 4 | 5 | 6; children: Inline[] }
  | { type: 'paragraph'; children: Inline[] }
  | { type: 'code'; lang: string | null; text: string }
  | { type: 'list'; ordered: boolean; start: number; items: ListItem[] }
  | { type: 'quote'; children: Block[] }
  | { type: 'table'; align: ('left' | 'center' | 'right' | null)[]; head: Inline[][]; rows: Inline[][][] }
  | { type: 'rule' };

/** Deeper nesting is read as text, so hostile input cannot blow the stack. */
const MAX_DEPTH = 12;

// ---------------------------------------------------------------------------------------
// Inline

/** Whether a link target is safe to follow: http(s), mailto, or relative (no scheme). */
export function safeHref(raw: string): string | null {
  const href = raw.trim().replace(/^<|>$/g, '');
  // Control characters and whitespace inside a scheme are how `java\tscript:` sneaks by.
  const compact = href.replace(/[\u0000-\u0020\u007f-\u009f]/g, '');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(compact);
  if (!scheme) return href.startsWith('//') ? null : href;
  const s = scheme[1]?.toLowerCase();
  return s === 'http' || s === 'https' || s === 'mailto' ? href : null;
}

const PUNCTUATION = /[!-/:-@[-`{-~]/;

/** Index of the `]` that closes the `[` at `open`, honouring nesting and escapes. */
function closingBracket(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '`') {
      const end = s.indexOf('`', i + 1);
      if (end > 0) i = end;
    } else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) return i;
  }
  return -1;
}

/** Index of the `)` closing a link target starting at `open` (the `(`). */
function closingParen(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
    else if (c === '\n') return -1;
  }
  return -1;
}

const AUTOLINK = /^(https?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]}*_~])/;

export function parseInline(src: string, depth = 0): Inline[] {
  const out: Inline[] = [];
  let text = '';
  const pushText = () => {
    if (text) out.push({ type: 'text', text });
    text = '';
  };
  if (depth > MAX_DEPTH) return [{ type: 'text', text: src }];

  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    const rest = src.slice(i);

    if (c === '\\' && i + 1 < src.length && PUNCTUATION.test(src[i + 1] as string)) {
      text += src[i + 1];
      i += 2;
      continue;
    }
    if (c === '\n') {
      // Two trailing spaces or a backslash make a hard break; else a soft one (a space).
      if (text.endsWith('  ')) {
        text = text.replace(/ +$/, '');
        pushText();
        out.push({ type: 'break' });
      } else {
        text = text.replace(/ +$/, '') + ' ';
      }
      i++;
      continue;
    }
    if (c === '`') {
      const ticks = /^`+/.exec(rest)?.[0] ?? '`';
      const end = src.indexOf(ticks, i + ticks.length);
      if (end > 0) {
        pushText();
        let code = src.slice(i + ticks.length, end).replace(/\n/g, ' ');
        if (code.length > 1 && code.startsWith(' ') && code.endsWith(' ') && code.trim()) code = code.slice(1, -1);
        out.push({ type: 'code', text: code });
        i = end + ticks.length;
        continue;
      }
      text += ticks;
      i += ticks.length;
      continue;
    }
    if (c === '!' && src[i + 1] === '[') {
      // An image: shown as a link to it, never loaded.
      const close = closingBracket(src, i + 1);
      if (close > 0 && src[close + 1] === '(') {
        const end = closingParen(src, close + 1);
        if (end > 0) {
          pushText();
          const alt = src.slice(i + 2, close) || 'image';
          const target = src.slice(close + 2, end).trim().split(/\s+/)[0] ?? '';
          out.push({ type: 'link', href: safeHref(target), children: [{ type: 'text', text: `🖼 ${alt}` }] });
          i = end + 1;
          continue;
        }
      }
    }
    if (c === '[') {
      const close = closingBracket(src, i);
      if (close > 0 && src[close + 1] === '(') {
        const end = closingParen(src, close + 1);
        if (end > 0) {
          pushText();
          const target = src.slice(close + 2, end).trim().split(/\s+/)[0] ?? '';
          out.push({ type: 'link', href: safeHref(target), children: parseInline(src.slice(i + 1, close), depth + 1) });
          i = end + 1;
          continue;
        }
      }
    }
    if (c === '<') {
      const auto = /^<(https?:\/\/[^\s<>]+|mailto:[^\s<>]+)>/.exec(rest);
      if (auto?.[1]) {
        pushText();
        out.push({ type: 'link', href: safeHref(auto[1]), children: [{ type: 'text', text: auto[1] }] });
        i += auto[0].length;
        continue;
      }
    }
    if (c === 'h' && (i === 0 || /[\s(]/.test(src[i - 1] as string))) {
      const auto = AUTOLINK.exec(rest);
      if (auto?.[1]) {
        pushText();
        out.push({ type: 'link', href: safeHref(auto[1]), children: [{ type: 'text', text: auto[1] }] });
        i += auto[1].length;
        continue;
      }
    }
    if (c === '*' || c === '_' || c === '~') {
      const run = new RegExp(`^\\${c}+`).exec(rest)?.[0] ?? c;
      const before = i > 0 ? (src[i - 1] as string) : ' ';
      const after = src[i + run.length] ?? ' ';
      const opens = !/\s/.test(after) && !(c === '_' && /[\p{L}\p{N}]/u.test(before));
      if (opens && (c !== '~' || run.length === 2)) {
        const size = c === '~' ? 2 : Math.min(run.length, 3);
        const marker = c.repeat(size);
        const close = findCloser(src, i + size, marker, c);
        if (close > 0) {
          pushText();
          const inner = parseInline(src.slice(i + size, close), depth + 1);
          const node: Inline =
            c === '~'
              ? { type: 'del', children: inner }
              : size === 3
                ? { type: 'strong', children: [{ type: 'em', children: inner }] }
                : size === 2
                  ? { type: 'strong', children: inner }
                  : { type: 'em', children: inner };
          out.push(node);
          i = close + size;
          continue;
        }
      }
      text += run;
      i += run.length;
      continue;
    }
    text += c;
    i++;
  }
  pushText();
  return out;
}

/** Index of a closing emphasis marker after `from`: not preceded by space, not inside a
 *  code span, and (for `_`) not inside a word. */
function findCloser(src: string, from: number, marker: string, c: string): number {
  for (let j = from; j < src.length; j++) {
    const ch = src[j];
    if (ch === '\\') {
      j++;
      continue;
    }
    if (ch === '`') {
      const end = src.indexOf('`', j + 1);
      if (end < 0) return -1;
      j = end;
      continue;
    }
    if (src.startsWith(marker, j) && j > from && !/\s/.test(src[j - 1] as string)) {
      const next = src[j + marker.length];
      if (next === c) {
        // a longer run: skip it whole
        while (src[j + 1] === c) j++;
        continue;
      }
      if (c === '_' && next !== undefined && /[\p{L}\p{N}]/u.test(next)) continue;
      return j;
    }
  }
  return -1;
}

// ---------------------------------------------------------------------------------------
// Blocks

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const BULLET = /^( {0,3})([-*+])([ \t]+|$)(.*)$/;
const ORDERED = /^( {0,3})(\d{1,9})([.)])([ \t]+|$)(.*)$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const TABLE_DELIM = /^ *\|? *:?-+:? *(\| *:?-+:? *)*\|? *$/;

const isBlank = (line: string) => line.trim() === '';

function splitRow(line: string): string[] {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  const cells: string[] = [];
  let cell = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === '|') {
      cell += '|';
      i++;
    } else if (s[i] === '|') {
      cells.push(cell.trim());
      cell = '';
    } else cell += s[i];
  }
  cells.push(cell.trim());
  return cells;
}

function startsBlock(line: string): boolean {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || BULLET.test(line) || ORDERED.test(line);
}

/** Parses Markdown into blocks. */
export function parseMarkdown(src: string, depth = 0): Block[] {
  const lines = src.replace(/\r\n?/g, '\n').replace(/\t/g, '    ').split('\n');
  return parseLines(lines, depth);
}

function parseLines(lines: string[], depth: number): Block[] {
  const blocks: Block[] = [];
  if (depth > MAX_DEPTH) {
    const text = lines.join('\n');
    return text.trim() ? [{ type: 'paragraph', children: [{ type: 'text', text }] }] : [];
  }
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    if (isBlank(line)) {
      i++;
      continue;
    }

    const fence = FENCE.exec(line);
    if (fence) {
      const marker = fence[1] as string;
      const indent = /^ */.exec(line)?.[0].length ?? 0;
      const body: string[] = [];
      i++;
      while (i < lines.length) {
        const l = lines[i] as string;
        if (new RegExp(`^ {0,3}${marker[0] === '`' ? '`' : '~'}{${marker.length},}\\s*$`).test(l)) {
          i++;
          break;
        }
        body.push(l.replace(new RegExp(`^ {0,${indent}}`), ''));
        i++;
      }
      blocks.push({ type: 'code', lang: fence[2] || null, text: body.join('\n') });
      continue;
    }

    if (/^ {4}/.test(line)) {
      const body: string[] = [];
      while (i < lines.length && (/^ {4}/.test(lines[i] as string) || isBlank(lines[i] as string))) {
        body.push((lines[i] as string).slice(4));
        i++;
      }
      while (body.length && isBlank(body[body.length - 1] as string)) body.pop();
      blocks.push({ type: 'code', lang: null, text: body.join('\n') });
      continue;
    }

    const heading = HEADING.exec(line);
    if (heading) {
      const level = (heading[1] as string).length as 1 | 2 | 3 | 4 | 5 | 6;
      blocks.push({ type: 'heading', level, children: parseInline(heading[2] ?? '', depth) });
      i++;
      continue;
    }

    if (RULE.test(line)) {
      blocks.push({ type: 'rule' });
      i++;
      continue;
    }

    if (QUOTE.test(line)) {
      const body: string[] = [];
      while (i < lines.length && !isBlank(lines[i] as string)) {
        const q = QUOTE.exec(lines[i] as string);
        if (!q && startsBlock(lines[i] as string)) break;
        body.push(q ? (q[1] ?? '') : (lines[i] as string));
        i++;
      }
      blocks.push({ type: 'quote', children: parseLines(body, depth + 1) });
      continue;
    }

    const bullet = BULLET.exec(line);
    const ordered = bullet ? null : ORDERED.exec(line);
    if (bullet || ordered) {
      const list = readList(lines, i, depth);
      blocks.push(list.block);
      i = list.next;
      continue;
    }

    // A table: a header row, then a delimiter row.
    const next = lines[i + 1];
    if (line.includes('|') && next !== undefined && TABLE_DELIM.test(next) && next.includes('-')) {
      const head = splitRow(line);
      const align = splitRow(next).map((cell) => {
        const left = cell.startsWith(':');
        const right = cell.endsWith(':');
        return left && right ? 'center' : right ? 'right' : left ? 'left' : null;
      });
      const rows: Inline[][][] = [];
      i += 2;
      while (i < lines.length && !isBlank(lines[i] as string) && (lines[i] as string).includes('|')) {
        const cells = splitRow(lines[i] as string);
        rows.push(head.map((_, c) => parseInline(cells[c] ?? '', depth)));
        i++;
      }
      blocks.push({ type: 'table', align, head: head.map((h) => parseInline(h, depth)), rows });
      continue;
    }

    // A paragraph: until a blank line or another block starts.
    const body: string[] = [line.trim()];
    i++;
    while (i < lines.length && !isBlank(lines[i] as string) && !startsBlock(lines[i] as string)) {
      const l = lines[i] as string;
      // Setext headings: a paragraph underlined with = or -.
      if (/^ {0,3}=+\s*$/.test(l) || /^ {0,3}-+\s*$/.test(l)) break;
      body.push(l.trim());
      i++;
    }
    const underline = lines[i];
    if (underline !== undefined && (/^ {0,3}=+\s*$/.test(underline) || /^ {0,3}-+\s*$/.test(underline))) {
      blocks.push({ type: 'heading', level: underline.trim().startsWith('=') ? 1 : 2, children: parseInline(body.join('\n'), depth) });
      i++;
      continue;
    }
    blocks.push({ type: 'paragraph', children: parseInline(body.join('\n'), depth) });
  }
  return blocks;
}

/** Reads a list starting at `start`: items of the same kind, each with the lines indented
 *  under it (parsed as blocks, so lists nest). */
function readList(lines: string[], start: number, depth: number): { block: Block; next: number } {
  const first = lines[start] as string;
  const ordered = !BULLET.test(first);
  const m0 = ordered ? ORDERED.exec(first) : BULLET.exec(first);
  const startNo = ordered ? Number(m0?.[2] ?? 1) : 1;
  const marker = ordered ? (m0?.[3] ?? '.') : (m0?.[2] ?? '-');
  const items: ListItem[] = [];
  let i = start;
  while (i < lines.length) {
    const line = lines[i] as string;
    const m = ordered ? ORDERED.exec(line) : BULLET.exec(line);
    if (!m || (ordered ? m[3] : m[2]) !== marker || RULE.test(line)) break;
    const lead = (m[1] ?? '').length;
    const markerWidth = ordered ? (m[2] ?? '').length + 1 : 1;
    const gap = ordered ? (m[4] ?? ' ') : (m[3] ?? ' ');
    const contentIndent = lead + markerWidth + Math.max(1, Math.min(gap.length, 4));
    const body: string[] = [ordered ? (m[5] ?? '') : (m[4] ?? '')];
    i++;
    while (i < lines.length) {
      const l = lines[i] as string;
      if (isBlank(l)) {
        // A blank line continues the item only if indented content follows.
        const after = lines[i + 1];
        if (after !== undefined && !isBlank(after) && /^ */.exec(after)![0].length >= contentIndent) {
          body.push('');
          i++;
          continue;
        }
        break;
      }
      const indent = /^ */.exec(l)![0].length;
      if (indent >= contentIndent) body.push(l.slice(contentIndent));
      else if (!startsBlock(l) && body.length > 0 && !isBlank(body[body.length - 1] as string)) body.push(l.trim());
      else break;
      i++;
    }
    let checked: boolean | null = null;
    const box = /^\[([ xX])\][ \t]+/.exec(body[0] ?? '');
    if (box) {
      checked = box[1] !== ' ';
      body[0] = (body[0] ?? '').slice(box[0].length);
    }
    items.push({ checked, children: parseLines(body, depth + 1) });
    // A blank line between items: skip it if the list goes on.
    if (i < lines.length && isBlank(lines[i] as string)) {
      const after = lines[i + 1];
      const again = after !== undefined && (ordered ? ORDERED.exec(after) : BULLET.exec(after));
      if (again && (ordered ? again[3] : again[2]) === marker) {
        i++;
      }
    }
  }
  return { block: { type: 'list', ordered, start: startNo, items }, next: i };
}

/** The plain text of some inline nodes (for previews and accessible names). */
export function inlineText(nodes: readonly Inline[]): string {
  return nodes
    .map((n) => (n.type === 'text' || n.type === 'code' ? n.text : n.type === 'break' ? '\n' : inlineText(n.children)))
    .join('');
}
