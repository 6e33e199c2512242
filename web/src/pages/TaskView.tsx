// `/orgs/:org/tasks/:taskId` (`?attempt=<id>` selects an attempt): one task, its
// attempts, and the selected attempt's live conversation and diff. Its own lazy chunk,
// with everything under src/task/ (the virtualizer, the Markdown reader, highlight.js,
// whose languages load one by one on first use).
//
// Stable hooks for end-to-end tests:
//   data-testid="task"          the page; data-status = the task's status
//   data-testid="attempts"      the attempt list; each item data-testid="attempt-item",
//                               data-status = the attempt's status, aria-current when selected
//   data-testid="attempt"       the selected attempt's panel; data-status = its status
//   data-testid="approval"      a tool call waiting for a decision, with buttons "Approve" and
//                               "Deny" (and a "Reason for denying" field)
//   data-testid="conversation"  the conversation's scroll container (role="feed"). It is
//                               VIRTUALIZED: only the entries in and near the viewport are in
//                               the DOM. It follows the end while live, so the newest entries are
//                               present; scroll it to reach older ones.
//   data-testid="process"       a process's header row inside it; data-status = its status
//   data-testid="entry"         one entry; data-kind = user_message | assistant_message |
//                               thinking | tool_use | system_message | error | token_usage |
//                               output. Tool cards carry data-status (created, success, failed,
//                               denied, pending_approval, timed_out) and data-action (command_run, …)
//   data-testid="diff"          the diff (under the "Changes" tab); data-version = its version
//   data-testid="diff-file"     one file of it; data-path = the file's path
// Labels: the start form's submit "Start attempt" (its prompt field "Prompt", also
// "Executor profile", "Variant", "Base branch"); the button that opens it "New attempt";
// the follow-up field "Follow-up" and its submit "Send follow-up"; buttons "Stop",
// "Approve", "Deny", "Jump to latest"; tabs "Conversation" and "Changes…".
import { useCallback, useEffect, useMemo, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { allPages, api } from '../api/client';
import { isKind } from '../api/orgEvents';
import type { Attempt, Project, Task } from '../api/types';
import { ConnectionBadge } from '../components/ConnectionBadge';
import { ErrorNotice } from '../components/ErrorNotice';
import { Loading } from '../components/Loading';
import { PageHeading } from '../components/PageHeading';
import { links } from '../links';
import { useMe } from '../session/session';
import { AttemptPanel } from '../task/AttemptPanel';
import { ATTEMPT_STATUS, TASK_STATUS, ago, profileLabel } from '../task/format';
import { Comments } from '../task/Comments';
import { Markdown } from '../task/Markdown';
import { StartAttempt } from '../task/StartAttempt';
import { useOrgEvents, useOrgListener } from '../task/useOrgEvents';
import '../task/task.css';

const newestFirst = (a: Attempt, b: Attempt) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0);

export default function TaskView() {
  const { org = '', taskId = '' } = useParams();
  const [search, setSearch] = useSearchParams();
  const me = useMe();
  const role = me.orgs.find((o) => o.slug === org)?.role;
  const canRun = role !== undefined && role !== 'viewer';

  const [task, setTask] = useState<Task | null>(null);
  const [deleted, setDeleted] = useState(false);
  const [project, setProject] = useState<Project | null>(null);
  const [attempts, setAttempts] = useState<Attempt[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [attemptsError, setAttemptsError] = useState<unknown>(null);
  const [starting, setStarting] = useState(false);

  const loadTask = useCallback(async () => {
    try {
      const t = await api.get('/api/v1/orgs/{org}/tasks/{id}', { path: { org, id: taskId } });
      setTask(t);
      setError(null);
      api
        .get('/api/v1/orgs/{org}/projects/{id}', { path: { org, id: t.project_id } })
        .then(setProject)
        .catch(() => setProject(null));
    } catch (e) {
      setError(e);
    }
  }, [org, taskId]);

  const loadAttempts = useCallback(async () => {
    try {
      const list = await allPages((cursor) =>
        api.get('/api/v1/orgs/{org}/tasks/{id}/attempts', { path: { org, id: taskId }, query: { limit: 200, cursor } }),
      );
      setAttempts(list.slice().sort(newestFirst));
      setAttemptsError(null);
    } catch (e) {
      setAttemptsError(e);
    }
  }, [org, taskId]);

  useEffect(() => {
    setTask(null);
    setAttempts(null);
    setDeleted(false);
    void loadTask();
    void loadAttempts();
  }, [loadTask, loadAttempts]);

  const upsertAttempt = useCallback((a: Attempt) => {
    setAttempts((prev) => {
      const list = prev ?? [];
      const i = list.findIndex((x) => x.id === a.id);
      if (i < 0) return [a, ...list].sort(newestFirst);
      const next = list.slice();
      next[i] = a;
      return next;
    });
  }, []);

  const orgEvents = useOrgEvents(org);
  useOrgListener(orgEvents.subscribe, (signal) => {
    if (signal.type === 'resync') {
      void loadTask();
      void loadAttempts();
      return;
    }
    const { event } = signal;
    if (event.kind === 'task.updated' && event.data.id === taskId) setTask(event.data);
    else if (event.kind === 'task.deleted' && event.data.id === taskId) setDeleted(true);
    else if (isKind(event, 'attempt.created', 'attempt.updated') && event.data.task_id === taskId) upsertAttempt(event.data);
  });

  const selectedId = search.get('attempt') ?? attempts?.[0]?.id ?? null;
  const selected = attempts?.find((a) => a.id === selectedId) ?? null;
  const numbers = useMemo(() => {
    const m = new Map<string, number>();
    const oldestFirst = (attempts ?? []).slice().reverse();
    oldestFirst.forEach((a, i) => m.set(a.id, i + 1));
    return m;
  }, [attempts]);

  const select = (id: string) =>
    setSearch(
      (prev) => {
        const next = new URLSearchParams(prev);
        next.set('attempt', id);
        return next;
      },
      { replace: true },
    );

  if (error && !task) {
    return (
      <>
        <PageHeading>Task</PageHeading>
        <ErrorNotice error={error} onRetry={() => void loadTask()} />
        <p>
          <Link to={links.org(org)}>Back to projects</Link>
        </p>
      </>
    );
  }
  if (!task) return <Loading what="Loading the task" />;

  const showStart = canRun && (starting || (attempts !== null && attempts.length === 0));

  return (
    <div className="task-view" data-testid="task" data-status={task.status}>
      <nav className="task-crumbs" aria-label="Breadcrumb">
        <Link to={links.board(org, task.project_id)}>{project ? project.name : 'Board'}</Link>
        <span aria-hidden="true"> / </span>
        <span className="mono">{task.key}</span>
      </nav>
      <div className="task-title-row">
        <PageHeading title={`${task.key} ${task.title}`}>{task.title}</PageHeading>
        <ConnectionBadge state={orgEvents.connection} label="Live updates" />
      </div>
      <p className="task-meta">
        <span className={`pill pill-task-${task.status}`}>{TASK_STATUS[task.status]}</span>
        {task.priority !== 'none' && <span className={`pill priority-${task.priority}`}>{task.priority} priority</span>}
        {task.labels.map((l) => (
          <span key={l} className="pill pill-label">
            {l}
          </span>
        ))}
        <span className="muted">
          {task.origin === 'github' ? 'From GitHub' : task.origin === 'api' ? 'From the API' : 'Created'} {ago(task.created_at)}
        </span>
      </p>
      {deleted && (
        <p className="notice notice-error" role="alert">
          This task was deleted.
        </p>
      )}

      <div className="task-layout">
        <aside className="task-side">
          <section className="card task-description" aria-labelledby="task-description-h">
            <h2 id="task-description-h">Description</h2>
            {task.description.trim() ? <Markdown text={task.description} headingOffset={2} /> : <p className="muted">No description.</p>}
          </section>

          <Comments org={org} taskId={task.id} canWrite={canRun} subscribe={orgEvents.subscribe} />

          <section className="card" aria-labelledby="task-attempts-h">
            <div className="section-head">
              <h2 id="task-attempts-h">Attempts</h2>
              {canRun && attempts && attempts.length > 0 && !starting && (
                <button type="button" className="button" onClick={() => setStarting(true)}>
                  New attempt
                </button>
              )}
            </div>
            <ErrorNotice error={attemptsError} onRetry={() => void loadAttempts()} />
            {attempts === null && !attemptsError && <Loading what="Loading attempts" />}
            {attempts && attempts.length === 0 && <p className="muted">No attempt yet.</p>}
            {attempts && attempts.length > 0 && (
              <ul className="attempt-list" data-testid="attempts" aria-label="Attempts">
                {attempts.map((a) => {
                  const current = a.id === selected?.id;
                  return (
                    <li key={a.id}>
                      <Link
                        to={`?attempt=${encodeURIComponent(a.id)}`}
                        replace
                        className="attempt-item"
                        aria-current={current ? 'true' : undefined}
                        data-testid="attempt-item"
                        data-status={a.status}
                        onClick={(e) => {
                          e.preventDefault();
                          select(a.id);
                        }}
                      >
                        <span className="attempt-item-top">
                          <span>#{numbers.get(a.id)}</span>
                          <span className={`pill pill-${a.status}`}>{ATTEMPT_STATUS[a.status]}</span>
                        </span>
                        <span className="mono attempt-item-profile">{profileLabel(a.profile, a.executor)}</span>
                        <span className="muted">{ago(a.created_at)}</span>
                      </Link>
                    </li>
                  );
                })}
              </ul>
            )}
          </section>

          {showStart && (
            <StartAttempt
              org={org}
              task={task}
              project={project}
              onStarted={(a) => {
                upsertAttempt(a);
                select(a.id);
                setStarting(false);
              }}
              onCancel={attempts && attempts.length > 0 ? () => setStarting(false) : undefined}
            />
          )}
        </aside>

        <div className="task-main">
          {selected ? (
            <AttemptPanel
              key={selected.id}
              org={org}
              attempt={selected}
              number={numbers.get(selected.id) ?? 1}
              canRun={canRun}
              onGithub={!!project?.repository.github_full_name}
              mergeMethod={project?.merge_method}
              subscribe={orgEvents.subscribe}
              onAttempt={upsertAttempt}
            />
          ) : attempts && attempts.length > 0 && search.get('attempt') ? (
            <p className="notice">That attempt is not one of this task’s.</p>
          ) : attempts && attempts.length === 0 ? (
            <p className="muted task-empty">
              {canRun ? 'Start an attempt to hand this task to an agent.' : 'No agent has worked on this task yet.'}
            </p>
          ) : null}
        </div>
      </div>
    </div>
  );
}
