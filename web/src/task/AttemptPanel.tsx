// One attempt: its state and controls (stop, follow-up), the approvals it waits for, and
// two tabs: the live conversation of its processes and the live diff. Mount it with
// `key={attempt.id}` so switching attempts starts from a clean state.
import { type FormEvent, type KeyboardEvent, useCallback, useEffect, useId, useReducer, useRef, useState } from 'react';
import { allPages, api, errorMessage } from '../api/client';
import { isKind } from '../api/orgEvents';
import type { Attempt, Project } from '../api/types';
import { ConnectionBadge } from '../components/ConnectionBadge';
import { ErrorNotice } from '../components/ErrorNotice';
import { Loading } from '../components/Loading';
import { ApprovalsPanel } from './ApprovalsPanel';
import { approvalActionFromEvent, approvalsReducer, initialApprovals } from './approvals';
import { Conversation } from './Conversation';
import { DiffView } from './DiffView';
import { ATTEMPT_STATUS, ago, count, duration, isAttemptActive, profileLabel, usd } from './format';
import { type Process, useProcessLogs } from './logsStore';
import { mergeLabel, pullRequestAction } from './pullRequest';
import { useDiff } from './useDiff';
import { type SubscribeOrg, useOrgListener } from './useOrgEvents';

export interface AttemptPanelProps {
  org: string;
  attempt: Attempt;
  /** Its number on the page: #1 is the task's first attempt. */
  number: number;
  canRun: boolean;
  /** The project's repository is reached through the GitHub App: pull requests can be
   *  opened and merged. */
  onGithub: boolean;
  mergeMethod?: Project['merge_method'];
  subscribe: SubscribeOrg;
  onAttempt: (attempt: Attempt) => void;
}

type Tab = 'conversation' | 'diff';

function upsert(list: Process[], p: Process): Process[] {
  const i = list.findIndex((x) => x.id === p.id);
  if (i < 0) return [...list, p].sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
  const next = list.slice();
  next[i] = p;
  return next;
}

export function AttemptPanel({ org, attempt, number, canRun, onGithub, mergeMethod, subscribe, onAttempt }: AttemptPanelProps) {
  const id = useId();
  const [tab, setTab] = useState<Tab>('conversation');
  const [processes, setProcesses] = useState<Process[] | null>(null);
  const [processError, setProcessError] = useState<unknown>(null);
  const [approvals, dispatch] = useReducer(approvalsReducer, attempt.id, initialApprovals);
  const [focusApproval, setFocusApproval] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [stopping, setStopping] = useState(false);
  const [pulling, setPulling] = useState(false);
  const active = isAttemptActive(attempt.status);

  const loadProcesses = useCallback(async () => {
    try {
      const list = await allPages((cursor) =>
        api.get('/api/v1/orgs/{org}/attempts/{id}/processes', { path: { org, id: attempt.id }, query: { limit: 200, cursor } }),
      );
      setProcesses(list);
      setProcessError(null);
    } catch (e) {
      setProcessError(e);
    }
  }, [org, attempt.id]);

  const loadApprovals = useCallback(async () => {
    try {
      const list = await api.get('/api/v1/orgs/{org}/attempts/{id}/approvals', { path: { org, id: attempt.id } });
      dispatch({ type: 'loaded', approvals: list });
    } catch {
      // Approvals come again on the org stream; the conversation still shows the pending call.
    }
  }, [org, attempt.id]);

  useEffect(() => {
    void loadProcesses();
    void loadApprovals();
  }, [loadProcesses, loadApprovals]);

  // A status change (a follow-up queued, the run finished) may mean new processes.
  const lastStatus = useRef(attempt.status);
  useEffect(() => {
    if (lastStatus.current !== attempt.status) {
      lastStatus.current = attempt.status;
      void loadProcesses();
      if (!isAttemptActive(attempt.status)) void loadApprovals();
    }
  }, [attempt.status, loadProcesses, loadApprovals]);

  useOrgListener(subscribe, (signal) => {
    if (signal.type === 'resync') {
      void loadProcesses();
      void loadApprovals();
      return;
    }
    const { event } = signal;
    if (isKind(event, 'process.created', 'process.updated') && event.data.attempt_id === attempt.id) {
      setProcesses((prev) => upsert(prev ?? [], event.data));
      return;
    }
    const action = approvalActionFromEvent(event);
    if (action) dispatch(action);
  });

  const logs = useProcessLogs(org, attempt.id, processes);
  // The diff is read (or followed, while the attempt runs) only while its tab is shown.
  const diff = useDiff(org, tab === 'diff' ? attempt.id : null, active);

  const decide = async (approvalId: string, approve: boolean, reason: string | null) => {
    dispatch({ type: 'deciding', id: approvalId });
    try {
      await api.post('/api/v1/orgs/{org}/attempts/{id}/approvals/{approval_id}', {
        path: { org, id: attempt.id, approval_id: approvalId },
        body: approve ? { approve } : { approve, reason },
      });
      dispatch({ type: 'decided', id: approvalId, attemptId: attempt.id, approve, reason });
    } catch (e) {
      dispatch({ type: 'decide-failed', id: approvalId, error: errorMessage(e) });
    }
  };

  const stop = async () => {
    setStopping(true);
    setActionError(null);
    try {
      onAttempt(await api.post('/api/v1/orgs/{org}/attempts/{id}/stop', { path: { org, id: attempt.id } }));
    } catch (e) {
      setActionError(errorMessage(e));
    } finally {
      setStopping(false);
    }
  };

  const pullAction = canRun ? pullRequestAction(attempt, onGithub) : null;
  const pull = async () => {
    setPulling(true);
    setActionError(null);
    try {
      const path = { path: { org, id: attempt.id } };
      onAttempt(
        pullAction === 'merge'
          ? await api.post('/api/v1/orgs/{org}/attempts/{id}/merge', path)
          : await api.post('/api/v1/orgs/{org}/attempts/{id}/pull-request', path),
      );
    } catch (e) {
      setActionError(errorMessage(e));
    } finally {
      setPulling(false);
    }
  };

  const liveLog = logs.find((l) => !l.log.ended && l.connection !== 'idle');
  const entries = logs.reduce((n, l) => n + l.log.entries.length, 0);

  const tabs: { id: Tab; label: string }[] = [
    { id: 'conversation', label: 'Conversation' },
    {
      id: 'diff',
      label: attempt.diff_summary
        ? `Changes (${count(attempt.diff_summary.files_changed)})`
        : diff.diff
          ? `Changes (${count(diff.diff.summary.files_changed)})`
          : 'Changes',
    },
  ];
  const onTabKey = (e: KeyboardEvent<HTMLButtonElement>) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft' && e.key !== 'Home' && e.key !== 'End') return;
    e.preventDefault();
    const i = tabs.findIndex((t) => t.id === tab);
    const next = e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : (i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length;
    const t = tabs[next];
    if (t) {
      setTab(t.id);
      document.getElementById(`${id}-tab-${t.id}`)?.focus();
    }
  };

  return (
    <section className="attempt-panel" aria-labelledby={`${id}-h`} data-testid="attempt" data-status={attempt.status}>
      <header className="attempt-head">
        <h2 id={`${id}-h`}>
          Attempt #{number} <span className={`pill pill-${attempt.status}`}>{ATTEMPT_STATUS[attempt.status]}</span>
        </h2>
        <dl className="facts">
          <div>
            <dt>Profile</dt>
            <dd className="mono">{profileLabel(attempt.profile, attempt.executor)}</dd>
          </div>
          <div>
            <dt>Branch</dt>
            <dd className="mono">
              {attempt.branch} <span className="muted">from {attempt.base_branch}</span>
            </dd>
          </div>
          <div>
            <dt>{attempt.started_at ? 'Ran' : 'Queued'}</dt>
            <dd>
              {attempt.started_at ? duration(attempt.started_at, attempt.finished_at) : ago(attempt.queued_at)}
            </dd>
          </div>
          {attempt.usage && (attempt.usage.input_tokens > 0 || attempt.usage.output_tokens > 0) && (
            <div>
              <dt>Usage</dt>
              <dd>
                {count(attempt.usage.input_tokens)} in · {count(attempt.usage.output_tokens)} out
                {typeof attempt.usage.cost_usd === 'number' ? ` · ${usd(attempt.usage.cost_usd)}` : ''}
              </dd>
            </div>
          )}
          {attempt.retry_count > 0 && (
            <div>
              <dt>Retries</dt>
              <dd>
                {attempt.retry_count} of {attempt.max_retries}
              </dd>
            </div>
          )}
          {attempt.pr_url && (
            <div>
              <dt>Pull request</dt>
              <dd>
                <a href={attempt.pr_url} target="_blank" rel="noopener noreferrer">
                  {attempt.pr_url.replace(/^https?:\/\/(www\.)?github\.com\//, '')}
                </a>
                {attempt.pr_state && attempt.pr_state !== 'open' ? ` (${attempt.pr_state})` : ''}
              </dd>
            </div>
          )}
        </dl>
        <div className="attempt-actions">
          {canRun && active && (
            <button type="button" className="button button-danger" onClick={() => void stop()} disabled={stopping || attempt.stop_requested}>
              {attempt.stop_requested ? 'Stopping…' : 'Stop'}
            </button>
          )}
          {pullAction && (
            <button type="button" className="button" onClick={() => void pull()} disabled={pulling}>
              {pullAction === 'merge'
                ? pulling
                  ? 'Merging…'
                  : mergeLabel(mergeMethod)
                : pulling
                  ? 'Opening pull request…'
                  : 'Open pull request'}
            </button>
          )}
        </div>
      </header>
      {attempt.failure_reason && (
        <p className="notice notice-error">
          {attempt.status === 'failed' ? 'The attempt failed: ' : ''}
          {attempt.failure_reason}
        </p>
      )}
      {actionError && (
        <p className="notice notice-error" role="alert">
          {actionError}
        </p>
      )}

      <ApprovalsPanel items={approvals.open} canDecide={canRun} onDecide={(a, ok, r) => void decide(a, ok, r)} focusId={focusApproval} />

      <div className="tabs" role="tablist" aria-label="Attempt views">
        {tabs.map((t) => (
          <button
            key={t.id}
            id={`${id}-tab-${t.id}`}
            type="button"
            role="tab"
            aria-selected={tab === t.id}
            aria-controls={`${id}-panel-${t.id}`}
            tabIndex={tab === t.id ? 0 : -1}
            className="tab"
            onClick={() => setTab(t.id)}
            onKeyDown={onTabKey}
          >
            {t.label}
          </button>
        ))}
        <span className="tabs-end">
          {tab === 'conversation' ? (
            liveLog ? (
              <ConnectionBadge state={liveLog.connection as Exclude<typeof liveLog.connection, 'idle'>} label="Log" />
            ) : (
              <span className="muted">{processes && processes.length > 0 ? `${count(entries)} entries` : ''}</span>
            )
          ) : diff.connection !== 'idle' ? (
            <ConnectionBadge state={diff.connection} label="Diff" />
          ) : null}
        </span>
      </div>

      <div
        id={`${id}-panel-${tab}`}
        role="tabpanel"
        aria-labelledby={`${id}-tab-${tab}`}
        className="tab-panel"
      >
        {tab === 'conversation' ? (
          <>
            <ErrorNotice error={processError} onRetry={() => void loadProcesses()} />
            {processes === null && !processError ? (
              <Loading what="Loading the conversation" />
            ) : (
              <Conversation
                logs={logs}
                approvals={approvals}
                emptyText={
                  attempt.status === 'queued' || attempt.status === 'scheduled'
                    ? 'Waiting for a worker to pick the attempt up…'
                    : 'No process has run for this attempt.'
                }
                onReviewApproval={(approvalId) => {
                  setFocusApproval(null);
                  requestAnimationFrame(() => setFocusApproval(approvalId));
                }}
              />
            )}
            {canRun && <FollowUp org={org} attempt={attempt} onQueued={(p) => setProcesses((prev) => upsert(prev ?? [], p))} />}
          </>
        ) : (
          <DiffPanel diffData={diff} />
        )}
      </div>
    </section>
  );
}

function DiffPanel({ diffData }: { diffData: ReturnType<typeof useDiff> }) {
  if (diffData.error && !diffData.diff) {
    return (
      <div className="notice notice-error" role="alert">
        <p>The diff could not be loaded: {diffData.error}</p>
        <p>Switch tabs to try again.</p>
      </div>
    );
  }
  if (!diffData.diff) return <Loading what="Loading the diff" />;
  return (
    <>
      {diffData.error && (
        <p className="notice notice-error" role="alert">
          {diffData.error}
        </p>
      )}
      <DiffView diff={diffData.diff} />
    </>
  );
}

function FollowUp({ org, attempt, onQueued }: { org: string; attempt: Attempt; onQueued: (p: Process) => void }) {
  const id = useId();
  const [prompt, setPrompt] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const active = isAttemptActive(attempt.status);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!prompt.trim()) {
      setError('Write the follow-up first.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const p = await api.post('/api/v1/orgs/{org}/attempts/{id}/follow-up', {
        path: { org, id: attempt.id },
        body: { prompt },
        idempotencyKey: crypto.randomUUID(),
      });
      setPrompt('');
      onQueued(p);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="follow-up" onSubmit={submit}>
      <label htmlFor={`${id}-text`}>Follow-up</label>
      <textarea
        id={`${id}-text`}
        rows={2}
        value={prompt}
        onChange={(e) => setPrompt(e.target.value)}
        aria-describedby={`${id}-help`}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.metaKey || e.ctrlKey)) {
            e.preventDefault();
            e.currentTarget.form?.requestSubmit();
          }
        }}
      />
      <div className="form-row">
        <button type="submit" className="button button-primary" disabled={busy || active}>
          {busy ? 'Sending…' : 'Send follow-up'}
        </button>
        <span id={`${id}-help`} className="muted">
          {active ? 'You can send a follow-up once this run has finished.' : 'Continues the same session on the same branch. Ctrl+Enter sends.'}
        </span>
      </div>
      {error && (
        <p className="notice notice-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
