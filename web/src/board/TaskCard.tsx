import { useSortable } from '@dnd-kit/sortable';
import { CSS } from '@dnd-kit/utilities';
import { memo, useCallback, useEffect, useRef } from 'react';
import { Link } from 'react-router';
import type { Task, TaskStatus, UserInfo } from '../api/types';
import { links } from '../links';
import { ATTEMPT_NAMES, COLUMN_NAMES, PRIORITY_NAMES } from './labels';
import { type LatestAttempt, STATUSES } from './state';

/** Where the "Move to…" menu sends a card: another column (its end), or the top or
 *  bottom of its own. */
export type MoveTarget = TaskStatus | 'top' | 'bottom';

export interface CardProps {
  task: Task;
  org: string;
  members: ReadonlyMap<string, UserInfo>;
  attempt: LatestAttempt | null | undefined;
  /** A move of this card is waiting for the server. */
  pending: boolean;
  canWrite: boolean;
  onMove: (task: Task, target: MoveTarget) => void;
  onEdit: (task: Task) => void;
  /** Observes the card for lazy attempt loading (an IntersectionObserver's `observe`). */
  observer: IntersectionObserver | null;
  /** Put focus on the card's menu or drag handle once it renders (after it moved by
   *  keyboard), or nothing. */
  takeFocus: FocusTarget | null;
  onFocusTaken: () => void;
}

export type FocusTarget = 'menu' | 'handle';

/** A card on the board: draggable (pointer, touch or keyboard through its handle), with a
 *  "Move to…" menu as the non-drag way, and a link to the task. */
export const SortableCard = memo(function SortableCard(props: CardProps) {
  const { task, canWrite, observer, takeFocus, onFocusTaken } = props;
  const { attributes, listeners, setNodeRef, setActivatorNodeRef, transform, transition, isDragging } = useSortable({
    id: task.id,
    data: { status: task.status },
    disabled: !canWrite,
  });
  const ref = useCallback(
    (el: HTMLLIElement | null) => {
      setNodeRef(el);
      if (!el || !observer) return;
      observer.observe(el);
      return () => {
        observer.unobserve(el);
        setNodeRef(null);
      };
    },
    [setNodeRef, observer],
  );
  const menu = useRef<HTMLSelectElement>(null);
  const handle = useRef<HTMLButtonElement | null>(null);
  const handleRef = useCallback(
    (el: HTMLButtonElement | null) => {
      setActivatorNodeRef(el);
      handle.current = el;
    },
    [setActivatorNodeRef],
  );
  useEffect(() => {
    if (takeFocus) {
      (takeFocus === 'handle' ? handle.current : menu.current)?.focus();
      onFocusTaken();
    }
  }, [takeFocus, onFocusTaken]);

  return (
    <li
      ref={ref}
      className={`board-card${isDragging ? ' is-dragging' : ''}${props.pending ? ' is-pending' : ''}`}
      style={{ transform: CSS.Translate.toString(transform), transition }}
      data-testid={`card-${task.key}`}
      data-task-id={task.id}
      data-status={task.status}
      data-attempt={props.attempt?.status ?? ''}
      aria-busy={props.pending || undefined}
      aria-labelledby={`card-title-${task.id}`}
      {...(canWrite ? listeners : {})}
    >
      <CardBody
        {...props}
        handle={
          canWrite ? (
            <button
              type="button"
              ref={handleRef}
              className="board-card-handle"
              {...attributes}
              aria-roledescription="draggable card"
              aria-label={`Drag ${task.key}`}
            >
              <span aria-hidden="true">⠿</span>
            </button>
          ) : null
        }
        menuRef={menu}
      />
    </li>
  );
});

interface BodyProps extends Pick<CardProps, 'task' | 'org' | 'members' | 'attempt' | 'canWrite'> {
  onMove?: CardProps['onMove'];
  onEdit?: CardProps['onEdit'];
  handle?: React.ReactNode;
  menuRef?: React.Ref<HTMLSelectElement>;
  /** The copy that follows the pointer while dragging: no controls. */
  overlay?: boolean;
}

/** What a card shows; shared by the card and the copy under the pointer while dragging. */
export function CardBody({ task, org, members, attempt, canWrite, onMove, onEdit, handle, menuRef, overlay }: BodyProps) {
  const stop = (e: React.SyntheticEvent) => e.stopPropagation();
  return (
    <>
      <div className="board-card-top">
        <span className="board-card-key mono">{task.key}</span>
        {task.priority !== 'none' && (
          <span className={`board-card-priority board-priority-${task.priority}`}>
            <span className="visually-hidden">Priority: </span>
            {PRIORITY_NAMES[task.priority]}
          </span>
        )}
        {handle}
      </div>
      <h3 className="board-card-heading" id={overlay ? undefined : `card-title-${task.id}`}>
        {overlay ? (
          task.title
        ) : (
          <Link to={links.task(org, task.id)} draggable={false}>
            <span className="visually-hidden">{task.key}: </span>
            {task.title}
          </Link>
        )}
      </h3>
      {task.labels.length > 0 && (
        // Named by hidden text, not aria-label, so that getByLabel('Labels') finds only the
        // dialog's field.
        <div className="board-card-labels">
          <span className="visually-hidden">Labels: </span>
          <ul>
            {task.labels.map((label) => (
              <li key={label} className="board-card-label">
                {label}
              </li>
            ))}
          </ul>
        </div>
      )}
      {(task.assignee_ids.length > 0 || attempt) && (
        <div className="board-card-meta">
          <Assignees ids={task.assignee_ids} members={members} />
          {attempt && (
            <span className={`board-card-attempt board-attempt-${attempt.status}`} data-testid={overlay ? undefined : `attempt-${task.key}`}>
              <span className="board-attempt-dot" aria-hidden="true" />
              Attempt {ATTEMPT_NAMES[attempt.status].toLowerCase()}
            </span>
          )}
        </div>
      )}
      {canWrite && !overlay && onMove && onEdit && (
        // Pointer and touch presses on the controls must not start a drag.
        <div className="board-card-actions" onMouseDown={stop} onTouchStart={stop}>
          <select
            ref={menuRef}
            className="board-card-move"
            aria-label={`Move ${task.key} to…`}
            data-testid={`move-${task.key}`}
            value=""
            onChange={(e) => {
              const target = e.target.value as MoveTarget | '';
              if (target) onMove(task, target);
            }}
          >
            <option value="">Move to…</option>
            {STATUSES.filter((s) => s !== task.status).map((s) => (
              <option key={s} value={s}>
                {COLUMN_NAMES[s]}
              </option>
            ))}
            <option value="top">Top of {COLUMN_NAMES[task.status]}</option>
            <option value="bottom">Bottom of {COLUMN_NAMES[task.status]}</option>
          </select>
          <button type="button" className="button button-quiet board-card-edit" onClick={() => onEdit(task)}>
            Edit<span className="visually-hidden"> {task.key}</span>
          </button>
        </div>
      )}
    </>
  );
}

function Assignees({ ids, members }: { ids: readonly string[]; members: ReadonlyMap<string, UserInfo> }) {
  if (ids.length === 0) return <span />;
  const people = ids.map((id) => ({ id, user: members.get(id) }));
  const names = people.map((p) => p.user?.name || p.user?.login || 'someone no longer in the org');
  return (
    <ul className="board-card-assignees" aria-label={`Assigned to ${names.join(', ')}`}>
      {people.map(({ id, user }, i) => (
        <li key={id} title={names[i]}>
          {user?.avatar_url ? (
            <img src={user.avatar_url} alt="" width="22" height="22" className="avatar" />
          ) : (
            <span className="board-initials" aria-hidden="true">
              {initials(user?.name || user?.login || '?')}
            </span>
          )}
        </li>
      ))}
    </ul>
  );
}

/** Up to two letters for someone without an avatar: "Ada Lovelace" → "AL", "octocat" → "OC". */
export function initials(name: string): string {
  const words = name.trim().split(/[\s._-]+/).filter(Boolean);
  if (words.length >= 2) return (words[0]![0]! + words[1]![0]!).toUpperCase();
  return (words[0] ?? '?').slice(0, 2).toUpperCase();
}
