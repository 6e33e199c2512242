// One execution process's normalized log, as the task view holds it: the entries so far,
// built from the pages of `GET …/logs` and the `patch` / `end` events of the log stream
// (docs/API.md "Streams"; the server side is shared/src/logs.rs `apply`).
//
// Cost: applying a patch is O(1) amortised, so a 100k-entry run costs O(n) in all. To get
// that, successive states SHARE one entries array, grown and overwritten in place; a new
// state object (new `version`) is returned on every change so React notices, but only the
// newest state of a log may be read. The same goes for `held`; the other fields are plain
// values.
import type { Schemas } from '../api/types';

export type LogEntry = Schemas['LogEntry'];
export type LogPatch = Schemas['LogPatch'];
export type ProcessLogs = Schemas['ProcessLogs'];

/** How many out-of-order patches are held back waiting for the gap before them to fill;
 *  past this the gap is given up on and they are applied in seq order. */
export const MAX_HELD = 10_000;

export interface LogState {
  /** Shared with earlier states and changed in place; read it only from the newest state. */
  readonly entries: LogEntry[];
  /** The seq of the next patch expected: every patch before it has been applied. */
  readonly nextSeq: number;
  /** Patches that arrived ahead of `nextSeq` (a gap to be filled), by seq. Shared like
   *  `entries`. */
  readonly held: ReadonlyMap<number, LogPatch>;
  /** The process has ended (the stream's `end`, or a finished snapshot). */
  readonly ended: boolean;
  /** The patch count the `end` event announced. */
  readonly total: number | null;
  /** Patches dropped because their seq was already applied (a resume's overlap). */
  readonly duplicates: number;
  /** Patches never received: a gap given up on at the end. */
  readonly missing: number;
  /** Increases on every change; a cheap "did it change" for React. */
  readonly version: number;
}

/** An empty log, waiting for its first patch (seq 0). */
export function emptyLog(): LogState {
  return { entries: [], nextSeq: 0, held: new Map(), ended: false, total: null, duplicates: 0, missing: 0, version: 0 };
}

/** Adds one page of `GET /orgs/{org}/processes/{id}/logs` (pages are read in order,
 *  each from the previous one's `next_cursor`): its patches applied. The last page (no
 *  `next_cursor`) of a finished process ends the log; otherwise resume the stream after
 *  `next_seq - 1` ({@link resumeId}). */
export function withPage(state: LogState, page: ProcessLogs): LogState {
  const log = applyPatches(state, page.patches);
  if (page.next_cursor || !page.finished || log.nextSeq < page.next_seq) return log;
  return { ...log, ended: true, total: page.next_seq, version: log.version + 1 };
}

/** The `Last-Event-ID` to open the stream with so it resumes after what `state` holds. */
export function resumeId(state: LogState): string | undefined {
  return state.nextSeq > 0 ? String(state.nextSeq - 1) : undefined;
}

/** Puts one patch into an entry list, as shared::logs::apply does: append at the end,
 *  replace in place, and a patch past the end (a gap upstream) is kept by appending. */
function put(entries: LogEntry[], patch: LogPatch): void {
  const index = patch.index;
  if (patch.op === 'append' && index === entries.length) entries.push(patch.entry);
  else if (index >= 0 && index < entries.length) entries[index] = patch.entry;
  else entries.push(patch.entry);
}

/** Applies patches in any order, any repetition: each seq is applied exactly once, in seq
 *  order. Returns `state` itself when nothing changed. */
export function applyPatches(state: LogState, patches: readonly LogPatch[]): LogState {
  if (patches.length === 0) return state;
  const entries = state.entries;
  const held = state.held as Map<number, LogPatch>; // shared and changed in place, like entries
  let next = state.nextSeq;
  let duplicates = state.duplicates;
  let changed = false;

  for (const patch of patches) {
    const seq = patch.seq;
    if (seq < next || (seq > next && held.has(seq))) {
      duplicates += 1;
      continue;
    }
    changed = true;
    if (seq > next) {
      held.set(seq, patch);
      continue;
    }
    put(entries, patch);
    next += 1;
    if (held.size > 0) {
      for (let p = held.get(next); p; p = held.get(next)) {
        held.delete(next);
        put(entries, p);
        next += 1;
      }
    }
  }

  let missing = state.missing;
  if (held.size > MAX_HELD) {
    // The gap is not going to fill (the server never leaves one, but a client must not
    // grow without bound): keep what we have, in order, and count what was lost.
    const flushed = flushHeld(entries, held, next);
    missing += flushed.missing;
    next = flushed.next;
  }

  if (!changed && duplicates === state.duplicates) return state;
  return { ...state, nextSeq: next, duplicates, missing, version: changed ? state.version + 1 : state.version };
}

/** Applies every held patch in seq order, skipping the gaps before them. */
function flushHeld(entries: LogEntry[], held: Map<number, LogPatch>, from: number): { next: number; missing: number } {
  let next = from;
  let missing = 0;
  const rest = [...held.values()].sort((a, b) => a.seq - b.seq);
  held.clear();
  for (const p of rest) {
    missing += p.seq - next;
    put(entries, p);
    next = p.seq + 1;
  }
  return { next, missing };
}

/** The stream's `end` event (`{"total": n}`): no patch will follow. Anything still held
 *  behind a gap is applied in order, and the gap counted as missing. */
export function applyEnd(state: LogState, total: number | null): LogState {
  const flushed = flushHeld(state.entries, state.held as Map<number, LogPatch>, state.nextSeq);
  let missing = state.missing + flushed.missing;
  if (total !== null && total > flushed.next) missing += total - flushed.next;
  return { ...state, nextSeq: flushed.next, ended: true, total, missing, version: state.version + 1 };
}

/** Reads a `patch` event's data; null when it is not a patch. */
export function parsePatch(data: string): LogPatch | null {
  try {
    const value = JSON.parse(data) as Partial<LogPatch> | null;
    if (
      value &&
      typeof value.seq === 'number' &&
      typeof value.index === 'number' &&
      (value.op === 'append' || value.op === 'replace') &&
      value.entry &&
      typeof value.entry === 'object' &&
      typeof (value.entry as { type?: unknown }).type === 'string'
    ) {
      return value as LogPatch;
    }
  } catch {
    // not JSON: ignored, like any unknown event
  }
  return null;
}

/** Reads an `end` event's `{"total": n}`; null when it has none. */
export function parseEnd(data: string): number | null {
  try {
    const value = JSON.parse(data) as { total?: unknown } | null;
    return value && typeof value.total === 'number' ? value.total : null;
  } catch {
    return null;
  }
}
