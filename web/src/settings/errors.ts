// API errors of the settings routes in words: the server's message is already meant for
// people, but a few codes deserve the whole story (what happened and what to do next).
import { ApiError, errorMessage } from '../api/client';

const WORDS: Record<string, string> = {
  last_owner:
    'An organization must keep an owner: its last owner cannot leave, be removed or be demoted. Make someone else an owner first.',
  forbidden: 'Your role in this organization does not allow this. Ask an owner or an admin.',
  person_required: 'Only a signed-in person can do this, not an API token.',
  csrf_failed: 'The page’s security check failed. Reload the page and try again.',
  invitation_expired: 'This invitation has expired. Ask whoever invited you to send a new one.',
  invitation_used: 'This invitation has already been accepted. Each invitation link works once.',
  invitation_revoked: 'This invitation was revoked. Ask whoever invited you to send a new one.',
  invitation_mismatch:
    'This invitation was sent to someone else. Sign in with the GitHub account (or email address) it was sent to.',
  profile_exists: 'The organization already has a profile with this name: edit that one, or choose another name.',
};

/** Codes whose server message names the specific thing, worth keeping as it is. */
const SERVER_WORDS = new Set(['already_member', 'owner_required', 'validation_failed', 'unknown_executor', 'not_found']);

/** Upper-cases the first letter and ends the sentence, for server messages. */
export function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const first = t[0]!.toUpperCase() + t.slice(1);
  return /[.!?)]$/.test(first) ? first : `${first}.`;
}

/** The words to show for an error a settings page caught. `overrides` replaces the words
 *  of a code where the page knows better (e.g. `already_member` on the accept page). */
export function describeError(error: unknown, overrides: Record<string, string> = {}): string {
  if (!(error instanceof ApiError)) return errorMessage(error);
  const own = overrides[error.code];
  if (own) return own;
  if (error.code === 'rate_limited') {
    return error.retryAfter
      ? `Too many requests: wait ${error.retryAfter} seconds and try again.`
      : 'Too many requests: wait a moment and try again.';
  }
  if (error.code === 'forbidden') {
    const scope = /`(\w+)`/.exec(error.message)?.[1];
    if (scope) return `Your role in this organization does not allow this (it needs the ${scope} permission). Ask an owner or an admin.`;
  }
  if (SERVER_WORDS.has(error.code)) return sentence(error.message);
  return WORDS[error.code] ?? sentence(error.message);
}

/** An `Error` carrying `describeError`'s words, for `<ErrorNotice error={...} />`. */
export function describedError(error: unknown, overrides?: Record<string, string>): Error | null {
  if (!error) return null;
  return new Error(describeError(error, overrides));
}

/** Whether an error means the signed-in person lacks the role for a route. */
export function isForbidden(error: unknown): boolean {
  return error instanceof ApiError && error.status === 403;
}
