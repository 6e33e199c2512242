// `/orgs/:org/projects/:projectId`: the project's kanban board.
//
// Hooks for end-to-end tests (Playwright) — keep them stable:
//   data-testid="board"                 the columns' container
//   data-testid="column-<status>"       a column: column-todo, column-inprogress,
//                                       column-inreview, column-done, column-cancelled
//                                       (a <section> named by its heading, e.g. "To do")
//   data-testid="card-<task key>"       a card, e.g. card-SY-42 (an <li> named by its title),
//                                       with data-status="<status>" and
//                                       data-attempt="<latest attempt status or empty>"
//   data-testid="attempt-<task key>"    the card's latest-attempt badge, when it has one
//   data-testid="move-<task key>"       the card's "Move to…" <select> (label "Move SY-42 to…"):
//                                       a column's value moves the card to its end; "top" and
//                                       "bottom" reorder within its column
//   button "Drag SY-42"                 the card's drag handle (Space picks it up, arrows move,
//                                       Space drops, Escape cancels)
//   button "Edit SY-42"                 opens the edit dialog ("Save", "Delete task", then
//                                       "Delete SY-42" to confirm)
//   button "New task"                   (data-testid="new-task") opens the create dialog, a
//                                       modal role=dialog named "Create a task" (or "Edit SY-42"):
//                                       fields labelled Title, Description, Priority, Column,
//                                       Labels (comma-separated), Assignees (checkboxes); submit
//                                       is "Create task" / "Save". Look fields up inside
//                                       getByRole('dialog'): the filter bar also has "Priority".
//   button "Add a task to <column>"     the same dialog with that column chosen
//   data-testid="board-connection"      wraps the stream's ConnectionBadge; its badge has
//                                       data-state="connecting|open|reconnecting|closed"
//   search "Filter tasks"               the filter form: "Search", "Priority", "Label", "Assignee"
//                                       (kept in the URL: ?q=&priority=&label=&assignee=)
//
// A card's position in its column is its index among the column's `[data-testid^="card-"]`
// elements. A card with a move in flight has aria-busy="true".
import { useCallback, useMemo, useState } from 'react';
import { Link, useParams } from 'react-router';
import type { Task, TaskStatus } from '../api/types';
import { ConnectionBadge } from '../components/ConnectionBadge';
import { ErrorNotice } from '../components/ErrorNotice';
import { Loading } from '../components/Loading';
import { PageHeading } from '../components/PageHeading';
import { links } from '../links';
import { useMe } from '../session/session';
import { BoardColumns } from '../board/BoardColumns';
import { FilterBar, useUrlFilter } from '../board/FilterBar';
import { boardColumns, boardLabels, isFiltering, STATUSES } from '../board/state';
import { type DialogMode, TaskDialog } from '../board/TaskDialog';
import { useBoard } from '../board/useBoard';
import '../board/board.css';

export default function Board() {
  const { org = '', projectId = '' } = useParams();
  // A different project is a different board: start from nothing.
  return <BoardPage key={`${org}/${projectId}`} org={org} projectId={projectId} />;
}

function BoardPage({ org, projectId }: { org: string; projectId: string }) {
  const me = useMe();
  const role = me.orgs.find((o) => o.slug === org)?.role;
  const canWrite = role !== undefined && role !== 'viewer';
  const board = useBoard(org, projectId);
  const { state, project } = board;
  const [filter, setFilter] = useUrlFilter();
  const [dialog, setDialog] = useState<DialogMode | null>(null);

  const { tasks, pending } = state;
  const columns = useMemo(() => boardColumns({ tasks, pending }, filter), [tasks, pending, filter]);
  const all = useMemo(() => boardColumns({ tasks, pending }), [tasks, pending]);
  const totals = useMemo(
    () => Object.fromEntries(STATUSES.map((s) => [s, all[s].length])) as Record<TaskStatus, number>,
    [all],
  );
  const labels = useMemo(() => boardLabels({ tasks }), [tasks]);
  const filtering = isFiltering(filter);
  const shownCount = STATUSES.reduce((n, s) => n + columns[s].length, 0);
  const totalCount = STATUSES.reduce((n, s) => n + totals[s], 0);

  const { move } = board;
  const onMove = useCallback(
    (taskId: string, status: TaskStatus, index: number) => move(taskId, status, index, filter),
    [move, filter],
  );
  const onEdit = useCallback((task: Task) => setDialog({ kind: 'edit', task }), []);
  const onAdd = useCallback((status: TaskStatus) => setDialog({ kind: 'create', status }), []);

  const name = project?.name ?? 'Board';
  const hasTasks = Object.keys(tasks).length > 0;

  return (
    <div className="board-page">
      <div className="board-head">
        <PageHeading title={project ? `${project.name} board` : 'Board'}>{name}</PageHeading>
        <span data-testid="board-connection">
          <ConnectionBadge state={board.connection} label="Live updates" />
        </span>
        {canWrite && (
          <button
            type="button"
            className="button button-primary board-new"
            data-testid="new-task"
            onClick={() => setDialog({ kind: 'create', status: 'todo' })}
          >
            New task
          </button>
        )}
      </div>
      <p className="board-crumbs muted">
        <Link to={links.org(org)}>Projects</Link>
        {project && (
          <>
            {' · '}
            <span className="mono">{project.key_prefix}</span> · {project.repository.url} · {project.default_branch}
          </>
        )}
        {role === 'viewer' && ' · You can view this board but not change it.'}
      </p>

      {state.projectDeleted && (
        <p className="notice notice-error" role="alert">
          This project was deleted. <Link to={links.org(org)}>Back to projects</Link>
        </p>
      )}
      <ErrorNotice error={board.infoError} />
      {board.streamError ? (
        <div className="notice notice-error" role="alert">
          <p>Live updates stopped: the board will not change by itself until you reload it.</p>
          <ErrorNotice error={board.streamError} />
        </div>
      ) : null}
      {board.moveError && (
        <div className="notice notice-error board-move-error" role="alert">
          <p>{board.moveError}</p>
          <button type="button" className="button" onClick={board.dismissMoveError}>
            Dismiss
          </button>
        </div>
      )}
      <ErrorNotice error={board.loadError} onRetry={board.reload} />

      <FilterBar
        filter={filter}
        onChange={setFilter}
        labels={labels}
        members={board.members}
        shown={shownCount}
        total={totalCount}
      />

      {!state.ready && !hasTasks ? (
        !board.loadError && <Loading what="Loading tasks" />
      ) : (
        <BoardColumns
          org={org}
          state={state}
          columns={columns}
          totals={totals}
          filtering={filtering}
          members={board.members}
          canWrite={canWrite}
          onMove={onMove}
          onEdit={onEdit}
          onAdd={onAdd}
          wantAttempt={board.wantAttempt}
        />
      )}
      {state.ready && !hasTasks && canWrite && (
        <p className="muted">No tasks yet: add the first with “New task”.</p>
      )}

      <p className="visually-hidden" role="status" aria-live="polite">
        {board.announcement}
      </p>

      {dialog && (
        <TaskDialog
          key={dialog.kind === 'edit' ? dialog.task.id : `new-${dialog.status}`}
          mode={dialog}
          current={dialog.kind === 'edit' ? state.tasks[dialog.task.id] : undefined}
          members={board.members}
          onClose={() => setDialog(null)}
          create={board.create}
          update={board.update}
          remove={board.remove}
        />
      )}
    </div>
  );
}
