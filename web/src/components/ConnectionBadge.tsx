import type { ConnectionState } from '../api/sse';

const LABELS: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Offline',
};

/** Shows whether a stream is live. Announced politely to screen readers on change. */
export function ConnectionBadge({ state, label = 'Updates' }: { state: ConnectionState; label?: string }) {
  return (
    <span className={`badge badge-${state}`} role="status" aria-live="polite" data-state={state}>
      <span className="badge-dot" aria-hidden="true" />
      <span className="visually-hidden">{label}: </span>
      {LABELS[state]}
    </span>
  );
}
