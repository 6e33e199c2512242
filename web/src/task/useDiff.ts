// The attempt's diff: followed on the diff stream while the attempt may still change (each
// `diff` event is the whole diff; `id:` its version, so a reconnect skips versions it has),
// read once with `GET …/diff` once it has finished. To retry after an error, remount the
// component that calls it.
import { useEffect, useState } from 'react';
import { api, errorMessage } from '../api/client';
import { type ConnectionState, streams } from '../api/sse';
import { useEventStream } from '../api/useEventStream';
import type { Diff } from './diffModel';

export interface DiffData {
  diff: Diff | null;
  /** `idle`: not streaming (a finished attempt's diff was read once). */
  connection: ConnectionState | 'idle';
  error: string | null;
  loading: boolean;
}

function isDiff(value: unknown): value is Diff {
  return !!value && typeof value === 'object' && Array.isArray((value as Diff).files) && typeof (value as Diff).version === 'number';
}

export function useDiff(org: string, attemptId: string | null, live: boolean): DiffData {
  const [diff, setDiff] = useState<Diff | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    setDiff(null);
    setError(null);
  }, [attemptId]);

  // Finished: one read.
  useEffect(() => {
    if (!attemptId || live) return;
    const abort = new AbortController();
    setLoading(true);
    api
      .get('/api/v1/orgs/{org}/attempts/{id}/diff', { path: { org, id: attemptId }, signal: abort.signal })
      .then((d) => {
        setDiff(d);
        setError(null);
      })
      .catch((e: unknown) => {
        if (!abort.signal.aborted) setError(errorMessage(e));
      })
      .finally(() => {
        if (!abort.signal.aborted) setLoading(false);
      });
    return () => abort.abort();
  }, [org, attemptId, live]);

  // Live: the stream.
  const url = attemptId && live ? streams.attemptDiff(org, attemptId) : null;
  const connection = useEventStream(
    url,
    (event) => {
      if (event.event !== 'diff') return;
      try {
        const value: unknown = JSON.parse(event.data);
        if (isDiff(value)) {
          // Versions only move forward.
          setDiff((prev) => (prev && prev.version > value.version ? prev : value));
          setError(null);
        }
      } catch {
        setError('The server sent a diff this page could not read.');
      }
    },
    { onError: (e) => setError(errorMessage(e)) },
  );

  return { diff, connection: live ? connection : 'idle', error, loading: live ? diff === null && !error : loading };
}
