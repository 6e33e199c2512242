import { describe, expect, it, vi } from 'vitest';
import { ApiError, createClient, errorMessage, fillPath, newIdempotencyKey, queryString, readCookie } from './client';

type Call = { url: string; init: RequestInit };

/** A fake fetch answering from a list of responses, recording every call. */
function fakeFetch(...answers: Array<Response | (() => Response) | Error>) {
  const calls: Call[] = [];
  const fn = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    const next = answers.shift();
    if (!next) throw new Error(`unexpected call ${String(url)}`);
    if (next instanceof Error) throw next;
    return typeof next === 'function' ? next() : next;
  });
  return { fetch: fn as unknown as typeof fetch, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
const envelope = (status: number, code: string, message: string, headers?: Record<string, string>) =>
  json(status, { error: { code, message } }, headers);
const header = (call: Call | undefined, name: string) => new Headers(call?.init.headers).get(name);

describe('api client', () => {
  it('reads with same-origin cookies, filling path and query', async () => {
    const { fetch, calls } = fakeFetch(json(200, { items: [], next_cursor: null }));
    const client = createClient({ fetch, getCookie: () => 'csrf-1' });
    const page = await client.get('/api/v1/orgs/{org}/projects', {
      path: { org: 'a b' },
      query: { limit: 10, cursor: undefined },
    });
    expect(page).toEqual({ items: [], next_cursor: null });
    expect(calls[0]?.url).toBe('/api/v1/orgs/a%20b/projects?limit=10');
    expect(calls[0]?.init.credentials).toBe('same-origin');
    expect(calls[0]?.init.method).toBe('GET');
    expect(header(calls[0], 'X-CSRF-Token')).toBeNull();
  });

  it('sends the CSRF cookie back on every write, with JSON and an idempotency key', async () => {
    const { fetch, calls } = fakeFetch(json(201, { id: 'p1' }), new Response(null, { status: 204 }));
    const client = createClient({ fetch, getCookie: (name) => (name === 'sy_csrf' ? 'tok en' : undefined) });
    await client.post('/api/v1/orgs/{org}/projects', {
      path: { org: 'acme' },
      body: { name: 'Web', repository_url: '/repo' },
      idempotencyKey: 'k1',
    });
    expect(calls[0]?.init.method).toBe('POST');
    expect(header(calls[0], 'X-CSRF-Token')).toBe('tok en');
    expect(header(calls[0], 'Content-Type')).toBe('application/json');
    expect(header(calls[0], 'Idempotency-Key')).toBe('k1');
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({ name: 'Web', repository_url: '/repo' });

    const none = await client.delete('/api/v1/orgs/{org}/projects/{id}', { path: { org: 'acme', id: 'p1' } });
    expect(none).toBeUndefined();
    expect(header(calls[1], 'X-CSRF-Token')).toBe('tok en');
  });

  it('sends the __Host- CSRF cookie back when the api serves https', async () => {
    const { fetch, calls } = fakeFetch(json(201, { id: 'p1' }));
    const client = createClient({
      fetch,
      getCookie: (name) => (name === '__Host-sy_csrf' ? 'host tok' : undefined),
    });
    await client.post('/api/v1/orgs/{org}/projects', {
      path: { org: 'acme' },
      body: { name: 'Web', repository_url: 'https://example.com/r.git' },
    });
    expect(header(calls[0], 'X-CSRF-Token')).toBe('host tok');
    expect(readCookie('__Host-sy_csrf', 'sy_csrf=plain; __Host-sy_csrf=host')).toBe('host');
  });

  it('turns the error envelope into an ApiError with code and words', async () => {
    const { fetch } = fakeFetch(envelope(422, 'validation_failed', 'name must not be empty'));
    const client = createClient({ fetch });
    const error = await client.get('/api/v1/me').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 422, code: 'validation_failed', message: 'name must not be empty' });
    expect(errorMessage(error)).toBe('name must not be empty');
  });

  it('explains answers without an envelope and unreachable servers in words', async () => {
    const { fetch } = fakeFetch(
      new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }),
      new TypeError('Failed to fetch'),
      envelope(429, 'rate_limited', 'too many requests; retry in 7 s', { 'Retry-After': '7' }),
    );
    const client = createClient({ fetch });
    await expect(client.get('/api/v1/me')).rejects.toMatchObject({
      status: 502,
      code: 'http_502',
      message: 'The server failed to answer. Try again shortly.',
    });
    await expect(client.get('/api/v1/me')).rejects.toMatchObject({ status: 0, code: 'network' });
    await expect(client.get('/api/v1/me')).rejects.toMatchObject({ code: 'rate_limited', retryAfter: 7 });
  });

  it('refreshes once on 401 with the CSRF header, then retries the call', async () => {
    const { fetch, calls } = fakeFetch(
      envelope(401, 'unauthorized', 'expired'),
      json(200, { access_token: 'x' }),
      json(200, { user: { login: 'ada' }, orgs: [] }),
    );
    const client = createClient({ fetch, getCookie: () => 'c1' });
    const me = await client.get('/api/v1/me');
    expect(me.user.login).toBe('ada');
    expect(calls.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      'GET /api/v1/me',
      'POST /api/v1/auth/refresh',
      'GET /api/v1/me',
    ]);
    expect(header(calls[1], 'X-CSRF-Token')).toBe('c1');
  });

  it('shares one refresh between concurrent 401s (a refresh token is single-use)', async () => {
    let refreshes = 0;
    const fetch = vi.fn(async (url: RequestInfo | URL) => {
      if (String(url) === '/api/v1/auth/refresh') {
        refreshes += 1;
        await new Promise((r) => setTimeout(r, 5));
        return json(200, {});
      }
      return refreshes === 0 ? envelope(401, 'unauthorized', 'expired') : json(200, { ok: true });
    }) as unknown as typeof globalThis.fetch;
    const client = createClient({ fetch });
    const results = await Promise.all([client.get('/api/v1/me'), client.get('/api/v1/orgs'), client.get('/api/v1/me')]);
    expect(results).toHaveLength(3);
    expect(refreshes).toBe(1);
  });

  it('reports the end of the session when the refresh fails', async () => {
    const { fetch, calls } = fakeFetch(
      envelope(401, 'unauthorized', 'expired'),
      envelope(401, 'refresh_token_reused', 'signed out'),
    );
    const client = createClient({ fetch });
    const ended = vi.fn();
    client.onUnauthorized(ended);
    await expect(client.get('/api/v1/me')).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    expect(ended).toHaveBeenCalledTimes(1);
    expect(calls).toHaveLength(2);
  });

  it('does not refresh for the sign-in routes themselves', async () => {
    const { fetch, calls } = fakeFetch(envelope(403, 'dev_login_disabled', 'development sign-in is disabled'));
    const client = createClient({ fetch });
    await expect(client.post('/api/v1/auth/dev/login', { body: { login: 'ada' } })).rejects.toMatchObject({
      code: 'dev_login_disabled',
    });
    expect(calls).toHaveLength(1);
  });
});

describe('request helpers', () => {
  it('fills and encodes path parameters, refusing missing ones', () => {
    expect(fillPath('/orgs/{org}/tasks/{id}', { org: 'acme', id: 'a/b' })).toBe('/orgs/acme/tasks/a%2Fb');
    expect(() => fillPath('/orgs/{org}', {})).toThrow(/org/);
  });

  it('builds query strings without empty values', () => {
    expect(queryString({ a: 1, b: undefined, c: null, d: ['x', 'y'] })).toBe('?a=1&d=x&d=y');
    expect(queryString({})).toBe('');
    expect(queryString()).toBe('');
  });

  it('makes idempotency keys even where crypto.randomUUID is missing (plain http)', () => {
    expect(newIdempotencyKey()).not.toBe(newIdempotencyKey());
    vi.stubGlobal('crypto', { getRandomValues: (a: Uint8Array) => a.fill(171) });
    expect(newIdempotencyKey()).toBe('ab'.repeat(16));
  });

  it('reads a cookie by exact name', () => {
    expect(readCookie('sy_csrf', 'a=1; sy_csrf=abc%3D; sy_csrf2=no')).toBe('abc=');
    expect(readCookie('sy_csrf', 'x_sy_csrf=1')).toBeUndefined();
  });
});
