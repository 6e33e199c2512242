-- Comments on a task (the discussion beside its description, DESIGN.md §2). The author
-- is a person (author_user_id) or an org API token (author_token_id); author_label keeps
-- the name shown even after the person or token is gone.
CREATE TABLE task_comments (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    author_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    author_token_id uuid REFERENCES api_tokens (id) ON DELETE SET NULL,
    author_label text NOT NULL CHECK (length(author_label) BETWEEN 1 AND 200),
    body text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_comments_task_idx ON task_comments (task_id, created_at, id);

ALTER TABLE task_comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON task_comments
    USING (switchyard_system_scope() OR org_id = switchyard_current_org())
    WITH CHECK (switchyard_system_scope() OR org_id = switchyard_current_org());

GRANT SELECT, INSERT, DELETE ON task_comments TO switchyard_app;
