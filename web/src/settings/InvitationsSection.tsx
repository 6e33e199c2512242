import { type FormEvent, useCallback, useState } from 'react';
import { api } from '../api/client';
import type { Schemas } from '../api/types';
import { Loading } from '../components/Loading';
import { describeError } from './errors';
import { assignableRoles, explainMissing, ROLE_DESCRIPTIONS, ROLE_LABELS, type Role } from './permissions';
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
import { type InviteBy, validateInvitationForm } from './validation';

type Invitation = Schemas['Invitation'];
type CreatedInvitation = Schemas['CreatedInvitation'];

const STATUS_LABELS: Record<Schemas['InvitationStatus'], string> = {
  pending: 'Pending',
  expired: 'Expired',
  accepted: 'Accepted',
  revoked: 'Revoked',
};

function invitee(i: Invitation): string {
  return i.github_login ?? i.email ?? 'someone';
}

/** Outstanding invitations, a form to invite someone (the link shown once), revoking. */
export function InvitationsSection(props: SectionProps) {
  const missing = explainMissing(props.role, 'invitations.manage');
  return (
    <section aria-labelledby="invitations-heading">
      <h2 id="invitations-heading">Invitations</h2>
      {missing ? <RoleNotice>{missing}</RoleNotice> : <Invitations {...props} />}
    </section>
  );
}

function Invitations({ org, role }: SectionProps) {
  const loadPage = useCallback(
    (cursor: string | undefined, signal: AbortSignal) =>
      api.get('/api/v1/orgs/{org}/invitations', { path: { org }, query: { limit: 200, cursor }, signal }),
    [org],
  );
  const { items, setItems, cursor, error, loadMore, loadingMore, reload } = usePagedList(loadPage);
  const [created, setCreated] = useState<CreatedInvitation | null>(null);
  const [revoking, setRevoking] = useState<Invitation | null>(null);
  const [busy, setBusy] = useState(false);
  const [revokeError, setRevokeError] = useState<unknown>(null);
  const [flash, setFlash] = useFlash();

  const revoke = async (invitation: Invitation) => {
    setBusy(true);
    setRevokeError(null);
    try {
      await api.delete('/api/v1/orgs/{org}/invitations/{id}', { path: { org, id: invitation.id } });
      setItems((prev) => prev?.filter((i) => i.id !== invitation.id) ?? prev);
      setRevoking(null);
      setFlash(`The invitation for ${invitee(invitation)} was revoked.`);
    } catch (err) {
      setRevokeError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <CreateInvitation
        org={org}
        role={role}
        onCreated={(c) => {
          setCreated(c);
          setItems((prev) => [...(prev ?? []), c.invitation]);
        }}
      />
      {created && (
        <ShownOnce
          title={`Invitation link for ${invitee(created.invitation)}`}
          value={created.accept_url}
          testId="invitation-link"
          onDone={() => setCreated(null)}
        >
          <p>
            Send this link to {invitee(created.invitation)}. It works once, only when they sign in as{' '}
            {created.invitation.github_login ? `GitHub user ${created.invitation.github_login}` : `someone with the email ${created.invitation.email}`}, until{' '}
            <Time iso={created.invitation.expires_at} />.
          </p>
        </ShownOnce>
      )}
      <h3>Outstanding invitations</h3>
      <SettingsError error={error} onRetry={reload} />
      <Flash text={flash} />
      {items === null && !error && <Loading what="Loading invitations" />}
      {items && items.length === 0 && <p className="muted">No outstanding invitations.</p>}
      {items && items.length > 0 && (
        <div className="table-wrap">
          <table className="settings-table">
            <caption className="visually-hidden">Invitations not yet accepted or revoked</caption>
            <thead>
              <tr>
                <th scope="col">Invitee</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Expires</th>
                <th scope="col">Sent</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((i) => (
                <tr key={i.id}>
                  <td data-label="Invitee">
                    <strong>{invitee(i)}</strong>{' '}
                    <span className="muted">{i.github_login ? '(GitHub login)' : '(email)'}</span>
                  </td>
                  <td data-label="Role">{ROLE_LABELS[i.role]}</td>
                  <td data-label="Status">
                    <span className={`pill pill-${i.status}`}>{STATUS_LABELS[i.status]}</span>
                  </td>
                  <td data-label="Expires">
                    <Time iso={i.expires_at} />
                  </td>
                  <td data-label="Sent">
                    <Time iso={i.created_at} />
                  </td>
                  <td data-label="Actions" className="actions">
                    <button
                      type="button"
                      className="button"
                      onClick={() => {
                        setRevokeError(null);
                        setRevoking(i);
                      }}
                      aria-label={`Revoke the invitation for ${invitee(i)}`}
                    >
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <button type="button" className="button" onClick={loadMore} disabled={loadingMore}>
          {loadingMore ? 'Loading…' : 'Load more invitations'}
        </button>
      )}
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke the invitation for ${revoking ? invitee(revoking) : ''}?`}
        confirmLabel="Revoke"
        busy={busy}
        error={revokeError}
        onCancel={() => setRevoking(null)}
        onConfirm={() => revoking && void revoke(revoking)}
      >
        <p>Its link stops working at once. You can send a new invitation later.</p>
      </ConfirmDialog>
    </>
  );
}

function CreateInvitation({
  org,
  role,
  onCreated,
}: {
  org: string;
  role: Role;
  onCreated: (c: CreatedInvitation) => void;
}) {
  const roles = assignableRoles(role);
  const [by, setBy] = useState<InviteBy>('github');
  const [value, setValue] = useState('');
  const [newRole, setNewRole] = useState<Role>('member');
  const [valueError, setValueError] = useState<string | undefined>();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const checked = validateInvitationForm({ by, value, role: newRole });
    setValueError(checked.errors.value);
    setError(null);
    if (!checked.body) return;
    setBusy(true);
    try {
      const created = await api.post('/api/v1/orgs/{org}/invitations', {
        path: { org },
        body: checked.body,
        idempotencyKey: idempotencyKey(),
      });
      onCreated(created);
      setValue('');
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} className="card form-grid" noValidate aria-labelledby="invite-heading">
      <h3 id="invite-heading">Invite someone</h3>
      <fieldset className="plain">
        <legend>Invite by</legend>
        <div className="form-row">
          <label className="choice">
            <input type="radio" name="invite-by" value="github" checked={by === 'github'} onChange={() => setBy('github')} />
            GitHub login
          </label>
          <label className="choice">
            <input type="radio" name="invite-by" value="email" checked={by === 'email'} onChange={() => setBy('email')} />
            Email address
          </label>
        </div>
      </fieldset>
      <Field
        label={by === 'github' ? 'Their GitHub login' : 'Their email address'}
        help="Only the person who signs in with this login (or email) can accept."
        error={valueError}
      >
        {(p) => (
          <input
            {...p}
            type={by === 'email' ? 'email' : 'text'}
            value={value}
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            onChange={(e) => setValue(e.target.value)}
          />
        )}
      </Field>
      <Field label="Role" help={ROLE_DESCRIPTIONS[newRole]}>
        {(p) => (
          <select {...p} value={newRole} onChange={(e) => setNewRole(e.target.value as Role)}>
            {roles.map((r) => (
              <option key={r} value={r}>
                {ROLE_LABELS[r]}
              </option>
            ))}
          </select>
        )}
      </Field>
      <button type="submit" className="button button-primary" disabled={busy}>
        {busy ? 'Creating…' : 'Create invitation'}
      </button>
      <FormError error={error} />
    </form>
  );
}
