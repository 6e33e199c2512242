// The live conversation of an attempt: every process's entries in one virtualized list.
//
// Virtualization: @tanstack/react-virtual renders only the rows in and near the viewport
// (plus `overscan`), absolutely positioned inside a spacer as tall as all rows. Heights are
// estimated per kind, then measured (`measureElement`, a ResizeObserver), so rows that
// grow in place (a tool call replaced with its output, a card opened) re-flow.
//
// Stick to bottom: while `following`, every change in row count or total height scrolls to
// the end after layout. Scrolling up (scrollTop decreasing, which neither growth nor the
// virtualizer's own corrections do at the bottom) stops following and shows "Jump to
// latest"; reaching the bottom again, by hand or with the button, resumes it.
import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { type ApprovalsState, approvalsByToolCall } from './approvals';
import { EntryView, type EntryViewProps } from './EntryView';
import { count as fmtCount, duration, PROCESS_STATUS, RUN_REASON } from './format';
import type { LogEntry } from './logState';
import type { ProcessLog } from './logsStore';

/** How close to the end (px) still counts as "at the bottom". */
const BOTTOM_SLACK = 48;

const ESTIMATE: Record<LogEntry['type'], number> = {
  output: 22,
  token_usage: 30,
  system_message: 30,
  thinking: 40,
  error: 48,
  user_message: 72,
  assistant_message: 72,
  tool_use: 56,
};

type Row = { kind: 'process'; p: number } | { kind: 'entry'; p: number; index: number };

export interface ConversationProps {
  logs: ProcessLog[];
  approvals: ApprovalsState;
  onReviewApproval: (approvalId: string) => void;
  /** Said when there is no process yet. */
  emptyText?: string;
}

export function Conversation({ logs, approvals, onReviewApproval, emptyText }: ConversationProps) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const [open, setOpen] = useState<ReadonlyMap<string, boolean>>(() => new Map());
  const [following, setFollowing] = useState(true);
  const followingRef = useRef(true);
  const lastTop = useRef(0);
  const [countAtLeave, setCountAtLeave] = useState(0);

  // Row i → (process, entry index): a header row per process, then its entries.
  const starts = useMemo(() => {
    const s: number[] = [];
    let n = 0;
    for (const l of logs) {
      s.push(n);
      n += 1 + l.log.entries.length;
    }
    s.push(n);
    return s;
  }, [logs]);
  const total = starts[starts.length - 1] ?? 0;
  const entryCount = total - logs.length;

  const rowAt = useCallback(
    (i: number): Row => {
      let p = 0;
      while (p + 1 < starts.length - 1 && (starts[p + 1] ?? 0) <= i) p++;
      const first = starts[p] ?? 0;
      return i === first ? { kind: 'process', p } : { kind: 'entry', p, index: i - first - 1 };
    },
    [starts],
  );

  // Called for every row whenever the row count changes: no allocation, no string keys.
  // Row keys are the default (the index): rows are only ever appended, so an index keeps
  // naming the same row and its measured height.
  const estimateSize = (i: number) => {
    let p = 0;
    while (p + 1 < logs.length && (starts[p + 1] ?? 0) <= i) p++;
    const first = starts[p] ?? 0;
    if (i === first) return 44;
    const entry = logs[p]?.log.entries[i - first - 1];
    return entry ? (ESTIMATE[entry.type] ?? 60) : 40;
  };

  const virtualizer = useVirtualizer({
    count: total,
    getScrollElement: () => scrollRef.current,
    estimateSize,
    overscan: 8,
    // Measurements of a frame's rows are applied in one render, not one render each: with
    // 100k rows every render recomputes the offsets after the first changed row.
    useFlushSync: false,
  });

  const totalSize = virtualizer.getTotalSize();

  const scrollToEnd = useCallback(() => {
    const el = scrollRef.current;
    if (!el) return;
    el.scrollTop = el.scrollHeight;
    lastTop.current = el.scrollTop;
  }, []);

  // Follow: after every render that changed the rows or their heights.
  useLayoutEffect(() => {
    if (followingRef.current && total > 0) scrollToEnd();
  }, [total, totalSize, scrollToEnd]);

  const setFollow = useCallback(
    (value: boolean) => {
      if (followingRef.current === value) return;
      followingRef.current = value;
      setFollowing(value);
      if (!value) setCountAtLeave(entryCount);
    },
    [entryCount],
  );

  const onScroll = useCallback(() => {
    const el = scrollRef.current;
    if (!el) return;
    const top = el.scrollTop;
    const atBottom = el.scrollHeight - top - el.clientHeight <= BOTTOM_SLACK;
    if (atBottom) setFollow(true);
    else if (top < lastTop.current - 1) setFollow(false);
    lastTop.current = top;
  }, [setFollow]);

  const jumpToLatest = () => {
    followingRef.current = true;
    setFollowing(true);
    if (total > 0) virtualizer.scrollToIndex(total - 1, { align: 'end' });
    requestAnimationFrame(scrollToEnd);
    scrollRef.current?.focus({ preventScroll: true });
  };

  // Switching attempts starts at the bottom again.
  const firstId = logs[0]?.process.id;
  useEffect(() => {
    followingRef.current = true;
    setFollowing(true);
    setOpen(new Map());
  }, [firstId]);

  const toggle = useCallback((key: string, value: boolean) => {
    setOpen((prev) => {
      const next = new Map(prev);
      next.set(key, value);
      return next;
    });
  }, []);

  const byToolCall = useMemo(() => approvalsByToolCall(approvals), [approvals]);
  const streaming = logs.some((l) => !l.log.ended);
  const items = virtualizer.getVirtualItems();

  return (
    <div className="conversation-wrap">
      <div
        ref={scrollRef}
        className="conversation"
        data-testid="conversation"
        role="feed"
        aria-label="Conversation"
        aria-busy={streaming}
        tabIndex={0}
        onScroll={onScroll}
      >
        {total === 0 && <p className="muted conversation-empty">{emptyText ?? 'Nothing yet.'}</p>}
        <div className="conversation-spacer" style={{ height: totalSize }}>
          {items.map((item) => {
            const row = rowAt(item.index);
            const pl = logs[row.p];
            if (!pl) return null;
            const style = { transform: `translateY(${item.start}px)` };
            if (row.kind === 'process') {
              return (
                <div
                  key={item.key}
                  ref={virtualizer.measureElement}
                  data-index={item.index}
                  className="conversation-row"
                  style={style}
                  role="article"
                  aria-posinset={item.index + 1}
                  aria-setsize={total}
                  data-testid="process"
                  data-status={pl.process.status}
                >
                  <ProcessHeader log={pl} />
                </div>
              );
            }
            const entry = pl.log.entries[row.index];
            if (!entry) return null;
            const key = `${pl.process.id}:${row.index}`;
            const toolCallId = entry.type === 'tool_use' ? entry.tool_call_id : null;
            return (
              <div
                key={item.key}
                ref={virtualizer.measureElement}
                data-index={item.index}
                className={`conversation-row entry entry-${entry.type}`}
                style={style}
                role="article"
                aria-posinset={item.index + 1}
                aria-setsize={total}
                data-testid="entry"
                data-kind={entry.type}
              >
                <EntryRow
                  rowKey={key}
                  entry={entry}
                  open={open.get(key)}
                  toggle={toggle}
                  approval={toolCallId ? byToolCall.open.get(toolCallId) : undefined}
                  outcome={toolCallId ? byToolCall.outcomes.get(toolCallId) : undefined}
                  onReviewApproval={onReviewApproval}
                />
              </div>
            );
          })}
        </div>
      </div>
      {!following && total > 0 && (
        <button type="button" className="button jump-latest" onClick={jumpToLatest}>
          Jump to latest
          {entryCount > countAtLeave ? ` (${fmtCount(entryCount - countAtLeave)} new)` : ''}
        </button>
      )}
    </div>
  );
}

/** An entry with a stable toggle, so unchanged rows skip rendering on every frame. */
const EntryRow = memo(function EntryRow({
  rowKey,
  toggle,
  ...props
}: Omit<EntryViewProps, 'onToggle'> & { rowKey: string; toggle: (key: string, open: boolean) => void }) {
  const onToggle = useCallback((v: boolean) => toggle(rowKey, v), [toggle, rowKey]);
  return <EntryView {...props} onToggle={onToggle} />;
});

function ProcessHeader({ log }: { log: ProcessLog }) {
  const p = log.process;
  return (
    <div className="process-head">
      <span className="process-name">{RUN_REASON[p.run_reason] ?? p.run_reason}</span>
      <span className={`pill pill-${p.status}`}>{PROCESS_STATUS[p.status] ?? p.status}</span>
      {p.started_at && <span className="muted">{duration(p.started_at, p.finished_at)}</span>}
      {typeof p.exit_code === 'number' && <span className={p.exit_code === 0 ? 'exit-ok' : 'exit-fail'}>exit {p.exit_code}</span>}
      {p.usage && (p.usage.input_tokens > 0 || p.usage.output_tokens > 0) && (
        <span className="muted">
          {fmtCount(p.usage.input_tokens)} in · {fmtCount(p.usage.output_tokens)} out
        </span>
      )}
      <span className="muted">{fmtCount(log.log.entries.length)} entries</span>
      {log.loading && <span className="muted">Loading…</span>}
      {p.failure_reason && <span className="exit-fail">{p.failure_reason}</span>}
      {log.error && (
        <span className="exit-fail" role="alert">
          {log.error}
        </span>
      )}
      {log.log.missing > 0 && (
        <span className="exit-fail">{fmtCount(log.log.missing)} log updates could not be received.</span>
      )}
    </div>
  );
}
