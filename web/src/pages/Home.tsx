import { type FormEvent, useState } from 'react';
import { Navigate, useNavigate } from 'react-router';
import { api, errorMessage } from '../api/client';
import { PageHeading } from '../components/PageHeading';
import { links } from '../links';
import { lastOrg, useMe, useSession } from '../session/session';

/** `/`: the org the person used last (else their first), or a way to create one. */
export default function Home() {
  const me = useMe();
  const last = lastOrg();
  const org = me.orgs.find((o) => o.slug === last) ?? me.orgs[0];
  if (org) return <Navigate to={links.org(org.slug)} replace />;
  return <NoOrg />;
}

function NoOrg() {
  const { reload } = useSession();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [slug, setSlug] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const org = await api.post('/api/v1/orgs', { body: { name: name.trim(), slug: slug.trim() } });
      await reload();
      await navigate(links.org(org.slug));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="narrow">
      <PageHeading>Welcome</PageHeading>
      <p>You are not a member of any organization yet. Ask an owner to invite you, or create one.</p>
      <form onSubmit={create} className="card form-grid" aria-labelledby="create-org-heading">
        <h2 id="create-org-heading">Create an organization</h2>
        <label htmlFor="org-name">Name</label>
        <input id="org-name" required value={name} onChange={(e) => setName(e.target.value)} />
        <label htmlFor="org-slug">Short name in URLs</label>
        <input
          id="org-slug"
          required
          pattern="[a-z0-9][a-z0-9\-]{1,38}[a-z0-9]"
          aria-describedby="org-slug-help"
          value={slug}
          onChange={(e) => setSlug(e.target.value)}
        />
        <p id="org-slug-help" className="muted">
          3–40 lower-case letters, digits or hyphens.
        </p>
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create organization'}
        </button>
        {error && (
          <p className="notice notice-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </div>
  );
}
