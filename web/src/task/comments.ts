// A task's comments as the task view holds them: oldest first, each once, whether it came
// from the list, from this browser's own post, or from the org stream (all three can).
import type { Comment } from '../api/types';

const order = (a: Comment, b: Comment) =>
  a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/** `list` with `comment` in its place (replacing one with the same id). */
export function addComment(list: readonly Comment[], comment: Comment): Comment[] {
  return [...list.filter((c) => c.id !== comment.id), comment].sort(order);
}
