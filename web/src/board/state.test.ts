import { describe, expect, it } from 'vitest';
import type { Attempt, Task } from '../api/types';
import {
  type BoardAction,
  type BoardEvent,
  type BoardState,
  NO_FILTER,
  POSITION_STEP,
  UNASSIGNED,
  boardColumns,
  boardLabels,
  boardReducer,
  compareTime,
  effectiveTask,
  emptyBoard,
  isFiltering,
  matchesFilter,
  parseBoardEvent,
  planMove,
  positionBetween,
  previewMove,
  timeKey,
} from './state';

const PROJECT = 'p1';

function task(id: string, over: Partial<Task> = {}): Task {
  return {
    id,
    key: `SY-${id}`,
    title: `Task ${id}`,
    description: '',
    status: 'todo',
    position: 1000,
    priority: 'none',
    labels: [],
    assignee_ids: [],
    origin: 'ui',
    project_id: PROJECT,
    created_at: '2026-11-24T10:00:00Z',
    updated_at: '2026-11-24T10:00:00Z',
    ...over,
  };
}

function attempt(id: string, taskId: string, over: Partial<Attempt> = {}): Attempt {
  return {
    id,
    task_id: taskId,
    status: 'queued',
    base_branch: 'main',
    branch: `sy/${id}`,
    executor: 'script',
    max_retries: 2,
    retry_count: 0,
    stop_requested: false,
    created_at: '2026-11-24T10:00:00Z',
    queued_at: '2026-11-24T10:00:00Z',
    updated_at: '2026-11-24T10:00:00Z',
    ...over,
  };
}

const at = (seconds: number) => `2026-11-24T10:00:${String(seconds).padStart(2, '0')}Z`;

function run(state: BoardState, ...actions: BoardAction[]): BoardState {
  return actions.reduce(boardReducer, state);
}

function loaded(...tasks: Task[]): BoardState {
  return run(emptyBoard(PROJECT), { type: 'load-start' }, { type: 'load-done', tasks });
}

const ev = (event: BoardEvent): BoardAction => ({ type: 'event', event });
const ids = (tasks: Task[]) => tasks.map((t) => t.id);

describe('time', () => {
  it('orders RFC 3339 times by instant, whatever the fraction digits', () => {
    // As text, ".12Z" sorts after ".123Z" and "00Z" after "00.5Z": both wrong.
    expect(compareTime('2026-11-24T10:00:00.12Z', '2026-11-24T10:00:00.123Z')).toBeLessThan(0);
    expect(compareTime('2026-11-24T10:00:00Z', '2026-11-24T10:00:00.5Z')).toBeLessThan(0);
    expect(compareTime('2026-11-24T10:00:00.000001Z', '2026-11-24T10:00:00Z')).toBe(1);
    expect(compareTime('2026-11-24T11:00:00+01:00', '2026-11-24T10:00:00Z')).toBe(0);
    expect(timeKey('not a time')).toBe(Number.NEGATIVE_INFINITY);
  });
});

describe('loading', () => {
  it('shows the listed tasks in columns by position', () => {
    const state = loaded(
      task('a', { position: 2000 }),
      task('b', { position: 1000 }),
      task('c', { status: 'done', position: 1000 }),
    );
    const columns = boardColumns(state);
    expect(ids(columns.todo)).toEqual(['b', 'a']);
    expect(ids(columns.done)).toEqual(['c']);
    expect(columns.inprogress).toEqual([]);
  });

  it('breaks position ties by id, as the server does', () => {
    const state = loaded(task('b', { position: 5 }), task('a', { position: 5 }));
    expect(ids(boardColumns(state).todo)).toEqual(['a', 'b']);
  });

  it('keeps events that arrive while the list loads and applies them after it', () => {
    let state = run(emptyBoard(PROJECT), { type: 'load-start' });
    state = run(
      state,
      ev({ kind: 'task.created', data: task('new', { updated_at: at(5) }) }),
      ev({ kind: 'task.updated', data: task('a', { title: 'renamed', updated_at: at(6) }) }),
      ev({ kind: 'task.deleted', data: { id: 'gone' } }),
    );
    expect(state.ready).toBe(false);
    // The list was read before those events happened.
    state = run(state, { type: 'load-done', tasks: [task('a', { updated_at: at(1) }), task('gone')] });
    expect(state.ready).toBe(true);
    expect(state.buffered).toEqual([]);
    expect(ids(boardColumns(state).todo).sort()).toEqual(['a', 'new']);
    expect(state.tasks.a?.title).toBe('renamed');
  });

  it('a reload keeps a version newer than the list and drops tasks deleted meanwhile', () => {
    let state = loaded(task('a'), task('b'));
    state = run(
      state,
      { type: 'load-start' },
      ev({ kind: 'task.updated', data: task('a', { title: 'newer', updated_at: at(9) }) }),
      ev({ kind: 'task.deleted', data: { id: 'b' } }),
      { type: 'load-done', tasks: [task('a', { updated_at: at(3) }), task('b')] },
    );
    expect(state.tasks.a?.title).toBe('newer');
    expect(state.tasks.b).toBeUndefined();
  });

  it('a save answered during a reload survives a list read before it', () => {
    let state = loaded(task('a'));
    state = run(
      state,
      { type: 'load-start' },
      { type: 'task-saved', task: task('mine', { updated_at: at(4) }) },
      { type: 'load-done', tasks: [task('a')] },
    );
    expect(state.tasks.mine).toBeDefined();
  });

  it('ignores tasks of other projects', () => {
    let state = loaded(task('a'), task('x', { project_id: 'other' }));
    expect(state.tasks.x).toBeUndefined();
    const before = state;
    state = run(state, ev({ kind: 'task.created', data: task('y', { project_id: 'other' }) }));
    expect(state).toBe(before);
  });
});

describe('server events', () => {
  it('adds created tasks and applies updates', () => {
    let state = loaded(task('a'));
    state = run(state, ev({ kind: 'task.created', data: task('b', { position: 2000, updated_at: at(1) }) }));
    state = run(state, ev({ kind: 'task.updated', data: task('a', { status: 'inprogress', updated_at: at(2) }) }));
    const columns = boardColumns(state);
    expect(ids(columns.todo)).toEqual(['b']);
    expect(ids(columns.inprogress)).toEqual(['a']);
  });

  it('a duplicate event changes nothing and returns the same state', () => {
    const update = ev({ kind: 'task.updated', data: task('a', { title: 'x', updated_at: at(2) }) });
    const once = run(loaded(task('a')), update);
    expect(run(once, update)).toBe(once);
    const deleted = run(once, ev({ kind: 'task.deleted', data: { id: 'a' } }));
    expect(run(deleted, ev({ kind: 'task.deleted', data: { id: 'a' } }))).toBe(deleted);
  });

  it('an older event arriving after a newer one is ignored', () => {
    let state = loaded(task('a'));
    state = run(
      state,
      ev({ kind: 'task.updated', data: task('a', { status: 'done', updated_at: at(9) }) }),
      ev({ kind: 'task.updated', data: task('a', { status: 'inreview', updated_at: at(5) }) }),
    );
    expect(state.tasks.a?.status).toBe('done');
  });

  it('applies events in any order to the same end state', () => {
    const events: BoardEvent[] = [
      { kind: 'task.updated', data: task('a', { status: 'inprogress', updated_at: at(1) }) },
      { kind: 'task.updated', data: task('a', { status: 'inreview', updated_at: at(2) }) },
      { kind: 'task.created', data: task('b', { updated_at: at(3) }) },
      { kind: 'task.updated', data: task('b', { position: 500, updated_at: at(4) }) },
      { kind: 'task.deleted', data: { id: 'c' } },
    ];
    const forward = run(loaded(task('a'), task('c')), ...events.map(ev));
    const backward = run(loaded(task('a'), task('c')), ...[...events].reverse().map(ev));
    expect(boardColumns(backward)).toEqual(boardColumns(forward));
    expect(forward.tasks.a?.status).toBe('inreview');
    expect(forward.tasks.b?.position).toBe(500);
  });

  it('a late update does not resurrect a deleted task', () => {
    let state = loaded(task('a'));
    state = run(
      state,
      ev({ kind: 'task.deleted', data: { id: 'a' } }),
      ev({ kind: 'task.updated', data: task('a', { updated_at: at(30) }) }),
    );
    expect(state.tasks.a).toBeUndefined();
    expect(boardColumns(state).todo).toEqual([]);
  });

  it('marks the board when its project is deleted', () => {
    const state = run(loaded(task('a')), ev({ kind: 'project.deleted', data: { id: PROJECT } }));
    expect(state.projectDeleted).toBe(true);
    expect(run(loaded(), ev({ kind: 'project.deleted', data: { id: 'other' } })).projectDeleted).toBe(false);
  });
});

describe('latest attempt', () => {
  it('is unknown until loaded, then null when the task has none', () => {
    let state = loaded(task('a'));
    expect(state.attempts.a).toBeUndefined();
    state = run(state, { type: 'attempts-loaded', taskId: 'a', attempts: [] });
    expect(state.attempts.a).toBeNull();
  });

  it('is the newest attempt of a loaded list', () => {
    const state = run(loaded(task('a')), {
      type: 'attempts-loaded',
      taskId: 'a',
      attempts: [
        attempt('1', 'a', { status: 'failed', created_at: at(1) }),
        attempt('2', 'a', { status: 'running', created_at: at(2) }),
      ],
    });
    expect(state.attempts.a).toMatchObject({ id: '2', status: 'running' });
  });

  it('follows attempt events, newer versions only, and a newer attempt replaces an older', () => {
    let state = loaded(task('a'));
    state = run(
      state,
      ev({ kind: 'attempt.created', data: attempt('1', 'a', { created_at: at(1), updated_at: at(1) }) }),
      ev({ kind: 'attempt.updated', data: attempt('1', 'a', { status: 'running', created_at: at(1), updated_at: at(3) }) }),
      ev({ kind: 'attempt.updated', data: attempt('1', 'a', { status: 'scheduled', created_at: at(1), updated_at: at(2) }) }),
    );
    expect(state.attempts.a?.status).toBe('running');
    state = run(state, ev({ kind: 'attempt.updated', data: attempt('0', 'a', { status: 'cancelled', created_at: at(0) }) }));
    expect(state.attempts.a?.id).toBe('1');
    state = run(state, ev({ kind: 'attempt.created', data: attempt('2', 'a', { created_at: at(5), updated_at: at(5) }) }));
    expect(state.attempts.a).toMatchObject({ id: '2', status: 'queued' });
  });

  it('a list read before an attempt event does not undo it', () => {
    let state = loaded(task('a'));
    state = run(
      state,
      ev({ kind: 'attempt.updated', data: attempt('2', 'a', { status: 'succeeded', created_at: at(2), updated_at: at(8) }) }),
      {
        type: 'attempts-loaded',
        taskId: 'a',
        attempts: [attempt('1', 'a', { created_at: at(1) }), attempt('2', 'a', { status: 'running', created_at: at(2), updated_at: at(4) })],
      },
    );
    expect(state.attempts.a).toMatchObject({ id: '2', status: 'succeeded' });
  });

  it('ignores attempts of tasks not on the board, and repeated events', () => {
    const state = loaded(task('a'));
    expect(run(state, ev({ kind: 'attempt.created', data: attempt('1', 'zzz') }))).toBe(state);
    const once = run(state, ev({ kind: 'attempt.created', data: attempt('1', 'a') }));
    expect(run(once, ev({ kind: 'attempt.created', data: attempt('1', 'a') }))).toBe(once);
  });
});

describe('optimistic moves', () => {
  const base = () => loaded(task('a', { position: 1000 }), task('b', { position: 2000 }), task('c', { status: 'done', position: 1000 }));

  it('move the card at once', () => {
    const state = run(base(), { type: 'move-start', move: { mutationId: 1, taskId: 'a', status: 'done', position: 2000 } });
    const columns = boardColumns(state);
    expect(ids(columns.todo)).toEqual(['b']);
    expect(ids(columns.done)).toEqual(['c', 'a']);
    // The confirmed state is untouched until the server answers.
    expect(state.tasks.a?.status).toBe('todo');
  });

  it('the own echo arriving before the answer does not make the card jump', () => {
    let state = run(base(), { type: 'move-start', move: { mutationId: 1, taskId: 'a', status: 'done', position: 2000 } });
    const echo = task('a', { status: 'done', position: 2000, updated_at: at(5) });
    state = run(state, ev({ kind: 'task.updated', data: echo }));
    expect(ids(boardColumns(state).done)).toEqual(['c', 'a']);
    state = run(state, { type: 'move-done', mutationId: 1, task: echo });
    expect(state.pending).toEqual([]);
    expect(ids(boardColumns(state).done)).toEqual(['c', 'a']);
  });

  it('the own echo arriving after the answer changes nothing', () => {
    const echo = task('a', { status: 'done', position: 2000, updated_at: at(5) });
    let state = run(
      base(),
      { type: 'move-start', move: { mutationId: 1, taskId: 'a', status: 'done', position: 2000 } },
      { type: 'move-done', mutationId: 1, task: echo },
    );
    const settled = state;
    state = run(state, ev({ kind: 'task.updated', data: echo }));
    expect(state).toBe(settled);
  });

  it('the echo of an earlier move does not pull the card back while a later move is in flight', () => {
    let state = run(
      base(),
      { type: 'move-start', move: { mutationId: 1, taskId: 'a', status: 'inprogress', position: 1000 } },
      { type: 'move-start', move: { mutationId: 2, taskId: 'a', status: 'done', position: 2000 } },
    );
    const first = task('a', { status: 'inprogress', position: 1000, updated_at: at(5) });
    state = run(state, ev({ kind: 'task.updated', data: first }), { type: 'move-done', mutationId: 1, task: first });
    expect(effectiveTask(state, 'a')?.status).toBe('done');
    const second = task('a', { status: 'done', position: 2000, updated_at: at(6) });
    state = run(state, { type: 'move-done', mutationId: 2, task: second });
    expect(effectiveTask(state, 'a')?.status).toBe('done');
    expect(state.pending).toEqual([]);
  });

  it('roll back on failure to where the card was', () => {
    const before = boardColumns(base());
    const state = run(
      base(),
      { type: 'move-start', move: { mutationId: 7, taskId: 'a', status: 'done', position: 2000 } },
      { type: 'move-failed', mutationId: 7 },
    );
    expect(boardColumns(state)).toEqual(before);
  });

  it('roll back to the newest confirmed state, including what others changed meanwhile', () => {
    const state = run(
      base(),
      { type: 'move-start', move: { mutationId: 1, taskId: 'a', status: 'done', position: 2000 } },
      ev({ kind: 'task.updated', data: task('a', { status: 'inreview', position: 300, updated_at: at(4) }) }),
      { type: 'move-failed', mutationId: 1 },
    );
    expect(effectiveTask(state, 'a')).toMatchObject({ status: 'inreview', position: 300 });
  });

  it('an answer older than a change someone else made meanwhile does not win', () => {
    const state = run(
      base(),
      { type: 'move-start', move: { mutationId: 1, taskId: 'a', status: 'done', position: 2000 } },
      ev({ kind: 'task.updated', data: task('a', { status: 'cancelled', updated_at: at(9) }) }),
      { type: 'move-done', mutationId: 1, task: task('a', { status: 'done', position: 2000, updated_at: at(5) }) },
    );
    expect(effectiveTask(state, 'a')?.status).toBe('cancelled');
  });

  it('a task deleted by someone else while moving disappears and its move is dropped', () => {
    const state = run(
      base(),
      { type: 'move-start', move: { mutationId: 1, taskId: 'a', status: 'done', position: 2000 } },
      ev({ kind: 'task.deleted', data: { id: 'a' } }),
    );
    expect(state.pending).toEqual([]);
    expect(ids(boardColumns(state).done)).toEqual(['c']);
    expect(run(state, { type: 'move-failed', mutationId: 1 })).toBe(state);
  });
});

describe('positions', () => {
  it('between two neighbours is their middle', () => {
    expect(positionBetween(1000, 2000)).toBe(1500);
    expect(positionBetween(-5, 5)).toBe(0);
  });

  it('at the ends is one step past the neighbour, and a step in an empty column', () => {
    expect(positionBetween(undefined, undefined)).toBe(POSITION_STEP);
    expect(positionBetween(3000, undefined)).toBe(4000);
    expect(positionBetween(undefined, 1000)).toBe(0);
    expect(positionBetween(undefined, 0)).toBe(-1000);
  });

  it('is undefined when no number fits between the neighbours', () => {
    expect(positionBetween(1, 1)).toBeUndefined();
    expect(positionBetween(2, 1)).toBeUndefined();
    expect(positionBetween(1, 1 + Number.EPSILON)).toBeUndefined();
    expect(positionBetween(Number.MAX_VALUE, undefined)).toBeUndefined();
  });

  const column = () =>
    loaded(
      task('a', { position: 1000 }),
      task('b', { position: 2000 }),
      task('c', { position: 3000 }),
      task('d', { status: 'done', position: 1000 }),
    );

  it('plans a move into another column between, before or after its cards', () => {
    expect(planMove(column(), 'd', 'todo', 0)).toEqual([{ taskId: 'd', status: 'todo', position: 0 }]);
    expect(planMove(column(), 'd', 'todo', 1)).toEqual([{ taskId: 'd', status: 'todo', position: 1500 }]);
    expect(planMove(column(), 'd', 'todo', 3)).toEqual([{ taskId: 'd', status: 'todo', position: 4000 }]);
    expect(planMove(column(), 'a', 'inreview', 0)).toEqual([{ taskId: 'a', status: 'inreview', position: 1000 }]);
  });

  it('plans a reorder within a column, and nothing when the card stays put', () => {
    // index counts the column's other cards: a after b and c.
    expect(planMove(column(), 'a', 'todo', 2)).toEqual([{ taskId: 'a', status: 'todo', position: 4000 }]);
    expect(planMove(column(), 'c', 'todo', 1)).toEqual([{ taskId: 'c', status: 'todo', position: 1500 }]);
    expect(planMove(column(), 'b', 'todo', 1)).toEqual([]);
    expect(planMove(column(), 'a', 'todo', 0)).toEqual([]);
  });

  it('places among visible neighbours when a filter hides cards', () => {
    const filter = { ...NO_FILTER, text: 'task c' };
    // Only c shows in todo; dropping d before it puts d before c, after the hidden a and b.
    const [update] = planMove(column(), 'd', 'todo', 0, filter);
    expect(update!.position).toBe(2000);
  });

  it('renumbers the column when the neighbours leave no room', () => {
    const state = loaded(
      task('a', { position: 1 }),
      task('b', { position: 1 + Number.EPSILON }),
      task('c', { position: 5000 }),
      task('d', { status: 'done' }),
    );
    const updates = planMove(state, 'd', 'todo', 1);
    expect(updates).toEqual([
      { taskId: 'a', status: 'todo', position: 1000 },
      { taskId: 'd', status: 'todo', position: 2000 },
      { taskId: 'b', status: 'todo', position: 3000 },
      { taskId: 'c', status: 'todo', position: 4000 },
    ]);
  });

  it('renumbering skips cards already in place', () => {
    const state = loaded(task('a', { position: 1000 }), task('b', { position: 1000 }), task('d', { status: 'done' }));
    // a and b tie at 1000 (concurrent creates): nothing fits between them.
    expect(planMove(state, 'd', 'todo', 1)).toEqual([
      { taskId: 'd', status: 'todo', position: 2000 },
      { taskId: 'b', status: 'todo', position: 3000 },
    ]);
  });

  it('plans from what is shown, pending moves included', () => {
    const state = run(column(), { type: 'move-start', move: { mutationId: 1, taskId: 'c', status: 'done', position: 2000 } });
    expect(planMove(state, 'd', 'todo', 2)).toEqual([{ taskId: 'd', status: 'todo', position: 3000 }]);
  });

  it('previews a dragged card in its new place', () => {
    const columns = boardColumns(column());
    const preview = previewMove(columns, 'a', 'done', 1);
    expect(ids(preview.todo)).toEqual(['b', 'c']);
    expect(ids(preview.done)).toEqual(['d', 'a']);
    expect(preview.done[1]?.status).toBe('done');
    expect(previewMove(columns, 'nope', 'done', 0)).toBe(columns);
  });
});

describe('filter and search', () => {
  const t = task('1', {
    key: 'SY-42',
    title: 'Fix the login page',
    priority: 'high',
    labels: ['Bug', 'frontend'],
    assignee_ids: ['u1'],
  });

  it('matches everything without a filter', () => {
    expect(matchesFilter(t, NO_FILTER)).toBe(true);
    expect(isFiltering(NO_FILTER)).toBe(false);
    expect(isFiltering({ ...NO_FILTER, text: '  ' })).toBe(false);
  });

  it('searches the title and key, case-insensitively, every word', () => {
    expect(matchesFilter(t, { ...NO_FILTER, text: 'sy-42' })).toBe(true);
    expect(matchesFilter(t, { ...NO_FILTER, text: 'LOGIN' })).toBe(true);
    expect(matchesFilter(t, { ...NO_FILTER, text: 'login fix' })).toBe(true);
    expect(matchesFilter(t, { ...NO_FILTER, text: 'login signup' })).toBe(false);
    expect(isFiltering({ ...NO_FILTER, text: 'x' })).toBe(true);
  });

  it('filters by priority, label and assignee, each facet any-of, all facets together', () => {
    expect(matchesFilter(t, { ...NO_FILTER, priorities: ['high', 'urgent'] })).toBe(true);
    expect(matchesFilter(t, { ...NO_FILTER, priorities: ['low'] })).toBe(false);
    expect(matchesFilter(t, { ...NO_FILTER, labels: ['bug'] })).toBe(true);
    expect(matchesFilter(t, { ...NO_FILTER, labels: ['backend'] })).toBe(false);
    expect(matchesFilter(t, { ...NO_FILTER, assignees: ['u2', 'u1'] })).toBe(true);
    expect(matchesFilter(t, { ...NO_FILTER, assignees: [UNASSIGNED] })).toBe(false);
    expect(matchesFilter(task('2'), { ...NO_FILTER, assignees: [UNASSIGNED] })).toBe(true);
    expect(matchesFilter(t, { ...NO_FILTER, priorities: ['high'], labels: ['backend'] })).toBe(false);
  });

  it('filters the columns', () => {
    const state = loaded(t, task('2', { title: 'Other' }));
    expect(ids(boardColumns(state, { ...NO_FILTER, text: 'login' }).todo)).toEqual(['1']);
  });

  it('lists the board labels once each, sorted', () => {
    const state = loaded(t, task('2', { labels: ['bug', 'api'] }));
    expect(boardLabels(state)).toEqual(['api', 'Bug', 'frontend']);
  });
});

describe('parseBoardEvent', () => {
  it('reads task, attempt and project events and the reset', () => {
    const data = task('a');
    expect(parseBoardEvent({ event: 'task.updated', data: JSON.stringify({ kind: 'task.updated', data }) })).toEqual({
      kind: 'task.updated',
      data,
    });
    expect(parseBoardEvent({ event: 'reset', data: '{}' })).toBe('reset');
    expect(parseBoardEvent({ event: 'task.deleted', data: '{"kind":"task.deleted","data":{"id":"a"}}' })).toEqual({
      kind: 'task.deleted',
      data: { id: 'a' },
    });
  });

  it('skips kinds the board does not use and anything unreadable', () => {
    expect(parseBoardEvent({ event: 'process.updated', data: '{"kind":"process.updated","data":{"id":"x"}}' })).toBeNull();
    expect(parseBoardEvent({ event: 'task.updated', data: 'not json' })).toBeNull();
    expect(parseBoardEvent({ event: 'x', data: 'null' })).toBeNull();
  });
});
