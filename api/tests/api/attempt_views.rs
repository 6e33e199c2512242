//! What a test reads of attempts through the api: an attempt, waiting for a state, its
//! processes and their logs as a viewer rebuilds them, and log-stream checks.

use reqwest::StatusCode;
use shared::logs::{EntryContent, LogPatch};
use shared::wire;
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::helpers::{SseClient, TestApp, json_as};

impl TestApp {
    pub(crate) async fn attempt(&self, id: Uuid) -> wire::Attempt {
        json_as(self.get(&format!("attempts/{id}")).await, StatusCode::OK).await
    }

    /// Polls until the attempt satisfies `done`, failing after `limit`.
    pub(crate) async fn wait_attempt(
        &self,
        id: Uuid,
        limit: Duration,
        done: impl Fn(&wire::Attempt) -> bool,
    ) -> wire::Attempt {
        let start = Instant::now();
        loop {
            let a = self.attempt(id).await;
            if done(&a) {
                return a;
            }
            assert!(
                start.elapsed() < limit,
                "attempt {id} did not get there in {limit:?}: {a:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (60 s at most) until the attempt runs.
    pub(crate) async fn wait_running(&self, id: Uuid) -> wire::Attempt {
        self.wait_attempt(id, Duration::from_secs(60), |a| {
            a.status == shared::domain::AttemptStatus::Running
        })
        .await
    }

    pub(crate) async fn wait_finished(&self, id: Uuid) -> wire::Attempt {
        self.wait_attempt(id, Duration::from_secs(90), |a| !a.status.is_active())
            .await
    }

    pub(crate) async fn processes(&self, attempt: Uuid) -> Vec<wire::Process> {
        let page: wire::Page<wire::Process> = json_as(
            self.get(&format!("attempts/{attempt}/processes")).await,
            StatusCode::OK,
        )
        .await;
        page.items
    }

    /// The process's log as a viewer builds it: every page read, the patches applied.
    pub(crate) async fn logs(&self, process: Uuid) -> serde_json::Value {
        let mut entries = Vec::new();
        let mut query = String::new();
        loop {
            let page: serde_json::Value = json_as(
                self.get(&format!("processes/{process}/logs{query}")).await,
                StatusCode::OK,
            )
            .await;
            let patches: Vec<LogPatch> =
                serde_json::from_value(page["patches"].clone()).expect("patches");
            for patch in &patches {
                shared::logs::apply(&mut entries, patch);
            }
            match page["next_cursor"].as_str() {
                Some(after) => query = format!("?after={after}"),
                None => {
                    return serde_json::json!({
                        "entries": entries,
                        "next_seq": page["next_seq"],
                        "finished": page["finished"],
                        "truncated": page["truncated"],
                    });
                }
            }
        }
    }
}

/// The text of every output entry in a log-stream's patches.
pub(crate) fn texts(patches: &[LogPatch]) -> Vec<String> {
    patches
        .iter()
        .map(|p| match &p.entry.content {
            EntryContent::Output { text, .. } => text.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// Reads a log stream to its `end` event; returns the patches.
pub(crate) async fn read_to_end(sse: &mut SseClient) -> Vec<LogPatch> {
    let mut patches = Vec::new();
    loop {
        let event = sse
            .next_within(Duration::from_secs(60))
            .await
            .expect("log stream event");
        match event.event.as_str() {
            "patch" => {
                let patch: LogPatch = event.json();
                assert_eq!(event.id.as_deref(), Some(patch.seq.to_string().as_str()));
                patches.push(patch);
            }
            "end" => return patches,
            _ => {}
        }
    }
}

pub(crate) fn assert_gap_free(patches: &[LogPatch]) {
    let seqs: Vec<u64> = patches.iter().map(|p| p.seq).collect();
    assert_eq!(
        seqs,
        (0..patches.len() as u64).collect::<Vec<_>>(),
        "seq must run 0..n with no gap or duplicate"
    );
}
