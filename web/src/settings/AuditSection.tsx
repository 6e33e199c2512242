import { type FormEvent, useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { api } from '../api/client';
import { Loading } from '../components/Loading';
import {
  actionFilter,
  AUDIT_ACTIONS,
  AUDIT_PAGE_SIZE,
  auditReducer,
  describeTarget,
  initialAuditState,
  statusKind,
} from './audit';
import { explainMissing } from './permissions';
import { RoleNotice, type SectionProps, SettingsError, Time } from './ui';

const ACTOR_TYPES = { user: 'person', token: 'API token', github: 'GitHub', system: 'Switchyard' } as const;

/** The org's audit log, newest first, a page at a time, filtered by action. */
export function AuditSection(props: SectionProps) {
  const missing = explainMissing(props.role, 'audit.read');
  return (
    <section aria-labelledby="audit-heading">
      <h2 id="audit-heading">Audit log</h2>
      <p className="muted">Every change made in the organization: who, what, the answer, and from where.</p>
      {missing ? <RoleNotice>{missing}</RoleNotice> : <Audit {...props} />}
    </section>
  );
}

function Audit({ org }: SectionProps) {
  const [state, dispatch] = useReducer(auditReducer, initialAuditState);
  const [draft, setDraft] = useState('');
  const requests = useRef(0);
  const aborts = useRef<AbortController | null>(null);

  const fetchPage = useCallback(
    (action: string, cursor: string | null) => {
      const request = ++requests.current;
      const more = cursor !== null;
      if (!more) aborts.current?.abort();
      const controller = more && aborts.current ? aborts.current : new AbortController();
      aborts.current = controller;
      dispatch({ type: 'start', request, action, more });
      api
        .get('/api/v1/orgs/{org}/audit-events', {
          path: { org },
          query: { limit: AUDIT_PAGE_SIZE, cursor: cursor ?? undefined, action: actionFilter(action) },
          signal: controller.signal,
        })
        .then(
          (page) => dispatch({ type: 'page', request, page }),
          (error: unknown) => {
            if (!controller.signal.aborted) dispatch({ type: 'failed', request, error });
          },
        );
    },
    [org],
  );

  useEffect(() => {
    fetchPage('', null);
    return () => aborts.current?.abort();
  }, [fetchPage]);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    fetchPage(draft.trim(), null);
  };

  const loading = state.pending !== null;

  return (
    <>
      <form onSubmit={apply} className="filter-form" role="search" aria-label="Filter the audit log">
        <label htmlFor="audit-action">Action</label>
        <input
          id="audit-action"
          list="audit-actions"
          value={draft}
          placeholder="e.g. tokens.create"
          autoComplete="off"
          autoCapitalize="none"
          spellCheck={false}
          aria-describedby="audit-action-help"
          onChange={(e) => setDraft(e.target.value)}
        />
        <datalist id="audit-actions">
          {AUDIT_ACTIONS.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <button type="submit" className="button">
          Filter
        </button>
        {state.action && (
          <button
            type="button"
            className="button button-quiet"
            onClick={() => {
              setDraft('');
              fetchPage('', null);
            }}
          >
            Show every action
          </button>
        )}
        <p id="audit-action-help" className="muted small full">
          An action is <span className="mono">resource.verb</span>, such as{' '}
          <span className="mono">members.update</span>; leave it empty for every action.
        </p>
      </form>
      <p className="visually-hidden" role="status" aria-live="polite">
        {state.loaded
          ? `${state.events.length} event${state.events.length === 1 ? '' : 's'} shown${state.action ? ` for ${state.action}` : ''}.`
          : ''}
      </p>
      <SettingsError error={state.error} onRetry={() => fetchPage(state.action, state.loaded ? state.cursor : null)} />
      {!state.loaded && loading && <Loading what="Loading the audit log" />}
      {state.loaded && state.events.length === 0 && (
        <p className="muted">{state.action ? `No events for ${state.action}.` : 'No events yet.'}</p>
      )}
      {state.events.length > 0 && (
        <div className="table-wrap">
          <table className="settings-table audit-table">
            <caption className="visually-hidden">
              Audit events, newest first{state.action ? `, action ${state.action}` : ''}
            </caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Status</th>
                <th scope="col">Source address</th>
              </tr>
            </thead>
            <tbody>
              {state.events.map((e) => (
                <tr key={e.id}>
                  <td data-label="Time">
                    <Time iso={e.created_at} />
                  </td>
                  <td data-label="Actor">
                    <strong>{e.actor_label}</strong> <span className="muted">({ACTOR_TYPES[e.actor_type] ?? e.actor_type})</span>
                  </td>
                  <td data-label="Action" className="mono">
                    {e.action}
                  </td>
                  <td data-label="Target" className="mono wrap" title={`${e.method} ${e.path}`}>
                    {describeTarget(e)}
                  </td>
                  <td data-label="Status">
                    <span className={`pill pill-${statusKind(e.status)}`}>{e.status}</span>
                  </td>
                  <td data-label="Source address" className="mono">
                    {e.source_ip ?? '—'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {state.loaded && state.cursor && (
        <button type="button" className="button" disabled={loading} onClick={() => fetchPage(state.action, state.cursor)}>
          {loading ? 'Loading…' : 'Load more'}
        </button>
      )}
    </>
  );
}
