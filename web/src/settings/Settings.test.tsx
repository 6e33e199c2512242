import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, api } from '../api/client';
import type { Me } from '../api/types';
import { RequireSession } from '../components/RequireSession';
import Settings from '../pages/Settings';
import { SessionProvider } from '../session/session';
import AcceptInvitation from './AcceptInvitation';
import GithubSetup from './GithubSetup';
import type { AuditEvent } from './audit';
import type { Member, Role } from './permissions';

afterEach(() => cleanup());

type Handler = (options: { path?: Record<string, string>; query?: Record<string, unknown>; body?: unknown }) => unknown;

/** Answers the client's typed calls from `routes` ("GET /api/v1/…" → handler); anything
 *  else fails the test. Returns the calls made. */
function fakeApi(routes: Record<string, Handler>) {
  const calls: string[] = [];
  const methods = ['get', 'post', 'put', 'patch', 'delete'] as const;
  for (const method of methods) {
    vi.spyOn(api, method).mockImplementation((async (path: string, options?: Parameters<Handler>[0]) => {
      const key = `${method.toUpperCase()} ${path}`;
      calls.push(key);
      const handler = routes[key];
      if (!handler) throw new Error(`unexpected call ${key}`);
      return handler(options ?? {});
    }) as never);
  }
  return calls;
}

function me(role: Role, login = 'ada'): Me {
  return {
    user: { id: `u-${login}`, login },
    orgs: [{ id: 'o1', slug: 'acme', name: 'Acme', role }],
  };
}

function member(login: string, role: Role): Member {
  return { user: { id: `u-${login}`, login }, role, joined_at: '2026-01-01T00:00:00Z' };
}

function renderAt(url: string) {
  return render(
    <MemoryRouter initialEntries={[url]}>
      <SessionProvider>
        <RequireSession>
          <Routes>
            <Route path="/orgs/:org/settings/*" element={<Settings />} />
            <Route path="/invitations/accept" element={<AcceptInvitation />} />
            <Route path="/github/setup" element={<GithubSetup />} />
            <Route path="/" element={<p>home</p>} />
          </Routes>
        </RequireSession>
      </SessionProvider>
    </MemoryRouter>,
  );
}

describe('settings tabs', () => {
  it('are links with stable names and real URLs, the index going to General', async () => {
    fakeApi({
      'GET /api/v1/me': () => me('viewer'),
      'GET /api/v1/orgs/{org}': () => ({
        id: 'o1',
        slug: 'acme',
        name: 'Acme',
        max_concurrent_attempts: 4,
        created_at: '2026-01-01T00:00:00Z',
        updated_at: '2026-01-01T00:00:00Z',
      }),
    });
    renderAt('/orgs/acme/settings');
    const nav = await screen.findByRole('navigation', { name: 'Settings sections' });
    const names = within(nav)
      .getAllByRole('link')
      .map((a) => [a.textContent, a.getAttribute('href')]);
    expect(names).toEqual([
      ['General', '/orgs/acme/settings/general'],
      ['Members', '/orgs/acme/settings/members'],
      ['Invitations', '/orgs/acme/settings/invitations'],
      ['API tokens', '/orgs/acme/settings/api-tokens'],
      ['Executor profiles', '/orgs/acme/settings/executor-profiles'],
      ['Secrets', '/orgs/acme/settings/secrets'],
      ['GitHub', '/orgs/acme/settings/github'],
      ['Audit log', '/orgs/acme/settings/audit-log'],
    ]);
    expect(await screen.findByRole('link', { name: 'General', current: 'page' })).toBeTruthy();
    // A viewer sees the settings but cannot change them, and is told why.
    expect(await screen.findByLabelText('Name')).toHaveProperty('value', 'Acme');
    expect(screen.getByText(/only owners and admins can change the organization’s settings/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Save' })).toBeNull();
  });
});

describe('API tokens', () => {
  it('explains to a member why they cannot manage tokens, without calling the admin route', async () => {
    const calls = fakeApi({ 'GET /api/v1/me': () => me('member') });
    renderAt('/orgs/acme/settings/api-tokens');
    expect(await screen.findByText(/You are a member of this organization: only owners and admins/)).toBeTruthy();
    expect(calls).not.toContain('GET /api/v1/orgs/{org}/tokens');
  });

  it('shows a new token’s secret once, with the warning, and lists it', async () => {
    let body: unknown;
    fakeApi({
      'GET /api/v1/me': () => me('admin'),
      'GET /api/v1/orgs/{org}/tokens': () => ({ items: [] }),
      'POST /api/v1/orgs/{org}/tokens': (o) => {
        body = o.body;
        return {
          token: 'sy_secret_value',
          api_token: {
            id: 't1',
            name: 'ci',
            prefix: 'sy_secr',
            scopes: ['read', 'runs'],
            created_at: '2026-01-01T00:00:00Z',
            expires_at: '2026-04-01T00:00:00Z',
          },
        };
      },
    });
    renderAt('/orgs/acme/settings/api-tokens');
    fireEvent.change(await screen.findByLabelText('Token name'), { target: { value: 'ci' } });
    fireEvent.click(screen.getByRole('checkbox', { name: 'runs' }));
    fireEvent.click(screen.getByRole('button', { name: 'Create token' }));
    const secret = await screen.findByTestId('token-secret');
    expect(secret.textContent).toBe('sy_secret_value');
    expect(body).toEqual({ name: 'ci', scopes: ['read', 'runs'], expires_in_days: 90 });
    expect(screen.getByText(/you won’t see this again/)).toBeTruthy();
    expect(screen.getByRole('cell', { name: 'ci' })).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Done' }));
    expect(screen.queryByTestId('token-secret')).toBeNull();
  });

  it('ties form errors to their fields', async () => {
    fakeApi({
      'GET /api/v1/me': () => me('owner'),
      'GET /api/v1/orgs/{org}/tokens': () => ({ items: [] }),
    });
    renderAt('/orgs/acme/settings/api-tokens');
    fireEvent.click(await screen.findByRole('checkbox', { name: 'read' }));
    fireEvent.change(screen.getByLabelText('Expires after (days)'), { target: { value: '0' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create token' }));
    const name = screen.getByLabelText('Token name');
    expect(name.getAttribute('aria-invalid')).toBe('true');
    const describedBy = name.getAttribute('aria-describedby')?.split(' ') ?? [];
    expect(describedBy.map((id) => document.getElementById(id)?.textContent).join(' ')).toMatch(/Give the token a name/);
    expect(screen.getByText('Pick at least one scope.')).toBeTruthy();
    expect(screen.getByText(/whole number of days from 1 to 3650/)).toBeTruthy();
  });
});

describe('members', () => {
  it('keeps owner changes from admins and says why', async () => {
    fakeApi({
      'GET /api/v1/me': () => me('admin'),
      'GET /api/v1/orgs/{org}/members': () => ({ items: [member('grace', 'owner'), member('ada', 'admin'), member('bob', 'member')] }),
    });
    renderAt('/orgs/acme/settings/members');
    const bobRole = await screen.findByLabelText('Role of bob');
    expect(within(bobRole).queryByRole('option', { name: 'Owner' })).toBeNull();
    expect(screen.queryByLabelText('Role of grace')).toBeNull();
    expect(screen.getByRole('button', { name: 'Remove grace' })).toHaveProperty('disabled', true);
    expect(screen.getAllByText('Only an owner can remove an owner.').length).toBeGreaterThan(0);
    expect(screen.getByRole('button', { name: 'Leave the organization' })).toHaveProperty('disabled', false);
  });

  it('shows the server’s last_owner refusal in words', async () => {
    fakeApi({
      'GET /api/v1/me': () => me('owner'),
      // Two pages: the client cannot count owners, so the server decides.
      'GET /api/v1/orgs/{org}/members': (o) =>
        o.query?.cursor ? { items: [] } : { items: [member('ada', 'owner')], next_cursor: 'more' },
      'DELETE /api/v1/orgs/{org}/members/{user}': () => {
        throw new ApiError(409, 'last_owner', 'the org’s last owner cannot leave');
      },
    });
    renderAt('/orgs/acme/settings/members');
    fireEvent.click(await screen.findByRole('button', { name: 'Leave the organization' }));
    fireEvent.click(await screen.findByRole('button', { name: 'Leave' }));
    expect(await screen.findByText(/must keep an owner.*Make someone else an owner first/)).toBeTruthy();
  });

  it('refuses, before asking, to let the last owner leave', async () => {
    fakeApi({
      'GET /api/v1/me': () => me('owner'),
      'GET /api/v1/orgs/{org}/members': () => ({ items: [member('ada', 'owner'), member('bob', 'member')] }),
    });
    renderAt('/orgs/acme/settings/members');
    const leave = await screen.findByRole('button', { name: 'Leave the organization' });
    expect(leave).toHaveProperty('disabled', true);
    const reason = document.getElementById(leave.getAttribute('aria-describedby') ?? '');
    expect(reason?.textContent).toMatch(/You are the last owner/);
  });
});

describe('executor profiles', () => {
  it('puts the server’s field error on the variants field', async () => {
    fakeApi({
      'GET /api/v1/me': () => me('member'),
      'GET /api/v1/orgs/{org}/executor-profiles': () => ({
        items: [{ name: 'codex', executor: 'codex', source: 'builtin', variants: { default: {} } }],
      }),
      'GET /api/v1/orgs/{org}/executors': () => [{ name: 'codex', workers: 1 }],
      'POST /api/v1/orgs/{org}/executor-profiles': () => {
        throw new ApiError(422, 'validation_failed', 'variants.default.permission_policy: codex supports only auto');
      },
    });
    renderAt('/orgs/acme/settings/executor-profiles');
    fireEvent.click(await screen.findByRole('button', { name: 'New profile' }));
    fireEvent.change(screen.getByLabelText('Profile name'), { target: { value: 'fast' } });
    await waitFor(() => expect(screen.getAllByRole('option', { name: /codex/ }).length).toBeGreaterThan(0));
    fireEvent.change(screen.getByLabelText('Executor'), { target: { value: 'codex' } });
    fireEvent.change(screen.getByLabelText('Variants (JSON)'), {
      target: { value: '{"default": {"permission_policy": "plan"}}' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Create profile' }));
    const error = await screen.findByText('Variant "default", permission_policy: codex supports only auto');
    const variants = screen.getByLabelText('Variants (JSON)');
    expect(variants.getAttribute('aria-describedby')).toContain(error.id);
  });

  it('checks the JSON before sending it', async () => {
    const calls = fakeApi({
      'GET /api/v1/me': () => me('owner'),
      'GET /api/v1/orgs/{org}/executor-profiles': () => ({ items: [] }),
      'GET /api/v1/orgs/{org}/executors': () => [{ name: 'codex', workers: 0 }],
    });
    renderAt('/orgs/acme/settings/executor-profiles');
    fireEvent.click(await screen.findByRole('button', { name: 'New profile' }));
    fireEvent.change(screen.getByLabelText('Variants (JSON)'), { target: { value: '{"default": ' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create profile' }));
    expect(await screen.findByText(/not valid JSON/)).toBeTruthy();
    expect(calls).not.toContain('POST /api/v1/orgs/{org}/executor-profiles');
  });

  it('shows profiles read-only to a viewer', async () => {
    fakeApi({
      'GET /api/v1/me': () => me('viewer'),
      'GET /api/v1/orgs/{org}/executor-profiles': () => ({
        items: [{ name: 'codex', executor: 'codex', source: 'builtin', variants: { default: {} } }],
      }),
      'GET /api/v1/orgs/{org}/executors': () => [],
    });
    renderAt('/orgs/acme/settings/executor-profiles');
    expect((await screen.findAllByRole('cell', { name: 'codex' })).length).toBe(2);
    expect(screen.queryByRole('button', { name: 'New profile' })).toBeNull();
    expect(screen.queryByRole('button', { name: /Customize/ })).toBeNull();
    expect(screen.getByText(/only owners, admins and members can create, edit or delete executor profiles/)).toBeTruthy();
  });
});

describe('secrets', () => {
  it('never shows a value back, and sets one through a password field', async () => {
    let put: unknown;
    fakeApi({
      'GET /api/v1/me': () => me('owner'),
      'GET /api/v1/orgs/{org}/secrets': () => ({ items: [] }),
      'PUT /api/v1/orgs/{org}/secrets/{name}': (o) => {
        put = o;
        return { name: 'API_KEY', key_id: 'k1', created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z' };
      },
    });
    renderAt('/orgs/acme/settings/secrets');
    const value = await screen.findByLabelText('Value');
    expect(value.getAttribute('type')).toBe('password');
    fireEvent.change(screen.getByLabelText('Secret name'), { target: { value: 'api_key' } });
    fireEvent.change(value, { target: { value: 'hunter2' } });
    fireEvent.click(screen.getByRole('button', { name: 'Set secret' }));
    expect(await screen.findByRole('cell', { name: 'API_KEY' })).toBeTruthy();
    expect(put).toMatchObject({ path: { org: 'acme', name: 'API_KEY' }, body: { value: 'hunter2' } });
    expect(screen.getByLabelText('Value')).toHaveProperty('value', '');
    expect(document.body.textContent).not.toContain('hunter2');
  });
});

describe('audit log', () => {
  const event = (id: string, day: number): AuditEvent => ({
    id,
    action: 'tokens.create',
    actor_label: 'ada',
    actor_type: 'user',
    created_at: `2026-01-${String(day).padStart(2, '0')}T00:00:00Z`,
    method: 'POST',
    path: '/api/v1/orgs/acme/tokens',
    status: 201,
    source_ip: '10.0.0.1',
  });

  it('loads newest first, more on request, and filters by action', async () => {
    const queries: Record<string, unknown>[] = [];
    fakeApi({
      'GET /api/v1/me': () => me('admin'),
      'GET /api/v1/orgs/{org}/audit-events': (o) => {
        queries.push(o.query ?? {});
        if (o.query?.action) return { items: [event('f', 5)] };
        return o.query?.cursor ? { items: [event('c', 1)] } : { items: [event('a', 3), event('b', 2)], next_cursor: 'n1' };
      },
    });
    renderAt('/orgs/acme/settings/audit-log');
    const table = await screen.findByRole('table');
    expect(within(table).getAllByRole('row')).toHaveLength(3);
    expect(within(table).getAllByText('10.0.0.1')).toHaveLength(2);
    fireEvent.click(screen.getByRole('button', { name: 'Load more' }));
    await waitFor(() => expect(within(screen.getByRole('table')).getAllByRole('row')).toHaveLength(4));
    expect(queries[queries.length - 1]).toMatchObject({ cursor: 'n1' });
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();

    fireEvent.change(screen.getByLabelText('Action'), { target: { value: 'members.update' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Filter' }));
    });
    await waitFor(() => expect(within(screen.getByRole('table')).getAllByRole('row')).toHaveLength(2));
    expect(queries[queries.length - 1]).toMatchObject({ action: 'members.update' });
  });
});

describe('GitHub', () => {
  const repo = (id: string, github: unknown) => ({
    id,
    name: `repo-${id}`,
    url: `https://github.com/acme/${id}.git`,
    default_branch: 'main',
    github,
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
  });

  it('lists the repositories reached through the App, and says which lost access', async () => {
    fakeApi({
      'GET /api/v1/me': () => me('viewer'),
      'GET /api/v1/orgs/{org}/repositories': () => ({
        items: [
          repo('a', { repo_id: 1, full_name: 'acme/app', private: true, installation_id: 7, connected: true }),
          repo('b', { repo_id: 2, full_name: 'acme/old', private: false, installation_id: null, connected: false }),
          repo('c', null),
        ],
      }),
    });
    renderAt('/orgs/acme/settings/github');
    expect(await screen.findByRole('cell', { name: /acme\/app/ })).toBeTruthy();
    expect(screen.getByText('Connected')).toBeTruthy();
    expect(screen.getByText(/lost access/)).toBeTruthy();
    expect(screen.getByText('1 other repository uses a plain git URL.')).toBeTruthy();
    // A viewer cannot install the App, and is told why.
    expect(screen.queryByRole('button', { name: 'Install GitHub App' })).toBeNull();
    expect(screen.getByText(/only owners and admins can connect GitHub/)).toBeTruthy();
  });

  it('tells an admin how an operator enables the App when the server has none', async () => {
    fakeApi({
      'GET /api/v1/me': () => me('admin'),
      'GET /api/v1/orgs/{org}/repositories': () => ({ items: [] }),
      'GET /api/v1/orgs/{org}/github/install': () => {
        throw new ApiError(409, 'github_app_not_configured', 'the GitHub App is not configured on this server (github.app_id)');
      },
    });
    renderAt('/orgs/acme/settings/github');
    expect(await screen.findByText('No repositories are connected through GitHub yet.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Install GitHub App' }));
    expect(await screen.findByRole('heading', { name: 'GitHub is not connected on this server' })).toBeTruthy();
    expect(screen.getByText(/not configured on this server \(github.app_id\)/)).toBeTruthy();
    expect(screen.getAllByText('github.app_slug').length).toBeGreaterThan(0);
  });

  it('confirms an installation GitHub sent the person back from', async () => {
    fakeApi({
      'GET /api/v1/me': () => me('owner'),
      'GET /api/v1/orgs/{org}/repositories': () => ({ items: [] }),
    });
    renderAt('/orgs/acme/settings/github?installation_id=42');
    expect(await screen.findByText(/The GitHub App was installed/)).toBeTruthy();
  });
});

describe('finishing a GitHub installation', () => {
  const acme = { id: 'o1', slug: 'acme', name: 'Acme', max_concurrent_attempts: 4, created_at: '', updated_at: '' };
  const setup = { org: acme, installation_id: 42, account_login: 'octo', account_type: 'User', action: 'link' };

  it('names the org that gets the installation and links it only when confirmed', async () => {
    let sent: unknown;
    const calls = fakeApi({
      'GET /api/v1/me': () => me('owner'),
      'GET /api/v1/github/setup/preview': (o) => {
        expect(o.query).toEqual({ installation_id: 42, state: 'abc' });
        return setup;
      },
      'POST /api/v1/github/setup': (o) => {
        sent = o.body;
        return setup;
      },
      'GET /api/v1/orgs/{org}/repositories': () => ({ items: [] }),
    });
    renderAt('/github/setup?installation_id=42&setup_action=install&state=abc');
    expect(await screen.findByText(/the Switchyard organization/)).toBeTruthy();
    expect(screen.getByText('octo')).toBeTruthy();
    expect(calls).not.toContain('POST /api/v1/github/setup');
    fireEvent.click(screen.getByRole('button', { name: 'Connect to Acme' }));
    expect(await screen.findByText(/The GitHub App was installed/)).toBeTruthy();
    expect(sent).toEqual({ installation_id: 42, state: 'abc' });
  });

  it('says in words when the link is someone else’s', async () => {
    fakeApi({
      'GET /api/v1/me': () => me('owner'),
      'GET /api/v1/github/setup/preview': () => {
        throw new ApiError(400, 'github_state_invalid', 'the install link is unknown');
      },
    });
    renderAt('/github/setup?installation_id=42&state=abc');
    expect(await screen.findByText(/started by someone else/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: /Connect/ })).toBeNull();
  });
});

describe('accepting an invitation', () => {
  it('says in words why an invitation cannot be used', async () => {
    fakeApi({
      'GET /api/v1/me': () => ({ user: { id: 'u1', login: 'ada' }, orgs: [] }),
      'POST /api/v1/invitations/accept': () => {
        throw new ApiError(400, 'invitation_expired', 'this invitation has expired; ask for a new one');
      },
    });
    renderAt('/invitations/accept?token=syi_x');
    fireEvent.click(await screen.findByRole('button', { name: 'Accept invitation' }));
    expect(await screen.findByText(/This invitation has expired. Ask whoever invited you/)).toBeTruthy();
  });

  it('joins the org and links to it', async () => {
    let token: unknown;
    fakeApi({
      'GET /api/v1/me': () => ({ user: { id: 'u1', login: 'ada' }, orgs: [] }),
      'POST /api/v1/invitations/accept': (o) => {
        token = o.body;
        return {
          role: 'member',
          org: { id: 'o1', slug: 'acme', name: 'Acme', max_concurrent_attempts: 4, created_at: '', updated_at: '' },
        };
      },
    });
    renderAt('/invitations/accept?token=syi_abc');
    fireEvent.click(await screen.findByRole('button', { name: 'Accept invitation' }));
    expect(await screen.findByRole('link', { name: 'Open Acme' })).toHaveProperty('pathname', '/orgs/acme');
    expect(token).toEqual({ token: 'syi_abc' });
  });
});
