// Words and numbers for the task view.
import type { AttemptStatus, TaskStatus } from '../api/types';
import type { Schemas } from '../api/types';

export const TASK_STATUS: Record<TaskStatus, string> = {
  todo: 'To do',
  inprogress: 'In progress',
  inreview: 'In review',
  done: 'Done',
  cancelled: 'Cancelled',
};

export const ATTEMPT_STATUS: Record<AttemptStatus, string> = {
  queued: 'Queued',
  scheduled: 'Scheduled',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export const PROCESS_STATUS: Record<Schemas['ProcessStatus'], string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  killed: 'Stopped',
};

export const RUN_REASON: Record<Schemas['RunReason'], string> = {
  setupscript: 'Setup script',
  codingagent: 'Coding agent',
  followup: 'Follow-up',
  cleanupscript: 'Cleanup script',
  devserver: 'Dev server',
};

export const TOOL_STATUS: Record<Schemas['ToolStatus'], string> = {
  created: 'Running',
  success: 'Done',
  failed: 'Failed',
  denied: 'Denied',
  pending_approval: 'Waiting for approval',
  timed_out: 'Timed out',
};

/** Whether an attempt may still change: it is waiting or running. */
export const isAttemptActive = (status: AttemptStatus) => status === 'queued' || status === 'scheduled' || status === 'running';

const integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
export const count = (n: number) => integer.format(n);

/** `$0.0123`: small costs keep their significant digits. */
export function usd(n: number): string {
  return n >= 1 ? `$${n.toFixed(2)}` : `$${n.toPrecision(2)}`;
}

/** "just now", "5 min ago", "3 h ago", then the date. */
export function ago(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  return new Date(t).toLocaleDateString();
}

/** "1 min 5 s" between two instants (or until now). */
export function duration(fromIso: string | null | undefined, toIso?: string | null, now = Date.now()): string {
  if (!fromIso) return '';
  const from = Date.parse(fromIso);
  const to = toIso ? Date.parse(toIso) : now;
  if (Number.isNaN(from) || Number.isNaN(to)) return '';
  const s = Math.max(0, Math.round((to - from) / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** The time of day of an entry, for its tooltip. */
export function clock(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '' : new Date(t).toLocaleTimeString();
}

/** A profile as an attempt names it: `claude-code`, or `claude-code:plan`. */
export function profileLabel(profile: Schemas['ResolvedProfile'] | null | undefined, executor: string): string {
  if (!profile) return executor;
  return profile.variant && profile.variant !== 'default' ? `${profile.profile}:${profile.variant}` : profile.profile;
}
