import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { EntryView } from './EntryView';
import { fakeEntry } from './fakeRun';
import type { LogEntry } from './logState';

const at = '2026-11-24T12:00:00Z';
const show = (entry: LogEntry, open?: boolean) => render(<EntryView entry={entry} open={open} onToggle={() => {}} />);

describe('entries', () => {
  it('shows every kind of a run without throwing', () => {
    for (let i = 0; i < 10; i++) {
      const { unmount } = show(fakeEntry(i));
      unmount();
    }
  });

  it('keeps thinking collapsed until asked', () => {
    const onToggle = vi.fn();
    render(<EntryView entry={{ timestamp: at, type: 'thinking', text: 'first line\nsecret second line' }} open={undefined} onToggle={onToggle} />);
    const button = screen.getByRole('button', { name: /Thinking/ });
    expect(button.getAttribute('aria-expanded')).toBe('false');
    expect(screen.queryByText('secret second line')).toBeNull();
    fireEvent.click(button);
    expect(onToggle).toHaveBeenCalledWith(true);
  });

  it('shows a finished command with its output and exit status', () => {
    const { container } = show({
      timestamp: at,
      type: 'tool_use',
      tool_name: 'Bash',
      tool_call_id: 'c1',
      summary: 'make test',
      status: 'failed',
      action: { kind: 'command_run', command: 'make test', exit_code: 2, output: 'boom <script>alert(1)</script>' },
    });
    expect(container.querySelector('[data-status="failed"][data-action="command_run"]')).not.toBeNull();
    expect(screen.getByText('Exit code 2')).toBeTruthy();
    expect(container.textContent).toContain('boom <script>alert(1)</script>');
    expect(container.querySelector('script')).toBeNull();
  });

  it('shows a file edit as its diff', () => {
    const { container } = show({
      timestamp: at,
      type: 'tool_use',
      tool_name: 'Edit',
      summary: 'src/a.ts',
      status: 'success',
      action: { kind: 'file_edit', path: 'src/a.ts', changes: [{ op: 'replace', old_text: 'a\nb', new_text: 'a\nc' }] as never },
    });
    expect([...container.querySelectorAll('tr.d-del .d-code')].map((td) => td.textContent)).toEqual(['−removed: b']);
    expect([...container.querySelectorAll('tr.d-add .d-code')].map((td) => td.textContent)).toEqual(['+added: c']);
  });

  it('points a call waiting for approval at its approval', () => {
    const onReview = vi.fn();
    render(
      <EntryView
        entry={{ timestamp: at, type: 'tool_use', tool_name: 'Bash', tool_call_id: 'c9', summary: 'rm -rf /', status: 'pending_approval', action: { kind: 'command_run', command: 'rm -rf /' } }}
        open={undefined}
        onToggle={() => {}}
        approval={{ phase: 'pending', approval: { id: 'ap1', attempt_id: 'a', process_id: 'p', tool_name: 'Bash', tool_call_id: 'c9', input: {}, requested_at: at, expires_at: at } }}
        onReviewApproval={onReview}
      />,
    );
    expect(screen.getByText('Waiting for approval')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Review the request' }));
    expect(onReview).toHaveBeenCalledWith('ap1');
  });

  it('shows a denial reason on the card', () => {
    render(
      <EntryView
        entry={{ timestamp: at, type: 'tool_use', tool_name: 'Bash', tool_call_id: 'c9', summary: 'rm', status: 'denied', action: { kind: 'command_run', command: 'rm' } }}
        open={undefined}
        onToggle={() => {}}
        outcome={{ approve: false, reason: 'not today', by: 'decided' }}
      />,
    );
    expect(screen.getByText('Denied: not today')).toBeTruthy();
  });

  it('shows a todo update as a list', () => {
    show(fakeEntry(4));
    expect(screen.getByRole('list', { name: 'Plan' }).querySelectorAll('li')).toHaveLength(3);
  });

  it('shows an entry kind it does not know instead of dropping it', () => {
    show({ timestamp: at, type: 'hologram' } as unknown as LogEntry);
    expect(screen.getByText('Unknown entry (hologram)')).toBeTruthy();
  });
});
