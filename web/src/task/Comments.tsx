// The task's discussion: its comments (markdown), kept live from the org stream, and a
// box to add one for people who may write.
import { type FormEvent, useCallback, useEffect, useId, useState } from 'react';
import { api, errorMessage } from '../api/client';
import type { Comment } from '../api/types';
import { ErrorNotice } from '../components/ErrorNotice';
import { addComment } from './comments';
import { ago } from './format';
import { Markdown } from './Markdown';
import { type SubscribeOrg, useOrgListener } from './useOrgEvents';

interface Props {
  org: string;
  taskId: string;
  canWrite: boolean;
  subscribe: SubscribeOrg;
}

export function Comments({ org, taskId, canWrite, subscribe }: Props) {
  const id = useId();
  const [comments, setComments] = useState<Comment[] | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [draft, setDraft] = useState('');
  const [posting, setPosting] = useState(false);
  const [postError, setPostError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setComments(await api.get('/api/v1/orgs/{org}/tasks/{id}/comments', { path: { org, id: taskId } }));
      setLoadError(null);
    } catch (e) {
      setLoadError(e);
    }
  }, [org, taskId]);
  useEffect(() => {
    void load();
  }, [load]);

  useOrgListener(subscribe, (signal) => {
    if (signal.type === 'resync') {
      void load();
      return;
    }
    const { event } = signal;
    if (event.kind === 'comment.created' && event.data.task_id === taskId) setComments((prev) => addComment(prev ?? [], event.data));
  });

  const post = async (e: FormEvent) => {
    e.preventDefault();
    if (!draft.trim()) return;
    setPosting(true);
    setPostError(null);
    try {
      const made = await api.post('/api/v1/orgs/{org}/tasks/{id}/comments', { path: { org, id: taskId }, body: { body: draft } });
      setComments((prev) => addComment(prev ?? [], made));
      setDraft('');
    } catch (err) {
      setPostError(errorMessage(err));
    } finally {
      setPosting(false);
    }
  };

  return (
    <section className="card task-comments" aria-labelledby={`${id}-h`} data-testid="comments">
      <h2 id={`${id}-h`}>Comments{comments && comments.length > 0 ? ` (${comments.length})` : ''}</h2>
      {loadError ? <ErrorNotice error={loadError} onRetry={() => void load()} /> : null}
      {comments && comments.length === 0 && <p className="muted">No comments yet.</p>}
      {comments && comments.length > 0 && (
        <ol className="comment-list">
          {comments.map((c) => (
            <li key={c.id} className="comment" data-testid="comment">
              <p className="comment-meta">
                <strong>{c.author_label}</strong> <time dateTime={c.created_at}>{ago(c.created_at)}</time>
              </p>
              <Markdown text={c.body} headingOffset={3} />
            </li>
          ))}
        </ol>
      )}
      {canWrite && (
        <form className="comment-form" onSubmit={(e) => void post(e)}>
          <label htmlFor={`${id}-body`}>Add a comment</label>
          <textarea
            id={`${id}-body`}
            value={draft}
            rows={3}
            maxLength={20_000}
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={(e) => {
              // Ctrl/Cmd+Enter sends, as in most comment boxes.
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void post(e);
            }}
          />
          {postError && (
            <p className="notice notice-error" role="alert">
              {postError}
            </p>
          )}
          <button type="submit" className="button" disabled={posting || !draft.trim()}>
            {posting ? 'Posting…' : 'Comment'}
          </button>
        </form>
      )}
    </section>
  );
}
