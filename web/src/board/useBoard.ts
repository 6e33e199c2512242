// The board's data: loads the project, its members and its tasks, keeps them live from the
// org stream, and sends moves, creates, edits and deletes. The rules for what a card
// shows are in state.ts; this hook only does the I/O around them.
import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { allPages, api, errorMessage } from '../api/client';
import type { ConnectionState } from '../api/sse';
import { streams } from '../api/sse';
import type { Project, Schemas, Task, TaskStatus, UserInfo } from '../api/types';
import { useEventStream } from '../api/useEventStream';
import { COLUMN_NAMES } from './labels';
import {
  type BoardFilter,
  type BoardState,
  boardReducer,
  effectiveTask,
  emptyBoard,
  parseBoardEvent,
  planMove,
} from './state';

export type CreateTask = Schemas['CreateTask'];
export type UpdateTask = Schemas['UpdateTask'];

/** Most the api answers per page. */
const PAGE = 200;
/** Longest the first load waits for the stream to open (it opens first so that nothing
 *  that happens between reading the list and subscribing is missed). */
const STREAM_WAIT_MS = 1500;
/** Attempt lists fetched at once for cards scrolled into view. */
const ATTEMPT_FETCHES = 4;

export interface Board {
  state: BoardState;
  project: Project | null;
  /** Org members by user id, for assignees. */
  members: ReadonlyMap<string, UserInfo>;
  connection: ConnectionState;
  /** Why the task list could not be loaded (with `reload` to try again). */
  loadError: unknown;
  /** Why the project or members could not be loaded. */
  infoError: unknown;
  /** Why live updates stopped for good (they retry by themselves otherwise). */
  streamError: unknown;
  /** The last move the server refused, in words. */
  moveError: string | null;
  dismissMoveError: () => void;
  /** A short sentence for the live region after a move, create, edit or delete. */
  announcement: string;
  reload: () => void;
  /** Puts a card into `status` before the `index`-th other card shown there (`filter` is
   *  what the board shows). Optimistic; rolls back with `moveError` on failure. Returns
   *  false when the card would not move. */
  move: (taskId: string, status: TaskStatus, index: number, filter: BoardFilter) => boolean;
  create: (body: CreateTask) => Promise<Task>;
  update: (taskId: string, body: UpdateTask) => Promise<Task>;
  remove: (taskId: string) => Promise<void>;
  /** Asks for a task's latest attempt (batched, at most once per task). */
  wantAttempt: (taskId: string) => void;
}

/** Everything the board page needs for `org`'s project `projectId`. Mount it under a
 *  `key` of the project id: a new project is a new board. */
export function useBoard(org: string, projectId: string): Board {
  const [state, dispatch] = useReducer(boardReducer, projectId, emptyBoard);
  const stateRef = useRef(state);
  stateRef.current = state;

  const [project, setProject] = useState<Project | null>(null);
  const [members, setMembers] = useState<ReadonlyMap<string, UserInfo>>(new Map());
  const [infoError, setInfoError] = useState<unknown>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [streamError, setStreamError] = useState<unknown>(null);
  const [moveError, setMoveError] = useState<string | null>(null);
  const [announcement, setAnnouncement] = useState('');

  // --- The task list: every page; reloaded when the stream says its history is gone.
  const loadGeneration = useRef(0);
  const load = useCallback(async () => {
    const generation = ++loadGeneration.current;
    dispatch({ type: 'load-start' });
    setLoadError(null);
    try {
      const tasks: Task[] = [];
      let cursor: string | undefined;
      do {
        const page = await api.get('/api/v1/orgs/{org}/projects/{id}/tasks', {
          path: { org, id: projectId },
          query: { limit: PAGE, cursor },
        });
        tasks.push(...page.items);
        cursor = page.next_cursor ?? undefined;
      } while (cursor && generation === loadGeneration.current);
      if (generation === loadGeneration.current) dispatch({ type: 'load-done', tasks });
    } catch (e) {
      if (generation === loadGeneration.current) setLoadError(e);
    }
  }, [org, projectId]);

  // --- The org stream.
  // Whether the stream has given an event id to resume from. Until it has, a reconnect
  // starts from "now" and whatever happened while it was down would be missed, so the
  // list is read again instead.
  const resumable = useRef(false);
  const onEvent = useCallback(
    (event: { id?: string; event: string; data: string }) => {
      if (event.id) resumable.current = true;
      const parsed = parseBoardEvent(event);
      if (parsed === 'reset') void load();
      else if (parsed) {
        if (parsed.kind === 'project.updated' && parsed.data.id === projectId) {
          setProject((p) => (p ? { ...p, ...parsed.data } : p));
        }
        dispatch({ type: 'event', event: parsed });
      }
    },
    [load, projectId],
  );
  const connection = useEventStream(streams.orgEvents(org), onEvent, {
    onError: (e) => setStreamError(e),
  });

  // First load once the stream is subscribed (or failing, or slow to answer).
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    const start = () => {
      if (started.current) return;
      started.current = true;
      void load();
    };
    if (connection !== 'connecting') {
      start();
      return;
    }
    const timer = setTimeout(start, STREAM_WAIT_MS);
    return () => clearTimeout(timer);
  }, [connection, load]);

  const previous = useRef(connection);
  useEffect(() => {
    const before = previous.current;
    previous.current = connection;
    if (connection === 'open' && before === 'reconnecting' && started.current && !resumable.current) void load();
  }, [connection, load]);

  // --- The project and its org's members (names and avatars of assignees).
  useEffect(() => {
    const abort = new AbortController();
    setInfoError(null);
    api
      .get('/api/v1/orgs/{org}/projects/{id}', { path: { org, id: projectId }, signal: abort.signal })
      .then(setProject)
      .catch((e: unknown) => {
        if (!abort.signal.aborted) setInfoError(e);
      });
    (async () => {
      const found = new Map<string, UserInfo>();
      let cursor: string | undefined;
      do {
        const page = await api.get('/api/v1/orgs/{org}/members', {
          path: { org },
          query: { limit: PAGE, cursor },
          signal: abort.signal,
        });
        for (const m of page.items) found.set(m.user.id, m.user);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      setMembers(found);
    })().catch((e: unknown) => {
      if (!abort.signal.aborted) setInfoError(e);
    });
    return () => abort.abort();
  }, [org, projectId]);

  // --- Moves: optimistic, one request at a time per task so they land in order.
  const chains = useRef(new Map<string, Promise<void>>());
  const nextMutation = useRef(1);
  const move = useCallback(
    (taskId: string, status: TaskStatus, index: number, filter: BoardFilter) => {
      const updates = planMove(stateRef.current, taskId, status, index, filter);
      const moved = effectiveTask(stateRef.current, taskId);
      for (const u of updates) {
        const mutationId = nextMutation.current++;
        dispatch({ type: 'move-start', move: { mutationId, taskId: u.taskId, status: u.status, position: u.position } });
        const previous = chains.current.get(u.taskId) ?? Promise.resolve();
        const request = previous
          .then(() =>
            api.patch('/api/v1/orgs/{org}/tasks/{id}', {
              path: { org, id: u.taskId },
              body: { status: u.status, position: u.position },
            }),
          )
          .then(
            (task) => dispatch({ type: 'move-done', mutationId, task }),
            (e: unknown) => {
              dispatch({ type: 'move-failed', mutationId });
              const key = effectiveTask(stateRef.current, u.taskId)?.key ?? 'the task';
              const why = errorMessage(e);
              setMoveError(
                `Could not move ${key} to ${COLUMN_NAMES[u.status]}: ${why}${/[.!?]$/.test(why) ? '' : '.'} ` +
                  'It is back where it was.',
              );
            },
          );
        chains.current.set(u.taskId, request);
        void request.finally(() => {
          if (chains.current.get(u.taskId) === request) chains.current.delete(u.taskId);
        });
      }
      if (updates.length > 0 && moved) {
        setMoveError(null);
        setAnnouncement(`${moved.key} moved to ${COLUMN_NAMES[status]}.`);
      }
      return updates.length > 0;
    },
    [org],
  );

  // --- Create, edit, delete: wait for the server, then show its answer.
  const create = useCallback(
    async (body: CreateTask) => {
      const task = await api.post('/api/v1/orgs/{org}/projects/{id}/tasks', {
        path: { org, id: projectId },
        body,
        idempotencyKey: randomKey(),
      });
      dispatch({ type: 'task-saved', task });
      setAnnouncement(`${task.key} created in ${COLUMN_NAMES[task.status]}.`);
      return task;
    },
    [org, projectId],
  );

  const update = useCallback(
    async (taskId: string, body: UpdateTask) => {
      const task = await api.patch('/api/v1/orgs/{org}/tasks/{id}', { path: { org, id: taskId }, body });
      dispatch({ type: 'task-saved', task });
      setAnnouncement(`${task.key} saved.`);
      return task;
    },
    [org],
  );

  const remove = useCallback(
    async (taskId: string) => {
      const key = stateRef.current.tasks[taskId]?.key ?? 'The task';
      await api.delete('/api/v1/orgs/{org}/tasks/{id}', { path: { org, id: taskId } });
      dispatch({ type: 'task-removed', id: taskId });
      setAnnouncement(`${key} deleted.`);
    },
    [org],
  );

  // --- Latest attempts, fetched only for cards that come into view (and never for a
  // task whose attempt the stream already told us about).
  const requested = useRef(new Set<string>());
  const queue = useRef<string[]>([]);
  const running = useRef(0);
  const pump = useCallback(() => {
    while (running.current < ATTEMPT_FETCHES && queue.current.length > 0) {
      const taskId = queue.current.shift()!;
      if (stateRef.current.attempts[taskId] !== undefined || !stateRef.current.tasks[taskId]) continue;
      running.current += 1;
      allPages((cursor) =>
        api.get('/api/v1/orgs/{org}/tasks/{id}/attempts', {
          path: { org, id: taskId },
          query: { limit: PAGE, cursor },
        }),
      )
        .then((attempts) => dispatch({ type: 'attempts-loaded', taskId, attempts }))
        .catch(() => {
          // The card just shows no attempt; it is asked again when it next scrolls in.
          requested.current.delete(taskId);
        })
        .finally(() => {
          running.current -= 1;
          pump();
        });
    }
  }, [org]);
  const wantAttempt = useCallback(
    (taskId: string) => {
      if (requested.current.has(taskId) || stateRef.current.attempts[taskId] !== undefined) return;
      requested.current.add(taskId);
      queue.current.push(taskId);
      pump();
    },
    [pump],
  );

  return {
    state,
    project,
    members,
    connection,
    loadError,
    infoError,
    streamError,
    moveError,
    dismissMoveError: useCallback(() => setMoveError(null), []),
    announcement,
    reload: useCallback(() => void load(), [load]),
    move,
    create,
    update,
    remove,
    wantAttempt,
  };
}

/** A random idempotency key. `crypto.randomUUID` exists only in secure contexts, and a
 *  self-hosted install may be served over plain http on a LAN address. */
function randomKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
