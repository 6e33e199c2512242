-- How runs started from GitHub (a label or a `/switchyard run` comment, written by anyone
-- with write access, about an issue written by anyone) are allowed to run.
ALTER TABLE projects
    -- The `script` executor runs the prompt, the issue's text, as a shell script: GitHub
    -- triggers are refused on such a project unless it opts in.
    ADD COLUMN github_allow_script boolean NOT NULL DEFAULT false,
    -- `restricted`: no org secrets beyond the agent's own credential, supervised where
    -- the agent supports it. `trusted`: the profile as it is, with every org secret.
    ADD COLUMN github_run_policy text NOT NULL DEFAULT 'restricted'
        CHECK (github_run_policy IN ('restricted', 'trusted')),
    -- The profile (`name` or `name:variant`) GitHub-triggered runs use when the comment
    -- names none; the project's default executor otherwise.
    ADD COLUMN github_profile text
        CHECK (github_profile IS NULL OR length(github_profile) BETWEEN 1 AND 130);
