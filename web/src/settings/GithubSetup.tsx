import { useEffect, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { api } from '../api/client';
import type { Schemas } from '../api/types';
import { Loading } from '../components/Loading';
import { PageHeading } from '../components/PageHeading';
import { links } from '../links';
import { describeError } from './errors';

type Setup = Schemas['GithubSetup'];

const WORDS = {
  github_state_invalid:
    'This install link is unknown, used, expired or was started by someone else. Start again from the organization’s GitHub settings.',
  missing_installation_id:
    'GitHub sent no installation: an installation request may be waiting for an owner of the GitHub account to approve it.',
};

/** `/github/setup?installation_id=…&state=…`: where GitHub sends the person after they
 *  installed the App (through the api's setup URL). It shows which Switchyard
 *  organization gets the installation and links it only when the person confirms, so
 *  opening a link someone sent never hands over an installation by itself. */
export default function GithubSetup() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const installationId = Number(params.get('installation_id') ?? '');
  const state = params.get('state') ?? undefined;
  const valid = Number.isSafeInteger(installationId) && installationId > 0;
  const [preview, setPreview] = useState<Setup | null>(null);
  const [error, setError] = useState<string | null>(valid ? null : WORDS.missing_installation_id);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!valid) return;
    const controller = new AbortController();
    api
      .get('/api/v1/github/setup/preview', {
        query: { installation_id: installationId, state },
        signal: controller.signal,
      })
      .then(setPreview)
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setError(describeError(err, WORDS));
      });
    return () => controller.abort();
  }, [valid, installationId, state]);

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      const done = await api.post('/api/v1/github/setup', {
        body: { installation_id: installationId, state },
      });
      await navigate(`${links.settings(done.org.slug, 'github')}?installation_id=${done.installation_id}`);
    } catch (err) {
      setError(describeError(err, WORDS));
      setBusy(false);
    }
  };

  return (
    <div className="narrow">
      <PageHeading>Connect a GitHub installation</PageHeading>
      {!preview && !error && <Loading what="Checking the installation" />}
      {preview && (
        <div className="card">
          <p>
            {preview.action === 'link' ? 'Link' : 'Sync'} the GitHub App installation on{' '}
            <strong>{preview.account_login}</strong> ({preview.account_type === 'Organization' ? 'organization' : 'user'}{' '}
            account, installation <span className="mono">{preview.installation_id}</span>){' '}
            {preview.action === 'link' ? 'to' : 'with'} the Switchyard organization <strong>{preview.org.name}</strong> (
            <span className="mono">{preview.org.slug}</span>)?
          </p>
          <p className="muted">
            Everyone in {preview.org.name} can then use the repositories this installation reaches, private ones
            included. Only continue if you started this installation from that organization’s settings.
          </p>
          <button type="button" className="button button-primary" onClick={() => void confirm()} disabled={busy}>
            {busy ? 'Connecting…' : `Connect to ${preview.org.name}`}
          </button>
        </div>
      )}
      {error && (
        <div className="notice notice-error" role="alert">
          <p>{error}</p>
          <p>
            <Link to={links.home()}>Go to your organizations</Link>
          </p>
        </div>
      )}
    </div>
  );
}
