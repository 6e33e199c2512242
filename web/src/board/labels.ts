// The words the board shows for wire enums.
import type { AttemptStatus, TaskStatus } from '../api/types';
import type { TaskPriority } from './state';

export const COLUMN_NAMES: Record<TaskStatus, string> = {
  todo: 'To do',
  inprogress: 'In progress',
  inreview: 'In review',
  done: 'Done',
  cancelled: 'Cancelled',
};

/** Highest first, as the filter and the form list them. */
export const PRIORITIES: readonly TaskPriority[] = ['urgent', 'high', 'medium', 'low', 'none'];

export const PRIORITY_NAMES: Record<TaskPriority, string> = {
  urgent: 'Urgent',
  high: 'High',
  medium: 'Medium',
  low: 'Low',
  none: 'No priority',
};

export const ATTEMPT_NAMES: Record<AttemptStatus, string> = {
  queued: 'Queued',
  scheduled: 'Scheduled',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
};
