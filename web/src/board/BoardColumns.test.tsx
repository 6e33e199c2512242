import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Task, TaskStatus } from '../api/types';
import { BoardColumns } from './BoardColumns';
import { boardColumns, boardReducer, emptyBoard, STATUSES } from './state';
import { changedFields, parseLabels } from './TaskDialog';
import { initials } from './TaskCard';

afterEach(() => cleanup());

function task(id: string, over: Partial<Task> = {}): Task {
  return {
    id,
    key: `SY-${id}`,
    title: `Task ${id}`,
    description: '',
    status: 'todo',
    position: Number(id) * 1000,
    priority: 'none',
    labels: [],
    assignee_ids: [],
    origin: 'ui',
    project_id: 'p',
    created_at: '2026-11-24T10:00:00Z',
    updated_at: '2026-11-24T10:00:00Z',
    ...over,
  };
}

function renderBoard(tasks: Task[], canWrite = true) {
  const state = boardReducer(emptyBoard('p'), { type: 'load-done', tasks });
  const columns = boardColumns(state);
  const totals = Object.fromEntries(STATUSES.map((s) => [s, columns[s].length])) as Record<TaskStatus, number>;
  const onMove = vi.fn();
  const onEdit = vi.fn();
  const onAdd = vi.fn();
  const wantAttempt = vi.fn();
  render(
    <MemoryRouter>
      <BoardColumns
        org="acme"
        state={state}
        columns={columns}
        totals={totals}
        filtering={false}
        members={new Map([['u1', { id: 'u1', login: 'ada', name: 'Ada Lovelace' }]])}
        canWrite={canWrite}
        onMove={onMove}
        onEdit={onEdit}
        onAdd={onAdd}
        wantAttempt={wantAttempt}
      />
    </MemoryRouter>,
  );
  return { onMove, onEdit, onAdd, wantAttempt };
}

describe('BoardColumns', () => {
  it('renders every column and card with the test ids the end-to-end tests use', () => {
    renderBoard([task('1', { assignee_ids: ['u1'], labels: ['bug'] }), task('2', { status: 'done' })]);
    for (const status of STATUSES) expect(screen.getByTestId(`column-${status}`)).toBeTruthy();
    const todo = screen.getByTestId('column-todo');
    const card = within(todo).getByTestId('card-SY-1');
    expect(card.dataset.status).toBe('todo');
    expect(within(card).getByRole('link').getAttribute('href')).toBe('/orgs/acme/tasks/1');
    expect(within(card).getByRole('list', { name: 'Assigned to Ada Lovelace' })).toBeTruthy();
    expect(within(screen.getByTestId('column-done')).getByTestId('card-SY-2')).toBeTruthy();
    expect(screen.getByRole('region', { name: /^Done/ })).toBe(screen.getByTestId('column-done'));
  });

  it('moves a card with its Move to… menu, without dragging', () => {
    const { onMove } = renderBoard([task('1'), task('2')]);
    fireEvent.change(screen.getByLabelText('Move SY-1 to…'), { target: { value: 'inreview' } });
    expect(onMove).toHaveBeenCalledWith('1', 'inreview', Number.MAX_SAFE_INTEGER);
    fireEvent.change(screen.getByLabelText('Move SY-2 to…'), { target: { value: 'top' } });
    expect(onMove).toHaveBeenLastCalledWith('2', 'todo', 0);
  });

  it('opens the editor and the per-column create form', () => {
    const { onEdit, onAdd } = renderBoard([task('1')]);
    fireEvent.click(screen.getByRole('button', { name: 'Edit SY-1' }));
    expect(onEdit).toHaveBeenCalledWith(expect.objectContaining({ id: '1' }));
    fireEvent.click(screen.getByRole('button', { name: 'Add a task to In review' }));
    expect(onAdd).toHaveBeenCalledWith('inreview');
  });

  it('asks for the latest attempt of cards outside To do only', () => {
    const { wantAttempt } = renderBoard([task('1'), task('2', { status: 'inprogress' })]);
    expect(wantAttempt).toHaveBeenCalledWith('2');
    expect(wantAttempt).not.toHaveBeenCalledWith('1');
  });

  it('offers no drag handle, menu or create button to a viewer', () => {
    renderBoard([task('1')], false);
    expect(screen.queryByRole('button', { name: 'Drag SY-1' })).toBeNull();
    expect(screen.queryByLabelText('Move SY-1 to…')).toBeNull();
    expect(screen.queryByRole('button', { name: /Add a task/ })).toBeNull();
  });
});

describe('task form helpers', () => {
  it('reads comma-separated labels, trimmed, without repeats', () => {
    expect(parseLabels(' bug, ui,, Bug ,api ')).toEqual(['bug', 'ui', 'api']);
    expect(parseLabels('')).toEqual([]);
  });

  it('sends only the fields a person changed', () => {
    const before = task('1', { title: 'A', labels: ['x', 'y'], assignee_ids: ['u1'] });
    const same = { title: 'A', description: '', priority: 'none' as const, status: 'todo' as const, labels: ['y', 'x'], assignee_ids: ['u1'] };
    expect(changedFields(before, same)).toEqual({});
    expect(changedFields(before, { ...same, title: 'B', assignee_ids: [] })).toEqual({ title: 'B', assignee_ids: [] });
  });

  it('makes initials for people without an avatar', () => {
    expect(initials('Ada Lovelace')).toBe('AL');
    expect(initials('octocat')).toBe('OC');
    expect(initials('john.doe')).toBe('JD');
    expect(initials('')).toBe('?');
  });
});
