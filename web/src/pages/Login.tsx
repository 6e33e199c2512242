import { type FormEvent, useEffect, useState } from 'react';
import { Navigate, useNavigate, useSearchParams } from 'react-router';
import { ApiError, api, errorMessage } from '../api/client';
import { PageHeading } from '../components/PageHeading';
import { ThemeToggle } from '../components/ThemeToggle';
import { links } from '../links';
import { safeReturnTo, useSession } from '../session/session';

/** Whether the server offers development sign-in: an empty login answers 422 when it
 *  does and 403 `dev_login_disabled` when it does not, and signs nobody in either way. */
async function devLoginOffered(): Promise<boolean> {
  try {
    await api.post('/api/v1/auth/dev/login', { body: { login: '' } });
    return true;
  } catch (e) {
    return !(e instanceof ApiError && (e.code === 'dev_login_disabled' || e.status === 404));
  }
}

/** Sign in: GitHub, and in the embedded default a development sign-in by name. */
export default function Login() {
  const [params] = useSearchParams();
  const returnTo = safeReturnTo(params.get('return_to'));
  const { session, reload } = useSession();
  const navigate = useNavigate();
  const [devOffered, setDevOffered] = useState(false);
  const [login, setLogin] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    void devLoginOffered().then((offered) => live && setDevOffered(offered));
    return () => {
      live = false;
    };
  }, []);

  if (session.status === 'signed-in') return <Navigate to={returnTo} replace />;

  const devSignIn = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.post('/api/v1/auth/dev/login', { body: { login: login.trim() } });
      await reload();
      await navigate(returnTo, { replace: true });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="page narrow login">
      <div className="login-top">
        <ThemeToggle />
      </div>
      <PageHeading title="Sign in">Sign in to Switchyard</PageHeading>
      <p>Plan work on a board and hand tasks to coding agents, together with your team.</p>
      <p>
        <a className="button button-primary" href={links.githubLogin(returnTo)}>
          Sign in with GitHub
        </a>
      </p>
      {devOffered && (
        <section aria-labelledby="dev-login-heading" className="card">
          <h2 id="dev-login-heading">Development sign-in</h2>
          <p className="muted">This server lets anyone sign in by name, without GitHub. Never on a shared deployment.</p>
          <form onSubmit={devSignIn} className="form-row">
            <label htmlFor="dev-login">Login</label>
            <input
              id="dev-login"
              name="login"
              autoComplete="username"
              required
              value={login}
              onChange={(e) => setLogin(e.target.value)}
            />
            <button type="submit" className="button" disabled={busy || !login.trim()}>
              {busy ? 'Signing in…' : 'Sign in'}
            </button>
          </form>
        </section>
      )}
      {error && (
        <p className="notice notice-error" role="alert">
          {error}
        </p>
      )}
    </main>
  );
}
