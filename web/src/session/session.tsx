// Who is signed in: `GET /api/v1/me` once at start, again after signing in; signed out
// when the api client gives up on a session (a refresh that failed) or on sign-out.
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { ApiError, api } from '../api/client';
import type { Me } from '../api/types';

export type Session =
  | { status: 'loading' }
  | { status: 'signed-in'; me: Me }
  | { status: 'signed-out' }
  | { status: 'error'; error: ApiError };

interface SessionValue {
  session: Session;
  /** Reads `/me` again (after signing in, or joining or creating an org). */
  reload: () => Promise<void>;
  /** Ends the session on the server and here. */
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionValue | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session>({ status: 'loading' });

  const reload = useCallback(async () => {
    try {
      const me = await api.get('/api/v1/me');
      setSession({ status: 'signed-in', me });
    } catch (e) {
      const error = e instanceof ApiError ? e : new ApiError(0, 'internal', String(e));
      setSession(error.status === 401 ? { status: 'signed-out' } : { status: 'error', error });
    }
  }, []);

  const signOut = useCallback(async () => {
    try {
      await api.post('/api/v1/auth/logout', { body: {} });
    } finally {
      setSession({ status: 'signed-out' });
    }
  }, []);

  useEffect(() => {
    void reload();
    return api.onUnauthorized(() => setSession({ status: 'signed-out' }));
  }, [reload]);

  const value = useMemo(() => ({ session, reload, signOut }), [session, reload, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside <SessionProvider>');
  return value;
}

/** The signed-in person; only inside routes behind <RequireSession>. */
export function useMe(): Me {
  const { session } = useSession();
  if (session.status !== 'signed-in') throw new Error('useMe outside a signed-in route');
  return session.me;
}

const LAST_ORG = 'sy-last-org';

/** The org the person last opened in this browser, for `/` to go back to. */
export function lastOrg(): string | null {
  try {
    return localStorage.getItem(LAST_ORG);
  } catch {
    return null;
  }
}

/** Remembers the org being viewed (the app shell calls it on every org page). */
export function rememberOrg(slug: string): void {
  try {
    localStorage.setItem(LAST_ORG, slug);
  } catch {
    // storage disabled: `/` goes to the first org
  }
}

/** A same-site path to return to after signing in, or `/` (never another site). */
export function safeReturnTo(value: string | null | undefined): string {
  if (!value || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return '/';
  if (value.startsWith('/login') || value.startsWith('/api/')) return '/';
  return value;
}
