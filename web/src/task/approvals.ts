// The tool calls of one attempt waiting for a team member's decision (supervised mode,
// docs/API.md): loaded from `GET …/attempts/{id}/approvals`, kept current by the org
// stream's `approval.requested` / `approval.decided` / `approval.resolved` events, and
// decided here with `POST …/approvals/{approval_id}`.
import type { OrgEvent, Schemas } from '../api/types';

export type PendingApproval = Schemas['PendingApproval'];

/** Where one approval stands on this page. */
export type ApprovalPhase =
  /** Waiting for someone. */
  | 'pending'
  /** Our decision is on its way. */
  | 'deciding'
  /** Our decision failed; `error` says why, and it can be tried again. */
  | 'failed';

export interface ApprovalItem {
  approval: PendingApproval;
  phase: ApprovalPhase;
  error?: string;
}

/** How a decided approval ended, for the tool call's card. */
export interface ApprovalOutcome {
  approve: boolean;
  reason?: string | null;
  /** `decided` by a person, or `resolved` by the worker (a timeout counts as a denial). */
  by: 'decided' | 'resolved';
  /** The agent's id of the tool call, when the approval was open on this page. */
  toolCallId?: string | null;
}

export interface ApprovalsState {
  /** The attempt these belong to; events of other attempts are ignored. */
  readonly attemptId: string;
  /** Open approvals, oldest request first. */
  readonly open: readonly ApprovalItem[];
  /** Approvals that ended while this page watched, by approval id. */
  readonly outcomes: ReadonlyMap<string, ApprovalOutcome>;
}

export type ApprovalsAction =
  | { type: 'loaded'; approvals: PendingApproval[] }
  | { type: 'requested'; approval: PendingApproval }
  | { type: 'decided'; id: string; attemptId?: string; approve: boolean; reason?: string | null }
  | { type: 'resolved'; id: string; attemptId?: string; approve: boolean }
  | { type: 'deciding'; id: string }
  | { type: 'decide-failed'; id: string; error: string };

export function initialApprovals(attemptId: string): ApprovalsState {
  return { attemptId, open: [], outcomes: new Map() };
}

const byRequest = (a: ApprovalItem, b: ApprovalItem) =>
  a.approval.requested_at < b.approval.requested_at ? -1 : a.approval.requested_at > b.approval.requested_at ? 1 : 0;

function close(state: ApprovalsState, id: string, outcome: ApprovalOutcome): ApprovalsState {
  const closing = state.open.find((item) => item.approval.id === id);
  const open = state.open.filter((item) => item !== closing);
  const outcomes = new Map(state.outcomes);
  const toolCallId = closing?.approval.tool_call_id ?? state.outcomes.get(id)?.toolCallId;
  // A person's decision says more (the reason) than the worker's resolution that follows.
  if (!(outcome.by === 'resolved' && outcomes.get(id)?.by === 'decided')) {
    outcomes.set(id, toolCallId ? { ...outcome, toolCallId } : outcome);
  }
  return { ...state, open, outcomes };
}

export function approvalsReducer(state: ApprovalsState, action: ApprovalsAction): ApprovalsState {
  switch (action.type) {
    case 'loaded': {
      // The list is the truth for what is open; keep our own in-flight or failed phase.
      const mine = action.approvals.filter((a) => a.attempt_id === state.attemptId && !state.outcomes.has(a.id));
      const open = mine
        .map((approval): ApprovalItem => {
          const known = state.open.find((item) => item.approval.id === approval.id);
          return known ? { ...known, approval } : { approval, phase: 'pending' };
        })
        .sort(byRequest);
      return { ...state, open };
    }
    case 'requested': {
      const a = action.approval;
      if (a.attempt_id !== state.attemptId || state.outcomes.has(a.id)) return state;
      if (state.open.some((item) => item.approval.id === a.id)) return state;
      return { ...state, open: [...state.open, { approval: a, phase: 'pending' as const }].sort(byRequest) };
    }
    case 'decided':
      if (action.attemptId && action.attemptId !== state.attemptId) return state;
      return close(state, action.id, { approve: action.approve, reason: action.reason ?? null, by: 'decided' });
    case 'resolved':
      if (action.attemptId && action.attemptId !== state.attemptId) return state;
      return close(state, action.id, { approve: action.approve, by: 'resolved' });
    case 'deciding':
    case 'decide-failed': {
      let found = false;
      const open = state.open.map((item) => {
        if (item.approval.id !== action.id) return item;
        found = true;
        return action.type === 'deciding'
          ? { approval: item.approval, phase: 'deciding' as const }
          : { approval: item.approval, phase: 'failed' as const, error: action.error };
      });
      return found ? { ...state, open } : state;
    }
  }
}

/** Turns an org stream event into an action on approvals, or null for other kinds. */
export function approvalActionFromEvent(event: OrgEvent): ApprovalsAction | null {
  switch (event.kind) {
    case 'approval.requested':
      return { type: 'requested', approval: event.data };
    case 'approval.decided': {
      const { id, attempt_id, approve, reason } = event.data;
      return { type: 'decided', id, attemptId: attempt_id, approve, reason: reason ?? null };
    }
    case 'approval.resolved': {
      const { id, attempt_id, approve } = event.data;
      return { type: 'resolved', id, attemptId: attempt_id, approve };
    }
    default:
      return null;
  }
}

/** Open approvals and outcomes by the agent's tool call id, for the conversation's cards. */
export function approvalsByToolCall(state: ApprovalsState): {
  open: Map<string, ApprovalItem>;
  outcomes: Map<string, ApprovalOutcome>;
} {
  const open = new Map<string, ApprovalItem>();
  for (const item of state.open) if (item.approval.tool_call_id) open.set(item.approval.tool_call_id, item);
  const outcomes = new Map<string, ApprovalOutcome>();
  for (const o of state.outcomes.values()) if (o.toolCallId) outcomes.set(o.toolCallId, o);
  return { open, outcomes };
}

/** The open approval for a tool call (matched by the agent's `tool_call_id`), if any. */
export function approvalForToolCall(state: ApprovalsState, toolCallId: string | null | undefined): ApprovalItem | undefined {
  if (!toolCallId) return undefined;
  return state.open.find((item) => item.approval.tool_call_id === toolCallId);
}
