// Client-side checks of the settings forms, in the server's own rules (so a form that
// passes here is not refused for its shape), each error in words for the field it is on.
import type { Schemas } from '../api/types';
import type { Role } from './permissions';

export type FieldErrors<K extends string> = Partial<Record<K, string>>;

function hasErrors(errors: object): boolean {
  return Object.keys(errors).length > 0;
}

// ---- General -------------------------------------------------------------------------

export const MAX_ORG_NAME_CHARS = 200;
export const MAX_CONCURRENT_LIMIT = 1000;

export interface OrgForm {
  name: string;
  maxConcurrentAttempts: string;
}

export function validateOrgForm(
  form: OrgForm,
): { errors: FieldErrors<'name' | 'maxConcurrentAttempts'>; body?: Schemas['UpdateOrg'] } {
  const errors: FieldErrors<'name' | 'maxConcurrentAttempts'> = {};
  const name = form.name.trim();
  if (!name) errors.name = 'The organization needs a name.';
  else if ([...name].length > MAX_ORG_NAME_CHARS) errors.name = `The name can be at most ${MAX_ORG_NAME_CHARS} characters.`;
  const raw = form.maxConcurrentAttempts.trim();
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_CONCURRENT_LIMIT) {
    errors.maxConcurrentAttempts = `Enter a whole number from 1 to ${MAX_CONCURRENT_LIMIT}.`;
  }
  if (hasErrors(errors)) return { errors };
  return { errors, body: { name, max_concurrent_attempts: n } };
}

// ---- People --------------------------------------------------------------------------

/** A GitHub login: 1-39 letters, digits or hyphens, starting with a letter or digit. */
export function loginError(value: string): string | null {
  const login = value.trim();
  if (!login) return 'Enter a GitHub login.';
  if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/.test(login)) {
    return 'A GitHub login is 1–39 letters, digits or hyphens, starting with a letter or digit.';
  }
  return null;
}

/** An email address, checked as loosely as the server does: local@domain, no spaces. */
export function emailError(value: string): string | null {
  const email = value.trim();
  if (!email) return 'Enter an email address.';
  if (email.length > 320 || !/^[^\s@]+@[^\s@]+$/.test(email)) return 'That is not an email address (name@example.com).';
  return null;
}

export type InviteBy = 'github' | 'email';

export interface InvitationForm {
  by: InviteBy;
  value: string;
  role: Role;
}

export function validateInvitationForm(
  form: InvitationForm,
): { errors: FieldErrors<'value'>; body?: Schemas['CreateInvitation'] } {
  const error = form.by === 'github' ? loginError(form.value) : emailError(form.value);
  if (error) return { errors: { value: error } };
  const value = form.value.trim();
  return {
    errors: {},
    body: form.by === 'github' ? { github_login: value, role: form.role } : { email: value, role: form.role },
  };
}

// ---- Secrets -------------------------------------------------------------------------

export const MAX_SECRET_NAME_CHARS = 64;
export const MAX_SECRET_VALUE_BYTES = 16 * 1024;

export function secretNameError(value: string): string | null {
  if (!value) return 'Enter the secret’s name.';
  if (!/^[A-Z_][A-Z0-9_]*$/.test(value) || value.length > MAX_SECRET_NAME_CHARS) {
    return `A secret’s name is the environment variable it becomes: upper-case letters, digits and _, not starting with a digit, at most ${MAX_SECRET_NAME_CHARS} characters.`;
  }
  return null;
}

export function secretValueError(value: string): string | null {
  if (!value) return 'Enter the value.';
  if (new TextEncoder().encode(value).length > MAX_SECRET_VALUE_BYTES) return 'The value can be at most 16 KiB.';
  if (value.includes('\0')) return 'The value cannot contain a NUL character.';
  return null;
}

// ---- Executor profiles ---------------------------------------------------------------

export type ProfileOptions = Schemas['ProfileOptions'];
export type Variants = Record<string, ProfileOptions>;

const PROFILE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const VARIANT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
// Every option a variant may set; typed as a record of the wire type's keys, so a new
// option in the server's ProfileOptions fails the build until it is listed here too.
const OPTION_FIELDS: Record<keyof ProfileOptions, true> = {
  model: true,
  reasoning_effort: true,
  permission_policy: true,
  extra_args: true,
  env: true,
  resource_class: true,
};
const OPTION_KEYS = new Set(Object.keys(OPTION_FIELDS));
const MAX_VARIANTS = 32;

export function profileNameError(value: string): string | null {
  if (!value) return 'Enter a name for the profile.';
  if (!PROFILE_NAME.test(value)) {
    return 'A profile name is lower-case letters, digits and -, starting with a letter or digit, at most 63 characters.';
  }
  return null;
}

/** Parses the variants textarea: a JSON object of variant name → options, with `default`.
 *  Checks the shape only; what each executor accepts is the server's to say. */
export function parseVariants(text: string): { variants?: Variants; error?: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    return { error: `This is not valid JSON: ${detail}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: 'Variants must be a JSON object of variant name → options, such as {"default": {}}.' };
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (!entries.some(([name]) => name === 'default')) {
    return { error: 'Variants must include "default" (the variant used when none is named).' };
  }
  if (entries.length > MAX_VARIANTS) return { error: `A profile can have at most ${MAX_VARIANTS} variants.` };
  for (const [name, options] of entries) {
    if (!VARIANT_NAME.test(name)) {
      return {
        error: `Variant "${name}": a variant name is lower-case letters, digits, - and _, starting with a letter or digit.`,
      };
    }
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      return { error: `Variant "${name}" must be an object of options (use {} for the executor’s defaults).` };
    }
    const unknown = Object.keys(options).filter((k) => !OPTION_KEYS.has(k));
    if (unknown.length > 0) {
      return {
        error: `Variant "${name}" has unknown option ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${[...OPTION_KEYS].join(', ')}).`,
      };
    }
  }
  return { variants: value as Variants };
}

export interface ProfileForm {
  name: string;
  executor: string;
  variantsText: string;
}

export type ProfileField = 'name' | 'executor' | 'variants';

export function validateProfileForm(
  form: ProfileForm,
  creating: boolean,
): { errors: FieldErrors<ProfileField>; variants?: Variants } {
  const errors: FieldErrors<ProfileField> = {};
  if (creating) {
    const nameError = profileNameError(form.name.trim());
    if (nameError) errors.name = nameError;
  }
  if (!form.executor) errors.executor = 'Choose the executor this profile runs.';
  const parsed = parseVariants(form.variantsText);
  if (parsed.error) errors.variants = parsed.error;
  if (hasErrors(errors)) return { errors };
  return { errors, variants: parsed.variants };
}

/** The `variants` of a PATCH that turns `before` into `after`: every variant of `after`
 *  (each replaces the stored one) and `null` for each variant `after` dropped, which the
 *  server removes. */
export function variantPatch(before: Variants, after: Variants): Record<string, ProfileOptions | null> {
  const patch: Record<string, ProfileOptions | null> = { ...after };
  for (const name of Object.keys(before)) {
    if (!(name in after)) patch[name] = null;
  }
  return patch;
}

/** Splits a server validation message (`variants.plan.model: must not be empty`) into the
 *  form field it concerns and the words to show there. */
export function serverFieldError(message: string): { field: ProfileField | null; message: string } {
  const m = /^([A-Za-z_][\w-]*(?:\[\d+\])?(?:\.[\w-]+(?:\[\d+\])?)*): (.+)$/s.exec(message);
  if (!m) return { field: null, message };
  const path = m[1] ?? '';
  const rest = m[2] ?? message;
  const root = path.split('.')[0] ?? '';
  if (root === 'variants') {
    const parts = path.split('.').slice(1);
    const where = parts.length === 0 ? 'Variants' : parts.length === 1 ? `Variant "${parts[0]}"` : `Variant "${parts[0]}", ${parts.slice(1).join('.')}`;
    return { field: 'variants', message: `${where}: ${rest}` };
  }
  if (root === 'name') return { field: 'name', message: rest };
  if (root === 'executor') return { field: 'executor', message: rest };
  return { field: null, message };
}

/** A JSON textarea's starting text for variants. */
export function variantsText(variants: Variants): string {
  return JSON.stringify(variants, null, 2);
}
