import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { api } from '../api/client';
import type { Schemas } from '../api/types';
import { PageHeading } from '../components/PageHeading';
import { links } from '../links';
import { useMe, useSession } from '../session/session';
import { describeError } from './errors';
import { ROLE_DESCRIPTIONS, ROLE_LABELS } from './permissions';

const WORDS = {
  already_member: 'You are already a member of this organization: there is nothing to accept.',
  not_found: 'This invitation link is not valid. Check that you copied the whole link, or ask for a new one.',
  invalid_json: 'This invitation link is not valid. Check that you copied the whole link, or ask for a new one.',
};

/** `/invitations/accept?token=…`: the invited person joins the org. Signed-in only (the
 *  session guard sends anyone else to sign in and back here). Nothing happens until they
 *  press the button, so opening the link never joins an org by itself. */
export default function AcceptInvitation() {
  const [params] = useSearchParams();
  const token = params.get('token')?.trim() ?? '';
  const me = useMe();
  const { reload } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [joined, setJoined] = useState<Schemas['AcceptedInvitation'] | null>(null);

  const accept = async () => {
    setBusy(true);
    setError(null);
    try {
      const result = await api.post('/api/v1/invitations/accept', { body: { token } });
      setJoined(result);
      await reload();
    } catch (err) {
      setError(describeError(err, WORDS));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="narrow">
      <PageHeading>Join an organization</PageHeading>
      {!token && (
        <p className="notice notice-error" role="alert">
          This link has no invitation in it. Open the whole link you were sent, or ask for a new one.
        </p>
      )}
      {token && !joined && (
        <div className="card">
          <p>
            You were invited to an organization on Switchyard. Accepting joins it as{' '}
            <strong>{me.user.login}</strong>
            {me.user.email ? ` (${me.user.email})` : ''}. The invitation must have been sent to this GitHub login or
            email address.
          </p>
          <button type="button" className="button button-primary" onClick={() => void accept()} disabled={busy}>
            {busy ? 'Accepting…' : 'Accept invitation'}
          </button>
          {error && (
            <div className="notice notice-error accept-error" role="alert">
              <p>{error}</p>
              <p>
                <Link to={links.home()}>Go to your organizations</Link>
              </p>
            </div>
          )}
        </div>
      )}
      {joined && (
        <div className="card" role="status">
          <p>
            You joined <strong>{joined.org.name}</strong> as {ROLE_LABELS[joined.role].toLowerCase()} (
            {ROLE_DESCRIPTIONS[joined.role]}).
          </p>
          <p>
            <Link to={links.org(joined.org.slug)} className="button button-primary">
              Open {joined.org.name}
            </Link>
          </p>
        </div>
      )}
    </div>
  );
}
