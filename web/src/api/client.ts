// The dashboard's one way to call the API: typed by the generated `schema.ts`, same-origin
// cookies, the CSRF header on every write, one shared refresh on 401, and every failure
// turned into an `ApiError` whose `message` can be shown to a person as it is.
import type { components, paths } from './schema';

/** The server's error envelope: `{"error": {"code", "message"}}`. */
export type ErrorBody = components['schemas']['ErrorBody'];

/** A failed call. `code` is the server's stable code (`not_found`, `validation_failed`,
 *  ...), or `network` when the server could not be reached; `message` is in words. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    /** HTTP status; 0 when no answer arrived. */
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds to wait, from `Retry-After` (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** The words to show for any error a page caught. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error && error.message) return error.message;
  return 'Something went wrong.';
}

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Paths of the document that have an operation for `M`. */
export type PathsWith<M extends HttpMethod> = {
  [P in keyof paths]: paths[P] extends { [K in M]: { responses: unknown } } ? P : never;
}[keyof paths];

/** The operation at `P` for `M`. */
export type Operation<P extends keyof paths, M extends HttpMethod> = NonNullable<paths[P][M]>;

type Json<T> = T extends { content: { 'application/json': infer B } } ? B : never;
type IsNever<T> = [T] extends [never] ? true : false;
type PathParamsOf<Op> = Op extends { parameters: { path: infer X } } ? X : never;
type QueryOf<Op> = Op extends { parameters: { query?: infer X } } ? X : never;
type BodyPart<Op> = Op extends { requestBody: infer B }
  ? { body: Json<B> }
  : Op extends { requestBody?: infer B }
    ? IsNever<Json<NonNullable<B>>> extends true
      ? { body?: undefined }
      : { body?: Json<NonNullable<B>> }
    : { body?: undefined };

/** What a successful call answers: the JSON of its 200, 201 or 202 (void for 204). */
export type ResponseOf<Op> = Op extends { responses: infer R }
  ? R extends { 200: infer A }
    ? IsNever<Json<A>> extends true
      ? void
      : Json<A>
    : R extends { 201: infer A }
      ? Json<A>
      : R extends { 202: infer A }
        ? Json<A>
        : void
  : never;

/** The second argument of a call: path parameters and body when the operation has
 *  them, optional query, headers and an abort signal. */
export type RequestOptions<Op> = (IsNever<PathParamsOf<Op>> extends true
  ? { path?: undefined }
  : { path: PathParamsOf<Op> }) &
  BodyPart<Op> & {
    query?: IsNever<QueryOf<Op>> extends true ? undefined : QueryOf<Op>;
    headers?: Record<string, string>;
    signal?: AbortSignal;
    /** Sent as `Idempotency-Key`, so a retried create does not create twice. */
    idempotencyKey?: string;
  };

type Args<Op> = object extends RequestOptions<Op>
  ? [options?: RequestOptions<Op>]
  : [options: RequestOptions<Op>];

export interface ClientOptions {
  /** Prefix for every path; empty for same-origin (the dashboard). */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Reads a cookie by name (defaults to `document.cookie`). */
  getCookie?: (name: string) => string | undefined;
}

/** The cookie whose value every cookie-authenticated write echoes in `X-CSRF-Token`. */
export const CSRF_COOKIE = 'sy_csrf';
/** Its name behind an https public URL, where the api prefixes it (`__Host-`). */
export const HOST_CSRF_COOKIE = `__Host-${CSRF_COOKIE}`;
export const CSRF_HEADER = 'X-CSRF-Token';
const REFRESH_PATH = '/api/v1/auth/refresh';

/** Reads one cookie from `document.cookie`. */
export function readCookie(name: string, cookies = globalThis.document?.cookie ?? ''): string | undefined {
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(value);
      } catch {
        return value;
      }
    }
  }
  return undefined;
}

/** Fills `{name}` placeholders of a path template, each value URL-encoded. */
export function fillPath(template: string, params?: Record<string, unknown>): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined || value === null) throw new Error(`missing path parameter ${name} for ${template}`);
    return encodeURIComponent(String(value));
  });
}

/** `?a=1&b=x` from an object; undefined and null are left out, arrays repeat the key. */
export function queryString(query?: Record<string, unknown>): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) params.append(key, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** Turns a failed response into an `ApiError`, from its envelope when it has one. */
export async function toApiError(res: Response): Promise<ApiError> {
  const retryAfter = Number(res.headers.get('Retry-After')) || undefined;
  let text = '';
  try {
    text = await res.text();
  } catch {
    // the body could not be read: fall back to the status
  }
  try {
    const body = JSON.parse(text) as Partial<ErrorBody>;
    if (body.error && typeof body.error.code === 'string') {
      return new ApiError(res.status, body.error.code, body.error.message || res.statusText, retryAfter);
    }
  } catch {
    // not JSON: a proxy's page or an empty body
  }
  const fallback =
    res.status >= 500
      ? 'The server failed to answer. Try again shortly.'
      : `The server answered ${res.status} ${res.statusText}`.trim();
  return new ApiError(res.status, `http_${res.status}`, fallback, retryAfter);
}

type Listener = () => void;

/** A typed API client. Create one per app with `createClient`; the dashboard uses `api`. */
export class ApiClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly getCookie: (name: string) => string | undefined;
  private refreshing: Promise<boolean> | null = null;
  private readonly unauthorized = new Set<Listener>();

  constructor(options: ClientOptions = {}) {
    this.baseUrl = options.baseUrl ?? '';
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.getCookie = options.getCookie ?? ((name) => readCookie(name));
  }

  get<P extends PathsWith<'get'>>(path: P, ...args: Args<Operation<P, 'get'>>) {
    return this.call<ResponseOf<Operation<P, 'get'>>>('GET', path, args[0]);
  }
  post<P extends PathsWith<'post'>>(path: P, ...args: Args<Operation<P, 'post'>>) {
    return this.call<ResponseOf<Operation<P, 'post'>>>('POST', path, args[0]);
  }
  put<P extends PathsWith<'put'>>(path: P, ...args: Args<Operation<P, 'put'>>) {
    return this.call<ResponseOf<Operation<P, 'put'>>>('PUT', path, args[0]);
  }
  patch<P extends PathsWith<'patch'>>(path: P, ...args: Args<Operation<P, 'patch'>>) {
    return this.call<ResponseOf<Operation<P, 'patch'>>>('PATCH', path, args[0]);
  }
  delete<P extends PathsWith<'delete'>>(path: P, ...args: Args<Operation<P, 'delete'>>) {
    return this.call<ResponseOf<Operation<P, 'delete'>>>('DELETE', path, args[0]);
  }

  /** Called when the session is gone for good (refresh failed); returns an unsubscribe.
   *  The session provider listens and sends the person to /login. */
  onUnauthorized(listener: Listener): () => void {
    this.unauthorized.add(listener);
    return () => this.unauthorized.delete(listener);
  }

  /** A raw `fetch` with the client's conventions (cookies, CSRF on writes, refresh on
   *  401), for what the typed methods do not cover, such as streams. Never throws for an
   *  HTTP status; throws `ApiError` `network` when no answer arrived. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    let res = await this.send(url, init);
    if (res.status === 401 && !url.includes('/api/v1/auth/')) {
      if (await this.refresh()) {
        res = await this.send(url, init);
      }
      if (res.status === 401) this.sessionEnded();
    }
    return res;
  }

  /** Spends the refresh cookie for a new session cookie. Concurrent callers share one
   *  request: a refresh token is single-use, and a second spend would end the session. */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.send(REFRESH_PATH, { method: 'POST' })
      .then((res) => res.ok)
      .catch(() => false)
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  private sessionEnded() {
    if (this.unauthorized.size === 0 && typeof window !== 'undefined' && window.location) {
      if (window.location.pathname !== '/login') {
        const here = window.location.pathname + window.location.search;
        window.location.assign(`/login?return_to=${encodeURIComponent(here)}`);
      }
      return;
    }
    for (const listener of this.unauthorized) listener();
  }

  private async send(url: string, init: RequestInit): Promise<Response> {
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = new Headers(init.headers);
    if (!['GET', 'HEAD', 'OPTIONS'].includes(method)) {
      const csrf = this.getCookie(HOST_CSRF_COOKIE) ?? this.getCookie(CSRF_COOKIE);
      if (csrf) headers.set(CSRF_HEADER, csrf);
    }
    if (!headers.has('Accept')) headers.set('Accept', 'application/json');
    try {
      return await this.fetchImpl(this.baseUrl + url, { ...init, method, headers, credentials: 'same-origin' });
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', 'Could not reach the server. Check your connection and try again.');
    }
  }

  private async call<T>(method: string, template: string, options?: RequestOptionsLoose): Promise<T> {
    const url = fillPath(template, options?.path) + queryString(options?.query);
    const headers: Record<string, string> = { ...options?.headers };
    if (options?.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
    let body: string | undefined;
    if (options?.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const res = await this.fetch(url, { method, headers, body, signal: options?.signal });
    if (!res.ok) throw await toApiError(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

interface RequestOptionsLoose {
  path?: Record<string, unknown>;
  query?: Record<string, unknown>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  idempotencyKey?: string;
}

/** A fresh `Idempotency-Key` for one create (reuse it when retrying that same create).
 *  `crypto.randomUUID` exists only in secure contexts, and a self-hosted install may be
 *  served over plain http on a LAN address, so this falls back to random bytes. */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Creates a client; tests pass a fake `fetch` and cookie reader. */
export function createClient(options?: ClientOptions): ApiClient {
  return new ApiClient(options);
}

/** The dashboard's client: same origin, the browser's cookies. */
export const api = createClient();

/** One page of a cursor-paged list (`Page<T>` on the server). */
export interface PageOf<T> {
  items: T[];
  next_cursor?: string | null;
}

/** Every item of a cursor-paged list: asks for pages, passing each `next_cursor` on,
 *  until one has none. For lists that stay short (a task's attempts, an attempt's
 *  processes), where the page only bounds one request's work. */
export async function allPages<T>(page: (cursor: string | undefined) => Promise<PageOf<T>>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const p = await page(cursor);
    items.push(...p.items);
    cursor = p.next_cursor ?? undefined;
  } while (cursor);
  return items;
}
