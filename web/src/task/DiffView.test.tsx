import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import type { Diff, FileDiff } from './diffModel';
import { DiffView } from './DiffView';

const added = (path: string, over: Partial<FileDiff> = {}): FileDiff => ({
  path,
  change: 'added',
  binary: false,
  additions: 1,
  deletions: 0,
  hunks: [{ header: '@@ -0,0 +1 @@', old_start: 0, old_lines: 0, new_start: 1, new_lines: 1, lines: [{ origin: '+', content: 'x' }] }],
  ...over,
});

/** What a hostile repository's diff looks like once the worker has marked it. */
const hostile: Diff = {
  version: 1,
  base_commit: 'abc',
  summary: { files_changed: 5, additions: 4, deletions: 0 },
  truncated: false,
  files: [
    added('caf\uFFFD.txt', { path_raw: 'Y2Fm6S50eHQ=' }),
    added('caf\uFFFD.txt', { path_raw: 'Y2Fm/y50eHQ=' }),
    added('new\nline.txt'),
    added('escape', { symlink: true, hunks: [{ header: '', old_start: 0, old_lines: 0, new_start: 1, new_lines: 1, lines: [{ origin: '+', content: '/etc/passwd' }] }] }),
    added('huge.log', { binary: true, too_large: true, additions: 0, hunks: [] }),
  ],
};

describe('the diff view of a hostile repository', () => {
  it('shows every file once, names spelled out, with its markers', () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const { container } = render(<DiffView diff={hostile} />);
    const sections = container.querySelectorAll('[data-testid="diff-file"]');
    expect(sections).toHaveLength(5);
    // Two paths that are not UTF-8 and show alike are still two files (no key clash).
    expect(errors.mock.calls.filter((c) => String(c[0]).includes('same key'))).toEqual([]);
    expect(screen.getAllByText('name not UTF-8')).toHaveLength(2);
    expect(screen.getAllByText('new\\nline.txt').length).toBeGreaterThan(0);
    expect(screen.getAllByText('symlink')).toHaveLength(1);
    expect(screen.getAllByText('too large')).toHaveLength(1);
  });

  it('tells why a file too large for text shows no lines, and that a link shows its target path', () => {
    const { container } = render(<DiffView diff={hostile} />);
    const toggle = [...container.querySelectorAll<HTMLButtonElement>('.diff-file-toggle')].find((b) => b.textContent?.includes('huge.log'));
    fireEvent.click(toggle as HTMLButtonElement);
    expect(screen.getByText(/Over the 4 MiB limit for text/)).toBeTruthy();
    expect(screen.getByText(/A symbolic link: its lines are the path it points to/)).toBeTruthy();
  });

  it('collapses and expands each of two look-alike files on its own', () => {
    const { container } = render(<DiffView diff={hostile} />);
    const toggles = () => [...container.querySelectorAll<HTMLButtonElement>('.diff-file-toggle')].filter((b) => b.textContent?.includes('caf'));
    expect(toggles().map((b) => b.getAttribute('aria-expanded'))).toEqual(['true', 'true']);
    fireEvent.click(toggles()[0] as HTMLButtonElement);
    expect(toggles().map((b) => b.getAttribute('aria-expanded'))).toEqual(['false', 'true']);
  });
});
