import type { ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router';
import { useSession } from '../session/session';
import { ErrorNotice } from './ErrorNotice';
import { Loading } from './Loading';

/** Renders its children for a signed-in person; sends anyone else to /login and back. */
export function RequireSession({ children }: { children: ReactNode }) {
  const { session, reload } = useSession();
  const location = useLocation();
  switch (session.status) {
    case 'loading':
      return <Loading what="Signing in" />;
    case 'error':
      return (
        <main id="main" className="page narrow">
          <ErrorNotice error={session.error} onRetry={() => void reload()} />
        </main>
      );
    case 'signed-out': {
      const here = location.pathname + location.search;
      const target = here === '/' ? '/login' : `/login?return_to=${encodeURIComponent(here)}`;
      return <Navigate to={target} replace />;
    }
    case 'signed-in':
      return children;
  }
}
