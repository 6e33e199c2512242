import { describe, expect, it } from 'vitest';
import type { Comment } from '../api/types';
import { addComment } from './comments';

const TASK = '0190a000-0000-7000-8000-00000000000a';
const comment = (id: string, at: string, body = 'hi'): Comment => ({
  id,
  task_id: TASK,
  author_user_id: null,
  author_label: 'ada',
  body,
  created_at: at,
});

describe('addComment', () => {
  it('keeps comments oldest first, whatever order they arrive in', () => {
    const late = comment('b', '2026-11-24T10:00:02Z');
    const early = comment('a', '2026-11-24T10:00:01Z');
    expect(addComment(addComment([], late), early).map((c) => c.id)).toEqual(['a', 'b']);
  });

  it('holds a comment once when both the post and the stream deliver it', () => {
    const c = comment('a', '2026-11-24T10:00:01Z');
    expect(addComment(addComment([], c), { ...c })).toHaveLength(1);
  });
});
