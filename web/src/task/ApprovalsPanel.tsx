// Tool calls waiting for a decision, above the conversation: what the agent wants to run,
// and Approve / Deny (with a reason the agent is told).
import { useEffect, useId, useState } from 'react';
import type { ApprovalItem } from './approvals';

export interface ApprovalsPanelProps {
  items: readonly ApprovalItem[];
  canDecide: boolean;
  onDecide: (id: string, approve: boolean, reason: string | null) => void;
  /** The approval to bring into view and focus (from a tool card's "Review"). */
  focusId: string | null;
}

export function ApprovalsPanel({ items, canDecide, onDecide, focusId }: ApprovalsPanelProps) {
  if (items.length === 0) return null;
  return (
    <section className="approvals" aria-labelledby="approvals-heading">
      <h3 id="approvals-heading">
        {items.length === 1 ? 'A tool call waits for approval' : `${items.length} tool calls wait for approval`}
      </h3>
      <ul className="approvals-list">
        {items.map((item) => (
          <ApprovalCard key={item.approval.id} item={item} canDecide={canDecide} onDecide={onDecide} focus={focusId === item.approval.id} />
        ))}
      </ul>
    </section>
  );
}

function inputText(input: unknown): string {
  if (input === null || input === undefined) return '';
  if (typeof input === 'string') return input;
  if (typeof input === 'object') {
    const o = input as Record<string, unknown>;
    // The common shapes first: a command, a path.
    if (typeof o.command === 'string' && Object.keys(o).length <= 2) return o.command;
  }
  try {
    return JSON.stringify(input, null, 2);
  } catch {
    return String(input);
  }
}

function ApprovalCard({
  item,
  canDecide,
  onDecide,
  focus,
}: {
  item: ApprovalItem;
  canDecide: boolean;
  onDecide: ApprovalsPanelProps['onDecide'];
  focus: boolean;
}) {
  const [reason, setReason] = useState('');
  const id = useId();
  const a = item.approval;
  const busy = item.phase === 'deciding';
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  useEffect(() => {
    if (focus) {
      const el = document.getElementById(`${id}-card`);
      el?.scrollIntoView({ block: 'nearest' });
      el?.focus({ preventScroll: true });
    }
  }, [focus, id]);
  const left = Math.max(0, Math.round((Date.parse(a.expires_at) - now) / 1000));

  return (
    <li id={`${id}-card`} className="approval-card" tabIndex={-1} aria-labelledby={`${id}-title`} data-testid="approval">
      <p id={`${id}-title`} className="approval-title">
        <strong>{a.tool_name}</strong>
        {Number.isFinite(left) && (
          <span className="muted">
            {' '}
            · {left > 0 ? `denied automatically in ${left >= 120 ? `${Math.round(left / 60)} min` : `${left} s`}` : 'timing out'}
          </span>
        )}
      </p>
      <pre className="tool-pre" id={`${id}-input`} aria-label="What the tool would run">
        {inputText(a.input)}
      </pre>
      {canDecide ? (
        <div className="approval-actions">
          <label htmlFor={`${id}-reason`} className="visually-hidden">
            Reason for denying (told to the agent)
          </label>
          <input
            id={`${id}-reason`}
            placeholder="Reason for denying (optional)"
            value={reason}
            maxLength={2000}
            onChange={(e) => setReason(e.target.value)}
            disabled={busy}
          />
          <button
            type="button"
            className="button button-primary"
            disabled={busy}
            aria-describedby={`${id}-title ${id}-input`}
            onClick={() => onDecide(a.id, true, null)}
          >
            Approve
          </button>
          <button
            type="button"
            className="button button-danger"
            disabled={busy}
            aria-describedby={`${id}-title ${id}-input`}
            onClick={() => onDecide(a.id, false, reason.trim() || null)}
          >
            Deny
          </button>
          {busy && (
            <span className="muted" role="status">
              Sending…
            </span>
          )}
        </div>
      ) : (
        <p className="muted">Viewers cannot decide approvals.</p>
      )}
      {item.phase === 'failed' && item.error && (
        <p className="notice notice-error" role="alert">
          {item.error}
        </p>
      )}
    </li>
  );
}
