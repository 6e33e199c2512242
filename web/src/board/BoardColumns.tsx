import {
  type Announcements,
  closestCorners,
  DndContext,
  type DragEndEvent,
  type DragOverEvent,
  DragOverlay,
  type DragStartEvent,
  type KeyboardCoordinateGetter,
  KeyboardSensor,
  MouseSensor,
  type UniqueIdentifier,
  TouchSensor,
  useDroppable,
  useSensor,
  useSensors,
} from '@dnd-kit/core';
import { arrayMove, SortableContext, sortableKeyboardCoordinates, verticalListSortingStrategy } from '@dnd-kit/sortable';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { Task, TaskStatus, UserInfo } from '../api/types';
import { COLUMN_NAMES } from './labels';
import { type BoardState, type Columns, isPending, previewMove, STATUSES } from './state';
import { CardBody, type FocusTarget, type MoveTarget, SortableCard } from './TaskCard';

const COLUMN_PREFIX = 'column:';
const columnId = (status: TaskStatus) => `${COLUMN_PREFIX}${status}`;
const isColumnId = (id: UniqueIdentifier) => String(id).startsWith(COLUMN_PREFIX);

interface Props {
  org: string;
  state: BoardState;
  /** The cards shown (filtered, pending moves applied), by column. */
  columns: Columns;
  /** How many cards each column holds unfiltered. */
  totals: Record<TaskStatus, number>;
  filtering: boolean;
  members: ReadonlyMap<string, UserInfo>;
  canWrite: boolean;
  /** Put `taskId` into `status` before the `index`-th other card shown there. */
  onMove: (taskId: string, status: TaskStatus, index: number) => void;
  onEdit: (task: Task) => void;
  onAdd: (status: TaskStatus) => void;
  /** Asked for every card that scrolls into view outside "To do". */
  wantAttempt: (taskId: string) => void;
}

interface Drag {
  taskId: string;
  status: TaskStatus;
  /** Index among the column's other cards. */
  index: number;
}

/** The columns and their cards, with drag and drop between and within them. */
export function BoardColumns(props: Props) {
  const { state, columns, canWrite, onMove, wantAttempt } = props;
  const [drag, setDrag] = useState<Drag | null>(null);
  // The card that takes focus once it re-renders in its new place, and on what.
  const [focusTask, setFocusTask] = useState<{ id: string; on: FocusTarget } | null>(null);
  const shown = useMemo(
    () => (drag ? previewMove(columns, drag.taskId, drag.status, drag.index) : columns),
    [columns, drag],
  );

  // Left and right carry a lifted card to the next column over. dnd-kit's sortable
  // getter picks the nearest droppable to the left, which is often the card's own
  // column, so the first press would do nothing; up and down reorder as it does.
  const dragNow = useRef(drag);
  dragNow.current = drag;
  const keyboardCoordinates = useCallback<KeyboardCoordinateGetter>((event, args) => {
    const step = event.code === 'ArrowLeft' ? -1 : event.code === 'ArrowRight' ? 1 : 0;
    const current = dragNow.current;
    if (step === 0 || !current) return sortableKeyboardCoordinates(event, args);
    event.preventDefault();
    const next = STATUSES[STATUSES.indexOf(current.status) + step];
    const rect = next ? args.context.droppableRects.get(columnId(next)) : undefined;
    return rect ? { x: rect.left, y: rect.top } : undefined;
  }, []);
  const sensors = useSensors(
    useSensor(MouseSensor, { activationConstraint: { distance: 5 } }),
    // A short hold before a touch drag, so a swipe still scrolls the board on a phone.
    useSensor(TouchSensor, { activationConstraint: { delay: 200, tolerance: 8 } }),
    useSensor(KeyboardSensor, { coordinateGetter: keyboardCoordinates }),
  );

  // Latest attempts load lazily, for the cards someone can see.
  const observer = useMemo(() => {
    if (typeof IntersectionObserver === 'undefined') return null;
    return new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          const el = entry.target as HTMLElement;
          if (entry.isIntersecting && el.dataset.taskId && el.dataset.status !== 'todo') wantAttempt(el.dataset.taskId);
        }
      },
      { rootMargin: '200px' },
    );
  }, [wantAttempt]);
  useEffect(() => () => observer?.disconnect(), [observer]);
  useEffect(() => {
    if (observer) return;
    for (const status of STATUSES) if (status !== 'todo') for (const t of columns[status]) wantAttempt(t.id);
  }, [observer, columns, wantAttempt]);

  const statusOf = (id: UniqueIdentifier): TaskStatus | undefined => {
    if (isColumnId(id)) return String(id).slice(COLUMN_PREFIX.length) as TaskStatus;
    return STATUSES.find((s) => shown[s].some((t) => t.id === id));
  };
  const keyOf = (id: UniqueIdentifier) => state.tasks[String(id)]?.key ?? 'The card';
  const placeOf = (id: UniqueIdentifier) => {
    const status = statusOf(id);
    if (!status) return 'outside the columns';
    const list = shown[status];
    const at = list.findIndex((t) => t.id === id);
    return at < 0
      ? COLUMN_NAMES[status]
      : `${COLUMN_NAMES[status]}, position ${at + 1} of ${list.length}`;
  };

  const onDragStart = ({ active }: DragStartEvent) => {
    const status = statusOf(active.id);
    if (!status) return;
    setDrag({ taskId: String(active.id), status, index: shown[status].findIndex((t) => t.id === active.id) });
  };

  const onDragOver = ({ active, over }: DragOverEvent) => {
    if (!over || !drag) return;
    const status = statusOf(over.id);
    if (!status || status === drag.status) return; // within a column, the sortable list shows the order
    const others = shown[status];
    let index = others.length;
    if (!isColumnId(over.id)) {
      const overIndex = others.findIndex((t) => t.id === over.id);
      const dragged = active.rect.current.translated;
      const below = dragged ? dragged.top > over.rect.top + over.rect.height / 2 : false;
      index = overIndex < 0 ? others.length : overIndex + (below ? 1 : 0);
    }
    setDrag({ taskId: drag.taskId, status, index });
  };

  const onDragEnd = ({ active, over, activatorEvent }: DragEndEvent) => {
    const current = drag;
    setDrag(null);
    // A keyboard drag keeps the keyboard on the card's handle in its new place.
    if (current && activatorEvent instanceof KeyboardEvent) setFocusTask({ id: current.taskId, on: 'handle' });
    if (!over || !current) return;
    const list = shown[current.status];
    const from = list.findIndex((t) => t.id === active.id);
    if (from < 0) return;
    let to = from;
    if (!isColumnId(over.id) && over.id !== active.id) {
      const overIndex = list.findIndex((t) => t.id === over.id);
      if (overIndex >= 0) to = overIndex;
    }
    const index = arrayMove(list, from, to).findIndex((t) => t.id === active.id);
    onMove(current.taskId, current.status, index);
  };

  const announcements: Announcements = {
    onDragStart: ({ active }) => `Picked up ${keyOf(active.id)} in ${placeOf(active.id)}.`,
    onDragOver: ({ active, over }) =>
      over ? `${keyOf(active.id)} is over ${placeOf(over.id)}.` : `${keyOf(active.id)} is not over a column.`,
    onDragEnd: ({ active, over }) =>
      over ? `${keyOf(active.id)} dropped in ${placeOf(active.id)}.` : `${keyOf(active.id)} dropped where it was.`,
    onDragCancel: ({ active }) => `Moving ${keyOf(active.id)} cancelled; it is back where it was.`,
  };

  const onMenuMove = useCallback(
    (task: Task, target: MoveTarget) => {
      if (target === 'top') onMove(task.id, task.status, 0);
      else if (target === 'bottom') onMove(task.id, task.status, Number.MAX_SAFE_INTEGER);
      else onMove(task.id, target, Number.MAX_SAFE_INTEGER);
      // The card re-renders in its new place: keep the keyboard there with it.
      setFocusTask({ id: task.id, on: 'menu' });
    },
    [onMove],
  );
  const focusTaken = useCallback(() => setFocusTask(null), []);

  const dragged = drag ? state.tasks[drag.taskId] : undefined;

  return (
    <DndContext
      sensors={sensors}
      collisionDetection={closestCorners}
      onDragStart={onDragStart}
      onDragOver={onDragOver}
      onDragEnd={onDragEnd}
      onDragCancel={() => setDrag(null)}
      accessibility={{
        announcements,
        screenReaderInstructions: {
          draggable:
            'To move this card, press Space or Enter to pick it up, use the arrow keys to move it, ' +
            'then Space or Enter to drop it, or Escape to cancel. The card’s “Move to…” menu does the same without dragging.',
        },
      }}
    >
      <div className="board-columns" data-testid="board">
        {STATUSES.map((status) => (
          <Column
            key={status}
            status={status}
            tasks={shown[status]}
            total={props.totals[status]}
            filtering={props.filtering}
            canWrite={canWrite}
            onAdd={props.onAdd}
          >
            {shown[status].map((task) => (
              <SortableCard
                key={task.id}
                task={task}
                org={props.org}
                members={props.members}
                attempt={state.attempts[task.id]}
                pending={isPending(state, task.id)}
                canWrite={canWrite}
                onMove={onMenuMove}
                onEdit={props.onEdit}
                observer={observer}
                takeFocus={focusTask?.id === task.id ? focusTask.on : null}
                onFocusTaken={focusTaken}
              />
            ))}
          </Column>
        ))}
      </div>
      <DragOverlay dropAnimation={null}>
        {dragged ? (
          <div className="board-card is-overlay">
            <CardBody
              task={dragged}
              org={props.org}
              members={props.members}
              attempt={state.attempts[dragged.id]}
              canWrite={false}
              overlay
            />
          </div>
        ) : null}
      </DragOverlay>
    </DndContext>
  );
}

function Column({
  status,
  tasks,
  total,
  filtering,
  canWrite,
  onAdd,
  children,
}: {
  status: TaskStatus;
  tasks: Task[];
  total: number;
  filtering: boolean;
  canWrite: boolean;
  onAdd: (status: TaskStatus) => void;
  children: React.ReactNode;
}) {
  const { setNodeRef, isOver } = useDroppable({ id: columnId(status) });
  const headingId = `column-heading-${status}`;
  const name = COLUMN_NAMES[status];
  const count = filtering ? `${tasks.length} of ${total}` : `${tasks.length}`;
  return (
    <section className={`board-column${isOver ? ' is-over' : ''}`} data-testid={`column-${status}`} aria-labelledby={headingId}>
      <header className="board-column-header">
        <h2 id={headingId} className="board-column-title">
          {name} <span className="board-column-count">
            <span className="visually-hidden">, </span>
            {count}
            <span className="visually-hidden"> {filtering ? 'shown' : total === 1 ? 'task' : 'tasks'}</span>
          </span>
        </h2>
        {canWrite && (
          <button
            type="button"
            className="button button-quiet board-column-add"
            aria-label={`Add a task to ${name}`}
            title={`Add a task to ${name}`}
            onClick={() => onAdd(status)}
          >
            <span aria-hidden="true">+</span>
          </button>
        )}
      </header>
      <SortableContext id={columnId(status)} items={tasks.map((t) => t.id)} strategy={verticalListSortingStrategy}>
        <ol ref={setNodeRef} className="board-column-cards" aria-labelledby={headingId}>
          {children}
        </ol>
      </SortableContext>
      {tasks.length === 0 && (
        <p className="board-column-empty muted">{filtering && total > 0 ? 'No task matches the filter.' : 'No tasks.'}</p>
      )}
    </section>
  );
}
