import { fireEvent, render, screen } from '@testing-library/react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { describe, expect, it, vi } from 'vitest';
import { SessionProvider } from '../session/session';
import Login from './Login';

const envelope = (status: number, code: string, message: string) =>
  new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });

/** Stubs the browser's fetch with a handler per "METHOD path". */
function serve(routes: Record<string, (body: unknown) => Response>) {
  const fetch = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    const key = `${init?.method ?? 'GET'} ${String(url)}`;
    const handler = routes[key];
    if (!handler) return envelope(404, 'not_found', `no route ${key}`);
    return handler(init?.body ? JSON.parse(String(init.body)) : undefined);
  });
  vi.stubGlobal('fetch', fetch);
  return fetch;
}

function renderLogin(path = '/login?return_to=%2Forgs%2Facme') {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <SessionProvider>
        <Routes>
          <Route path="/login" element={<Login />} />
          <Route path="/orgs/acme" element={<p>Acme projects</p>} />
        </Routes>
      </SessionProvider>
    </MemoryRouter>,
  );
}

describe('Login', () => {
  it('links to GitHub sign-in with the page to return to', async () => {
    serve({
      'GET /api/v1/me': () => envelope(401, 'unauthorized', 'sign in'),
      'POST /api/v1/auth/refresh': () => envelope(401, 'invalid_refresh_token', 'no'),
      'POST /api/v1/auth/dev/login': () => envelope(403, 'dev_login_disabled', 'development sign-in is disabled'),
    });
    renderLogin();
    const link = await screen.findByRole('link', { name: 'Sign in with GitHub' });
    expect(link.getAttribute('href')).toBe('/api/v1/auth/github/login?return_to=%2Forgs%2Facme');
    await new Promise((r) => setTimeout(r, 20));
    expect(screen.queryByLabelText('Login')).toBeNull();
  });

  it('signs in by name when the server offers it, then goes back', async () => {
    let signedIn = false;
    serve({
      'GET /api/v1/me': () =>
        signedIn
          ? new Response(JSON.stringify({ user: { id: 'u', login: 'ada' }, orgs: [] }), { status: 200 })
          : envelope(401, 'unauthorized', 'sign in'),
      'POST /api/v1/auth/refresh': () => envelope(401, 'invalid_refresh_token', 'no'),
      'POST /api/v1/auth/dev/login': (body) => {
        const login = (body as { login: string }).login;
        if (!login) return envelope(422, 'validation_failed', 'login must be 1-39 letters');
        signedIn = true;
        return new Response(JSON.stringify({}), { status: 200 });
      },
    });
    renderLogin();
    const input = await screen.findByLabelText('Login');
    fireEvent.change(input, { target: { value: 'ada' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('Acme projects')).toBeTruthy();
  });

  it('shows a refusal in words', async () => {
    let probes = 0;
    serve({
      'GET /api/v1/me': () => envelope(401, 'unauthorized', 'sign in'),
      'POST /api/v1/auth/refresh': () => envelope(401, 'invalid_refresh_token', 'no'),
      'POST /api/v1/auth/dev/login': () => {
        probes += 1;
        return probes === 1
          ? envelope(422, 'validation_failed', 'login must be 1-39 letters')
          : envelope(409, 'conflict', 'that login belongs to a GitHub account: sign in with GitHub');
      },
    });
    renderLogin();
    fireEvent.change(await screen.findByLabelText('Login'), { target: { value: 'octocat' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect((await screen.findByRole('alert')).textContent).toBe(
      'that login belongs to a GitHub account: sign in with GitHub',
    );
  });
});
