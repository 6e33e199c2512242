// Server-sent events over fetch: like EventSource, but it sends `Last-Event-ID` on every
// reconnect (so the api resumes without gap or duplicate), refreshes an expired session,
// backs off on failure, treats a silent connection (no heartbeat) as dropped, and exposes
// its connection state for a badge. See docs/API.md "Streams".
import { ApiError, type ApiClient, api as defaultClient, toApiError } from './client';

/** One event as the server framed it. `id` is the event's `id:` (the resume point). */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** `connecting` (first attempt), `open` (headers received), `reconnecting` (dropped,
 *  waiting to try again), `closed` (stopped by `close()`, an end event, or a refusal). */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Incremental `text/event-stream` parser (the WHATWG algorithm, minus `retry` timing
 *  policy, which it reports). Feed it decoded text in any chunking. */
export class SseParser {
  private buffer = '';
  private skipLf = false;
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  /** The last `id:` seen, kept across events as the spec's "last event ID buffer". */
  lastEventId: string | undefined;
  /** The last `retry:` in milliseconds, if the server sent one. */
  retryMs: number | undefined;

  constructor(lastEventId?: string) {
    this.lastEventId = lastEventId;
  }

  /** Parses `chunk`; returns the events it completed. */
  feed(chunk: string): SseEvent[] {
    let text = chunk;
    // A \r that ended the previous chunk may be the first half of \r\n.
    if (this.skipLf && text.startsWith('\n')) text = text.slice(1);
    this.skipLf = false;
    this.buffer += text;
    const out: SseEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      if (match[0] === '\r' && match.index === this.buffer.length - 1) this.skipLf = true;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) out.push(event);
    }
    return out;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined; // a comment: heartbeats
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
    }
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    if (this.id !== undefined) this.lastEventId = this.id === '' ? undefined : this.id;
    const event: SseEvent = { event: this.event || 'message', data: this.data.join('\n') };
    if (this.id !== undefined && this.id !== '') event.id = this.id;
    const hadData = this.data.length > 0;
    this.data = [];
    this.event = '';
    this.id = undefined;
    return hadData ? event : undefined;
  }
}

/** Delay before reconnect attempt `attempt` (0-based): exponential with full jitter,
 *  never below `minMs`, capped at `maxMs`. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** attempt);
  return Math.round(minMs + (ceiling - minMs) * random());
}

export interface EventStreamOptions {
  /** Called for every event, in order. */
  onEvent: (event: SseEvent) => void;
  /** Resume after this id on the first connection too. */
  lastEventId?: string;
  /** An event after which the stream is complete and closes itself (`end` for logs). */
  endEvent?: string;
  /** Called when the stream stops for good with an error (404, 403, a lost session). */
  onError?: (error: ApiError) => void;
  /** First reconnect delay (also the floor); the server's `retry:` raises it. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** No byte (not even a heartbeat comment) for this long counts as a dropped connection. */
  idleTimeoutMs?: number;
  client?: ApiClient;
}

type StateListener = (state: ConnectionState) => void;

/** A live stream. Starts connecting at once; call `close()` when done. */
export class EventStream {
  private stateValue: ConnectionState = 'connecting';
  private readonly listeners = new Set<StateListener>();
  private readonly parser: SseParser;
  private abort: AbortController | null = null;
  private reader: ReadableStreamDefaultReader<string> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private closed = false;
  private readonly client: ApiClient;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly idleTimeoutMs: number;

  constructor(
    readonly url: string,
    private readonly options: EventStreamOptions,
  ) {
    this.client = options.client ?? defaultClient;
    this.parser = new SseParser(options.lastEventId);
    this.minDelayMs = options.minDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 15_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
    void this.connect();
  }

  /** The current connection state. */
  get state(): ConnectionState {
    return this.stateValue;
  }

  /** The id of the last event received: where a reconnect resumes. */
  get lastEventId(): string | undefined {
    return this.parser.lastEventId;
  }

  /** Calls `listener` on every state change; returns an unsubscribe. */
  subscribe(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the stream for good. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort?.abort();
    void this.reader?.cancel().catch(() => {});
    this.setState('closed');
  }

  private setState(state: ConnectionState) {
    if (this.stateValue === state) return;
    this.stateValue = state;
    for (const listener of this.listeners) listener(state);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const abort = new AbortController();
    this.abort = abort;
    let idle: ReturnType<typeof setTimeout> | null = null;
    let reader: ReadableStreamDefaultReader<string> | null = null;
    const touch = () => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => {
        abort.abort();
        void reader?.cancel().catch(() => {});
      }, this.idleTimeoutMs);
    };
    try {
      const headers: Record<string, string> = { Accept: 'text/event-stream', 'Cache-Control': 'no-cache' };
      if (this.parser.lastEventId !== undefined) headers['Last-Event-ID'] = this.parser.lastEventId;
      touch();
      const res = await this.client.fetch(this.url, { headers, signal: abort.signal, cache: 'no-store' });
      if (!res.ok || !res.body) {
        const error = await toApiError(res);
        if (res.status === 429 || res.status >= 500) {
          this.retryLater(error.retryAfter ? error.retryAfter * 1000 : undefined);
        } else {
          this.fail(error);
        }
        return;
      }
      this.failures = 0;
      this.setState('open');
      reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      this.reader = reader;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        touch();
        for (const event of this.parser.feed(value)) {
          if (this.closed) return;
          this.options.onEvent(event);
          if (event.event === this.options.endEvent) {
            this.close();
            return;
          }
        }
      }
      this.retryLater();
    } catch (e) {
      if (this.closed) return;
      if (e instanceof ApiError && e.status !== 0) this.fail(e);
      else this.retryLater();
    } finally {
      if (idle) clearTimeout(idle);
      abort.abort();
    }
  }

  private retryLater(atLeastMs?: number) {
    if (this.closed) return;
    this.setState('reconnecting');
    const floor = Math.max(this.minDelayMs, this.parser.retryMs ?? 0);
    const delay = Math.max(atLeastMs ?? 0, backoffDelay(this.failures, floor, Math.max(floor, this.maxDelayMs)));
    this.failures += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }

  private fail(error: ApiError) {
    this.close();
    this.options.onError?.(error);
  }
}

/** Opens a stream at `url` (e.g. `/api/v1/orgs/acme/events`). */
export function openEventStream(url: string, options: EventStreamOptions): EventStream {
  return new EventStream(url, options);
}

/** URLs of the api's streams. */
export const streams = {
  /** Every create/update/delete the org can see; `reset` means "reload your state". */
  orgEvents: (org: string) => `/api/v1/orgs/${encodeURIComponent(org)}/events`,
  /** A process's log patches (`patch`, id = seq), then `end`. */
  processLogs: (org: string, processId: string) =>
    `/api/v1/orgs/${encodeURIComponent(org)}/processes/${encodeURIComponent(processId)}/logs/stream`,
  /** The attempt's whole diff (`diff`, id = version) now and on every change. */
  attemptDiff: (org: string, attemptId: string) =>
    `/api/v1/orgs/${encodeURIComponent(org)}/attempts/${encodeURIComponent(attemptId)}/diff/stream`,
};
