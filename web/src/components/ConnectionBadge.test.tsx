import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ConnectionBadge } from './ConnectionBadge';

describe('ConnectionBadge', () => {
  it('says in words whether the stream is live, as a status', () => {
    const { rerender } = render(<ConnectionBadge state="open" label="Board updates" />);
    expect(screen.getByRole('status').textContent).toBe('Board updates: Live');
    rerender(<ConnectionBadge state="reconnecting" label="Board updates" />);
    expect(screen.getByRole('status').textContent).toBe('Board updates: Reconnecting…');
    expect(screen.getByRole('status').dataset.state).toBe('reconnecting');
  });
});
