import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import { describeError, describedError, isForbidden, sentence } from './errors';

describe('describeError', () => {
  it('gives the whole story for the codes people meet in settings', () => {
    expect(describeError(new ApiError(409, 'last_owner', 'the org’s last owner cannot leave'))).toMatch(
      /must keep an owner.*Make someone else an owner first/,
    );
    expect(describeError(new ApiError(400, 'invitation_expired', 'x'))).toMatch(/expired/);
    expect(describeError(new ApiError(400, 'invitation_used', 'x'))).toMatch(/already been accepted/);
    expect(describeError(new ApiError(400, 'invitation_revoked', 'x'))).toMatch(/revoked/);
    expect(describeError(new ApiError(403, 'invitation_mismatch', 'x'))).toMatch(/someone else/);
  });

  it('names the missing permission of a 403', () => {
    expect(describeError(new ApiError(403, 'forbidden', 'this credential lacks the `admin` permission'))).toBe(
      'Your role in this organization does not allow this (it needs the admin permission). Ask an owner or an admin.',
    );
    expect(describeError(new ApiError(403, 'owner_required', 'only an owner of the org may invite an owner'))).toBe(
      'Only an owner of the org may invite an owner.',
    );
  });

  it('keeps the server’s own words otherwise, as a sentence', () => {
    expect(describeError(new ApiError(409, 'already_member', 'ada is already a member of the org'))).toBe(
      'Ada is already a member of the org.',
    );
    expect(describeError(new ApiError(422, 'validation_failed', 'name must not be empty'))).toBe('Name must not be empty.');
    expect(describeError(new ApiError(429, 'rate_limited', 'slow down', 7))).toMatch(/wait 7 seconds/);
  });

  it('lets a page override a code', () => {
    expect(describeError(new ApiError(409, 'already_member', 'x'), { already_member: 'You are in.' })).toBe('You are in.');
  });

  it('handles non-API errors', () => {
    expect(describeError(new Error('boom'))).toBe('boom');
    expect(describedError(null)).toBeNull();
    expect(describedError(new ApiError(403, 'forbidden', 'no'))?.message).toMatch(/does not allow/);
    expect(isForbidden(new ApiError(403, 'forbidden', 'no'))).toBe(true);
    expect(isForbidden(new ApiError(404, 'not_found', 'no'))).toBe(false);
    expect(sentence('done.')).toBe('Done.');
  });
});
