import { describe, expect, it } from 'vitest';
import { effectiveScopes, scopeWarnings, toggleScope, tokenState, validateTokenForm } from './tokens';

describe('scope selection', () => {
  it('toggles in canonical order without duplicates', () => {
    expect(toggleScope([], 'admin', true)).toEqual(['admin']);
    expect(toggleScope(['admin'], 'read', true)).toEqual(['read', 'admin']);
    expect(toggleScope(['read', 'read' as never], 'write', true)).toEqual(['read', 'write']);
    expect(toggleScope(['read', 'write'], 'read', false)).toEqual(['write']);
  });

  it('lets admin imply every scope and nothing else imply anything', () => {
    expect(effectiveScopes(['admin'])).toEqual(['read', 'write', 'runs', 'admin']);
    expect(effectiveScopes(['write'])).toEqual(['write']);
    expect(effectiveScopes(['runs', 'read'])).toEqual(['read', 'runs']);
  });

  it('warns about a token that can change what it cannot read', () => {
    expect(scopeWarnings(['write'])).toHaveLength(1);
    expect(scopeWarnings(['write', 'runs'])[0]).toMatch(/write and runs but cannot read/);
    expect(scopeWarnings(['read', 'write'])).toEqual([]);
    expect(scopeWarnings(['admin'])).toEqual([]);
    expect(scopeWarnings([])).toEqual([]);
  });
});

describe('token form', () => {
  it('builds the body from a valid form', () => {
    expect(validateTokenForm({ name: '  ci  ', scopes: ['runs', 'read'], expiresInDays: '30' })).toEqual({
      errors: {},
      body: { name: 'ci', scopes: ['read', 'runs'], expires_in_days: 30 },
    });
    expect(validateTokenForm({ name: 'ci', scopes: ['admin'], expiresInDays: '' }).body?.expires_in_days).toBeNull();
  });

  it('says what is wrong with each field', () => {
    const { errors, body } = validateTokenForm({ name: ' ', scopes: [], expiresInDays: '0' });
    expect(body).toBeUndefined();
    expect(errors.name).toMatch(/name/);
    expect(errors.scopes).toMatch(/at least one/);
    expect(errors.expiresInDays).toMatch(/1 to 3650/);
    expect(validateTokenForm({ name: 'x', scopes: ['read'], expiresInDays: '1.5' }).errors.expiresInDays).toBeDefined();
    expect(validateTokenForm({ name: 'x', scopes: ['read'], expiresInDays: '3651' }).errors.expiresInDays).toBeDefined();
    expect(validateTokenForm({ name: 'x'.repeat(101), scopes: ['read'], expiresInDays: '' }).errors.name).toMatch(/100/);
  });
});

describe('token state', () => {
  const base = { id: '1', name: 't', prefix: 'sy_ab', scopes: ['read' as const], created_at: '2026-01-01T00:00:00Z' };
  const now = Date.parse('2026-06-01T00:00:00Z');
  it('tells active, revoked and expired tokens apart', () => {
    expect(tokenState(base, now)).toBe('active');
    expect(tokenState({ ...base, expires_at: '2026-07-01T00:00:00Z' }, now)).toBe('active');
    expect(tokenState({ ...base, expires_at: '2026-05-01T00:00:00Z' }, now)).toBe('expired');
    expect(tokenState({ ...base, revoked_at: '2026-02-01T00:00:00Z', expires_at: '2026-05-01T00:00:00Z' }, now)).toBe('revoked');
  });
});
