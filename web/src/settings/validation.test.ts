import { describe, expect, it } from 'vitest';
import {
  emailError,
  loginError,
  parseVariants,
  profileNameError,
  secretNameError,
  secretValueError,
  serverFieldError,
  validateInvitationForm,
  validateOrgForm,
  validateProfileForm,
  variantPatch,
} from './validation';

describe('general', () => {
  it('checks the org name and limit', () => {
    expect(validateOrgForm({ name: ' Acme ', maxConcurrentAttempts: '8' })).toEqual({
      errors: {},
      body: { name: 'Acme', max_concurrent_attempts: 8 },
    });
    const bad = validateOrgForm({ name: '', maxConcurrentAttempts: '0' });
    expect(bad.body).toBeUndefined();
    expect(bad.errors.name).toBeDefined();
    expect(bad.errors.maxConcurrentAttempts).toMatch(/1 to 1000/);
    expect(validateOrgForm({ name: 'a', maxConcurrentAttempts: '1001' }).errors.maxConcurrentAttempts).toBeDefined();
    expect(validateOrgForm({ name: 'a', maxConcurrentAttempts: '2.5' }).errors.maxConcurrentAttempts).toBeDefined();
  });
});

describe('people', () => {
  it('checks GitHub logins and emails like the server', () => {
    expect(loginError('ada-lovelace')).toBeNull();
    expect(loginError('-ada')).toMatch(/letter or digit/);
    expect(loginError('a'.repeat(40))).not.toBeNull();
    expect(loginError(' ')).toMatch(/Enter/);
    expect(emailError('ada@example.com')).toBeNull();
    expect(emailError('ada@localhost')).toBeNull();
    expect(emailError('ada example.com')).not.toBeNull();
    expect(emailError('a@b@c')).not.toBeNull();
  });

  it('builds invitation bodies with exactly one of login and email', () => {
    expect(validateInvitationForm({ by: 'github', value: ' ada ', role: 'member' }).body).toEqual({
      github_login: 'ada',
      role: 'member',
    });
    expect(validateInvitationForm({ by: 'email', value: 'ada@x.io', role: 'viewer' }).body).toEqual({
      email: 'ada@x.io',
      role: 'viewer',
    });
    expect(validateInvitationForm({ by: 'email', value: 'nope', role: 'viewer' }).errors.value).toBeDefined();
  });
});

describe('secrets', () => {
  it('checks names as environment variables and values by size', () => {
    expect(secretNameError('ANTHROPIC_API_KEY')).toBeNull();
    expect(secretNameError('_X1')).toBeNull();
    expect(secretNameError('1X')).toMatch(/upper-case/);
    expect(secretNameError('lower')).not.toBeNull();
    expect(secretNameError('A'.repeat(65))).not.toBeNull();
    expect(secretValueError('')).toMatch(/Enter/);
    expect(secretValueError('x'.repeat(16 * 1024))).toBeNull();
    expect(secretValueError('é'.repeat(8 * 1024 + 1))).toMatch(/16 KiB/);
    expect(secretValueError('a\0b')).toMatch(/NUL/);
  });
});

describe('executor profiles', () => {
  it('checks profile names', () => {
    expect(profileNameError('claude-fast')).toBeNull();
    expect(profileNameError('Claude')).not.toBeNull();
    expect(profileNameError('')).not.toBeNull();
  });

  it('parses variants and says what is wrong', () => {
    expect(parseVariants('{"default": {}}').variants).toEqual({ default: {} });
    expect(parseVariants('{"default": ').error).toMatch(/not valid JSON/);
    expect(parseVariants('[]').error).toMatch(/JSON object/);
    expect(parseVariants('{"plan": {}}').error).toMatch(/include "default"/);
    expect(parseVariants('{"default": {}, "Bad": {}}').error).toMatch(/Variant "Bad"/);
    expect(parseVariants('{"default": 3}').error).toMatch(/must be an object/);
    expect(parseVariants('{"default": {"modle": "x"}}').error).toMatch(/unknown option "modle"/);
    expect(parseVariants('{"default": {"model": "opus", "env": {"A": "1"}}}').error).toBeUndefined();
  });

  it('validates the whole form', () => {
    const ok = validateProfileForm({ name: 'fast', executor: 'claude-code', variantsText: '{"default":{}}' }, true);
    expect(ok.errors).toEqual({});
    expect(ok.variants).toEqual({ default: {} });
    const bad = validateProfileForm({ name: 'Fast', executor: '', variantsText: '{' }, true);
    expect(Object.keys(bad.errors).sort()).toEqual(['executor', 'name', 'variants']);
    // The name is fixed when editing.
    expect(validateProfileForm({ name: '', executor: 'codex', variantsText: '{"default":{}}' }, false).errors).toEqual({});
  });

  it('patches dropped variants as null', () => {
    expect(variantPatch({ default: {}, plan: {}, fast: {} }, { default: { model: 'x' }, fast: {} })).toEqual({
      default: { model: 'x' },
      fast: {},
      plan: null,
    });
  });

  it('maps server validation messages onto the form fields', () => {
    expect(serverFieldError('variants.plan.permission_policy: codex supports only auto')).toEqual({
      field: 'variants',
      message: 'Variant "plan", permission_policy: codex supports only auto',
    });
    expect(serverFieldError('variants.default.extra_args[2]: longer than 4096 bytes').message).toBe(
      'Variant "default", extra_args[2]: longer than 4096 bytes',
    );
    expect(serverFieldError('variants: must include a "default" variant')).toEqual({
      field: 'variants',
      message: 'Variants: must include a "default" variant',
    });
    expect(serverFieldError('name: "X" is not a valid profile name')).toEqual({
      field: 'name',
      message: '"X" is not a valid profile name',
    });
    expect(serverFieldError('executor: a profile named "codex" must run the codex executor').field).toBe('executor');
    expect(serverFieldError('an org may hold at most 100 profiles')).toEqual({
      field: null,
      message: 'an org may hold at most 100 profiles',
    });
  });
});
