import { Suspense, useEffect, useState } from 'react';
import { Link, NavLink, Outlet, useNavigate, useParams } from 'react-router';
import { errorMessage } from '../api/client';
import { rememberOrg, useMe, useSession } from '../session/session';
import { Loading } from './Loading';
import { ThemeToggle } from './ThemeToggle';

/** The frame of every signed-in page: skip link, header (org switcher, navigation,
 *  theme, sign out) and the page in <main>. Pages load lazily inside it. */
export function AppShell() {
  const me = useMe();
  const { signOut } = useSession();
  const { org } = useParams();
  const navigate = useNavigate();
  const [signOutError, setSignOutError] = useState<string | null>(null);
  const current = me.orgs.find((o) => o.slug === org);

  useEffect(() => {
    if (current) rememberOrg(current.slug);
  }, [current]);

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <Link to="/" className="brand" aria-label="Switchyard home">
          <img src="/favicon.svg" alt="" width="24" height="24" />
          <span>Switchyard</span>
        </Link>
        {me.orgs.length > 0 && (
          <div className="org-switcher">
            <label htmlFor="org-switcher" className="visually-hidden">
              Organization
            </label>
            <select
              id="org-switcher"
              value={current?.slug ?? ''}
              onChange={(e) => {
                if (e.target.value) void navigate(`/orgs/${encodeURIComponent(e.target.value)}`);
              }}
            >
              {!current && <option value="">Choose an organization</option>}
              {me.orgs.map((o) => (
                <option key={o.id} value={o.slug}>
                  {o.name}
                </option>
              ))}
            </select>
          </div>
        )}
        {current && (
          <nav aria-label="Organization" className="app-nav">
            <NavLink to={`/orgs/${encodeURIComponent(current.slug)}`} end>
              Projects
            </NavLink>
            <NavLink to={`/orgs/${encodeURIComponent(current.slug)}/settings`}>Settings</NavLink>
          </nav>
        )}
        <div className="header-end">
          <ThemeToggle />
          <span className="who hide-narrow" title={me.user.name ?? me.user.login}>
            {me.user.avatar_url && <img src={me.user.avatar_url} alt="" width="24" height="24" className="avatar" />}
            {me.user.login}
          </span>
          <button
            type="button"
            className="button button-quiet"
            onClick={() => {
              setSignOutError(null);
              signOut()
                .then(() => navigate('/login'))
                .catch((e: unknown) => setSignOutError(errorMessage(e)));
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      {signOutError && (
        <p className="notice notice-error" role="alert">
          {signOutError}
        </p>
      )}
      <main id="main" className="page">
        <Suspense fallback={<Loading />}>
          <Outlet />
        </Suspense>
      </main>
    </>
  );
}
