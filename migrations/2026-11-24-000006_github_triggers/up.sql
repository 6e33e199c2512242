-- GitHub triggers and pull requests (DESIGN.md §2, §8): a project's trigger label and
-- merge method, the issue a task came from, an attempt's pull request, and the record of
-- every trigger the App acted on (or refused), which keeps handlers idempotent and says
-- which comments are still owed.

ALTER TABLE projects
    -- An issue labelled with this starts a run (compared case-insensitively).
    ADD COLUMN github_trigger_label text NOT NULL DEFAULT 'switchyard'
        CHECK (length(github_trigger_label) BETWEEN 1 AND 50),
    -- How the attempt's pull request is merged.
    ADD COLUMN merge_method text NOT NULL DEFAULT 'squash'
        CHECK (merge_method IN ('merge', 'squash', 'rebase'));

-- The GitHub issue a task was made from: one task per issue and project.
ALTER TABLE tasks ADD COLUMN github_issue_number bigint;
CREATE UNIQUE INDEX tasks_github_issue_unique ON tasks (project_id, github_issue_number)
    WHERE github_issue_number IS NOT NULL;

-- The attempt's pull request number on the project's repository (`pr_url` and
-- `pr_state` already exist).
ALTER TABLE task_attempts ADD COLUMN pr_number bigint;
CREATE INDEX task_attempts_pr_idx ON task_attempts (pr_number) WHERE pr_number IS NOT NULL;

-- One row per trigger the App handled: a labelled issue (keyed by the delivery), a
-- `/switchyard run` comment or a `/switchyard follow-up` comment (keyed by the comment
-- id). `source_key` is unique, so a handler run twice for one delivery acts once.
-- A refused trigger (no write access, a bot, an unknown profile) keeps its reason.
-- `started_comment_at` / `result_comment_at`: when the App commented back with the link
-- and with the result, so each is posted once the work is done, never lost.
CREATE TABLE github_triggers (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    source_key text NOT NULL UNIQUE CHECK (length(source_key) BETWEEN 1 AND 300),
    kind text NOT NULL CHECK (kind IN ('label', 'comment', 'follow_up')),
    repository_full_name text NOT NULL,
    -- The issue or pull request to comment on.
    issue_number bigint NOT NULL,
    sender_login text NOT NULL,
    task_id uuid REFERENCES tasks (id) ON DELETE CASCADE,
    attempt_id uuid REFERENCES task_attempts (id) ON DELETE CASCADE,
    refused_reason text,
    started_comment_at timestamptz,
    result_comment_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX github_triggers_org_idx ON github_triggers (org_id, created_at);
CREATE INDEX github_triggers_attempt_idx ON github_triggers (attempt_id)
    WHERE result_comment_at IS NULL;

CREATE TRIGGER github_triggers_touch BEFORE UPDATE ON github_triggers FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();

ALTER TABLE github_triggers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON github_triggers
    USING (switchyard_system_scope() OR org_id = switchyard_current_org())
    WITH CHECK (switchyard_system_scope() OR org_id = switchyard_current_org());

GRANT SELECT, INSERT, UPDATE, DELETE ON github_triggers TO switchyard_app;
