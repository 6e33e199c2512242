import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, api } from '../api/client';
import type { Schemas } from '../api/types';
import { Loading } from '../components/Loading';
import { describeError } from './errors';
import { can, explainMissing } from './permissions';
import {
  ConfirmDialog,
  Field,
  Flash,
  FormError,
  idempotencyKey,
  RoleNotice,
  type SectionProps,
  SettingsError,
  useFlash,
  useResource,
} from './ui';
import {
  type FieldErrors,
  type ProfileField,
  type ProfileOptions,
  parseVariants,
  serverFieldError,
  validateProfileForm,
  type Variants,
  variantPatch,
  variantsText,
} from './validation';

type Profile = Schemas['ExecutorProfile'];
type Executor = Schemas['ExecutorAvailability'];

type Editing = { mode: 'create' } | { mode: 'edit'; profile: Profile };

function sourceLabel(p: Profile): string {
  if (p.source === 'builtin') return 'Built-in';
  if (p.overrides === 'builtin') return 'Organization (replaces the built-in one)';
  return 'Organization';
}

/** The executors catalogue and the org's executor profiles: create, edit, delete. */
export function ProfilesSection({ org, role }: SectionProps) {
  const loadProfiles = useCallback(
    (signal: AbortSignal) => api.get('/api/v1/orgs/{org}/executor-profiles', { path: { org }, signal }),
    [org],
  );
  const loadExecutors = useCallback(
    (signal: AbortSignal) => api.get('/api/v1/orgs/{org}/executors', { path: { org }, signal }),
    [org],
  );
  const profiles = useResource(loadProfiles);
  const executors = useResource(loadExecutors);
  const [editing, setEditing] = useState<Editing | null>(null);
  const [deleting, setDeleting] = useState<Profile | null>(null);
  const [busy, setBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  const [flash, setFlash] = useFlash();
  const writable = can(role, 'profiles.write');
  const newButton = useRef<HTMLButtonElement>(null);

  const remove = async (profile: Profile) => {
    setBusy(true);
    setDeleteError(null);
    try {
      await api.delete('/api/v1/orgs/{org}/executor-profiles/{name}', { path: { org, name: profile.name } });
      setDeleting(null);
      setFlash(
        profile.overrides === 'builtin'
          ? `The organization’s ${profile.name} profile was deleted; the built-in one is back in effect.`
          : `The profile ${profile.name} was deleted.`,
      );
      profiles.reload();
    } catch (err) {
      setDeleteError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="profiles-heading">
      <h2 id="profiles-heading">Executor profiles</h2>
      <p className="muted">
        A profile is an executor and named variants of its options. Attempts start from a profile (
        <span className="mono">name</span> or <span className="mono">name:variant</span>); an organization profile
        named after an executor replaces its built-in profile.
      </p>
      <RoleNotice>{explainMissing(role, 'profiles.write')}</RoleNotice>
      <Flash text={flash} />

      <h3>Profiles</h3>
      <SettingsError error={profiles.error} onRetry={profiles.reload} />
      {profiles.loading && !profiles.data && <Loading what="Loading profiles" />}
      {profiles.data && (
        <div className="table-wrap">
          <table className="settings-table">
            <caption className="visually-hidden">Executor profiles in effect for the organization</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Executor</th>
                <th scope="col">Source</th>
                <th scope="col">Variants</th>
                {writable && (
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {profiles.data.items.map((p) => (
                <tr key={p.name}>
                  <td data-label="Name">
                    <strong className="mono">{p.name}</strong>
                  </td>
                  <td data-label="Executor">{p.executor}</td>
                  <td data-label="Source">{sourceLabel(p)}</td>
                  <td data-label="Variants">
                    <span className="mono">{Object.keys(p.variants).join(', ')}</span>
                  </td>
                  {writable && (
                    <td data-label="Actions" className="actions">
                      <button
                        type="button"
                        className="button"
                        onClick={() => setEditing({ mode: 'edit', profile: p })}
                        aria-label={`${p.source === 'builtin' ? 'Customize' : 'Edit'} profile ${p.name}`}
                      >
                        {p.source === 'builtin' ? 'Customize' : 'Edit'}
                      </button>
                      {p.source === 'org' && (
                        <button
                          type="button"
                          className="button"
                          onClick={() => {
                            setDeleteError(null);
                            setDeleting(p);
                          }}
                          aria-label={`${p.overrides === 'builtin' ? 'Restore the built-in' : 'Delete'} profile ${p.name}`}
                        >
                          {p.overrides === 'builtin' ? 'Restore built-in' : 'Delete'}
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {writable && !editing && (
        <button ref={newButton} type="button" className="button button-primary" onClick={() => setEditing({ mode: 'create' })}>
          New profile
        </button>
      )}
      {editing && (
        <ProfileEditor
          key={editing.mode === 'edit' ? editing.profile.name : ''}
          org={org}
          editing={editing}
          executors={executors.data ?? []}
          onCancel={() => {
            setEditing(null);
            setTimeout(() => newButton.current?.focus());
          }}
          onSaved={(p) => {
            setEditing(null);
            setFlash(`The profile ${p.name} was saved.`);
            profiles.reload();
            setTimeout(() => newButton.current?.focus());
          }}
        />
      )}

      <h3>Executors</h3>
      <SettingsError error={executors.error} onRetry={executors.reload} />
      {executors.loading && !executors.data && <Loading what="Loading executors" />}
      {executors.data && (
        <div className="table-wrap">
          <table className="settings-table compact">
            <caption className="visually-hidden">Executors and the workers able to run them</caption>
            <thead>
              <tr>
                <th scope="col">Executor</th>
                <th scope="col">Workers able to run it</th>
              </tr>
            </thead>
            <tbody>
              {executors.data.map((x) => (
                <tr key={x.name}>
                  <td data-label="Executor" className="mono">
                    {x.name}
                  </td>
                  <td data-label="Workers">
                    {x.workers > 0 ? x.workers : <span className="muted">none running</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <ConfirmDialog
        open={deleting !== null}
        title={
          deleting?.overrides === 'builtin'
            ? `Restore the built-in ${deleting.name} profile?`
            : `Delete the profile ${deleting?.name ?? ''}?`
        }
        confirmLabel={deleting?.overrides === 'builtin' ? 'Restore built-in' : 'Delete profile'}
        busy={busy}
        error={deleteError}
        onCancel={() => setDeleting(null)}
        onConfirm={() => deleting && void remove(deleting)}
      >
        <p>
          {deleting?.overrides === 'builtin'
            ? 'The organization’s own version is deleted and the built-in profile comes back into effect.'
            : 'Attempts that name it will be refused.'}{' '}
          Attempts already started keep the options they started with; project overrides of this name stay.
        </p>
      </ConfirmDialog>
    </section>
  );
}

const STARTER: Variants = { default: {} };

function ProfileEditor({
  org,
  editing,
  executors,
  onCancel,
  onSaved,
}: {
  org: string;
  editing: Editing;
  executors: Executor[];
  onCancel: () => void;
  onSaved: (p: Profile) => void;
}) {
  const creating = editing.mode === 'create';
  const original = editing.mode === 'edit' ? editing.profile : null;
  const [name, setName] = useState(original?.name ?? '');
  const [executor, setExecutor] = useState<string>(original?.executor ?? '');
  const [text, setText] = useState(variantsText((original?.variants as Variants | undefined) ?? STARTER));
  const [errors, setErrors] = useState<FieldErrors<ProfileField>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    heading.current?.focus();
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const checked = validateProfileForm({ name, executor, variantsText: text }, creating);
    setErrors(checked.errors);
    setError(null);
    if (!checked.variants) return;
    setBusy(true);
    try {
      let saved: Profile;
      if (original) {
        // A dropped variant is sent as null, which removes it; the generated type does not
        // spell that out (UpdateExecutorProfile's description does).
        const variants = variantPatch(original.variants as Variants, checked.variants) as Record<string, ProfileOptions>;
        saved = await api.patch('/api/v1/orgs/{org}/executor-profiles/{name}', {
          path: { org, name: original.name },
          body: { executor, variants },
        });
      } else {
        saved = await api.post('/api/v1/orgs/{org}/executor-profiles', {
          path: { org },
          body: { name: name.trim(), executor, variants: checked.variants },
          idempotencyKey: idempotencyKey(),
        });
      }
      onSaved(saved);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'validation_failed') {
        const { field, message } = serverFieldError(err.message);
        if (field) {
          setErrors({ [field]: message });
          return;
        }
      }
      if (err instanceof ApiError && err.code === 'unknown_executor') {
        setErrors({ executor: describeError(err) });
        return;
      }
      if (err instanceof ApiError && err.code === 'profile_exists') {
        setErrors({ name: describeError(err) });
        return;
      }
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const title = creating
    ? 'New profile'
    : original?.source === 'builtin'
      ? `Customize the built-in ${original.name} profile`
      : `Edit profile ${original?.name ?? ''}`;

  return (
    <form onSubmit={submit} className="card form-grid wide" noValidate aria-labelledby="profile-editor-heading">
      <h3 id="profile-editor-heading" ref={heading} tabIndex={-1}>
        {title}
      </h3>
      {original?.source === 'builtin' && (
        <p className="muted">Saving creates the organization’s own copy; delete it later to go back to the built-in one.</p>
      )}
      {creating ? (
        <Field
          label="Profile name"
          help="Lower-case letters, digits and -. Name it after an executor to replace that executor’s built-in profile."
          error={errors.name}
        >
          {(p) => (
            <input
              {...p}
              value={name}
              autoComplete="off"
              autoCapitalize="none"
              spellCheck={false}
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
      ) : null}
      <Field label="Executor" error={errors.executor}>
        {(p) => (
          <select {...p} value={executor} onChange={(e) => setExecutor(e.target.value)}>
            <option value="">Choose an executor</option>
            {executors.map((x) => (
              <option key={x.name} value={x.name}>
                {x.name} ({x.workers === 0 ? 'no workers running' : `${x.workers} worker${x.workers === 1 ? '' : 's'}`})
              </option>
            ))}
            {executor && !executors.some((x) => x.name === executor) && <option value={executor}>{executor}</option>}
          </select>
        )}
      </Field>
      <Field
        label="Variants (JSON)"
        help={
          <>
            Variant name → options: <span className="mono">model</span>, <span className="mono">reasoning_effort</span>,{' '}
            <span className="mono">permission_policy</span> (auto, supervised or plan),{' '}
            <span className="mono">extra_args</span>, <span className="mono">env</span>,{' '}
            <span className="mono">resource_class</span>. Must include <span className="mono">default</span>. Every
            member can read profiles: keep keys and tokens in agent secrets, not in <span className="mono">env</span>.
          </>
        }
        error={errors.variants}
      >
        {(p) => (
          <textarea
            {...p}
            className="mono code-input"
            rows={Math.min(24, Math.max(8, text.split('\n').length + 1))}
            value={text}
            spellCheck={false}
            autoCapitalize="none"
            onChange={(e) => setText(e.target.value)}
            onBlur={() => {
              const parsed = parseVariants(text);
              setErrors((prev) => {
                const { variants: _drop, ...rest } = prev;
                return parsed.error ? { ...rest, variants: parsed.error } : rest;
              });
            }}
          />
        )}
      </Field>
      <div className="form-row">
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? 'Saving…' : creating ? 'Create profile' : 'Save profile'}
        </button>
        <button type="button" className="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
      <FormError error={error} />
    </form>
  );
}
