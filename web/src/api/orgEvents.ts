// The org stream's events as the dashboard reads them. Their types are generated from the
// server's `OrgEvent` enum (a `kind` and the `data` it fixes), so readers narrow on
// `kind` and trust `data`: there is one contract, checked when the types are generated.
import type { OrgEvent } from './types';

export type OrgEventKind = OrgEvent['kind'];
/** The event of one kind, its `data` typed. */
export type OrgEventOf<K extends OrgEventKind> = Extract<OrgEvent, { kind: K }>;

/** Every kind this build knows; the compiler fails when the schema gains or loses one. */
const KINDS: Record<OrgEventKind, true> = {
  'org.updated': true,
  'project.created': true,
  'project.updated': true,
  'project.deleted': true,
  'task.created': true,
  'task.updated': true,
  'task.deleted': true,
  'comment.created': true,
  'attempt.created': true,
  'attempt.updated': true,
  'process.created': true,
  'process.updated': true,
  'approval.requested': true,
  'approval.decided': true,
  'approval.resolved': true,
  'executor_profile.created': true,
  'executor_profile.updated': true,
  'executor_profile.deleted': true,
  'member.created': true,
  'member.updated': true,
  'member.deleted': true,
};

/** Reads an org stream frame's data: the event, or null when it is not JSON of a kind
 *  this build knows (a newer server may send kinds an open tab has never heard of). */
export function parseOrgEvent(data: string): OrgEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object' || !('data' in value)) return null;
  const { kind } = value as { kind?: unknown };
  return typeof kind === 'string' && Object.hasOwn(KINDS, kind) ? (value as OrgEvent) : null;
}

/** Whether `event` is one of `kinds`, narrowing its `data`. */
export function isKind<K extends OrgEventKind>(event: OrgEvent, ...kinds: K[]): event is OrgEventOf<K> {
  return (kinds as OrgEventKind[]).includes(event.kind);
}
