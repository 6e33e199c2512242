ALTER TABLE projects
    DROP COLUMN github_profile,
    DROP COLUMN github_run_policy,
    DROP COLUMN github_allow_script;
