import { describe, expect, it } from 'vitest';
import { fakeEntry, fakeRunEntries, fakeRunPatches } from './fakeRun';
import {
  MAX_HELD,
  applyEnd,
  applyPatches,
  emptyLog,
  type LogPatch,
  type LogState,
  parseEnd,
  parsePatch,
  resumeId,
  withPage,
} from './logState';

const msg = (text: string) => ({ timestamp: '2026-11-24T00:00:00Z', type: 'assistant_message' as const, text });
const append = (seq: number, index: number, text = `m${index}`): LogPatch => ({ seq, op: 'append', index, entry: msg(text) });
const replace = (seq: number, index: number, text: string): LogPatch => ({ seq, op: 'replace', index, entry: msg(text) });
const texts = (s: LogState) => s.entries.map((e) => ('text' in e ? e.text : e.type));

describe('applying log patches', () => {
  it('appends entries and replaces them in place', () => {
    let s = emptyLog();
    s = applyPatches(s, [append(0, 0, 'a'), append(1, 1, 'b')]);
    s = applyPatches(s, [replace(2, 0, 'A')]);
    expect(texts(s)).toEqual(['A', 'b']);
    expect(s.nextSeq).toBe(3);
    expect(s.ended).toBe(false);
  });

  it('drops a duplicate seq, as a resume that overlaps sends', () => {
    let s = applyPatches(emptyLog(), [append(0, 0, 'a'), append(1, 1, 'b'), replace(2, 1, 'B')]);
    const before = s;
    s = applyPatches(s, [append(1, 1, 'b'), replace(2, 1, 'B')]);
    expect(texts(s)).toEqual(['a', 'B']);
    expect(s.duplicates).toBe(2);
    expect(s.version).toBe(before.version);
  });

  it('a replayed old replace does not undo a newer one', () => {
    let s = applyPatches(emptyLog(), [append(0, 0, 'created'), replace(1, 0, 'running'), replace(2, 0, 'done')]);
    s = applyPatches(s, [replace(1, 0, 'running')]);
    expect(texts(s)).toEqual(['done']);
  });

  it('holds patches that arrive ahead of a gap and applies them once it fills', () => {
    let s = applyPatches(emptyLog(), [append(0, 0, 'a')]);
    s = applyPatches(s, [append(2, 2, 'c'), replace(3, 0, 'A')]);
    expect(texts(s)).toEqual(['a']);
    expect(s.held.size).toBe(2);
    s = applyPatches(s, [append(1, 1, 'b')]);
    expect(texts(s)).toEqual(['A', 'b', 'c']);
    expect(s.nextSeq).toBe(4);
    expect(s.held.size).toBe(0);
  });

  it('gives the same log whatever the order and repetition of delivery', () => {
    const patches = fakeRunPatches(200);
    const inOrder = applyPatches(emptyLog(), patches);
    // Reverse blocks of 7, with every third patch sent twice.
    const shuffled: LogPatch[] = [];
    for (let i = 0; i < patches.length; i += 7) shuffled.push(...patches.slice(i, i + 7).reverse());
    let s = emptyLog();
    shuffled.forEach((p, i) => {
      s = applyPatches(s, i % 3 === 0 ? [p, p] : [p]);
    });
    expect(s.entries).toEqual(inOrder.entries);
    expect(s.entries).toEqual(fakeRunEntries(200));
    expect(s.nextSeq).toBe(patches.length);
  });

  it('builds the log from its pages and resumes the stream after the last seq', () => {
    const page = (patches: LogPatch[], next: string | null, finished = false) => ({
      patches,
      next_cursor: next,
      next_seq: patches.length ? patches[patches.length - 1]!.seq + 1 : 0,
      finished,
      truncated: false,
    });
    let s = withPage(emptyLog(), page([append(0, 0, 'a'), append(1, 1, 'b')], '1'));
    s = withPage(s, page([append(2, 2, 'x'), replace(3, 2, 'c'), replace(4, 0, 'A')], null));
    expect(texts(s)).toEqual(['A', 'b', 'c']);
    expect(s.ended).toBe(false);
    expect(resumeId(s)).toBe('4');
    expect(resumeId(emptyLog())).toBeUndefined();
    // The stream resumes at seq 5; an overlap from before it is ignored.
    s = applyPatches(s, [replace(4, 1, 'stale'), append(5, 3, 'd')]);
    expect(texts(s)).toEqual(['A', 'b', 'c', 'd']);
  });

  it('the last page of a finished process ends the log', () => {
    const s = withPage(emptyLog(), { patches: [append(0, 0, 'a')], next_cursor: null, next_seq: 1, finished: true, truncated: false });
    expect(s.ended).toBe(true);
    expect(s.total).toBe(1);
  });

  it('end applies what is held behind a gap that never filled, and counts the gap', () => {
    let s = applyPatches(emptyLog(), [append(0, 0, 'a'), append(2, 1, 'c')]);
    s = applyEnd(s, 3);
    expect(texts(s)).toEqual(['a', 'c']);
    expect(s.ended).toBe(true);
    expect(s.missing).toBe(1);
    expect(s.total).toBe(3);
  });

  it('end with everything received has nothing missing', () => {
    let s = applyPatches(emptyLog(), [append(0, 0), append(1, 1)]);
    s = applyEnd(s, 2);
    expect(s.missing).toBe(0);
    expect(s.ended).toBe(true);
  });

  it('does not hold more than MAX_HELD patches behind a gap', () => {
    const ahead = Array.from({ length: MAX_HELD + 1 }, (_, i) => append(i + 1, i));
    const s = applyPatches(emptyLog(), ahead);
    expect(s.held.size).toBe(0);
    expect(s.entries).toHaveLength(MAX_HELD + 1);
    expect(s.missing).toBe(1);
  });

  it('keeps a patch past the end rather than losing it', () => {
    const s = applyPatches(emptyLog(), [{ seq: 0, op: 'replace', index: 7, entry: msg('x') }]);
    expect(texts(s)).toEqual(['x']);
  });

  it('reads patch and end events, and ignores anything else', () => {
    const p = append(3, 1, 'hi');
    expect(parsePatch(JSON.stringify(p))).toEqual(p);
    expect(parsePatch('{"seq": 1}')).toBeNull();
    expect(parsePatch('not json')).toBeNull();
    expect(parsePatch('null')).toBeNull();
    expect(parseEnd('{"total": 12}')).toBe(12);
    expect(parseEnd('{}')).toBeNull();
  });
});

describe('a 100k-entry run', () => {
  const N = 100_000;

  it('builds one entry per append and every tool call replaced with its outcome', () => {
    const patches = fakeRunPatches(N);
    expect(patches.filter((p) => p.op === 'append')).toHaveLength(N);
    expect(patches.filter((p) => p.op === 'replace')).toHaveLength(N * 0.3);
    expect(fakeEntry(2, 'created')).toMatchObject({ type: 'tool_use', status: 'created' });
  });

  it('costs one array write per patch: the entry list is never copied', () => {
    const patches = fakeRunPatches(N);
    let writes = 0;
    const start = emptyLog();
    const counted = new Proxy(start.entries, {
      set(target, key, value, receiver) {
        if (key !== 'length') writes += 1;
        return Reflect.set(target, key, value, receiver);
      },
    });
    let s: LogState = { ...start, entries: counted };
    // One patch at a time (the worst case for a reducer that copies), then in frames.
    for (const p of patches.slice(0, N)) s = applyPatches(s, [p]);
    for (let i = N; i < patches.length; i += 500) s = applyPatches(s, patches.slice(i, i + 500));
    expect(s.entries).toBe(counted);
    expect(writes).toBe(patches.length);
    expect(s.entries).toHaveLength(N);
    expect(s.nextSeq).toBe(patches.length);
    expect(s.entries[2]).toMatchObject({ type: 'tool_use', status: 'success' });
  });

  it('stays linear when delivered out of order: the held map is not copied either', () => {
    const patches = fakeRunPatches(N);
    // Every block of 1,000 arrives back to front.
    let s = emptyLog();
    const held = s.held;
    for (let i = 0; i < patches.length; i += 1_000) {
      const block = patches.slice(i, i + 1_000).reverse();
      for (const p of block) s = applyPatches(s, [p]);
    }
    expect(s.held).toBe(held);
    expect(s.entries).toHaveLength(N);
    expect(s.nextSeq).toBe(patches.length);
  });
});
