// The logs of an attempt's processes, loaded and kept live outside React: each process's
// log starts from the pages of `GET …/logs` (each page's `next_cursor` asks for the next)
// and, unless it has finished, follows the log stream from there (`Last-Event-ID:
// next_seq - 1`; the stream reconnects the same way).
// Patches are applied once per animation frame, so a fast agent costs one render a frame
// however many entries it prints.
import { useEffect, useState, useSyncExternalStore } from 'react';
import { api, type ApiError, errorMessage } from '../api/client';
import { type ConnectionState, EventStream, streams } from '../api/sse';
import type { Schemas } from '../api/types';
import { applyEnd, applyPatches, emptyLog, type LogPatch, type LogState, parseEnd, parsePatch, resumeId, withPage } from './logState';

export type Process = Schemas['Process'];

/** What the conversation needs of one process's log. */
export interface ProcessLog {
  process: Process;
  log: LogState;
  /** `idle`: not streaming (loading the snapshot, or finished without a stream). */
  connection: ConnectionState | 'idle';
  loading: boolean;
  /** Why the log could not be loaded or followed, in words. */
  error: string | null;
}

/** Patches asked for per page of `GET …/logs` (the server's most). */
const LOG_PAGE = 1000;

export const isProcessFinished = (p: Pick<Process, 'status'>) =>
  p.status === 'succeeded' || p.status === 'failed' || p.status === 'killed';

type Schedule = (flush: () => void) => void;

/** Runs `flush` on the next frame (or soon, when the tab is hidden and frames stop). */
const nextFrame: Schedule = (flush) => {
  if (typeof requestAnimationFrame === 'function' && typeof document !== 'undefined' && !document.hidden) {
    requestAnimationFrame(flush);
  } else {
    setTimeout(flush, 50);
  }
};

class ProcessLoader {
  state: ProcessLog;
  private stream: EventStream | null = null;
  private abort = new AbortController();
  private queue: LogPatch[] = [];
  private endTotal: number | null | undefined = undefined;
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly org: string,
    process: Process,
    private readonly changed: () => void,
    private readonly schedule: Schedule,
  ) {
    this.state = { process, log: emptyLog(), connection: 'idle', loading: true, error: null };
    void this.start();
  }

  setProcess(process: Process) {
    if (process === this.state.process) return;
    this.state = { ...this.state, process };
    this.changed();
  }

  close() {
    this.closed = true;
    this.abort.abort();
    this.stream?.close();
  }

  private update(patch: Partial<ProcessLog>) {
    if (this.closed) return;
    this.state = { ...this.state, ...patch };
    this.changed();
  }

  private async start() {
    let log = emptyLog();
    try {
      let after: number | undefined;
      for (;;) {
        const page = await api.get('/api/v1/orgs/{org}/processes/{id}/logs', {
          path: { org: this.org, id: this.state.process.id },
          query: { after, limit: LOG_PAGE },
          signal: this.abort.signal,
        });
        log = withPage(log, page);
        if (!page.next_cursor) break;
        after = Number(page.next_cursor);
        // A long log shows as it arrives.
        this.update({ log });
      }
    } catch (e) {
      if (this.closed) return;
      // The stream replays everything from seq 0 as well: fall back to it alone, and say
      // why only if it fails too.
      if ((e as ApiError).status === 404 || (e as ApiError).status === 403) {
        this.update({ loading: false, error: errorMessage(e) });
        return;
      }
    }
    if (this.closed) return;
    this.update({ log, loading: false });
    if (log.ended) return;
    this.stream = new EventStream(streams.processLogs(this.org, this.state.process.id), {
      lastEventId: resumeId(log),
      endEvent: 'end',
      onEvent: (event) => {
        if (event.event === 'patch') {
          const patch = parsePatch(event.data);
          if (patch) this.queue.push(patch);
        } else if (event.event === 'end') {
          this.endTotal = parseEnd(event.data);
        } else {
          return;
        }
        this.requestFlush();
      },
      onError: (error) => this.update({ error: errorMessage(error) }),
    });
    this.update({ connection: this.stream.state });
    this.stream.subscribe((connection) => this.update({ connection: connection === 'closed' && this.endTotal !== undefined ? 'idle' : connection }));
  }

  private requestFlush() {
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => this.flush());
  }

  /** Applies what arrived since the last frame. */
  flush() {
    this.scheduled = false;
    if (this.closed) return;
    let log = this.state.log;
    if (this.queue.length) {
      log = applyPatches(log, this.queue);
      this.queue = [];
    }
    if (this.endTotal !== undefined && !log.ended) log = applyEnd(log, this.endTotal);
    if (log !== this.state.log) this.update({ log, connection: log.ended ? 'idle' : this.state.connection });
  }
}

/** The live logs of one attempt's processes. */
export class LogsStore {
  private loaders = new Map<string, ProcessLoader>();
  private listeners = new Set<() => void>();
  private version = 0;
  private order: string[] = [];
  private cached: { version: number; logs: ProcessLog[] } = { version: -1, logs: [] };

  constructor(
    private readonly org: string,
    private readonly schedule: Schedule = nextFrame,
  ) {}

  /** Follows exactly these processes (in this order): new ones start loading. */
  sync(processes: readonly Process[]) {
    const ids = new Set(processes.map((p) => p.id));
    for (const [id, loader] of this.loaders) {
      if (!ids.has(id)) {
        loader.close();
        this.loaders.delete(id);
      }
    }
    for (const p of processes) {
      const loader = this.loaders.get(p.id);
      if (loader) loader.setProcess(p);
      else this.loaders.set(p.id, new ProcessLoader(this.org, p, () => this.bump(), this.schedule));
    }
    const order = processes.map((p) => p.id);
    if (order.join() !== this.order.join()) {
      this.order = order;
      this.bump();
    }
  }

  close() {
    for (const loader of this.loaders.values()) loader.close();
    this.loaders.clear();
  }

  subscribe = (listener: () => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** The processes' logs, one array per version (stable between changes). */
  getSnapshot = (): ProcessLog[] => {
    if (this.cached.version !== this.version) {
      const logs: ProcessLog[] = [];
      for (const id of this.order) {
        const loader = this.loaders.get(id);
        if (loader) logs.push(loader.state);
      }
      this.cached = { version: this.version, logs };
    }
    return this.cached.logs;
  };

  private bump() {
    this.version += 1;
    for (const listener of this.listeners) listener();
  }
}

/** The logs of `processes`, live; a new store for every org and attempt. */
export function useProcessLogs(org: string, attemptId: string | null, processes: readonly Process[] | null): ProcessLog[] {
  const [store, setStore] = useState<LogsStore | null>(null);
  useEffect(() => {
    if (!attemptId) return;
    const s = new LogsStore(org);
    setStore(s);
    return () => {
      s.close();
      setStore(null);
    };
  }, [org, attemptId]);
  useEffect(() => {
    if (store && processes) store.sync(processes);
  }, [store, processes]);
  return useSyncExternalStore(store?.subscribe ?? noopSubscribe, store?.getSnapshot ?? emptyLogs);
}

const noopSubscribe = () => () => {};
const NO_LOGS: ProcessLog[] = [];
const emptyLogs = () => NO_LOGS;
