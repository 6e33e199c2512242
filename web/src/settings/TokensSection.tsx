import { type FormEvent, useCallback, useId, useState } from 'react';
import { api } from '../api/client';
import { Loading } from '../components/Loading';
import { describeError } from './errors';
import { explainMissing, type Scope } from './permissions';
import {
  type ApiTokenInfo,
  effectiveScopes,
  MAX_EXPIRY_DAYS,
  SCOPE_DESCRIPTIONS,
  SCOPES,
  scopeWarnings,
  type TokenFormErrors,
  tokenState,
  toggleScope,
  validateTokenForm,
} from './tokens';
import {
  ConfirmDialog,
  Field,
  Flash,
  FormError,
  idempotencyKey,
  RoleNotice,
  type SectionProps,
  SettingsError,
  ShownOnce,
  Time,
  useFlash,
  usePagedList,
} from './ui';

const STATE_LABELS = { active: 'Active', revoked: 'Revoked', expired: 'Expired' } as const;

/** Org API tokens: the list (never the secrets), minting one (its secret shown once) and
 *  revoking. */
export function TokensSection(props: SectionProps) {
  const missing = explainMissing(props.role, 'tokens.manage');
  return (
    <section aria-labelledby="tokens-heading">
      <h2 id="tokens-heading">API tokens</h2>
      <p className="muted">
        Tokens let programs (CI, scripts, the command line) call the API for this organization:{' '}
        <span className="mono">Authorization: Bearer sy_…</span>
      </p>
      {missing ? <RoleNotice>{missing}</RoleNotice> : <Tokens {...props} />}
    </section>
  );
}

function Tokens({ org }: SectionProps) {
  const loadPage = useCallback(
    (cursor: string | undefined, signal: AbortSignal) =>
      api.get('/api/v1/orgs/{org}/tokens', { path: { org }, query: { limit: 200, cursor }, signal }),
    [org],
  );
  const { items, setItems, cursor, error, loadMore, loadingMore, reload } = usePagedList(loadPage);
  const [secret, setSecret] = useState<{ name: string; token: string } | null>(null);
  const [revoking, setRevoking] = useState<ApiTokenInfo | null>(null);
  const [busy, setBusy] = useState(false);
  const [revokeError, setRevokeError] = useState<unknown>(null);
  const [flash, setFlash] = useFlash();

  const revoke = async (token: ApiTokenInfo) => {
    setBusy(true);
    setRevokeError(null);
    try {
      await api.delete('/api/v1/orgs/{org}/tokens/{id}', { path: { org, id: token.id } });
      const now = new Date().toISOString();
      setItems((prev) => prev?.map((t) => (t.id === token.id ? { ...t, revoked_at: t.revoked_at ?? now } : t)) ?? prev);
      setRevoking(null);
      setFlash(`The token ${token.name} was revoked.`);
    } catch (err) {
      setRevokeError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <CreateToken
        org={org}
        onCreated={(info, token) => {
          setSecret({ name: info.name, token });
          setItems((prev) => [...(prev ?? []), info]);
        }}
      />
      {secret && (
        <ShownOnce title={`Token “${secret.name}” created`} value={secret.token} testId="token-secret" onDone={() => setSecret(null)}>
          <p>Switchyard keeps only a hash of it. If it is lost, revoke it and create another.</p>
        </ShownOnce>
      )}
      <h3>Tokens</h3>
      <SettingsError error={error} onRetry={reload} />
      <Flash text={flash} />
      {items === null && !error && <Loading what="Loading tokens" />}
      {items && items.length === 0 && <p className="muted">No tokens yet.</p>}
      {items && items.length > 0 && (
        <div className="table-wrap">
          <table className="settings-table">
            <caption className="visually-hidden">API tokens of the organization</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Scopes</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((t) => {
                const state = tokenState(t);
                return (
                  <tr key={t.id} className={state === 'active' ? undefined : 'row-inactive'}>
                    <td data-label="Name">
                      <strong>{t.name}</strong>
                    </td>
                    <td data-label="Prefix">
                      <span className="mono">{t.prefix}…</span>
                    </td>
                    <td data-label="Scopes">{t.scopes.join(', ')}</td>
                    <td data-label="Expires">
                      <Time iso={t.expires_at} empty="Never" />
                    </td>
                    <td data-label="Last used">
                      <Time iso={t.last_used_at} empty="Never" />
                    </td>
                    <td data-label="Status">
                      <span className={`pill pill-${state}`}>{STATE_LABELS[state]}</span>
                      {t.revoked_at && (
                        <span className="muted block small">
                          <Time iso={t.revoked_at} />
                        </span>
                      )}
                    </td>
                    <td data-label="Actions" className="actions">
                      {state !== 'revoked' && (
                        <button
                          type="button"
                          className="button"
                          onClick={() => {
                            setRevokeError(null);
                            setRevoking(t);
                          }}
                          aria-label={`Revoke token ${t.name}`}
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <button type="button" className="button" onClick={loadMore} disabled={loadingMore}>
          {loadingMore ? 'Loading…' : 'Load more tokens'}
        </button>
      )}
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke the token “${revoking?.name ?? ''}”?`}
        confirmLabel="Revoke token"
        busy={busy}
        error={revokeError}
        onCancel={() => setRevoking(null)}
        onConfirm={() => revoking && void revoke(revoking)}
      >
        <p>Every request that presents it fails from now on. This cannot be undone.</p>
      </ConfirmDialog>
    </>
  );
}

function CreateToken({ org, onCreated }: { org: string; onCreated: (info: ApiTokenInfo, token: string) => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['read']);
  const [days, setDays] = useState('90');
  const [errors, setErrors] = useState<TokenFormErrors>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const effective = effectiveScopes(scopes);
  const warnings = scopeWarnings(scopes);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const checked = validateTokenForm({ name, scopes, expiresInDays: days });
    setErrors(checked.errors);
    setError(null);
    if (!checked.body) return;
    setBusy(true);
    try {
      const created = await api.post('/api/v1/orgs/{org}/tokens', {
        path: { org },
        body: checked.body,
        idempotencyKey: idempotencyKey(),
      });
      onCreated(created.api_token, created.token);
      setName('');
      setScopes(['read']);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const scopeDescribedBy = [errors.scopes ? `${id}-scopes-error` : null, warnings.length ? `${id}-scopes-warning` : null]
    .filter(Boolean)
    .join(' ');

  return (
    <form onSubmit={submit} className="card form-grid" noValidate aria-labelledby={`${id}-heading`}>
      <h3 id={`${id}-heading`}>Create a token</h3>
      <Field label="Token name" help="What uses it, e.g. “CI deploys”." error={errors.name}>
        {(p) => <input {...p} value={name} maxLength={100} autoComplete="off" onChange={(e) => setName(e.target.value)} />}
      </Field>
      <fieldset className="plain scopes" aria-describedby={scopeDescribedBy || undefined}>
        <legend>Scopes</legend>
        {SCOPES.map((s) => {
          const implied = s !== 'admin' && scopes.includes('admin');
          return (
            <div key={s} className="choice-row">
              <input
                type="checkbox"
                id={`${id}-scope-${s}`}
                checked={effective.includes(s)}
                disabled={implied}
                aria-describedby={`${id}-scope-${s}-help`}
                onChange={(e) => setScopes(toggleScope(scopes, s, e.target.checked))}
              />
              <label htmlFor={`${id}-scope-${s}`} className="choice-label">
                {s}
              </label>
              <span id={`${id}-scope-${s}-help`} className="muted small">
                {SCOPE_DESCRIPTIONS[s]}
                {implied ? ' (included in admin)' : ''}
              </span>
            </div>
          );
        })}
        <FormError id={`${id}-scopes-error`} error={errors.scopes} />
        {warnings.length > 0 && (
          <p id={`${id}-scopes-warning`} className="field-warning">
            {warnings.join(' ')}
          </p>
        )}
      </fieldset>
      <Field
        label="Expires after (days)"
        help={`1 to ${MAX_EXPIRY_DAYS}. Leave empty for a token that never expires.`}
        error={errors.expiresInDays}
      >
        {(p) => (
          <input
            {...p}
            type="number"
            inputMode="numeric"
            min={1}
            max={MAX_EXPIRY_DAYS}
            step={1}
            value={days}
            onChange={(e) => setDays(e.target.value)}
          />
        )}
      </Field>
      <button type="submit" className="button button-primary" disabled={busy}>
        {busy ? 'Creating…' : 'Create token'}
      </button>
      <FormError error={error} />
    </form>
  );
}
