// Short names for the generated wire types most pages use.
import type { components } from './schema';

export type Schemas = components['schemas'];
export type Me = Schemas['Me'];
export type MyOrg = Schemas['MyOrg'];
export type UserInfo = Schemas['UserInfo'];
export type MemberRole = Schemas['MemberRole'];
export type Project = Schemas['Project'];
export type CreateProject = Schemas['CreateProject'];
export type Task = Schemas['Task'];
export type TaskStatus = Schemas['TaskStatus'];
export type Attempt = Schemas['Attempt'];
export type AttemptStatus = Schemas['AttemptStatus'];
export type OrgEvent = Schemas['OrgEvent'];
export type Comment = Schemas['Comment'];
