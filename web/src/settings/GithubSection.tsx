import { useCallback, useState } from 'react';
import { useSearchParams } from 'react-router';
import { ApiError, api } from '../api/client';
import type { Schemas } from '../api/types';
import { Loading } from '../components/Loading';
import { describeError } from './errors';
import { can, explainMissing } from './permissions';
import { FormError, RoleNotice, type SectionProps, SettingsError, Time, usePagedList } from './ui';

type OrgRepository = Schemas['OrgRepository'];

/** The GitHub connection: install the GitHub App for the org (GitHub brings the person
 *  back to this page with `?installation_id=`), and the repositories it reaches. */
export function GithubSection({ org, role }: SectionProps) {
  const [params] = useSearchParams();
  const installed = params.get('installation_id');
  const loadPage = useCallback(
    (cursor: string | undefined, signal: AbortSignal) =>
      api.get('/api/v1/orgs/{org}/repositories', { path: { org }, query: { limit: 200, cursor }, signal }),
    [org],
  );
  const repos = usePagedList(loadPage);
  const [busy, setBusy] = useState(false);
  const [installError, setInstallError] = useState<string | null>(null);
  const [notConfigured, setNotConfigured] = useState<string | null>(null);
  const manage = can(role, 'github.manage');

  const install = async () => {
    setBusy(true);
    setInstallError(null);
    try {
      const link = await api.get('/api/v1/orgs/{org}/github/install', { path: { org } });
      window.location.assign(link.url);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'github_app_not_configured') setNotConfigured(describeError(err));
      else setInstallError(describeError(err));
      setBusy(false);
    }
  };

  const linked = repos.items?.filter((r) => r.github) ?? [];
  const plain = (repos.items?.length ?? 0) - linked.length;

  return (
    <section aria-labelledby="github-heading">
      <h2 id="github-heading">GitHub</h2>
      {installed && (
        <p className="notice notice-info" role="status">
          The GitHub App was installed (installation <span className="mono">{installed}</span>) and linked to this
          organization. The repositories it can reach appear below as GitHub reports them.
        </p>
      )}
      {notConfigured ? (
        <NotConfigured detail={notConfigured} />
      ) : (
        <div className="card">
          <h3>GitHub App</h3>
          <p>
            Installing the Switchyard GitHub App on a GitHub account lets this organization’s projects use that
            account’s repositories: cloning and pushing with short-lived installation tokens, and webhooks.
          </p>
          {manage ? (
            <>
              <button type="button" className="button button-primary" onClick={() => void install()} disabled={busy}>
                {busy ? 'Opening GitHub…' : 'Install GitHub App'}
              </button>
              <p className="muted small">GitHub asks which account and repositories; then it brings you back to confirm that this organization gets them.</p>
              <FormError error={installError} />
            </>
          ) : (
            <RoleNotice>{explainMissing(role, 'github.manage')}</RoleNotice>
          )}
        </div>
      )}

      <h3>Connected repositories</h3>
      <SettingsError error={repos.error} onRetry={repos.reload} />
      {repos.items === null && !repos.error && <Loading what="Loading repositories" />}
      {repos.items && linked.length === 0 && <p className="muted">No repositories are connected through GitHub yet.</p>}
      {linked.length > 0 && (
        <div className="table-wrap">
          <table className="settings-table">
            <caption className="visually-hidden">Repositories reached through the GitHub App</caption>
            <thead>
              <tr>
                <th scope="col">Repository</th>
                <th scope="col">Visibility</th>
                <th scope="col">Access</th>
                <th scope="col">Default branch</th>
                <th scope="col">Added</th>
              </tr>
            </thead>
            <tbody>
              {linked.map((r) => (
                <RepositoryRow key={r.id} repo={r} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {repos.cursor && (
        <button type="button" className="button" onClick={repos.loadMore} disabled={repos.loadingMore}>
          {repos.loadingMore ? 'Loading…' : 'Load more repositories'}
        </button>
      )}
      {plain > 0 && (
        <p className="muted">
          {plain} other {plain === 1 ? 'repository uses' : 'repositories use'} a plain git URL.
        </p>
      )}
    </section>
  );
}

function RepositoryRow({ repo }: { repo: OrgRepository }) {
  const gh = repo.github;
  if (!gh) return null;
  return (
    <tr>
      <td data-label="Repository">
        <strong className="mono">{gh.full_name}</strong>
        {repo.name !== gh.full_name && <span className="muted block small">{repo.name}</span>}
      </td>
      <td data-label="Visibility">{gh.private ? 'Private' : 'Public'}</td>
      <td data-label="Access">
        {gh.connected ? (
          <span className="pill pill-active">Connected</span>
        ) : (
          <>
            <span className="pill pill-revoked">No access</span>
            <span className="muted block small">
              {gh.installation_id
                ? 'The installation is suspended on GitHub.'
                : 'The App lost access to it: add it to the installation on GitHub again.'}
            </span>
          </>
        )}
      </td>
      <td data-label="Default branch" className="mono">
        {repo.default_branch}
      </td>
      <td data-label="Added">
        <Time iso={repo.created_at} />
      </td>
    </tr>
  );
}

/** What an operator does to turn the App on (docs/DEPLOY.md, "GitHub"). */
function NotConfigured({ detail }: { detail?: string }) {
  return (
    <div className="card">
      <h3>GitHub is not connected on this server</h3>
      {detail && <p>{detail}</p>}
      <p>
        The GitHub App (installations, webhooks, installation tokens for clones and pushes) is off until the server is
        configured with it. An operator:
      </p>
      <ol className="steps">
        <li>Creates a GitHub App for this server (on github.com, or on the GitHub Enterprise host).</li>
        <li>
          Sets its id and URL name: <span className="mono">github.app_id</span> and{' '}
          <span className="mono">github.app_slug</span> (with the Helm chart,{' '}
          <span className="mono">config.github.app_id</span> and <span className="mono">config.github.app_slug</span>).
        </li>
        <li>
          Gives the api the App’s private key and webhook secret: <span className="mono">github.private_key</span> and{' '}
          <span className="mono">github.webhook_secret</span>, from the environment or a mounted secret (with the chart,{' '}
          <span className="mono">secrets.github.privateKey</span> and{' '}
          <span className="mono">secrets.github.webhookSecret</span>).
        </li>
        <li>Restarts the api.</li>
      </ol>
      <p className="muted">
        The GitHub section of docs/DEPLOY.md describes each setting. Signing in with GitHub is configured separately (
        <span className="mono">github.client_id</span> and its secret).
      </p>
    </div>
  );
}
