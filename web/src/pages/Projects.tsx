import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, errorMessage, newIdempotencyKey } from '../api/client';
import type { Project } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { Loading } from '../components/Loading';
import { PageHeading } from '../components/PageHeading';
import { links } from '../links';
import { useMe } from '../session/session';

/** `/orgs/:org`: the org's projects (boards), and a form to add one. */
export default function Projects() {
  const { org = '' } = useParams();
  const me = useMe();
  const membership = me.orgs.find((o) => o.slug === org);
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(
    async (after?: string) => {
      setError(null);
      try {
        const page = await api.get('/api/v1/orgs/{org}/projects', {
          path: { org },
          query: { limit: 100, cursor: after },
        });
        setProjects((prev) => (after && prev ? [...prev, ...page.items] : page.items));
        setCursor(page.next_cursor ?? null);
      } catch (e) {
        setError(e);
      }
    },
    [org],
  );

  useEffect(() => {
    setProjects(null);
    void load();
  }, [load]);

  const canWrite = membership?.role !== 'viewer';

  return (
    <>
      <PageHeading title={`${membership?.name ?? org} projects`}>Projects</PageHeading>
      <ErrorNotice error={error} onRetry={() => void load()} />
      {projects === null && !error && <Loading what="Loading projects" />}
      {projects && projects.length === 0 && <p>No projects yet{canWrite ? ': add the first one below.' : '.'}</p>}
      {projects && projects.length > 0 && (
        <ul className="card-list" aria-label="Projects">
          {projects.map((p) => (
            <li key={p.id} className="card">
              <h2 className="card-title">
                <Link to={links.board(org, p.id)}>{p.name}</Link>
              </h2>
              <p className="muted">
                <span className="mono">{p.key_prefix}</span> · {p.repository.url} · {p.default_branch}
              </p>
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <button type="button" className="button" onClick={() => void load(cursor)}>
          Show more projects
        </button>
      )}
      {canWrite && <CreateProject org={org} onCreated={(p) => setProjects((prev) => [...(prev ?? []), p])} />}
    </>
  );
}

function CreateProject({ org, onCreated }: { org: string; onCreated: (p: Project) => void }) {
  const [name, setName] = useState('');
  const [repositoryUrl, setRepositoryUrl] = useState('');
  const [keyPrefix, setKeyPrefix] = useState('');
  const [defaultBranch, setDefaultBranch] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const project = await api.post('/api/v1/orgs/{org}/projects', {
        path: { org },
        body: {
          name: name.trim(),
          repository_url: repositoryUrl.trim(),
          key_prefix: keyPrefix.trim() || null,
          default_branch: defaultBranch.trim() || null,
        },
        idempotencyKey: newIdempotencyKey(),
      });
      onCreated(project);
      setName('');
      setRepositoryUrl('');
      setKeyPrefix('');
      setDefaultBranch('');
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} className="card form-grid" aria-labelledby="new-project-heading">
      <h2 id="new-project-heading">New project</h2>
      <label htmlFor="project-name">Name</label>
      <input id="project-name" required value={name} onChange={(e) => setName(e.target.value)} />
      <label htmlFor="project-repo">Repository</label>
      <input
        id="project-repo"
        required
        placeholder="https://github.com/acme/app.git"
        aria-describedby="project-repo-help"
        value={repositoryUrl}
        onChange={(e) => setRepositoryUrl(e.target.value)}
      />
      <p id="project-repo-help" className="muted">
        A git URL, or on a local install a path to a repository.
      </p>
      <label htmlFor="project-key">Task key prefix (optional)</label>
      <input id="project-key" value={keyPrefix} onChange={(e) => setKeyPrefix(e.target.value)} />
      <label htmlFor="project-branch">Default branch (optional)</label>
      <input id="project-branch" value={defaultBranch} onChange={(e) => setDefaultBranch(e.target.value)} />
      <button type="submit" className="button button-primary" disabled={busy}>
        {busy ? 'Creating…' : 'Create project'}
      </button>
      {error && (
        <p className="notice notice-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
