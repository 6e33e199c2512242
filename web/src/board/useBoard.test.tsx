import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConnectionState, SseEvent } from '../api/sse';
import type { Task } from '../api/types';
import { ApiError } from '../api/client';
import { boardColumns, NO_FILTER } from './state';

// The org stream, driven by the test: its connection state and its events.
const stream = vi.hoisted(() => ({
  onEvent: null as ((e: SseEvent) => void) | null,
  setState: null as ((s: ConnectionState) => void) | null,
}));
vi.mock('../api/useEventStream', () => ({
  useEventStream: (_url: string, onEvent: (e: SseEvent) => void) => {
    const [state, setState] = useState<ConnectionState>('connecting');
    stream.onEvent = onEvent;
    stream.setState = setState;
    return state;
  },
}));

// The api, answered by the test.
const api = vi.hoisted(() => ({ get: vi.fn(), post: vi.fn(), patch: vi.fn(), delete: vi.fn() }));
vi.mock('../api/client', async (original) => ({ ...(await original<object>()), api }));

const { useBoard } = await import('./useBoard');

function task(id: string, over: Partial<Task> = {}): Task {
  return {
    id,
    key: `SY-${id}`,
    title: `Task ${id}`,
    description: '',
    status: 'todo',
    position: Number(id) * 1000,
    priority: 'none',
    labels: [],
    assignee_ids: [],
    origin: 'ui',
    project_id: 'p',
    created_at: '2026-11-24T10:00:00Z',
    updated_at: '2026-11-24T10:00:00Z',
    ...over,
  };
}

let listCalls = 0;
let pages: { items: Task[]; next_cursor?: string }[] = [];

beforeEach(() => {
  listCalls = 0;
  pages = [{ items: [task('1'), task('2')] }];
  api.get.mockImplementation(async (path: string, options: { query?: { cursor?: string } }) => {
    if (path.endsWith('/tasks')) {
      listCalls += 1;
      const at = options.query?.cursor ? Number(options.query.cursor) : 0;
      return pages[at];
    }
    if (path.endsWith('/members')) return { items: [] };
    if (path.endsWith('/attempts')) return { items: [] };
    return { id: 'p', name: 'Project', key_prefix: 'SY', repository: { url: 'x' }, default_branch: 'main' };
  });
});

afterEach(() => {
  cleanup();
  vi.clearAllMocks();
});

async function openBoard() {
  const hook = renderHook(() => useBoard('acme', 'p'));
  act(() => stream.setState!('open'));
  await waitFor(() => expect(hook.result.current.state.ready).toBe(true));
  return hook;
}

const emit = (kind: string, data: unknown, id?: string) =>
  act(() => stream.onEvent!({ id, event: kind, data: JSON.stringify({ kind, data }) }));

describe('useBoard', () => {
  it('reads the list only once the stream is open, following every page', async () => {
    pages = [{ items: [task('1')], next_cursor: '1' }, { items: [task('2')] }];
    const hook = renderHook(() => useBoard('acme', 'p'));
    await act(async () => {});
    expect(listCalls).toBe(0);
    act(() => stream.setState!('open'));
    await waitFor(() => expect(hook.result.current.state.ready).toBe(true));
    expect(listCalls).toBe(2);
    expect(Object.keys(hook.result.current.state.tasks).sort()).toEqual(['1', '2']);
  });

  it('moves at once, sends the position, and keeps the answer', async () => {
    const { result } = await openBoard();
    let answer!: (t: Task) => void;
    api.patch.mockReturnValueOnce(new Promise((resolve) => (answer = resolve)));
    act(() => void result.current.move('1', 'done', 0, NO_FILTER));
    expect(boardColumns(result.current.state).done.map((t) => t.id)).toEqual(['1']);
    await waitFor(() => expect(api.patch).toHaveBeenCalledTimes(1));
    expect(api.patch.mock.calls[0]![1]).toMatchObject({ path: { org: 'acme', id: '1' }, body: { status: 'done', position: 1000 } });
    await act(async () => answer(task('1', { status: 'done', updated_at: '2026-11-24T10:00:01Z' })));
    expect(result.current.state.pending).toEqual([]);
    expect(result.current.state.tasks['1']?.status).toBe('done');
    expect(result.current.announcement).toBe('SY-1 moved to Done.');
  });

  it('rolls a refused move back and says why', async () => {
    const { result } = await openBoard();
    api.patch.mockRejectedValueOnce(new ApiError(409, 'conflict', 'Someone else moved it'));
    await act(async () => void result.current.move('1', 'inreview', 0, NO_FILTER));
    await waitFor(() => expect(result.current.moveError).not.toBeNull());
    expect(result.current.moveError).toBe('Could not move SY-1 to In review: Someone else moved it. It is back where it was.');
    expect(boardColumns(result.current.state).todo.map((t) => t.id)).toEqual(['1', '2']);
  });

  it('sends two moves of one card one after the other', async () => {
    const { result } = await openBoard();
    const answers: ((t: Task) => void)[] = [];
    api.patch.mockImplementation(() => new Promise((resolve) => answers.push(resolve)));
    act(() => void result.current.move('1', 'inprogress', 0, NO_FILTER));
    act(() => void result.current.move('1', 'done', 0, NO_FILTER));
    await waitFor(() => expect(api.patch).toHaveBeenCalledTimes(1));
    expect(boardColumns(result.current.state).done.map((t) => t.id)).toEqual(['1']);
    await act(async () => answers[0]!(task('1', { status: 'inprogress', updated_at: '2026-11-24T10:00:01Z' })));
    await waitFor(() => expect(api.patch).toHaveBeenCalledTimes(2));
    expect(api.patch.mock.calls[1]![1]).toMatchObject({ body: { status: 'done' } });
    // Still shown where the newest move put it.
    expect(boardColumns(result.current.state).done.map((t) => t.id)).toEqual(['1']);
    await act(async () => answers[1]!(task('1', { status: 'done', updated_at: '2026-11-24T10:00:02Z' })));
    expect(result.current.state.pending).toEqual([]);
  });

  it('applies org events and reloads the list on reset', async () => {
    const { result } = await openBoard();
    emit('task.created', task('3', { updated_at: '2026-11-24T10:00:05Z' }), '1-0');
    expect(result.current.state.tasks['3']).toBeDefined();
    pages = [{ items: [task('1')] }];
    act(() => stream.onEvent!({ event: 'reset', data: '{}' }));
    await waitFor(() => expect(listCalls).toBe(2));
    await waitFor(() => expect(Object.keys(result.current.state.tasks)).toEqual(['1']));
  });

  it('reads the list again after a reconnect with nothing to resume from, not after one with an id', async () => {
    await openBoard();
    act(() => stream.setState!('reconnecting'));
    act(() => stream.setState!('open'));
    await waitFor(() => expect(listCalls).toBe(2));

    emit('task.updated', task('1', { title: 'x', updated_at: '2026-11-24T10:00:09Z' }), '5-0');
    act(() => stream.setState!('reconnecting'));
    act(() => stream.setState!('open'));
    await act(async () => {});
    expect(listCalls).toBe(2);
  });

  it('creates with an idempotency key and shows the answer', async () => {
    const { result } = await openBoard();
    api.post.mockResolvedValueOnce(task('9', { title: 'New', updated_at: '2026-11-24T10:00:03Z' }));
    await act(async () => void (await result.current.create({ title: 'New' })));
    expect(api.post.mock.calls[0]![1].idempotencyKey).toMatch(/^[0-9a-f-]{32,36}$/);
    expect(result.current.state.tasks['9']?.title).toBe('New');
  });
});
