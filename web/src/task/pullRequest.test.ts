import { describe, expect, it } from 'vitest';
import { mergeLabel, pullRequestAction } from './pullRequest';

const done = { status: 'succeeded' as const, pr_url: null, pr_state: null, diff_summary: { files_changed: 2, additions: 3, deletions: 1 } };

describe('pullRequestAction', () => {
  it('offers to open a pull request for a finished attempt with changes on GitHub', () => {
    expect(pullRequestAction(done, true)).toBe('open');
  });

  it('offers nothing off GitHub, while running, after a failure or without changes', () => {
    expect(pullRequestAction(done, false)).toBeNull();
    expect(pullRequestAction({ ...done, status: 'running' }, true)).toBeNull();
    expect(pullRequestAction({ ...done, status: 'queued' }, true)).toBeNull();
    expect(pullRequestAction({ ...done, status: 'failed' }, true)).toBeNull();
    expect(pullRequestAction({ ...done, diff_summary: { files_changed: 0, additions: 0, deletions: 0 } }, true)).toBeNull();
  });

  it('offers to merge an open pull request and nothing once merged or closed', () => {
    const opened = { ...done, pr_url: 'https://github.com/acme/app/pull/7', pr_state: 'open' };
    expect(pullRequestAction(opened, true)).toBe('merge');
    expect(pullRequestAction({ ...opened, pr_state: 'merged' }, true)).toBeNull();
    expect(pullRequestAction({ ...opened, pr_state: 'closed' }, true)).toBeNull();
  });

  it('names the merge by the project setting', () => {
    expect(mergeLabel('rebase')).toBe('Rebase and merge');
    expect(mergeLabel(undefined)).toBe('Squash and merge');
  });
});
