// Starts an attempt: executor profile and variant (the project's profiles: project
// override → org → built-in), base branch, and the prompt (for `script`, the shell script).
import { type FormEvent, useEffect, useId, useMemo, useState } from 'react';
import { api, errorMessage } from '../api/client';
import type { Attempt, Project, Schemas, Task } from '../api/types';

type Profile = Schemas['ExecutorProfile'];
type Availability = Schemas['ExecutorAvailability'];

export interface StartAttemptProps {
  org: string;
  task: Task;
  project: Project | null;
  onStarted: (attempt: Attempt) => void;
  onCancel?: () => void;
}

export function StartAttempt({ org, task, project, onStarted, onCancel }: StartAttemptProps) {
  const id = useId();
  const [profiles, setProfiles] = useState<Profile[] | null>(null);
  const [executors, setExecutors] = useState<Availability[] | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [profile, setProfile] = useState('');
  const [variant, setVariant] = useState('default');
  const [baseBranch, setBaseBranch] = useState(project?.default_branch ?? '');
  const [prompt, setPrompt] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const abort = new AbortController();
    setLoadError(null);
    Promise.all([
      api.get('/api/v1/orgs/{org}/projects/{id}/executor-profiles', { path: { org, id: task.project_id }, signal: abort.signal }),
      api.get('/api/v1/orgs/{org}/executors', { path: { org }, signal: abort.signal }).catch(() => null),
    ])
      .then(([page, execs]) => {
        setProfiles(page.items);
        setExecutors(execs);
      })
      .catch((e: unknown) => {
        if (!abort.signal.aborted) setLoadError(e);
      });
    return () => abort.abort();
  }, [org, task.project_id]);

  useEffect(() => {
    if (project && !baseBranch) setBaseBranch(project.default_branch);
  }, [project, baseBranch]);

  // The project's default executor's profile first, else the first one. The update keeps a
  // choice made between the options' first paint and this effect (a fast user, a test).
  useEffect(() => {
    if (!profiles || profiles.length === 0 || profile) return;
    const preferred = profiles.find((p) => p.name === project?.default_executor) ?? profiles[0];
    if (preferred) setProfile((current) => current || preferred.name);
  }, [profiles, profile, project]);

  const chosen = profiles?.find((p) => p.name === profile);
  const variants = useMemo(() => (chosen ? Object.keys(chosen.variants).sort((a, b) => (a === 'default' ? -1 : b === 'default' ? 1 : a.localeCompare(b))) : []), [chosen]);
  useEffect(() => {
    if (chosen && !(variant in chosen.variants)) setVariant('default');
  }, [chosen, variant]);

  const workersFor = (executor: string) => executors?.find((e) => e.name === executor)?.workers;
  const anyWorkers = (executors ?? []).some((e) => e.workers > 0);
  const isScript = chosen?.executor === 'script';
  const options = chosen?.variants[variant];

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!prompt.trim()) {
      setError(isScript ? 'Write the script to run.' : 'Write what the agent should do.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const attempt = await api.post('/api/v1/orgs/{org}/tasks/{id}/attempts', {
        path: { org, id: task.id },
        body: {
          prompt,
          profile: profile ? (variant && variant !== 'default' ? `${profile}:${variant}` : profile) : null,
          base_branch: baseBranch.trim() || null,
        },
        idempotencyKey: crypto.randomUUID(),
      });
      setPrompt('');
      onStarted(attempt);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const insertTask = () => setPrompt(task.description ? `${task.title}\n\n${task.description}` : task.title);

  return (
    <form className="card form-grid start-attempt" onSubmit={submit} aria-labelledby={`${id}-h`}>
      <h3 id={`${id}-h`}>Start an attempt</h3>
      {loadError ? (
        <p className="notice notice-error" role="alert">
          Executor profiles could not be loaded: {errorMessage(loadError)}
        </p>
      ) : null}
      <label htmlFor={`${id}-profile`}>Executor profile</label>
      <select
        id={`${id}-profile`}
        value={profile}
        onChange={(e) => setProfile(e.target.value)}
        disabled={!profiles}
        aria-describedby={`${id}-profile-help`}
      >
        {!profiles && <option value="">Loading profiles…</option>}
        {profiles?.map((p) => {
          const workers = workersFor(p.executor);
          return (
            <option key={p.name} value={p.name}>
              {p.name}
              {p.name !== p.executor ? ` (${p.executor})` : ''}
              {p.source !== 'builtin' ? ` · ${p.source}` : ''}
              {anyWorkers && workers === 0 ? ' · no worker can run it' : ''}
            </option>
          );
        })}
      </select>
      <p id={`${id}-profile-help`} className="muted">
        {chosen
          ? [
              options?.model ? `model ${options.model}` : null,
              options?.permission_policy ? `${options.permission_policy} permissions` : null,
              options?.reasoning_effort ? `${options.reasoning_effort} effort` : null,
            ]
              .filter(Boolean)
              .join(' · ') || 'Default options.'
          : 'The program that works on the task.'}
      </p>
      {variants.length > 1 && (
        <>
          <label htmlFor={`${id}-variant`}>Variant</label>
          <select id={`${id}-variant`} value={variant} onChange={(e) => setVariant(e.target.value)}>
            {variants.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </>
      )}
      <label htmlFor={`${id}-branch`}>Base branch</label>
      <input
        id={`${id}-branch`}
        value={baseBranch}
        placeholder={project?.default_branch ?? 'main'}
        onChange={(e) => setBaseBranch(e.target.value)}
        autoComplete="off"
        spellCheck={false}
      />
      <label htmlFor={`${id}-prompt`}>Prompt</label>
      <textarea
        id={`${id}-prompt`}
        rows={isScript ? 6 : 5}
        value={prompt}
        onChange={(e) => setPrompt(e.target.value)}
        className={isScript ? 'mono' : undefined}
        spellCheck={!isScript}
        aria-describedby={`${id}-prompt-help`}
      />
      <p id={`${id}-prompt-help`} className="muted">
        {isScript ? 'The shell script runs in the attempt’s worktree.' : 'What the agent should do.'}{' '}
        {!isScript && (
          <button type="button" className="link-button" onClick={insertTask}>
            Use the task’s text
          </button>
        )}
      </p>
      <div className="form-row">
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? 'Starting…' : 'Start attempt'}
        </button>
        {onCancel && (
          <button type="button" className="button button-quiet" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
      {error && (
        <p className="notice notice-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
