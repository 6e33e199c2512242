//! Agent session files travel through the object store between workers.

use shared::store::ObjectStore;
use shared::testing::TestEnv;
use uuid::Uuid;
use worker::sessions;

#[tokio::test(flavor = "multi_thread")]
async fn session_files_saved_on_one_worker_are_restored_on_another() {
    let env = TestEnv::new().await;
    let store = ObjectStore::new(&env.settings.s3);
    let (org, attempt) = (Uuid::now_v7(), Uuid::now_v7());
    let prefix = sessions::prefix(org, attempt);

    let first = sessions::home_dir(&env.dir.join("worker-a"), attempt);
    let project = first.join(".claude/projects/-work-tree");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("s1.jsonl"), "{\"role\":\"user\"}\n").unwrap();
    std::fs::write(first.join(".claude/projects/settings.json"), "{}").unwrap();
    std::fs::write(first.join("unrelated.txt"), "not a session file").unwrap();
    assert_eq!(
        sessions::save(&store, &first, ".claude/projects", &prefix)
            .await
            .unwrap(),
        2
    );

    let second = sessions::home_dir(&env.dir.join("worker-b"), attempt);
    std::fs::create_dir_all(second.join(".claude/projects")).unwrap();
    std::fs::write(second.join(".claude/projects/settings.json"), "local").unwrap();
    assert_eq!(
        sessions::restore(&store, &second, &prefix).await.unwrap(),
        1,
        "only the missing file"
    );
    assert_eq!(
        std::fs::read_to_string(second.join(".claude/projects/-work-tree/s1.jsonl")).unwrap(),
        "{\"role\":\"user\"}\n"
    );
    assert_eq!(
        std::fs::read_to_string(second.join(".claude/projects/settings.json")).unwrap(),
        "local"
    );
    assert!(!second.join("unrelated.txt").exists());

    // Another attempt's prefix holds nothing.
    let other = sessions::prefix(org, Uuid::now_v7());
    assert_eq!(sessions::restore(&store, &second, &other).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn links_in_the_agent_home_are_never_followed_out_of_it() {
    let env = TestEnv::new().await;
    let store = ObjectStore::new(&env.settings.s3);
    let (org, attempt) = (Uuid::now_v7(), Uuid::now_v7());
    let prefix = sessions::prefix(org, attempt);
    let outside = env.dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "not the agent's").unwrap();

    let home = sessions::home_dir(&env.dir.join("worker"), attempt);
    let sessions_dir = home.join(".claude/projects");
    std::fs::create_dir_all(&sessions_dir).unwrap();
    std::fs::write(sessions_dir.join("s1.jsonl"), "{}\n").unwrap();
    // What a hostile agent plants: a file link and a folder link pointing outside.
    std::os::unix::fs::symlink(outside.join("secret.txt"), sessions_dir.join("grab.jsonl"))
        .unwrap();
    std::os::unix::fs::symlink(&outside, sessions_dir.join("grab-dir")).unwrap();

    assert_eq!(
        sessions::save(&store, &home, ".claude/projects", &prefix)
            .await
            .unwrap(),
        1,
        "only the regular file"
    );
    let keys = store.list(&prefix).await.unwrap();
    assert_eq!(keys, vec![format!("{prefix}.claude/projects/s1.jsonl")]);
}
