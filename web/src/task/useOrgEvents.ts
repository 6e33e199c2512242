// The org's event stream for the task view: each event parsed (see api/orgEvents) and handed
// to whoever listens (the page and its attempt panel), with `reset` and every (re)open
// reported too, since those are the moments to reload what the page shows.
import { useCallback, useEffect, useRef } from 'react';
import { parseOrgEvent } from '../api/orgEvents';
import { type ConnectionState, streams } from '../api/sse';
import type { OrgEvent } from '../api/types';
import { useEventStream } from '../api/useEventStream';

/** An org event, or `resync`: reload state (the stream opened, or answered `reset`). */
export type OrgSignal = { type: 'event'; event: OrgEvent } | { type: 'resync' };
export type OrgListener = (signal: OrgSignal) => void;
export type SubscribeOrg = (listener: OrgListener) => () => void;

export function useOrgEvents(org: string): { connection: ConnectionState; subscribe: SubscribeOrg } {
  const listeners = useRef(new Set<OrgListener>());
  const emit = useCallback((signal: OrgSignal) => {
    for (const l of [...listeners.current]) l(signal);
  }, []);
  const connection = useEventStream(org ? streams.orgEvents(org) : null, (event) => {
    if (event.event === 'reset') {
      emit({ type: 'resync' });
      return;
    }
    const parsed = parseOrgEvent(event.data);
    if (parsed) emit({ type: 'event', event: parsed });
  });
  // Events before the stream opened were missed: every (re)open is a resync. (A reconnect
  // resumes with Last-Event-ID, but the first connection starts at "now".)
  const wasOpen = useRef(false);
  useEffect(() => {
    if (connection === 'open' && !wasOpen.current) emit({ type: 'resync' });
    wasOpen.current = connection === 'open';
  }, [connection, emit]);
  const subscribe = useCallback<SubscribeOrg>((listener) => {
    listeners.current.add(listener);
    return () => listeners.current.delete(listener);
  }, []);
  return { connection, subscribe };
}

/** Calls `listener` (the latest one given) for every org signal while mounted. */
export function useOrgListener(subscribe: SubscribeOrg, listener: OrgListener) {
  const ref = useRef(listener);
  ref.current = listener;
  useEffect(() => subscribe((s) => ref.current(s)), [subscribe]);
}
