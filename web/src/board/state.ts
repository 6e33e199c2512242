// The board's state, as pure functions: what the server has confirmed, the moves this
// browser has made but the server has not answered yet, each task's latest attempt, and
// the rules that fold server events, answers and failures into it. The React side
// (useBoard.ts) only dispatches; everything that decides what a card shows lives here,
// so it is unit-tested without a browser (state.test.ts).
//
// Guarantees:
// - Events are idempotent and order-tolerant: a task (or attempt) is replaced only by a
//   version whose `updated_at` is not older than the one held, so a duplicate, a replay
//   after a reconnect, or an event that arrives after a newer answer changes nothing. An
//   event that changes nothing returns the very same state object (React skips the render).
// - A deleted task stays deleted: a late `task.updated` for it does not bring it back.
// - Events that arrive while the task list is loading are kept and applied on top of the
//   list once it arrives, so nothing that happened during the load is lost.
// - Optimistic moves are overlays on the confirmed state, not edits of it. A card shows
//   its newest pending move until that request settles, so the echo of an earlier move
//   (ours or anyone's) cannot make it jump. On success the answer is merged like any
//   event; on failure the overlay is dropped and the card shows the newest confirmed
//   state, which includes whatever other people changed meanwhile.
import type { Attempt, AttemptStatus, Schemas, Task, TaskStatus } from '../api/types';
import { type OrgEventOf, isKind, parseOrgEvent } from '../api/orgEvents';

export type TaskPriority = Schemas['TaskPriority'];

/** The board's columns, in board order (the server sorts its list the same way). */
export const STATUSES: readonly TaskStatus[] = ['todo', 'inprogress', 'inreview', 'done', 'cancelled'];

/** Gap the server leaves between appended cards (api/src/routes/tasks/mod.rs). */
export const POSITION_STEP = 1000;

/** What a card shows of the task's newest attempt. */
export interface LatestAttempt {
  id: string;
  status: AttemptStatus;
  created_at: string;
  updated_at: string;
}

/** A move sent to the server and not answered yet. */
export interface PendingMove {
  mutationId: number;
  taskId: string;
  status: TaskStatus;
  position: number;
}

/** An org stream event the board understands (`{"kind", "data"}` on the wire). */
const BOARD_KINDS = ['task.created', 'task.updated', 'task.deleted', 'attempt.created', 'attempt.updated', 'project.updated', 'project.deleted'] as const;
export type BoardEvent = OrgEventOf<(typeof BOARD_KINDS)[number]>;

export interface BoardState {
  projectId: string;
  /** Whether the task list has been loaded (events are buffered until it has). */
  ready: boolean;
  /** Events received while the list was loading, applied after it in order. */
  buffered: BoardEvent[];
  /** The newest confirmed version of every task of this project, by id. */
  tasks: Readonly<Record<string, Task>>;
  /** Ids of tasks deleted since the board opened: later updates for them are stale. */
  deleted: Readonly<Record<string, true>>;
  /** Moves in flight, oldest first. */
  pending: readonly PendingMove[];
  /** Each task's newest attempt: `null` once known to have none, absent when unknown. */
  attempts: Readonly<Record<string, LatestAttempt | null>>;
  /** Set when the project itself was deleted while the board was open. */
  projectDeleted: boolean;
}

export type BoardAction =
  /** A (re)load of the task list starts: events are buffered until `load-done`. */
  | { type: 'load-start' }
  /** The whole task list (every page). */
  | { type: 'load-done'; tasks: readonly Task[] }
  | { type: 'event'; event: BoardEvent }
  | { type: 'move-start'; move: PendingMove }
  /** The server accepted a move and answered the task. */
  | { type: 'move-done'; mutationId: number; task: Task }
  /** The server refused a move (or could not be reached): roll the card back. */
  | { type: 'move-failed'; mutationId: number }
  /** A create or edit answered by the server. */
  | { type: 'task-saved'; task: Task }
  /** A delete the server accepted. */
  | { type: 'task-removed'; id: string }
  /** `GET …/tasks/{id}/attempts` answered (oldest first). */
  | { type: 'attempts-loaded'; taskId: string; attempts: readonly Attempt[] };

/** A board with nothing loaded yet. */
export function emptyBoard(projectId: string): BoardState {
  return {
    projectId,
    ready: false,
    buffered: [],
    tasks: {},
    deleted: {},
    pending: [],
    attempts: {},
    projectDeleted: false,
  };
}

/** The reducer behind `useBoard`. Returns `state` itself when nothing changed. */
export function boardReducer(state: BoardState, action: BoardAction): BoardState {
  switch (action.type) {
    case 'load-start':
      return state.ready || state.buffered.length > 0 ? { ...state, ready: false, buffered: [] } : state;
    case 'load-done':
      return loadTasks(state, action.tasks);
    case 'event':
      if (!state.ready) return { ...state, buffered: [...state.buffered, action.event] };
      return applyEvent(state, action.event);
    case 'move-start':
      return { ...state, pending: [...state.pending, action.move] };
    case 'move-done':
      return mergeTask(keepForReload(dropPending(state, action.mutationId), action.task), action.task);
    case 'move-failed':
      return dropPending(state, action.mutationId);
    case 'task-saved':
      return mergeTask(keepForReload(state, action.task), action.task);
    case 'task-removed':
      return removeTask(state, action.id);
    case 'attempts-loaded':
      return attemptsLoaded(state, action.taskId, action.attempts);
  }
}

/** During a reload, an answer the server gave is also kept as if it were an event, so a
 *  list read before the write does not drop it. */
function keepForReload(state: BoardState, task: Task): BoardState {
  return state.ready ? state : { ...state, buffered: [...state.buffered, { kind: 'task.updated', data: task }] };
}

/** Replaces the confirmed tasks with a freshly loaded list, then applies the events that
 *  arrived while it loaded. A task held in a newer version than the list's keeps it. */
export function loadTasks(state: BoardState, list: readonly Task[]): BoardState {
  const tasks: Record<string, Task> = {};
  for (const task of list) {
    if (task.project_id !== state.projectId) continue;
    const held = tasks[task.id] ?? state.tasks[task.id];
    tasks[task.id] = held && isOlder(task.updated_at, held.updated_at) ? held : task;
  }
  // Deleted while the list loaded: the list may predate the deletion.
  const deleted = { ...state.deleted };
  for (const id of Object.keys(deleted)) delete tasks[id];
  let next: BoardState = { ...state, ready: true, buffered: [], tasks, deleted };
  for (const event of state.buffered) next = applyEvent(next, event);
  return next;
}

/** Folds one org event into the board. Events about other projects change nothing. */
export function applyEvent(state: BoardState, event: BoardEvent): BoardState {
  switch (event.kind) {
    case 'task.created':
    case 'task.updated': {
      const task = event.data;
      if (task.project_id !== state.projectId) {
        // A task that left this project (not possible today, harmless to handle).
        return state.tasks[task.id] ? removeTask(state, task.id) : state;
      }
      return mergeTask(state, task);
    }
    case 'task.deleted':
      return removeTask(state, event.data.id);
    case 'attempt.created':
    case 'attempt.updated': {
      const attempt = event.data;
      if (!state.tasks[attempt.task_id]) return state;
      return setAttempt(state, attempt.task_id, newestAttempt(state.attempts[attempt.task_id], attempt));
    }
    case 'project.deleted':
      return event.data.id === state.projectId && !state.projectDeleted ? { ...state, projectDeleted: true } : state;
    case 'project.updated':
      return state;
  }
}

/** Keeps `task` if it is not older than the version held (and was not deleted). */
export function mergeTask(state: BoardState, task: Task): BoardState {
  if (state.deleted[task.id] || task.project_id !== state.projectId) return state;
  const held = state.tasks[task.id];
  if (held && (isOlder(task.updated_at, held.updated_at) || sameTask(held, task))) return state;
  return { ...state, tasks: { ...state.tasks, [task.id]: task } };
}

function removeTask(state: BoardState, id: string): BoardState {
  if (state.deleted[id] && !state.tasks[id]) return state;
  const tasks = { ...state.tasks };
  delete tasks[id];
  const attempts = { ...state.attempts };
  delete attempts[id];
  return {
    ...state,
    tasks,
    attempts,
    deleted: { ...state.deleted, [id]: true },
    pending: state.pending.filter((m) => m.taskId !== id),
  };
}

function dropPending(state: BoardState, mutationId: number): BoardState {
  if (!state.pending.some((m) => m.mutationId === mutationId)) return state;
  return { ...state, pending: state.pending.filter((m) => m.mutationId !== mutationId) };
}

/** Two versions that would show the same card (same update, received twice). */
function sameTask(a: Task, b: Task): boolean {
  return (
    a.updated_at === b.updated_at &&
    a.status === b.status &&
    a.position === b.position &&
    a.title === b.title &&
    a.description === b.description &&
    a.priority === b.priority &&
    sameList(a.labels, b.labels) &&
    sameList(a.assignee_ids, b.assignee_ids)
  );
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// ---------------------------------------------------------------------------------------
// Attempts

/** The newer of what is held and `attempt`: a later attempt replaces an earlier one, a
 *  newer version of the same attempt replaces the older. */
export function newestAttempt(held: LatestAttempt | null | undefined, attempt: Attempt | LatestAttempt): LatestAttempt {
  const incoming: LatestAttempt = {
    id: attempt.id,
    status: attempt.status,
    created_at: attempt.created_at,
    updated_at: attempt.updated_at,
  };
  if (!held) return incoming;
  if (held.id === attempt.id) return isOlder(attempt.updated_at, held.updated_at) ? held : incoming;
  const byCreation = compareTime(attempt.created_at, held.created_at);
  if (byCreation !== 0) return byCreation > 0 ? incoming : held;
  return attempt.id > held.id ? incoming : held;
}

function attemptsLoaded(state: BoardState, taskId: string, list: readonly Attempt[]): BoardState {
  if (!state.tasks[taskId]) return state;
  let latest: LatestAttempt | null = state.attempts[taskId] ?? null;
  for (const attempt of list) latest = newestAttempt(latest, attempt);
  return setAttempt(state, taskId, latest);
}

function setAttempt(state: BoardState, taskId: string, latest: LatestAttempt | null): BoardState {
  const held = state.attempts[taskId];
  if (held === latest) return state;
  if (held && latest && held.id === latest.id && held.status === latest.status && held.updated_at === latest.updated_at) {
    return state;
  }
  return { ...state, attempts: { ...state.attempts, [taskId]: latest } };
}

// ---------------------------------------------------------------------------------------
// Time

/** Microseconds since the epoch of an RFC 3339 time (`…T12:00:00.123456Z`, any number of
 *  fraction digits, any offset). Strings cannot be compared as text: `.12Z` sorts after
 *  `.123Z`. Microseconds are what Postgres keeps and fit a double exactly. */
export function timeKey(time: string): number {
  const match = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/i.exec(time);
  if (!match) {
    const ms = Date.parse(time);
    return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms * 1000;
  }
  const [, whole = '', fraction = '', zone = 'Z'] = match;
  const seconds = Date.parse(`${whole}${zone}`);
  if (Number.isNaN(seconds)) return Number.NEGATIVE_INFINITY;
  const micros = Number((fraction + '000000').slice(0, 6));
  return seconds * 1000 + micros;
}

/** Orders two RFC 3339 times: negative when `a` is earlier. */
export function compareTime(a: string, b: string): number {
  return timeKey(a) - timeKey(b);
}

function isOlder(a: string, b: string): boolean {
  return compareTime(a, b) < 0;
}

// ---------------------------------------------------------------------------------------
// What the board shows

/** A task as this browser shows it: confirmed, with its newest pending move on top. */
export function effectiveTask(state: Pick<BoardState, 'tasks' | 'pending'>, id: string): Task | undefined {
  const task = state.tasks[id];
  if (!task) return undefined;
  let move: PendingMove | undefined;
  for (const m of state.pending) if (m.taskId === id) move = m;
  return move ? { ...task, status: move.status, position: move.position } : task;
}

/** Whether a task has a move in flight. */
export function isPending(state: Pick<BoardState, 'pending'>, id: string): boolean {
  return state.pending.some((m) => m.taskId === id);
}

/** Board order within a column: position, then id (as the server sorts). */
export function byPosition(a: Task, b: Task): number {
  return a.position - b.position || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export type Columns = Record<TaskStatus, Task[]>;

/** The cards of every column as shown (pending moves applied), filtered and in order. */
export function boardColumns(state: Pick<BoardState, 'tasks' | 'pending'>, filter: BoardFilter = NO_FILTER): Columns {
  const columns = emptyColumns();
  for (const id of Object.keys(state.tasks)) {
    const task = effectiveTask(state, id);
    if (task && matchesFilter(task, filter)) columns[task.status].push(task);
  }
  for (const status of STATUSES) columns[status].sort(byPosition);
  return columns;
}

function emptyColumns(): Columns {
  return { todo: [], inprogress: [], inreview: [], done: [], cancelled: [] };
}

/** `columns` with `taskId` taken out of its column and put into `status` before the
 *  `index`-th of that column's other cards: what the board shows while a card is dragged. */
export function previewMove(columns: Columns, taskId: string, status: TaskStatus, index: number): Columns {
  let moving: Task | undefined;
  const next = emptyColumns();
  for (const s of STATUSES) {
    next[s] = columns[s].filter((t) => {
      if (t.id !== taskId) return true;
      moving = t;
      return false;
    });
  }
  if (!moving) return columns;
  const target = next[status];
  const at = Math.max(0, Math.min(index, target.length));
  target.splice(at, 0, { ...moving, status });
  return next;
}

// ---------------------------------------------------------------------------------------
// Positions

/** A position strictly between `before` and `after` (either may be absent: the card goes
 *  to an end, one step past its neighbour; `POSITION_STEP` in an empty column), or
 *  `undefined` when no double lies strictly between them and the column needs renumbering. */
export function positionBetween(before?: number, after?: number): number | undefined {
  if (before === undefined && after === undefined) return POSITION_STEP;
  if (before === undefined) return beyond(after!, after! - POSITION_STEP);
  if (after === undefined) return beyond(before, before + POSITION_STEP);
  if (!(before < after)) return undefined;
  const mid = before + (after - before) / 2;
  return before < mid && mid < after ? mid : undefined;
}

/** `next` if it is finite and really differs from `from` (far out, adding a step to a
 *  huge position rounds back to it). */
function beyond(from: number, next: number): number | undefined {
  return Number.isFinite(next) && next !== from ? next : undefined;
}

/** One `PATCH {status, position}` a move needs. */
export interface PlannedUpdate {
  taskId: string;
  status: TaskStatus;
  position: number;
}

/** The updates that put `taskId` into column `status`, after `index` of that column's
 *  other cards *as shown* (`filter` hides some: the card lands between the two visible
 *  neighbours, wherever the hidden ones are). Usually one update; when no position fits
 *  between the neighbours, the whole column is renumbered `POSITION_STEP` apart and every
 *  card whose position changes gets an update. None when the card would not move. */
export function planMove(
  state: Pick<BoardState, 'tasks' | 'pending'>,
  taskId: string,
  status: TaskStatus,
  index: number,
  filter: BoardFilter = NO_FILTER,
): PlannedUpdate[] {
  const moving = effectiveTask(state, taskId);
  if (!moving) return [];
  const shown = boardColumns(state, filter)[status].filter((t) => t.id !== taskId);
  const at = Math.max(0, Math.min(index, shown.length));
  const before = shown[at - 1];
  const after = shown[at];
  if (
    moving.status === status &&
    (!before || byPosition(before, moving) < 0) &&
    (!after || byPosition(moving, after) < 0)
  ) {
    return [];
  }
  const position = positionBetween(before?.position, after?.position);
  if (position !== undefined) return [{ taskId, status, position }];

  // No room: renumber the whole column (hidden cards too), keeping its order.
  const column = boardColumns(state)[status].filter((t) => t.id !== taskId);
  let insertAt = column.length;
  if (before) insertAt = column.findIndex((t) => t.id === before.id) + 1;
  else if (after) insertAt = column.findIndex((t) => t.id === after.id);
  column.splice(insertAt, 0, moving);
  const updates: PlannedUpdate[] = [];
  column.forEach((task, i) => {
    const position = (i + 1) * POSITION_STEP;
    if (task.id === taskId || task.position !== position) updates.push({ taskId: task.id, status, position });
  });
  return updates;
}

// ---------------------------------------------------------------------------------------
// Filter and search

export interface BoardFilter {
  /** Words to find in the title or key (case-insensitive; every word must match). */
  text: string;
  /** Any of these priorities (none: any priority). */
  priorities: readonly TaskPriority[];
  /** Any of these labels (none: any). */
  labels: readonly string[];
  /** Any of these assignees by user id; `UNASSIGNED` matches tasks with none. */
  assignees: readonly string[];
}

/** The assignee filter value for tasks nobody is assigned to. */
export const UNASSIGNED = 'unassigned';

export const NO_FILTER: BoardFilter = { text: '', priorities: [], labels: [], assignees: [] };

/** Whether a filter hides anything. */
export function isFiltering(filter: BoardFilter): boolean {
  return (
    filter.text.trim() !== '' || filter.priorities.length > 0 || filter.labels.length > 0 || filter.assignees.length > 0
  );
}

/** Whether `task` passes `filter`: every facet that is set must match. */
export function matchesFilter(task: Task, filter: BoardFilter): boolean {
  if (filter.priorities.length > 0 && !filter.priorities.includes(task.priority)) return false;
  if (filter.labels.length > 0) {
    const labels = task.labels.map((l) => l.toLowerCase());
    if (!filter.labels.some((l) => labels.includes(l.toLowerCase()))) return false;
  }
  if (filter.assignees.length > 0) {
    const hit = filter.assignees.some((a) =>
      a === UNASSIGNED ? task.assignee_ids.length === 0 : task.assignee_ids.includes(a),
    );
    if (!hit) return false;
  }
  const words = filter.text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length > 0) {
    const haystack = `${task.key} ${task.title}`.toLowerCase();
    if (!words.every((w) => haystack.includes(w))) return false;
  }
  return true;
}

/** Every label on the board, sorted, for the label filter. */
export function boardLabels(state: Pick<BoardState, 'tasks'>): string[] {
  const seen = new Map<string, string>();
  for (const task of Object.values(state.tasks)) {
    for (const label of task.labels) if (!seen.has(label.toLowerCase())) seen.set(label.toLowerCase(), label);
  }
  return [...seen.values()].sort((a, b) => a.localeCompare(b));
}

// ---------------------------------------------------------------------------------------
// The wire

/** An org stream frame as the board reads it: a `BoardEvent`, `reset` (reload the list),
 *  or `null` for kinds the board does not use and for anything unreadable. */
export function parseBoardEvent(event: { event: string; data: string }): BoardEvent | 'reset' | null {
  if (event.event === 'reset') return 'reset';
  const parsed = parseOrgEvent(event.data);
  return parsed && isKind(parsed, ...BOARD_KINDS) ? parsed : null;
}
