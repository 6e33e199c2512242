import { useCallback, useMemo } from 'react';
import { useSearchParams } from 'react-router';
import type { UserInfo } from '../api/types';
import { PRIORITIES, PRIORITY_NAMES } from './labels';
import { type BoardFilter, isFiltering, type TaskPriority, UNASSIGNED } from './state';

/** The board's filter, kept in the URL (`?q=&priority=&label=&assignee=`) so a filtered
 *  board can be shared and survives a reload. */
export function useUrlFilter(): [BoardFilter, (next: BoardFilter) => void] {
  const [params, setParams] = useSearchParams();
  const filter = useMemo<BoardFilter>(
    () => ({
      text: params.get('q') ?? '',
      priorities: params.getAll('priority').filter((p): p is TaskPriority => (PRIORITIES as string[]).includes(p)),
      labels: params.getAll('label'),
      assignees: params.getAll('assignee'),
    }),
    [params],
  );
  const setFilter = useCallback(
    (next: BoardFilter) => {
      const out = new URLSearchParams();
      if (next.text) out.set('q', next.text);
      for (const p of next.priorities) out.append('priority', p);
      for (const l of next.labels) out.append('label', l);
      for (const a of next.assignees) out.append('assignee', a);
      setParams(out, { replace: true });
    },
    [setParams],
  );
  return [filter, setFilter];
}

interface Props {
  filter: BoardFilter;
  onChange: (next: BoardFilter) => void;
  labels: readonly string[];
  members: ReadonlyMap<string, UserInfo>;
  /** Cards shown and in all, for the screen-reader summary. */
  shown: number;
  total: number;
}

/** Search and filters above the board. */
export function FilterBar({ filter, onChange, labels, members, shown, total }: Props) {
  const people = [...members.values()].sort((a, b) => a.login.localeCompare(b.login));
  const filtering = isFiltering(filter);
  return (
    <form className="board-filters" role="search" aria-label="Filter tasks" onSubmit={(e) => e.preventDefault()}>
      <div className="board-filter-field board-filter-search">
        <label htmlFor="board-search">Search</label>
        <input
          id="board-search"
          type="search"
          placeholder="Title or key"
          value={filter.text}
          onChange={(e) => onChange({ ...filter, text: e.target.value })}
        />
      </div>
      <div className="board-filter-field">
        <label htmlFor="board-priority">Priority</label>
        <select
          id="board-priority"
          value={filter.priorities[0] ?? ''}
          onChange={(e) => onChange({ ...filter, priorities: e.target.value ? [e.target.value as TaskPriority] : [] })}
        >
          <option value="">Any</option>
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {PRIORITY_NAMES[p]}
            </option>
          ))}
        </select>
      </div>
      <div className="board-filter-field">
        <label htmlFor="board-label">Label</label>
        <select
          id="board-label"
          value={filter.labels[0] ?? ''}
          onChange={(e) => onChange({ ...filter, labels: e.target.value ? [e.target.value] : [] })}
        >
          <option value="">Any</option>
          {[...new Set([...labels, ...filter.labels])].map((l) => (
            <option key={l} value={l}>
              {l}
            </option>
          ))}
        </select>
      </div>
      <div className="board-filter-field">
        <label htmlFor="board-assignee">Assignee</label>
        <select
          id="board-assignee"
          value={filter.assignees[0] ?? ''}
          onChange={(e) => onChange({ ...filter, assignees: e.target.value ? [e.target.value] : [] })}
        >
          <option value="">Anyone</option>
          <option value={UNASSIGNED}>Unassigned</option>
          {people.map((u) => (
            <option key={u.id} value={u.id}>
              {u.name ? `${u.name} (${u.login})` : u.login}
            </option>
          ))}
        </select>
      </div>
      {filtering && (
        <button
          type="button"
          className="button button-quiet"
          onClick={() => onChange({ text: '', priorities: [], labels: [], assignees: [] })}
        >
          Clear filters
        </button>
      )}
      <p className="board-filter-summary muted" role="status" aria-live="polite">
        {filtering ? `${shown} of ${total} tasks shown` : ''}
      </p>
    </form>
  );
}
