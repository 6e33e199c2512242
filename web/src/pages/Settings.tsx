/**
 * `/orgs/:org/settings/*`: the org's settings, one tab per sub-route, each with its own URL.
 *
 * Stable names for end-to-end tests (keep them when changing this page):
 *
 * - Tabs are links in the "Settings sections" navigation, named exactly:
 *     "General"           /orgs/:org/settings/general  (the index redirects here)
 *     "Members"           /orgs/:org/settings/members
 *     "Invitations"       /orgs/:org/settings/invitations
 *     "API tokens"        /orgs/:org/settings/api-tokens
 *     "Executor profiles" /orgs/:org/settings/executor-profiles
 *     "Secrets"           /orgs/:org/settings/secrets
 *     "GitHub"            /orgs/:org/settings/github
 *     "Audit log"         /orgs/:org/settings/audit-log
 *   The current tab has `aria-current="page"`; each section is a region named by its <h2>.
 * - `data-testid="token-secret"`: a new API token's secret (shown once, until "Done").
 * - `data-testid="invitation-link"`: a new invitation's accept link (shown once).
 * - Labelled controls: "Name", "Max concurrent attempts", "Save" (General);
 *   "Role of <login>", "Change role of <login>", "Remove <login>",
 *   "Leave the organization" (Members); "Invite by" (radios "GitHub login", "Email
 *   address"), "Their GitHub login" / "Their email address", "Create invitation",
 *   "Revoke the invitation for <who>" (Invitations); "Token name", the "Scopes" checkboxes
 *   "read" "write" "runs" "admin", "Expires after (days)", "Create token", "Revoke token
 *   <name>" (API tokens); "New profile", "Profile name", "Executor", "Variants (JSON)",
 *   "Create profile" / "Save profile", "Edit profile <name>" / "Customize profile <name>"
 *   (a built-in one), "Delete profile <name>" / "Restore the built-in profile <name>"
 *   (Executor profiles); "Secret name", "Value", "Set secret" / "Replace value", "Delete
 *   secret <name>" (Secrets); "Install GitHub App" (GitHub, owners and admins; GitHub's
 *   setup URL forwards to the confirmation page `/github/setup` (src/settings/GithubSetup.tsx,
 *   button "Connect to <org name>"), which lands on `…/settings/github?installation_id=N`); "Action", "Filter",
 *   "Load more" (Audit log). Confirmations are modal <dialog>s whose confirm button names
 *   the act ("Remove", "Leave", "Revoke", "Revoke token", "Delete profile", "Restore
 *   built-in", "Delete secret").
 * - The accept page `/invitations/accept?token=…` (src/settings/AcceptInvitation.tsx) has
 *   the button "Accept invitation".
 */
import { useEffect } from 'react';
import { Link, Navigate, NavLink, Route, Routes, useLocation, useParams } from 'react-router';
import { PageHeading } from '../components/PageHeading';
import { links } from '../links';
import { useMe } from '../session/session';
import { AuditSection } from '../settings/AuditSection';
import { GeneralSection } from '../settings/GeneralSection';
import { GithubSection } from '../settings/GithubSection';
import { InvitationsSection } from '../settings/InvitationsSection';
import { MembersSection } from '../settings/MembersSection';
import { ProfilesSection } from '../settings/ProfilesSection';
import { SecretsSection } from '../settings/SecretsSection';
import { TokensSection } from '../settings/TokensSection';
import type { SectionProps } from '../settings/ui';
import '../settings/settings.css';

/** The tabs, in order: URL segment, link name, section. */
export const SETTINGS_TABS = [
  { path: 'general', label: 'General', Section: GeneralSection },
  { path: 'members', label: 'Members', Section: MembersSection },
  { path: 'invitations', label: 'Invitations', Section: InvitationsSection },
  { path: 'api-tokens', label: 'API tokens', Section: TokensSection },
  { path: 'executor-profiles', label: 'Executor profiles', Section: ProfilesSection },
  { path: 'secrets', label: 'Secrets', Section: SecretsSection },
  { path: 'github', label: 'GitHub', Section: GithubSection },
  { path: 'audit-log', label: 'Audit log', Section: AuditSection },
] as const satisfies readonly { path: string; label: string; Section: (p: SectionProps) => unknown }[];

export default function Settings() {
  const { org = '' } = useParams();
  const me = useMe();
  const location = useLocation();
  const membership = me.orgs.find((o) => o.slug === org);
  const current = SETTINGS_TABS.find((t) => location.pathname.startsWith(links.settings(org, t.path)));
  const orgName = membership?.name ?? org;

  // The tab's name in the window title. The <h1> keeps one title, so switching tabs leaves
  // keyboard focus on the tab link instead of moving it to the heading.
  useEffect(() => {
    document.title = `${current ? `${current.label} · ` : ''}${orgName} settings · Switchyard`;
  }, [current, orgName]);

  if (!membership) {
    return (
      <div className="narrow">
        <PageHeading>Settings</PageHeading>
        <p className="notice notice-error" role="alert">
          You are not a member of the organization “{org}”, or it does not exist.
        </p>
        <p>
          <Link to={links.home()}>Go to your organizations</Link>
        </p>
      </div>
    );
  }

  const props: SectionProps = { org, role: membership.role, me };

  return (
    <div className="settings">
      <PageHeading title={`${membership.name} settings`}>
        Settings <span className="muted heading-sub">{membership.name}</span>
      </PageHeading>
      <p className="muted settings-role">
        Your role: <strong>{membership.role}</strong>
      </p>
      <nav aria-label="Settings sections" className="settings-tabs">
        <ul>
          {SETTINGS_TABS.map((t) => (
            <li key={t.path}>
              <NavLink to={links.settings(org, t.path)}>{t.label}</NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <div className="settings-panel">
        <Routes>
          <Route index element={<Navigate to={links.settings(org, 'general')} replace />} />
          {SETTINGS_TABS.map(({ path, Section }) => (
            <Route key={path} path={path} element={<Section {...props} />} />
          ))}
          <Route
            path="*"
            element={
              <p className="notice notice-error" role="alert">
                There is no such settings page. <Link to={links.settings(org, 'general')}>Open the general settings</Link>.
              </p>
            }
          />
        </Routes>
      </div>
    </div>
  );
}
