import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import { errorMessage } from '../api/client';
import type { Task, TaskStatus, UserInfo } from '../api/types';
import { COLUMN_NAMES, PRIORITIES, PRIORITY_NAMES } from './labels';
import { STATUSES, type TaskPriority } from './state';
import type { CreateTask, UpdateTask } from './useBoard';

export type DialogMode = { kind: 'create'; status: TaskStatus } | { kind: 'edit'; task: Task };

interface Props {
  mode: DialogMode;
  /** The task as it is now (edit): `undefined` once someone deleted it. */
  current?: Task;
  members: ReadonlyMap<string, UserInfo>;
  onClose: () => void;
  create: (body: CreateTask) => Promise<Task>;
  update: (taskId: string, body: UpdateTask) => Promise<Task>;
  remove: (taskId: string) => Promise<void>;
}

/** "a, b,, c" → ["a", "b", "c"], without repeats. */
export function parseLabels(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(',')) {
    const label = raw.trim();
    if (label && !out.some((l) => l.toLowerCase() === label.toLowerCase())) out.push(label);
  }
  return out;
}

/** The fields of `next` that differ from `before`: an edit sends only what the person
 *  changed, so it does not overwrite someone else's change to another field. */
export function changedFields(before: Task, next: Required<Omit<UpdateTask, 'position'>>): UpdateTask {
  const body: UpdateTask = {};
  if (next.title !== before.title) body.title = next.title;
  if (next.description !== before.description) body.description = next.description;
  if (next.priority !== before.priority) body.priority = next.priority;
  if (next.status !== before.status) body.status = next.status;
  if (!sameSet(next.labels ?? [], before.labels)) body.labels = next.labels;
  if (!sameSet(next.assignee_ids ?? [], before.assignee_ids)) body.assignee_ids = next.assignee_ids;
  return body;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** The dialog to create a task, or to edit or delete one (with a confirmation). */
export function TaskDialog({ mode, current, members, onClose, create, update, remove }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const id = useId();
  const editing = mode.kind === 'edit' ? mode.task : undefined;
  const [title, setTitle] = useState(editing?.title ?? '');
  const [description, setDescription] = useState(editing?.description ?? '');
  const [priority, setPriority] = useState<TaskPriority>(editing?.priority ?? 'none');
  const [status, setStatus] = useState<TaskStatus>(editing?.status ?? (mode.kind === 'create' ? mode.status : 'todo'));
  const [labels, setLabels] = useState(editing?.labels.join(', ') ?? '');
  const [assignees, setAssignees] = useState<string[]>(editing?.assignee_ids ?? []);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [confirming, setConfirming] = useState(false);
  const gone = mode.kind === 'edit' && !current;

  useEffect(() => {
    const el = dialog.current;
    if (!el) return;
    // The dialog is unmounted rather than closed, so the browser does not hand focus
    // back by itself: give it back to what opened the dialog.
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (typeof el.showModal === 'function' && !el.open) el.showModal();
    else el.setAttribute('open', '');
    return () => {
      if (el.open && typeof el.close === 'function') el.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const fields = {
      title: title.trim(),
      description,
      priority,
      status,
      labels: parseLabels(labels),
      assignee_ids: assignees,
    };
    try {
      if (editing) {
        // Against the task as it was when the dialog opened: what this person changed.
        const body = changedFields(editing, fields);
        if (Object.keys(body).length > 0) await update(editing.id, body);
      } else {
        await create(fields);
      }
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const doDelete = async () => {
    if (!editing) return;
    setBusy(true);
    setError(null);
    try {
      await remove(editing.id);
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
      setConfirming(false);
    }
  };

  const people = [...members.values()].sort((a, b) => a.login.localeCompare(b.login));
  // Someone assigned who is no longer listed (left the org) stays visible and removable.
  const unknown = assignees.filter((a) => !members.has(a));
  const heading = editing ? `Edit ${editing.key}` : 'Create a task';

  return (
    <dialog
      ref={dialog}
      className="board-dialog"
      aria-labelledby={`${id}-heading`}
      onCancel={(e) => {
        e.preventDefault();
        if (!busy) onClose();
      }}
    >
      <form onSubmit={submit} className="form-grid board-form">
        <h2 id={`${id}-heading`}>{heading}</h2>
        {gone && (
          <p className="notice notice-error" role="alert">
            Someone deleted this task meanwhile. Your changes cannot be saved.
          </p>
        )}
        <label htmlFor={`${id}-title`}>Title</label>
        <input
          id={`${id}-title`}
          required
          maxLength={500}
          autoFocus
          value={title}
          onChange={(e) => setTitle(e.target.value)}
        />
        <label htmlFor={`${id}-description`}>Description</label>
        <textarea
          id={`${id}-description`}
          rows={5}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
        />
        <div className="board-form-row">
          <div>
            <label htmlFor={`${id}-priority`}>Priority</label>
            <select id={`${id}-priority`} value={priority} onChange={(e) => setPriority(e.target.value as TaskPriority)}>
              {PRIORITIES.map((p) => (
                <option key={p} value={p}>
                  {PRIORITY_NAMES[p]}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label htmlFor={`${id}-status`}>Column</label>
            <select id={`${id}-status`} value={status} onChange={(e) => setStatus(e.target.value as TaskStatus)}>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {COLUMN_NAMES[s]}
                </option>
              ))}
            </select>
          </div>
        </div>
        <label htmlFor={`${id}-labels`}>Labels</label>
        <input
          id={`${id}-labels`}
          aria-describedby={`${id}-labels-help`}
          placeholder="bug, frontend"
          value={labels}
          onChange={(e) => setLabels(e.target.value)}
        />
        <p id={`${id}-labels-help`} className="muted">
          Separated by commas.
        </p>
        {(people.length > 0 || unknown.length > 0) && (
          <fieldset className="board-assignees">
            <legend>Assignees</legend>
            {people.map((u) => (
              <label key={u.id} className="board-check">
                <input
                  type="checkbox"
                  checked={assignees.includes(u.id)}
                  onChange={(e) =>
                    setAssignees((prev) => (e.target.checked ? [...prev, u.id] : prev.filter((a) => a !== u.id)))
                  }
                />
                {u.name ? `${u.name} (${u.login})` : u.login}
              </label>
            ))}
            {unknown.map((a) => (
              <label key={a} className="board-check">
                <input type="checkbox" checked onChange={() => setAssignees((prev) => prev.filter((x) => x !== a))} />
                Someone no longer in the organization
              </label>
            ))}
          </fieldset>
        )}
        {error ? (
          <p className="notice notice-error" role="alert">
            {errorMessage(error)}
          </p>
        ) : null}
        <div className="board-form-buttons">
          <button type="submit" className="button button-primary" disabled={busy || gone}>
            {editing ? (busy ? 'Saving…' : 'Save') : busy ? 'Creating…' : 'Create task'}
          </button>
          <button type="button" className="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          {editing && !confirming && (
            <button
              type="button"
              className="button button-quiet board-delete"
              onClick={() => setConfirming(true)}
              disabled={busy || gone}
            >
              Delete task
            </button>
          )}
        </div>
        {editing && confirming && (
          <div className="notice board-confirm" role="group" aria-labelledby={`${id}-confirm`}>
            <p id={`${id}-confirm`}>
              Delete {editing.key} and its attempts for good? This cannot be undone.
            </p>
            <div className="board-form-buttons">
              <button type="button" className="button button-danger" onClick={() => void doDelete()} disabled={busy}>
                {busy ? 'Deleting…' : `Delete ${editing.key}`}
              </button>
              <button type="button" className="button" onClick={() => setConfirming(false)} disabled={busy} autoFocus>
                Keep it
              </button>
            </div>
          </div>
        )}
      </form>
    </dialog>
  );
}
