import { type FormEvent, useCallback, useRef, useState } from 'react';
import { api } from '../api/client';
import type { Schemas } from '../api/types';
import { Loading } from '../components/Loading';
import { describeError } from './errors';
import { explainMissing } from './permissions';
import {
  ConfirmDialog,
  Field,
  Flash,
  FormError,
  RoleNotice,
  type SectionProps,
  SettingsError,
  Time,
  useFlash,
  useResource,
} from './ui';
import { secretNameError, secretValueError } from './validation';

type SecretInfo = Schemas['SecretInfo'];

/** Agent secrets: names only; values are write-only (set or replaced, never shown). */
export function SecretsSection(props: SectionProps) {
  const missing = explainMissing(props.role, 'secrets.manage');
  return (
    <section aria-labelledby="secrets-heading">
      <h2 id="secrets-heading">Agent secrets</h2>
      <p className="muted">
        Each secret is set as an environment variable of the same name in every attempt’s agent (API keys, registry
        tokens). Values are encrypted and write-only: nobody can read one back, here or through the API.
      </p>
      {missing ? <RoleNotice>{missing}</RoleNotice> : <Secrets {...props} />}
    </section>
  );
}

function Secrets({ org }: SectionProps) {
  const load = useCallback((signal: AbortSignal) => api.get('/api/v1/orgs/{org}/secrets', { path: { org }, signal }), [org]);
  const { data, setData, error, loading, reload } = useResource(load);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [errors, setErrors] = useState<{ name?: string; value?: string }>({});
  const [saveError, setSaveError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [deleting, setDeleting] = useState<SecretInfo | null>(null);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  const [flash, setFlash] = useFlash();
  const valueRef = useRef<HTMLInputElement>(null);
  const nameRef = useRef<HTMLInputElement>(null);
  const items = data?.items ?? null;
  const replacing = items?.some((s) => s.name === name) ?? false;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const next = { name: secretNameError(name) ?? undefined, value: secretValueError(value) ?? undefined };
    setErrors(next);
    setSaveError(null);
    if (next.name || next.value) return;
    setBusy(true);
    try {
      const saved = await api.put('/api/v1/orgs/{org}/secrets/{name}', { path: { org, name }, body: { value } });
      setData((prev) => {
        const rest = (prev?.items ?? []).filter((s) => s.name !== saved.name);
        return { ...prev, items: [...rest, saved].sort((a, b) => a.name.localeCompare(b.name)) };
      });
      setFlash(replacing ? `The value of ${saved.name} was replaced.` : `The secret ${saved.name} was set.`);
      setName('');
      setValue('');
      nameRef.current?.focus();
    } catch (err) {
      setSaveError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (secret: SecretInfo) => {
    setBusy(true);
    setDeleteError(null);
    try {
      await api.delete('/api/v1/orgs/{org}/secrets/{name}', { path: { org, name: secret.name } });
      setData((prev) => (prev ? { ...prev, items: prev.items.filter((s) => s.name !== secret.name) } : prev));
      setDeleting(null);
      setFlash(`The secret ${secret.name} was deleted.`);
    } catch (err) {
      setDeleteError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <form onSubmit={submit} className="card form-grid" noValidate aria-labelledby="secret-form-heading">
        <h3 id="secret-form-heading">{replacing ? `Replace the value of ${name}` : 'Set a secret'}</h3>
        <Field
          label="Secret name"
          help="The environment variable it becomes: upper-case letters, digits and _, e.g. ANTHROPIC_API_KEY. An existing name replaces its value."
          error={errors.name}
        >
          {(p) => (
            <input
              {...p}
              ref={nameRef}
              value={name}
              autoComplete="off"
              autoCapitalize="characters"
              spellCheck={false}
              onChange={(e) => setName(e.target.value.toUpperCase())}
            />
          )}
        </Field>
        <Field label="Value" help="Write-only: it is never shown again, not even to you." error={errors.value}>
          {(p) => (
            <input
              {...p}
              ref={valueRef}
              type="password"
              value={value}
              autoComplete="new-password"
              spellCheck={false}
              onChange={(e) => setValue(e.target.value)}
            />
          )}
        </Field>
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? 'Saving…' : replacing ? 'Replace value' : 'Set secret'}
        </button>
        <FormError error={saveError} />
      </form>
      <h3>Secrets</h3>
      <SettingsError error={error} onRetry={reload} />
      <Flash text={flash} />
      {loading && !data && <Loading what="Loading secrets" />}
      {items && items.length === 0 && <p className="muted">No secrets yet.</p>}
      {items && items.length > 0 && (
        <div className="table-wrap">
          <table className="settings-table">
            <caption className="visually-hidden">Agent secrets by name; values are never shown</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Last changed</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((s) => (
                <tr key={s.name}>
                  <td data-label="Name">
                    <strong className="mono">{s.name}</strong>
                  </td>
                  <td data-label="Last changed">
                    <Time iso={s.updated_at} />
                  </td>
                  <td data-label="Created">
                    <Time iso={s.created_at} />
                  </td>
                  <td data-label="Actions" className="actions">
                    <button
                      type="button"
                      className="button"
                      aria-label={`Replace the value of ${s.name}`}
                      onClick={() => {
                        setName(s.name);
                        setValue('');
                        setErrors({});
                        valueRef.current?.focus();
                      }}
                    >
                      Replace
                    </button>
                    <button
                      type="button"
                      className="button"
                      aria-label={`Delete secret ${s.name}`}
                      onClick={() => {
                        setDeleteError(null);
                        setDeleting(s);
                      }}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete the secret ${deleting?.name ?? ''}?`}
        confirmLabel="Delete secret"
        busy={busy}
        error={deleteError}
        onCancel={() => setDeleting(null)}
        onConfirm={() => deleting && void remove(deleting)}
      >
        <p>Attempts that start from now on run without it.</p>
      </ConfirmDialog>
    </>
  );
}
