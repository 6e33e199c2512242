// What an attempt's pull request control offers: open one from a finished attempt's
// branch, merge an open one, or nothing (not on GitHub, still running, already merged).
import type { Attempt } from '../api/types';
import { isAttemptActive } from './format';

export type PullRequestAction = 'open' | 'merge' | null;

export function pullRequestAction(attempt: Pick<Attempt, 'status' | 'pr_url' | 'pr_state' | 'diff_summary'>, onGithub: boolean): PullRequestAction {
  if (!onGithub || isAttemptActive(attempt.status)) return null;
  if (!attempt.pr_url) {
    // A pull request needs commits: a run that changed nothing has none to offer.
    const changed = attempt.diff_summary ? attempt.diff_summary.files_changed > 0 : true;
    return attempt.status === 'succeeded' && changed ? 'open' : null;
  }
  return attempt.pr_state === 'open' ? 'merge' : null;
}

const METHOD_LABEL = { merge: 'Merge', squash: 'Squash and merge', rebase: 'Rebase and merge' } as const;

/** The merge button's words for the project's merge method. */
export const mergeLabel = (method: keyof typeof METHOD_LABEL | undefined) => METHOD_LABEL[method ?? 'squash'];
