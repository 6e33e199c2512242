import { describe, expect, it } from 'vitest';
import { links } from '../links';
import { safeReturnTo } from './session';

describe('safeReturnTo', () => {
  it('keeps paths of this dashboard', () => {
    expect(safeReturnTo('/orgs/acme/tasks/1?tab=diff')).toBe('/orgs/acme/tasks/1?tab=diff');
  });

  it('never leads to another site, the API or back to sign-in', () => {
    for (const bad of [null, undefined, '', 'https://evil.example', '//evil.example', '/\\evil.example', 'orgs', '/login?x=1', '/api/v1/me']) {
      expect(safeReturnTo(bad)).toBe('/');
    }
  });
});

describe('links', () => {
  it('encodes every segment', () => {
    expect(links.board('acme', 'p 1')).toBe('/orgs/acme/projects/p%201');
    expect(links.task('acme', 't1')).toBe('/orgs/acme/tasks/t1');
    expect(links.settings('acme')).toBe('/orgs/acme/settings');
    expect(links.settings('acme', 'tokens')).toBe('/orgs/acme/settings/tokens');
    expect(links.login('/orgs/acme')).toBe('/login?return_to=%2Forgs%2Facme');
    expect(links.githubLogin('/')).toBe('/api/v1/auth/github/login?return_to=%2F');
  });
});
