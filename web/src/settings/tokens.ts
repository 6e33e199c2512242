// API token forms: which scopes are picked, what they amount to, and the request body.
import type { Schemas } from '../api/types';
import type { Scope } from './permissions';

export type ApiTokenInfo = Schemas['ApiTokenInfo'];
export type CreateApiToken = Schemas['CreateApiToken'];

/** The scopes in the server's canonical order. */
export const SCOPES: readonly Scope[] = ['read', 'write', 'runs', 'admin'];

export const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  read: 'read projects, tasks, attempts, logs and profiles',
  write: 'create, edit and delete projects, tasks and profiles',
  runs: 'start, stop and follow up attempts, and decide approvals',
  admin: 'everything, including members, tokens, secrets and the audit log',
};

/** Longest expiry the server accepts, in days. */
export const MAX_EXPIRY_DAYS = 3650;
export const MAX_NAME_CHARS = 100;

/** `selected` with `scope` turned on or off, deduplicated, in canonical order. */
export function toggleScope(selected: readonly Scope[], scope: Scope, on: boolean): Scope[] {
  return SCOPES.filter((s) => (s === scope ? on : selected.includes(s)));
}

/** What a token with `selected` may do: `admin` implies every other scope, the others
 *  imply nothing (docs/PERMISSIONS.md). */
export function effectiveScopes(selected: readonly Scope[]): Scope[] {
  return selected.includes('admin') ? [...SCOPES] : SCOPES.filter((s) => selected.includes(s));
}

/** Surprises in a selection, in words: a token that can change things it cannot read. */
export function scopeWarnings(selected: readonly Scope[]): string[] {
  const effective = effectiveScopes(selected);
  if (effective.length === 0 || effective.includes('read')) return [];
  const without = effective.filter((s) => s !== 'read');
  return [
    `Without read, this token can ${without.join(' and ')} but cannot read anything back (not even what it creates).`,
  ];
}

export interface TokenForm {
  name: string;
  scopes: Scope[];
  /** Days as typed; empty means the token never expires. */
  expiresInDays: string;
}

export type TokenFormErrors = Partial<Record<'name' | 'scopes' | 'expiresInDays', string>>;

/** Checks a token form; the body to send when it has no errors. */
export function validateTokenForm(form: TokenForm): { errors: TokenFormErrors; body?: CreateApiToken } {
  const errors: TokenFormErrors = {};
  const name = form.name.trim();
  if (!name) errors.name = 'Give the token a name, so you can tell it apart later.';
  else if ([...name].length > MAX_NAME_CHARS) errors.name = `The name can be at most ${MAX_NAME_CHARS} characters.`;

  const scopes = SCOPES.filter((s) => form.scopes.includes(s));
  if (scopes.length === 0) errors.scopes = 'Pick at least one scope.';

  let expires: number | null = null;
  const days = form.expiresInDays.trim();
  if (days) {
    const n = Number(days);
    if (!/^\d+$/.test(days) || !Number.isInteger(n) || n < 1 || n > MAX_EXPIRY_DAYS) {
      errors.expiresInDays = `Enter a whole number of days from 1 to ${MAX_EXPIRY_DAYS}, or leave it empty for a token that never expires.`;
    } else {
      expires = n;
    }
  }
  if (Object.keys(errors).length > 0) return { errors };
  return { errors, body: { name, scopes, expires_in_days: expires } };
}

export type TokenState = 'active' | 'revoked' | 'expired';

/** Whether a listed token still works. */
export function tokenState(token: ApiTokenInfo, now: number = Date.now()): TokenState {
  if (token.revoked_at) return 'revoked';
  if (token.expires_at && Date.parse(token.expires_at) <= now) return 'expired';
  return 'active';
}
