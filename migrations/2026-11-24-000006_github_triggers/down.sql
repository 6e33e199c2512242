DROP TABLE github_triggers;
DROP INDEX task_attempts_pr_idx;
ALTER TABLE task_attempts DROP COLUMN pr_number;
DROP INDEX tasks_github_issue_unique;
ALTER TABLE tasks DROP COLUMN github_issue_number;
ALTER TABLE projects DROP COLUMN merge_method, DROP COLUMN github_trigger_label;
