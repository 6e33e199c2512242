import { describe, expect, it } from 'vitest';
import {
  actionFilter,
  type AuditEvent,
  auditReducer,
  describeTarget,
  initialAuditState,
  mergeAuditEvents,
  statusKind,
} from './audit';

const event = (id: string, at: string, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  id,
  action: 'tasks.update',
  actor_label: 'ada',
  actor_type: 'user',
  created_at: at,
  method: 'PATCH',
  path: '/api/v1/orgs/acme/tasks/x',
  status: 200,
  ...extra,
});

describe('mergeAuditEvents', () => {
  it('keeps each event once, newest first', () => {
    const a = event('a', '2026-01-03T00:00:00Z');
    const b = event('b', '2026-01-02T00:00:00Z');
    const c = event('c', '2026-01-01T00:00:00Z');
    expect(mergeAuditEvents([a, b], [b, c]).map((e) => e.id)).toEqual(['a', 'b', 'c']);
    expect(mergeAuditEvents([c], [a]).map((e) => e.id)).toEqual(['a', 'c']);
  });

  it('orders events of one instant by id, newest (largest) first', () => {
    const at = '2026-01-01T00:00:00Z';
    expect(mergeAuditEvents([event('01', at)], [event('02', at)]).map((e) => e.id)).toEqual(['02', '01']);
  });
});

describe('auditReducer', () => {
  const page = (ids: string[], next?: string) => ({
    items: ids.map((id, i) => event(id, `2026-01-0${9 - i}T00:00:00Z`)),
    next_cursor: next ?? null,
  });

  it('loads a first page and then more', () => {
    let s = auditReducer(initialAuditState, { type: 'start', request: 1, action: '', more: false });
    s = auditReducer(s, { type: 'page', request: 1, page: page(['a', 'b'], 'c1') });
    expect(s).toMatchObject({ loaded: true, cursor: 'c1', pending: null });
    s = auditReducer(s, { type: 'start', request: 2, action: '', more: true });
    expect(s.events).toHaveLength(2);
    s = auditReducer(s, { type: 'page', request: 2, page: { items: [event('c', '2026-01-01T00:00:00Z')] } });
    expect(s.events.map((e) => e.id)).toEqual(['a', 'b', 'c']);
    expect(s.cursor).toBeNull();
  });

  it('starts over on a new filter and drops answers to the old one', () => {
    let s = auditReducer(initialAuditState, { type: 'start', request: 1, action: '', more: false });
    s = auditReducer(s, { type: 'start', request: 2, action: 'tokens.create', more: false });
    s = auditReducer(s, { type: 'page', request: 1, page: page(['stale']) });
    expect(s.events).toEqual([]);
    expect(s.loaded).toBe(false);
    s = auditReducer(s, { type: 'page', request: 2, page: page(['t']) });
    expect(s.events.map((e) => e.id)).toEqual(['t']);
    expect(s.action).toBe('tokens.create');
  });

  it('treats "more" under another filter as a new filter', () => {
    let s = auditReducer(initialAuditState, { type: 'start', request: 1, action: '', more: false });
    s = auditReducer(s, { type: 'page', request: 1, page: page(['a'], 'c') });
    s = auditReducer(s, { type: 'start', request: 2, action: 'x.y', more: true });
    expect(s.events).toEqual([]);
  });

  it('keeps the rows when loading more fails, and drops stale failures', () => {
    let s = auditReducer(initialAuditState, { type: 'start', request: 1, action: '', more: false });
    s = auditReducer(s, { type: 'page', request: 1, page: page(['a'], 'c') });
    s = auditReducer(s, { type: 'start', request: 2, action: '', more: true });
    expect(auditReducer(s, { type: 'failed', request: 1, error: 'old' })).toBe(s);
    s = auditReducer(s, { type: 'failed', request: 2, error: 'boom' });
    expect(s).toMatchObject({ error: 'boom', pending: null, cursor: 'c' });
    expect(s.events).toHaveLength(1);
  });
});

describe('audit helpers', () => {
  it('normalizes the filter', () => {
    expect(actionFilter('  ')).toBeUndefined();
    expect(actionFilter(' tasks.update ')).toBe('tasks.update');
  });
  it('classifies statuses', () => {
    expect(statusKind(201)).toBe('ok');
    expect(statusKind(409)).toBe('client-error');
    expect(statusKind(503)).toBe('server-error');
  });
  it('describes targets', () => {
    expect(describeTarget(event('a', 'x', { target_type: 'tasks', target_id: '42' }))).toBe('tasks 42');
    expect(describeTarget(event('a', 'x', { target_type: 'projects' }))).toBe('projects');
    expect(describeTarget(event('a', 'x', { method: 'PATCH', path: '/api/v1/orgs/acme' }))).toBe('PATCH /api/v1/orgs/acme');
  });
});
