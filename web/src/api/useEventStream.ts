import { useEffect, useRef, useState } from 'react';
import type { ApiError } from './client';
import { type ConnectionState, EventStream, type EventStreamOptions, type SseEvent } from './sse';

export interface UseEventStreamOptions
  extends Omit<EventStreamOptions, 'onEvent' | 'onError' | 'lastEventId' | 'client'> {
  onError?: (error: ApiError) => void;
}

/** Keeps a stream open while the component is mounted (and `url` is not null); returns
 *  its connection state for a `<ConnectionBadge>`. `onEvent` may change between renders
 *  without reconnecting; a new `url` closes the old stream and opens a new one. */
export function useEventStream(
  url: string | null,
  onEvent: (event: SseEvent) => void,
  options: UseEventStreamOptions = {},
): ConnectionState {
  const [state, setState] = useState<ConnectionState>(url ? 'connecting' : 'closed');
  const handlers = useRef({ onEvent, onError: options.onError });
  handlers.current = { onEvent, onError: options.onError };
  const { endEvent, minDelayMs, maxDelayMs, idleTimeoutMs } = options;

  useEffect(() => {
    if (!url) {
      setState('closed');
      return;
    }
    const stream = new EventStream(url, {
      onEvent: (event) => handlers.current.onEvent(event),
      onError: (error) => handlers.current.onError?.(error),
      endEvent,
      minDelayMs,
      maxDelayMs,
      idleTimeoutMs,
    });
    setState(stream.state);
    const unsubscribe = stream.subscribe(setState);
    return () => {
      unsubscribe();
      stream.close();
    };
  }, [url, endEvent, minDelayMs, maxDelayMs, idleTimeoutMs]);

  return state;
}
