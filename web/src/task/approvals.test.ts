import { describe, expect, it } from 'vitest';
import {
  approvalActionFromEvent,
  approvalForToolCall,
  approvalsByToolCall,
  approvalsReducer,
  initialApprovals,
  type PendingApproval,
} from './approvals';

const ATTEMPT = '0190a000-0000-7000-8000-000000000001';
const OTHER = '0190a000-0000-7000-8000-000000000002';

const pending = (id: string, at: string, over: Partial<PendingApproval> = {}): PendingApproval => ({
  id,
  attempt_id: ATTEMPT,
  process_id: 'p1',
  tool_name: 'Bash',
  tool_call_id: `call-${id}`,
  input: { command: 'rm -rf build' },
  requested_at: at,
  expires_at: '2026-11-24T01:00:00Z',
  ...over,
});

describe('approvals', () => {
  it('loads the open approvals of its attempt, oldest first', () => {
    const s = approvalsReducer(initialApprovals(ATTEMPT), {
      type: 'loaded',
      approvals: [pending('b', '2026-11-24T00:00:02Z'), pending('a', '2026-11-24T00:00:01Z'), pending('x', '2026-11-24T00:00:00Z', { attempt_id: OTHER })],
    });
    expect(s.open.map((i) => i.approval.id)).toEqual(['a', 'b']);
    expect(s.open.every((i) => i.phase === 'pending')).toBe(true);
  });

  it('adds a requested approval once, and ignores other attempts', () => {
    let s = initialApprovals(ATTEMPT);
    const a = pending('a', '2026-11-24T00:00:01Z');
    s = approvalsReducer(s, { type: 'requested', approval: a });
    s = approvalsReducer(s, { type: 'requested', approval: a });
    s = approvalsReducer(s, { type: 'requested', approval: pending('x', '2026-11-24T00:00:00Z', { attempt_id: OTHER }) });
    expect(s.open.map((i) => i.approval.id)).toEqual(['a']);
  });

  it('tracks our decision: deciding, then failed with the reason in words', () => {
    let s = approvalsReducer(initialApprovals(ATTEMPT), { type: 'requested', approval: pending('a', '2026-11-24T00:00:01Z') });
    s = approvalsReducer(s, { type: 'deciding', id: 'a' });
    expect(s.open[0]?.phase).toBe('deciding');
    s = approvalsReducer(s, { type: 'decide-failed', id: 'a', error: 'You need the runs scope.' });
    expect(s.open[0]).toMatchObject({ phase: 'failed', error: 'You need the runs scope.' });
    // A reload keeps the failure shown.
    s = approvalsReducer(s, { type: 'loaded', approvals: [pending('a', '2026-11-24T00:00:01Z')] });
    expect(s.open[0]?.phase).toBe('failed');
  });

  it('closes an approval someone decided, remembering the outcome and reason', () => {
    let s = approvalsReducer(initialApprovals(ATTEMPT), { type: 'requested', approval: pending('a', '2026-11-24T00:00:01Z') });
    s = approvalsReducer(s, { type: 'decided', id: 'a', attemptId: ATTEMPT, approve: false, reason: 'not in prod' });
    expect(s.open).toEqual([]);
    expect(s.outcomes.get('a')).toEqual({ approve: false, reason: 'not in prod', by: 'decided', toolCallId: 'call-a' });
    // The worker's resolution that follows does not erase the reason.
    s = approvalsReducer(s, { type: 'resolved', id: 'a', attemptId: ATTEMPT, approve: false });
    expect(s.outcomes.get('a')?.reason).toBe('not in prod');
    // A late request event or a stale list does not reopen it.
    s = approvalsReducer(s, { type: 'requested', approval: pending('a', '2026-11-24T00:00:01Z') });
    s = approvalsReducer(s, { type: 'loaded', approvals: [pending('a', '2026-11-24T00:00:01Z')] });
    expect(s.open).toEqual([]);
  });

  it('a timeout resolves an approval as denied', () => {
    let s = approvalsReducer(initialApprovals(ATTEMPT), { type: 'requested', approval: pending('a', '2026-11-24T00:00:01Z') });
    s = approvalsReducer(s, { type: 'resolved', id: 'a', attemptId: ATTEMPT, approve: false });
    expect(s.open).toEqual([]);
    expect(s.outcomes.get('a')).toEqual({ approve: false, by: 'resolved', toolCallId: 'call-a' });
    expect(approvalsByToolCall(s).outcomes.get('call-a')?.approve).toBe(false);
  });

  it('a reload drops approvals that are no longer open', () => {
    let s = approvalsReducer(initialApprovals(ATTEMPT), { type: 'requested', approval: pending('a', '2026-11-24T00:00:01Z') });
    s = approvalsReducer(s, { type: 'loaded', approvals: [] });
    expect(s.open).toEqual([]);
  });

  it('ignores decisions for other attempts', () => {
    let s = approvalsReducer(initialApprovals(ATTEMPT), { type: 'requested', approval: pending('a', '2026-11-24T00:00:01Z') });
    s = approvalsReducer(s, { type: 'decided', id: 'a', attemptId: OTHER, approve: true });
    expect(s.open).toHaveLength(1);
  });

  it('reads org stream events', () => {
    const a = pending('a', '2026-11-24T00:00:01Z');
    expect(approvalActionFromEvent({ kind: 'approval.requested', data: a })).toEqual({ type: 'requested', approval: a });
    expect(approvalActionFromEvent({ kind: 'approval.decided', data: { id: 'a', attempt_id: ATTEMPT, approve: true, reason: null } })).toEqual({
      type: 'decided',
      id: 'a',
      attemptId: ATTEMPT,
      approve: true,
      reason: null,
    });
    expect(approvalActionFromEvent({ kind: 'approval.resolved', data: { id: 'a', attempt_id: ATTEMPT, approve: false } })).toEqual({
      type: 'resolved',
      id: 'a',
      attemptId: ATTEMPT,
      approve: false,
    });
    expect(approvalActionFromEvent({ kind: 'task.deleted', data: { id: 'a' } })).toBeNull();
  });

  it('finds the open approval of a tool call', () => {
    const s = approvalsReducer(initialApprovals(ATTEMPT), { type: 'requested', approval: pending('a', '2026-11-24T00:00:01Z') });
    expect(approvalForToolCall(s, 'call-a')?.approval.id).toBe('a');
    expect(approvalForToolCall(s, 'call-b')).toBeUndefined();
    expect(approvalForToolCall(s, null)).toBeUndefined();
  });
});
