// @generated automatically by Diesel CLI.

diesel::table! {
    api_tokens (id) {
        id -> Uuid,
        org_id -> Uuid,
        name -> Text,
        prefix -> Text,
        token_hash -> Bytea,
        scopes -> Array<Nullable<Text>>,
        expires_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    execution_processes (id) {
        id -> Uuid,
        org_id -> Uuid,
        attempt_id -> Uuid,
        run_reason -> Text,
        status -> Text,
        prompt -> Text,
        exit_code -> Nullable<Int4>,
        failure_reason -> Nullable<Text>,
        agent_session_id -> Nullable<Text>,
        entry_count -> Int8,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        input_tokens -> Int8,
        output_tokens -> Int8,
        cost_usd -> Nullable<Float8>,
    }
}

diesel::table! {
    executor_profiles (id) {
        id -> Uuid,
        org_id -> Uuid,
        project_id -> Nullable<Uuid>,
        name -> Text,
        executor -> Text,
        variants -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    memberships (id) {
        id -> Uuid,
        org_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    org_secrets (id) {
        id -> Uuid,
        org_id -> Uuid,
        name -> Text,
        key_id -> Text,
        nonce -> Bytea,
        ciphertext -> Bytea,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    organizations (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        max_concurrent_attempts -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    projects (id) {
        id -> Uuid,
        org_id -> Uuid,
        repository_id -> Uuid,
        name -> Text,
        key_prefix -> Text,
        task_counter -> Int8,
        default_branch -> Text,
        setup_script -> Nullable<Text>,
        cleanup_script -> Nullable<Text>,
        dev_script -> Nullable<Text>,
        default_executor -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    repositories (id) {
        id -> Uuid,
        org_id -> Uuid,
        name -> Text,
        url -> Text,
        default_branch -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    task_attempts (id) {
        id -> Uuid,
        org_id -> Uuid,
        task_id -> Uuid,
        executor -> Text,
        base_branch -> Text,
        branch -> Text,
        base_commit -> Nullable<Text>,
        head_commit -> Nullable<Text>,
        status -> Text,
        stop_requested -> Bool,
        worker_id -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        retry_count -> Int4,
        max_retries -> Int4,
        failure_reason -> Nullable<Text>,
        diff_summary -> Nullable<Jsonb>,
        diff_object_key -> Nullable<Text>,
        pr_url -> Nullable<Text>,
        pr_state -> Nullable<Text>,
        trace_context -> Nullable<Text>,
        queued_at -> Timestamptz,
        scheduled_at -> Nullable<Timestamptz>,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        executor_profile -> Nullable<Jsonb>,
        input_tokens -> Int8,
        output_tokens -> Int8,
        cost_usd -> Nullable<Float8>,
    }
}

diesel::table! {
    tasks (id) {
        id -> Uuid,
        org_id -> Uuid,
        project_id -> Uuid,
        number -> Int8,
        title -> Text,
        description -> Text,
        status -> Text,
        position -> Float8,
        priority -> Text,
        labels -> Array<Nullable<Text>>,
        assignee_ids -> Array<Nullable<Uuid>>,
        parent_task_id -> Nullable<Uuid>,
        origin -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        github_id -> Nullable<Int8>,
        login -> Text,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(api_tokens -> organizations (org_id));
diesel::joinable!(api_tokens -> users (created_by));
diesel::joinable!(execution_processes -> organizations (org_id));
diesel::joinable!(execution_processes -> task_attempts (attempt_id));
diesel::joinable!(executor_profiles -> organizations (org_id));
diesel::joinable!(executor_profiles -> projects (project_id));
diesel::joinable!(memberships -> organizations (org_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(org_secrets -> organizations (org_id));
diesel::joinable!(projects -> organizations (org_id));
diesel::joinable!(projects -> repositories (repository_id));
diesel::joinable!(repositories -> organizations (org_id));
diesel::joinable!(task_attempts -> organizations (org_id));
diesel::joinable!(task_attempts -> tasks (task_id));
diesel::joinable!(tasks -> organizations (org_id));
diesel::joinable!(tasks -> projects (project_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_tokens,
    execution_processes,
    executor_profiles,
    memberships,
    org_secrets,
    organizations,
    projects,
    repositories,
    task_attempts,
    tasks,
    users,
);
