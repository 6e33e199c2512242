import { type FormEvent, useCallback, useState } from 'react';
import { api } from '../api/client';
import type { Schemas } from '../api/types';
import { Loading } from '../components/Loading';
import { useSession } from '../session/session';
import { describeError } from './errors';
import { can, explainMissing, type Role } from './permissions';
import { Field, Flash, FormError, RoleNotice, type SectionProps, SettingsError, Time, useFlash, useResource } from './ui';
import { type OrgForm, validateOrgForm } from './validation';

type Organization = Schemas['Organization'];

/** The org's name and how many of its attempts may run at once. */
export function GeneralSection({ org, role }: SectionProps) {
  const load = useCallback((signal: AbortSignal) => api.get('/api/v1/orgs/{org}', { path: { org }, signal }), [org]);
  const { data, setData, error, loading, reload } = useResource(load);
  return (
    <section aria-labelledby="general-heading">
      <h2 id="general-heading">General</h2>
      <SettingsError error={error} onRetry={reload} />
      {loading && !data && <Loading what="Loading the organization" />}
      {data && <GeneralForm key={data.id} org={org} role={role} data={data} onSaved={setData} />}
    </section>
  );
}

function GeneralForm({
  org,
  role,
  data,
  onSaved,
}: {
  org: string;
  role: Role;
  data: Organization;
  onSaved: (o: Organization) => void;
}) {
  const { reload: reloadSession } = useSession();
  const [form, setForm] = useState<OrgForm>({ name: data.name, maxConcurrentAttempts: String(data.max_concurrent_attempts) });
  const [errors, setErrors] = useState<ReturnType<typeof validateOrgForm>['errors']>({});
  const [saveError, setSaveError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [flash, setFlash] = useFlash();
  const editable = can(role, 'org.update');

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const checked = validateOrgForm(form);
    setErrors(checked.errors);
    setSaveError(null);
    if (!checked.body) return;
    setBusy(true);
    try {
      const updated = await api.patch('/api/v1/orgs/{org}', { path: { org }, body: checked.body });
      onSaved(updated);
      setFlash('Saved.');
      // The header's organization switcher shows the name from /me.
      void reloadSession();
    } catch (err) {
      setSaveError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} className="card form-grid" noValidate aria-labelledby="general-heading">
      <RoleNotice>{explainMissing(role, 'org.update')}</RoleNotice>
      <fieldset disabled={!editable || busy} className="plain">
        <legend className="visually-hidden">Organization settings</legend>
        <Field label="Name" error={errors.name}>
          {(p) => (
            <input
              {...p}
              value={form.name}
              maxLength={200}
              autoComplete="organization"
              onChange={(e) => setForm({ ...form, name: e.target.value })}
            />
          )}
        </Field>
        <Field
          label="Max concurrent attempts"
          help="How many of the organization’s attempts may run at once (from 1 up to the ceiling this server’s operator sets); more wait in the queue."
          error={errors.maxConcurrentAttempts}
        >
          {(p) => (
            <input
              {...p}
              type="number"
              inputMode="numeric"
              min={1}
              max={1000}
              step={1}
              value={form.maxConcurrentAttempts}
              onChange={(e) => setForm({ ...form, maxConcurrentAttempts: e.target.value })}
            />
          )}
        </Field>
        {editable && (
          <button type="submit" className="button button-primary">
            {busy ? 'Saving…' : 'Save'}
          </button>
        )}
      </fieldset>
      <FormError error={saveError} />
      <Flash text={flash} />
      <dl className="facts">
        <dt>URL name</dt>
        <dd>
          <span className="mono">{data.slug}</span> <span className="muted">(fixed: it is in every link and token listing)</span>
        </dd>
        <dt>Created</dt>
        <dd>
          <Time iso={data.created_at} />
        </dd>
      </dl>
    </form>
  );
}
