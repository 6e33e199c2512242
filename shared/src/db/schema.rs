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
    audit_events (id) {
        id -> Uuid,
        org_id -> Uuid,
        actor_type -> Text,
        actor_id -> Nullable<Uuid>,
        actor_label -> Text,
        action -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Text>,
        method -> Text,
        path -> Text,
        status -> Int4,
        source_ip -> Nullable<Text>,
        request_id -> Nullable<Text>,
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
        log_truncated -> Bool,
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
    github_installations (id) {
        id -> Uuid,
        org_id -> Nullable<Uuid>,
        installation_id -> Int8,
        account_id -> Int8,
        account_login -> Text,
        account_type -> Text,
        repository_selection -> Text,
        installed_by_github_id -> Nullable<Int8>,
        linked_by -> Nullable<Uuid>,
        linked_at -> Nullable<Timestamptz>,
        suspended_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    github_triggers (id) {
        id -> Uuid,
        org_id -> Uuid,
        project_id -> Uuid,
        source_key -> Text,
        kind -> Text,
        repository_full_name -> Text,
        issue_number -> Int8,
        sender_login -> Text,
        task_id -> Nullable<Uuid>,
        attempt_id -> Nullable<Uuid>,
        refused_reason -> Nullable<Text>,
        started_comment_at -> Nullable<Timestamptz>,
        result_comment_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (scope, key) {
        scope -> Text,
        key -> Text,
        request_hash -> Bytea,
        created_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
        status -> Nullable<Int2>,
        location -> Nullable<Text>,
        content_type -> Nullable<Text>,
        key_id -> Nullable<Text>,
        nonce -> Nullable<Bytea>,
        body -> Nullable<Bytea>,
    }
}

diesel::table! {
    invitations (id) {
        id -> Uuid,
        org_id -> Uuid,
        role -> Text,
        github_login -> Nullable<Text>,
        email -> Nullable<Text>,
        token_hash -> Bytea,
        invited_by -> Nullable<Uuid>,
        expires_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        accepted_by -> Nullable<Uuid>,
        revoked_at -> Nullable<Timestamptz>,
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
        created_by -> Nullable<Uuid>,
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
        github_trigger_label -> Text,
        merge_method -> Text,
        github_allow_script -> Bool,
        github_run_policy -> Text,
        github_profile -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        session_id -> Uuid,
        token_hash -> Bytea,
        used_at -> Nullable<Timestamptz>,
        expires_at -> Timestamptz,
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
        github_repo_id -> Nullable<Int8>,
        github_full_name -> Nullable<Text>,
        github_installation_id -> Nullable<Int8>,
        private -> Bool,
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
        pr_number -> Nullable<Int8>,
    }
}

diesel::table! {
    task_comments (id) {
        id -> Uuid,
        org_id -> Uuid,
        task_id -> Uuid,
        author_user_id -> Nullable<Uuid>,
        author_token_id -> Nullable<Uuid>,
        author_label -> Text,
        body -> Text,
        created_at -> Timestamptz,
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
        github_issue_number -> Nullable<Int8>,
    }
}

diesel::table! {
    user_sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        method -> Text,
        user_agent -> Nullable<Text>,
        source_ip -> Nullable<Text>,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoke_reason -> Nullable<Text>,
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

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        delivery_id -> Text,
        event -> Text,
        action -> Nullable<Text>,
        installation_id -> Nullable<Int8>,
        org_id -> Nullable<Uuid>,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Nullable<Timestamptz>,
        locked_until -> Nullable<Timestamptz>,
        error -> Nullable<Text>,
        received_at -> Timestamptz,
        processed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(api_tokens -> organizations (org_id));
diesel::joinable!(api_tokens -> users (created_by));
diesel::joinable!(audit_events -> organizations (org_id));
diesel::joinable!(execution_processes -> organizations (org_id));
diesel::joinable!(execution_processes -> task_attempts (attempt_id));
diesel::joinable!(executor_profiles -> organizations (org_id));
diesel::joinable!(executor_profiles -> projects (project_id));
diesel::joinable!(github_installations -> organizations (org_id));
diesel::joinable!(github_installations -> users (linked_by));
diesel::joinable!(github_triggers -> organizations (org_id));
diesel::joinable!(github_triggers -> projects (project_id));
diesel::joinable!(github_triggers -> task_attempts (attempt_id));
diesel::joinable!(github_triggers -> tasks (task_id));
diesel::joinable!(invitations -> organizations (org_id));
diesel::joinable!(memberships -> organizations (org_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(org_secrets -> organizations (org_id));
diesel::joinable!(organizations -> users (created_by));
diesel::joinable!(projects -> organizations (org_id));
diesel::joinable!(projects -> repositories (repository_id));
diesel::joinable!(refresh_tokens -> user_sessions (session_id));
diesel::joinable!(repositories -> organizations (org_id));
diesel::joinable!(task_attempts -> organizations (org_id));
diesel::joinable!(task_attempts -> tasks (task_id));
diesel::joinable!(task_comments -> api_tokens (author_token_id));
diesel::joinable!(task_comments -> organizations (org_id));
diesel::joinable!(task_comments -> tasks (task_id));
diesel::joinable!(task_comments -> users (author_user_id));
diesel::joinable!(tasks -> organizations (org_id));
diesel::joinable!(tasks -> projects (project_id));
diesel::joinable!(user_sessions -> users (user_id));
diesel::joinable!(webhook_deliveries -> organizations (org_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_tokens,
    audit_events,
    execution_processes,
    executor_profiles,
    github_installations,
    github_triggers,
    idempotency_keys,
    invitations,
    memberships,
    org_secrets,
    organizations,
    projects,
    refresh_tokens,
    repositories,
    task_attempts,
    task_comments,
    tasks,
    user_sessions,
    users,
    webhook_deliveries,
);
