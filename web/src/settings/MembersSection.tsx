import { type FormEvent, useCallback, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { api } from '../api/client';
import { Loading } from '../components/Loading';
import { links } from '../links';
import { useSession } from '../session/session';
import {
  can,
  canChangeRole,
  explainMissing,
  type Member,
  ownerCount,
  removeBlock,
  ROLE_DESCRIPTIONS,
  ROLE_LABELS,
  ROLES,
  type Role,
  roleChangeBlock,
} from './permissions';
import {
  ConfirmDialog,
  Flash,
  RoleNotice,
  type SectionProps,
  SettingsError,
  Time,
  useFlash,
  usePagedList,
} from './ui';

type Pending =
  | { kind: 'remove'; member: Member }
  | { kind: 'leave'; member: Member }
  | { kind: 'role'; member: Member; role: Role };

/** The org's members and roles: change a role, remove someone, leave. People join by
 *  accepting an invitation (the Invitations tab); nobody is added without consenting. */
export function MembersSection({ org, role, me }: SectionProps) {
  const navigate = useNavigate();
  const { reload: reloadSession } = useSession();
  const loadPage = useCallback(
    (cursor: string | undefined, signal: AbortSignal) =>
      api.get('/api/v1/orgs/{org}/members', { path: { org }, query: { limit: 200, cursor }, signal }),
    [org],
  );
  const { items, setItems, cursor, error, loadMore, loadingMore, reload } = usePagedList(loadPage);
  const [pending, setPending] = useState<Pending | null>(null);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<unknown>(null);
  const [flash, setFlash] = useFlash();
  const manage = can(role, 'members.manage');
  const owners = items ? ownerCount(items, cursor === null) : undefined;

  const replace = (next: Member) =>
    setItems((prev) => prev?.map((m) => (m.user.id === next.user.id ? next : m)) ?? prev);

  const changeRole = async (member: Member, next: Role) => {
    setBusy(true);
    setActionError(null);
    try {
      const updated = await api.patch('/api/v1/orgs/{org}/members/{user}', {
        path: { org, user: member.user.id },
        body: { role: next },
      });
      replace(updated);
      setPending(null);
      setFlash(`${member.user.login} is now ${ROLE_LABELS[updated.role].toLowerCase()}.`);
      if (member.user.id === me.user.id) await reloadSession();
      return true;
    } catch (err) {
      setActionError(err);
      return false;
    } finally {
      setBusy(false);
    }
  };

  const remove = async (member: Member) => {
    setBusy(true);
    setActionError(null);
    try {
      await api.delete('/api/v1/orgs/{org}/members/{user}', { path: { org, user: member.user.id } });
      if (member.user.id === me.user.id) {
        // Left: the org answers 404 from now on.
        await reloadSession();
        await navigate(links.home());
        return;
      }
      setItems((prev) => prev?.filter((m) => m.user.id !== member.user.id) ?? prev);
      setPending(null);
      setFlash(`${member.user.login} was removed.`);
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="members-heading">
      <h2 id="members-heading">Members</h2>
      <RoleNotice>
        {manage
          ? null
          : `${explainMissing(role, 'members.manage')} You can leave the organization yourself.`}
      </RoleNotice>
      <SettingsError error={error} onRetry={reload} />
      <Flash text={flash} />
      {items === null && !error && <Loading what="Loading members" />}
      {items && (
        <div className="table-wrap">
          <table className="settings-table">
            <caption className="visually-hidden">Members of the organization and their roles</caption>
            <thead>
              <tr>
                <th scope="col">Person</th>
                <th scope="col">Role</th>
                <th scope="col">Joined</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((m) => (
                <MemberRow
                  key={m.user.id}
                  member={m}
                  self={m.user.id === me.user.id}
                  actor={role}
                  owners={owners}
                  busy={busy}
                  onRole={(next) => {
                    setActionError(null);
                    if (m.user.id === me.user.id) setPending({ kind: 'role', member: m, role: next });
                    else void changeRole(m, next);
                  }}
                  onRemove={() => {
                    setActionError(null);
                    setPending({ kind: m.user.id === me.user.id ? 'leave' : 'remove', member: m });
                  }}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {!pending && <SettingsError error={actionError} />}
      {cursor && (
        <button type="button" className="button" onClick={loadMore} disabled={loadingMore}>
          {loadingMore ? 'Loading…' : 'Load more members'}
        </button>
      )}
      {manage && (
        <p className="muted">
          To bring someone in, <Link to={links.settings(org, 'invitations')}>send them an invitation</Link>: they
          join when they accept it.
        </p>
      )}
      <ConfirmDialog
        open={pending !== null}
        title={
          pending?.kind === 'leave'
            ? 'Leave this organization?'
            : pending?.kind === 'remove'
              ? `Remove ${pending.member.user.login}?`
              : 'Change your own role?'
        }
        confirmLabel={pending?.kind === 'leave' ? 'Leave' : pending?.kind === 'remove' ? 'Remove' : 'Change my role'}
        busy={busy}
        error={actionError}
        onCancel={() => {
          setPending(null);
          setActionError(null);
        }}
        onConfirm={() => {
          if (!pending) return;
          if (pending.kind === 'role') void changeRole(pending.member, pending.role);
          else void remove(pending.member);
        }}
      >
        {pending?.kind === 'leave' && (
          <p>You will lose access to its projects, tasks and settings at once. To come back, someone must invite you.</p>
        )}
        {pending?.kind === 'remove' && (
          <p>
            {pending.member.user.login} loses access to the organization at once. Their past work and audit entries stay.
          </p>
        )}
        {pending?.kind === 'role' && (
          <p>
            You will be {ROLE_LABELS[pending.role].toLowerCase()} ({ROLE_DESCRIPTIONS[pending.role]}). You cannot undo this
            yourself if the new role cannot change roles.
          </p>
        )}
      </ConfirmDialog>
    </section>
  );
}

function MemberRow({
  member,
  self,
  actor,
  owners,
  busy,
  onRole,
  onRemove,
}: {
  member: Member;
  self: boolean;
  actor: Role;
  owners: number | undefined;
  busy: boolean;
  onRole: (role: Role) => void;
  onRemove: () => void;
}) {
  const [next, setNext] = useState<Role>(member.role);
  const changeable = canChangeRole(actor, member, owners);
  const options = ROLES.filter((r) => r === member.role || roleChangeBlock(actor, member, r, owners) === null);
  const blocked = next !== member.role ? roleChangeBlock(actor, member, next, owners) : null;
  const removeReason = removeBlock(actor, member, self, owners);
  const showRemove = self || can(actor, 'members.manage');
  const name = member.user.name && member.user.name !== member.user.login ? member.user.name : null;
  const reasonId = `remove-reason-${member.user.id}`;
  const roleReasonId = `role-reason-${member.user.id}`;
  // Why the role is fixed, for people who could otherwise change roles.
  const roleReason =
    !changeable && can(actor, 'members.manage')
      ? (roleChangeBlock(actor, member, member.role === 'owner' ? 'admin' : 'owner', owners) ?? null)
      : null;

  return (
    <tr>
      <td data-label="Person">
        <span className="person">
          {member.user.avatar_url && <img src={member.user.avatar_url} alt="" width="28" height="28" className="avatar" />}
          <span>
            <strong>{member.user.login}</strong>
            {self && <span className="muted"> (you)</span>}
            {name && <span className="muted block">{name}</span>}
          </span>
        </span>
      </td>
      <td data-label="Role">
        {changeable ? (
          <form
            className="inline-form"
            onSubmit={(e: FormEvent) => {
              e.preventDefault();
              if (next !== member.role && !blocked) onRole(next);
            }}
          >
            <label className="visually-hidden" htmlFor={`role-${member.user.id}`}>
              Role of {member.user.login}
            </label>
            <select
              id={`role-${member.user.id}`}
              value={next}
              onChange={(e) => setNext(e.target.value as Role)}
              disabled={busy}
            >
              {options.map((r) => (
                <option key={r} value={r}>
                  {ROLE_LABELS[r]}
                </option>
              ))}
            </select>
            <button
              type="submit"
              className="button"
              disabled={busy || next === member.role || blocked !== null}
              aria-label={`Change role of ${member.user.login}`}
            >
              Change
            </button>
          </form>
        ) : (
          <span aria-describedby={roleReason ? roleReasonId : undefined}>{ROLE_LABELS[member.role]}</span>
        )}
        {roleReason && (
          <span id={roleReasonId} className="muted block small">
            {roleReason}
          </span>
        )}
      </td>
      <td data-label="Joined">
        <Time iso={member.joined_at} />
      </td>
      <td data-label="Actions" className="actions">
        {showRemove && (
          <>
            <button
              type="button"
              className="button"
              onClick={onRemove}
              disabled={busy || removeReason !== null}
              aria-describedby={removeReason ? reasonId : undefined}
              aria-label={self ? 'Leave the organization' : `Remove ${member.user.login}`}
            >
              {self ? 'Leave' : 'Remove'}
            </button>
            {removeReason && (
              <span id={reasonId} className="muted block small">
                {removeReason}
              </span>
            )}
          </>
        )}
      </td>
    </tr>
  );
}
