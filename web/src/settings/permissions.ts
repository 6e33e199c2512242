// What a person's role lets them do in settings, mirroring docs/PERMISSIONS.md. The
// server decides; these only hide or disable controls the person could not use and say
// why, so nobody fills in a form that can only answer 403.
import type { Schemas } from '../api/types';

export type Role = Schemas['MemberRole'];
export type Scope = Schemas['TokenScope'];
export type Member = Schemas['Member'];

/** Every role, most powerful first. */
export const ROLES: readonly Role[] = ['owner', 'admin', 'member', 'viewer'];

export const ROLE_LABELS: Record<Role, string> = {
  owner: 'Owner',
  admin: 'Admin',
  member: 'Member',
  viewer: 'Viewer',
};

export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  owner: 'everything, including making and removing owners',
  admin: 'everything except owner changes: members, invitations, tokens, secrets, audit log',
  member: 'read, edit tasks and projects, and run agents',
  viewer: 'read only',
};

/** The scopes a person holds through their role (docs/PERMISSIONS.md, "Callers"). */
export const ROLE_SCOPES: Record<Role, readonly Scope[]> = {
  owner: ['read', 'write', 'runs', 'admin'],
  admin: ['read', 'write', 'runs', 'admin'],
  member: ['read', 'write', 'runs'],
  viewer: ['read'],
};

export function hasScope(role: Role | undefined, scope: Scope): boolean {
  return role !== undefined && ROLE_SCOPES[role].includes(scope);
}

/** The settings actions, each with the scope its route needs. */
export const ACTION_SCOPES = {
  'org.read': 'read',
  'org.update': 'admin',
  'members.read': 'read',
  'members.manage': 'admin',
  'invitations.manage': 'admin',
  'tokens.manage': 'admin',
  'secrets.manage': 'admin',
  'audit.read': 'admin',
  'profiles.read': 'read',
  'profiles.write': 'write',
  'github.manage': 'admin',
} as const satisfies Record<string, Scope>;

export type SettingsAction = keyof typeof ACTION_SCOPES;

export function can(role: Role | undefined, action: SettingsAction): boolean {
  return hasScope(role, ACTION_SCOPES[action]);
}

const ACTION_WORDS: Record<SettingsAction, string> = {
  'org.read': 'see the organization',
  'org.update': 'change the organization’s settings',
  'members.read': 'see the members',
  'members.manage': 'add, remove or change the role of members',
  'invitations.manage': 'invite people or revoke invitations',
  'tokens.manage': 'see, create or revoke API tokens',
  'secrets.manage': 'see, set or delete agent secrets',
  'audit.read': 'read the audit log',
  'profiles.read': 'see executor profiles',
  'profiles.write': 'create, edit or delete executor profiles',
  'github.manage': 'connect GitHub',
};

/** Who may do `action`, as words: "owners and admins", "owners, admins and members". */
export function whoCan(action: SettingsAction): string {
  const roles = ROLES.filter((r) => can(r, action)).map((r) => `${r}s`);
  if (roles.length <= 1) return roles.join('');
  return `${roles.slice(0, -1).join(', ')} and ${roles[roles.length - 1]}`;
}

/** Why `role` cannot do `action`, or null when it can. */
export function explainMissing(role: Role | undefined, action: SettingsAction): string | null {
  if (can(role, action)) return null;
  const who = whoCan(action);
  const yours = role ? `You are a ${role} of this organization` : 'You are not a member of this organization';
  return `${yours}: only ${who} can ${ACTION_WORDS[action]}.`;
}

/** The roles `actor` may give someone (when adding, inviting or changing a role). */
export function assignableRoles(actor: Role | undefined): Role[] {
  if (!can(actor, 'members.manage')) return [];
  return actor === 'owner' ? [...ROLES] : ROLES.filter((r) => r !== 'owner');
}

const LAST_OWNER =
  'An organization must keep an owner: make someone else an owner before this one leaves, is removed or is demoted.';

/** How many owners `members` has, when it is the complete list (else undefined: a later
 *  page could hold more, so nothing can be said about the last owner). */
export function ownerCount(members: readonly Member[], complete: boolean): number | undefined {
  return complete ? members.filter((m) => m.role === 'owner').length : undefined;
}

/** Why `actor` cannot change `target`'s role to `next`, or null when they can. */
export function roleChangeBlock(
  actor: Role | undefined,
  target: Member,
  next: Role,
  owners: number | undefined,
): string | null {
  if (!can(actor, 'members.manage')) return explainMissing(actor, 'members.manage');
  if (target.role === next) return null;
  if ((target.role === 'owner' || next === 'owner') && actor !== 'owner') {
    return 'Only an owner can make someone an owner or change an owner’s role.';
  }
  if (target.role === 'owner' && owners !== undefined && owners <= 1) return LAST_OWNER;
  return null;
}

/** Whether `actor` may change `target`'s role at all (some role other than theirs). */
export function canChangeRole(actor: Role | undefined, target: Member, owners: number | undefined): boolean {
  return ROLES.some((r) => r !== target.role && roleChangeBlock(actor, target, r, owners) === null);
}

/** Why `actor` cannot remove `target` (or leave, when `self`), or null when they can. */
export function removeBlock(
  actor: Role | undefined,
  target: Member,
  self: boolean,
  owners: number | undefined,
): string | null {
  const lastOwner = target.role === 'owner' && owners !== undefined && owners <= 1;
  if (self) {
    return lastOwner
      ? 'You are the last owner: make someone else an owner before you leave.'
      : null;
  }
  if (!can(actor, 'members.manage')) return explainMissing(actor, 'members.manage');
  if (target.role === 'owner' && actor !== 'owner') return 'Only an owner can remove an owner.';
  if (lastOwner) return LAST_OWNER;
  return null;
}
