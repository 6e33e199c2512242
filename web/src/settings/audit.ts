// The audit log's paging: pages merged newest first without duplicates, and answers to
// an older filter (or an older "Load more") dropped, so a quick filter change never
// shows another filter's rows.
import type { Schemas } from '../api/types';

export type AuditEvent = Schemas['AuditEvent'];
export type AuditPage = Schemas['Page_AuditEvent'];

export const AUDIT_PAGE_SIZE = 50;

/** Actions the log records, for the filter's suggestions (`resource.verb`, from the
 *  route: api/src/audit.rs). Any other action can still be typed. */
export const AUDIT_ACTIONS: readonly string[] = [
  'orgs.update',
  'members.update',
  'members.delete',
  'invitations.create',
  'invitations.delete',
  'tokens.create',
  'tokens.delete',
  'secrets.put',
  'secrets.delete',
  'executor-profiles.create',
  'executor-profiles.update',
  'executor-profiles.delete',
  'projects.create',
  'projects.update',
  'projects.delete',
  'tasks.create',
  'tasks.update',
  'tasks.delete',
  'attempts.create',
  'attempts.stop',
  'attempts.follow-up',
  'approvals.create',
];

/** Newest first: by time, then by id (UUIDv7, time-ordered) for events of one instant. */
function newestFirst(a: AuditEvent, b: AuditEvent): number {
  const t = Date.parse(b.created_at) - Date.parse(a.created_at);
  if (t !== 0 && !Number.isNaN(t)) return t;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** `existing` and `incoming` as one list, newest first, each event once (a page can
 *  overlap the previous one when events arrive between the two requests). */
export function mergeAuditEvents(existing: readonly AuditEvent[], incoming: readonly AuditEvent[]): AuditEvent[] {
  const byId = new Map<string, AuditEvent>();
  for (const e of existing) byId.set(e.id, e);
  for (const e of incoming) byId.set(e.id, e);
  return [...byId.values()].sort(newestFirst);
}

export interface AuditState {
  /** The action filter the rows are for ('' for every action). */
  action: string;
  events: AuditEvent[];
  /** Where the next page starts; null when the last page has been read. */
  cursor: string | null;
  /** Whether the first page has arrived. */
  loaded: boolean;
  /** The request whose answer is awaited (answers to any other are stale). */
  pending: number | null;
  error: unknown;
}

export type AuditAction =
  | { type: 'start'; request: number; action: string; more: boolean }
  | { type: 'page'; request: number; page: AuditPage }
  | { type: 'failed'; request: number; error: unknown };

export const initialAuditState: AuditState = {
  action: '',
  events: [],
  cursor: null,
  loaded: false,
  pending: null,
  error: null,
};

export function auditReducer(state: AuditState, action: AuditAction): AuditState {
  switch (action.type) {
    case 'start':
      if (action.more && action.action === state.action) {
        return { ...state, pending: action.request, error: null };
      }
      // A new filter (or a reload) starts over.
      return { ...initialAuditState, action: action.action, pending: action.request };
    case 'page':
      if (action.request !== state.pending) return state;
      return {
        ...state,
        events: mergeAuditEvents(state.events, action.page.items),
        cursor: action.page.next_cursor ?? null,
        loaded: true,
        pending: null,
        error: null,
      };
    case 'failed':
      if (action.request !== state.pending) return state;
      return { ...state, pending: null, error: action.error };
  }
}

/** The action filter as the query wants it: trimmed, absent when empty. */
export function actionFilter(value: string): string | undefined {
  const v = value.trim();
  return v ? v : undefined;
}

export type StatusKind = 'ok' | 'client-error' | 'server-error';

/** The outcome class of an answered status, for its badge. */
export function statusKind(status: number): StatusKind {
  if (status >= 500) return 'server-error';
  if (status >= 400) return 'client-error';
  return 'ok';
}

/** The event's target in words: "tasks 0199…", or the method and path when it has none. */
export function describeTarget(event: AuditEvent): string {
  if (event.target_type && event.target_id) return `${event.target_type} ${event.target_id}`;
  if (event.target_type) return event.target_type;
  return `${event.method} ${event.path}`;
}
