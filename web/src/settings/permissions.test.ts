import { describe, expect, it } from 'vitest';
import {
  assignableRoles,
  can,
  canChangeRole,
  explainMissing,
  hasScope,
  type Member,
  ownerCount,
  removeBlock,
  type Role,
  roleChangeBlock,
  whoCan,
} from './permissions';

const member = (role: Role, login: string = role): Member => ({
  role,
  joined_at: '2026-01-01T00:00:00Z',
  user: { id: `id-${login}`, login },
});

describe('role scopes (docs/PERMISSIONS.md)', () => {
  it('gives owners and admins every scope, members no admin, viewers read only', () => {
    expect(['read', 'write', 'runs', 'admin'].every((s) => hasScope('owner', s as never))).toBe(true);
    expect(hasScope('admin', 'admin')).toBe(true);
    expect(hasScope('member', 'runs')).toBe(true);
    expect(hasScope('member', 'admin')).toBe(false);
    expect(hasScope('viewer', 'read')).toBe(true);
    expect(hasScope('viewer', 'write')).toBe(false);
    expect(hasScope(undefined, 'read')).toBe(false);
  });

  it('follows the matrix for the settings routes', () => {
    const table: [string, Record<Role, boolean>][] = [
      ['org.update', { owner: true, admin: true, member: false, viewer: false }],
      ['members.read', { owner: true, admin: true, member: true, viewer: true }],
      ['members.manage', { owner: true, admin: true, member: false, viewer: false }],
      ['tokens.manage', { owner: true, admin: true, member: false, viewer: false }],
      ['audit.read', { owner: true, admin: true, member: false, viewer: false }],
      ['secrets.manage', { owner: true, admin: true, member: false, viewer: false }],
      ['profiles.read', { owner: true, admin: true, member: true, viewer: true }],
      ['profiles.write', { owner: true, admin: true, member: true, viewer: false }],
    ];
    for (const [action, expected] of table) {
      for (const role of Object.keys(expected) as Role[]) {
        expect(can(role, action as never), `${role} ${action}`).toBe(expected[role]);
      }
    }
  });

  it('explains a missing permission in words', () => {
    expect(whoCan('tokens.manage')).toBe('owners and admins');
    expect(whoCan('profiles.write')).toBe('owners, admins and members');
    expect(explainMissing('owner', 'tokens.manage')).toBeNull();
    expect(explainMissing('viewer', 'profiles.write')).toBe(
      'You are a viewer of this organization: only owners, admins and members can create, edit or delete executor profiles.',
    );
  });
});

describe('role changes', () => {
  it('lets owners assign every role and admins every role but owner', () => {
    expect(assignableRoles('owner')).toEqual(['owner', 'admin', 'member', 'viewer']);
    expect(assignableRoles('admin')).toEqual(['admin', 'member', 'viewer']);
    expect(assignableRoles('member')).toEqual([]);
    expect(assignableRoles('viewer')).toEqual([]);
  });

  it('keeps owner changes to owners', () => {
    expect(roleChangeBlock('admin', member('member'), 'owner', 2)).toMatch(/Only an owner/);
    expect(roleChangeBlock('admin', member('owner'), 'admin', 2)).toMatch(/Only an owner/);
    expect(roleChangeBlock('admin', member('member'), 'viewer', 1)).toBeNull();
    expect(roleChangeBlock('owner', member('member'), 'owner', 1)).toBeNull();
    expect(roleChangeBlock('member', member('viewer'), 'member', 1)).toMatch(/only owners and admins/);
  });

  it('refuses to demote the last owner, when the list is complete', () => {
    expect(roleChangeBlock('owner', member('owner'), 'admin', 1)).toMatch(/must keep an owner/);
    expect(roleChangeBlock('owner', member('owner'), 'admin', 2)).toBeNull();
    // An incomplete list cannot tell: the server decides (409 last_owner).
    expect(roleChangeBlock('owner', member('owner'), 'admin', undefined)).toBeNull();
    expect(canChangeRole('owner', member('owner'), 1)).toBe(false);
    expect(canChangeRole('admin', member('owner'), 3)).toBe(false);
    expect(canChangeRole('admin', member('viewer'), 1)).toBe(true);
  });

  it('counts owners only over the complete list', () => {
    const list = [member('owner', 'a'), member('admin', 'b'), member('owner', 'c')];
    expect(ownerCount(list, true)).toBe(2);
    expect(ownerCount(list, false)).toBeUndefined();
  });
});

describe('removing and leaving', () => {
  it('lets anyone leave but the last owner', () => {
    expect(removeBlock('viewer', member('viewer'), true, 1)).toBeNull();
    expect(removeBlock('member', member('member'), true, 1)).toBeNull();
    expect(removeBlock('owner', member('owner'), true, 2)).toBeNull();
    expect(removeBlock('owner', member('owner'), true, 1)).toMatch(/last owner/);
  });

  it('needs admin to remove someone else, and an owner to remove an owner', () => {
    expect(removeBlock('member', member('viewer'), false, 1)).toMatch(/only owners and admins/);
    expect(removeBlock('admin', member('member'), false, 1)).toBeNull();
    expect(removeBlock('admin', member('owner'), false, 2)).toBe('Only an owner can remove an owner.');
    expect(removeBlock('owner', member('owner', 'other'), false, 2)).toBeNull();
  });
});
