import { describe, expect, it, vi } from 'vitest';
import { createClient } from './client';
import { type ConnectionState, EventStream, SseParser, type SseEvent, backoffDelay, streams } from './sse';

describe('SseParser', () => {
  it('parses events split anywhere, with any line ending', () => {
    const parser = new SseParser();
    const text = 'retry: 2000\n\nid: 1\nevent: patch\ndata: {"a":1}\n\n: keepalive\n\nid: 2\r\nevent: patch\r\ndata: x\r\ndata: y\r\n\r\nid: 3\revent: end\rdata: {}\r\r';
    const events: SseEvent[] = [];
    for (let i = 0; i < text.length; i += 3) events.push(...parser.feed(text.slice(i, i + 3)));
    expect(events).toEqual([
      { id: '1', event: 'patch', data: '{"a":1}' },
      { id: '2', event: 'patch', data: 'x\ny' },
      { id: '3', event: 'end', data: '{}' },
    ]);
    expect(parser.lastEventId).toBe('3');
    expect(parser.retryMs).toBe(2000);
  });

  it('ignores comments and events without data, keeps the last id, defaults the name', () => {
    const parser = new SseParser('7');
    expect(parser.feed(': keepalive\n\nevent: nothing\n\n')).toEqual([]);
    expect(parser.lastEventId).toBe('7');
    expect(parser.feed('data:no space\n\n')).toEqual([{ event: 'message', data: 'no space' }]);
    expect(parser.lastEventId).toBe('7');
    expect(parser.feed('id: 9\n\n')).toEqual([]);
    expect(parser.lastEventId).toBe('9');
  });
});

describe('backoffDelay', () => {
  it('grows exponentially within the floor and the cap', () => {
    expect(backoffDelay(0, 500, 15_000, () => 1)).toBe(500);
    expect(backoffDelay(3, 500, 15_000, () => 1)).toBe(4000);
    expect(backoffDelay(20, 500, 15_000, () => 1)).toBe(15_000);
    expect(backoffDelay(20, 500, 15_000, () => 0)).toBe(500);
  });
});

/** A response whose body is the given chunks, then either closes or stays open. */
function sseResponse(chunks: string[], { stayOpen = false } = {}) {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      if (!stayOpen) controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

/** A fake api: each connection gets the next answer; records the Last-Event-ID sent. */
function fakeServer(answers: Array<() => Response>) {
  const lastIds: Array<string | null> = [];
  const fetch = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
    lastIds.push(new Headers(init?.headers).get('Last-Event-ID'));
    const next = answers.shift();
    if (!next) return new Promise<Response>(() => {}); // hangs: nothing more to say
    return next();
  });
  return { client: createClient({ fetch: fetch as unknown as typeof globalThis.fetch }), lastIds, fetch };
}

function until(check: () => boolean, ms = 2000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) resolve();
      else if (Date.now() - start > ms) reject(new Error('timed out'));
      else setTimeout(tick, 2);
    };
    tick();
  });
}

describe('EventStream', () => {
  it('resumes after a drop from the last id, without gaps or duplicates', async () => {
    const { client, lastIds } = fakeServer([
      () => sseResponse(['retry: 1\n\n', 'id: 1\nevent: patch\ndata: a\n\n', ': keepalive\n\n', 'id: 2\nevent: patch\ndata: b\n\n']),
      () => sseResponse(['id: 3\nevent: patch\ndata: c\n\n', 'event: end\ndata: {"total":3}\n\n']),
    ]);
    const events: SseEvent[] = [];
    const states: ConnectionState[] = [];
    const stream = new EventStream('/api/v1/orgs/acme/processes/p/logs/stream', {
      client,
      onEvent: (e) => events.push(e),
      endEvent: 'end',
      minDelayMs: 1,
      maxDelayMs: 5,
    });
    stream.subscribe((s) => states.push(s));
    await until(() => stream.state === 'closed');
    expect(events.map((e) => e.data)).toEqual(['a', 'b', 'c', '{"total":3}']);
    expect(lastIds).toEqual([null, '2']);
    expect(states).toEqual(['open', 'reconnecting', 'open', 'closed']);
    expect(stream.lastEventId).toBe('3');
  });

  it('starts from a given id and retries after server errors', async () => {
    const { client, lastIds } = fakeServer([
      () => new Response('{"error":{"code":"unavailable","message":"down"}}', { status: 503 }),
      () => sseResponse(['id: 1-0\nevent: task.updated\ndata: {}\n\n'], { stayOpen: true }),
    ]);
    const events: SseEvent[] = [];
    const stream = new EventStream(streams.orgEvents('acme'), {
      client,
      lastEventId: '0-1',
      onEvent: (e) => events.push(e),
      minDelayMs: 1,
      maxDelayMs: 2,
    });
    await until(() => events.length === 1);
    expect(stream.state).toBe('open');
    expect(lastIds).toEqual(['0-1', '0-1']);
    stream.close();
    expect(stream.state).toBe('closed');
  });

  it('stops for good, with the error in words, when the stream is refused', async () => {
    const { client, fetch } = fakeServer([
      () => new Response('{"error":{"code":"not_found","message":"process not found"}}', { status: 404 }),
    ]);
    const onError = vi.fn();
    const stream = new EventStream('/x', { client, onEvent: () => {}, onError, minDelayMs: 1 });
    await until(() => stream.state === 'closed');
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ code: 'not_found', message: 'process not found' }));
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('treats a silent connection as dropped and reconnects', async () => {
    const { client, lastIds } = fakeServer([
      () => sseResponse(['id: 5\ndata: x\n\n'], { stayOpen: true }),
      () => sseResponse(['id: 6\ndata: y\n\n'], { stayOpen: true }),
    ]);
    const events: SseEvent[] = [];
    const stream = new EventStream('/x', {
      client,
      onEvent: (e) => events.push(e),
      idleTimeoutMs: 30,
      minDelayMs: 1,
      maxDelayMs: 2,
    });
    await until(() => events.length === 2);
    expect(lastIds).toEqual([null, '5']);
    stream.close();
  });

  it('builds the stream URLs of the api', () => {
    expect(streams.orgEvents('acme')).toBe('/api/v1/orgs/acme/events');
    expect(streams.processLogs('acme', 'p1')).toBe('/api/v1/orgs/acme/processes/p1/logs/stream');
    expect(streams.attemptDiff('acme', 'a1')).toBe('/api/v1/orgs/acme/attempts/a1/diff/stream');
  });
});
