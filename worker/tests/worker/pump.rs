//! The agent pump: what a team member decides on a tool call reaches the log even when
//! the agent's answer to it is the last thing the agent does.

use chrono::{DateTime, Utc};
use shared::executors::PermissionPolicy;
use shared::keys::Keys;
use shared::logs::{EntryContent, OutputStream};
use shared::testing::TestEnv;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;
use worker::executors::driver::{AgentDriver, DriverEvent, ToolRequest};
use worker::logship::EntryChange;
use worker::normalize::{EntryPatch, Normalizer, TokenTotals};
use worker::pump::{self, ApprovalBroker};
use worker::runner::OutputLine;

/// An agent that asks once for `tool-1` and, told the answer, exits: its output ends.
struct AsksOnceThenExits {
    output: Mutex<Option<mpsc::Sender<OutputLine>>>,
}

impl AgentDriver for AsksOnceThenExits {
    fn observe(&self, line: &str) -> DriverEvent {
        if line != "ask" {
            return DriverEvent::Other;
        }
        DriverEvent::Permission(ToolRequest {
            request_id: serde_json::json!(1),
            tool_name: "bash".into(),
            tool_call_id: Some("tool-1".into()),
            input: serde_json::json!({"command": "rm -rf /"}),
        })
    }

    fn answer(&self, _request: &ToolRequest, _allow: bool, _reason: &str) {
        self.output.lock().expect("output").take();
    }

    fn interrupt(&self) {}

    fn end_input(&self) {}
}

/// Shows each decision as an output entry.
struct ShowsDecisions;

impl Normalizer for ShowsDecisions {
    fn read_at(&mut self, _at: DateTime<Utc>) {}

    fn stdout_line(&mut self, _line: &str) -> Vec<EntryPatch> {
        Vec::new()
    }

    fn stderr_line(&mut self, _line: &str) -> Vec<EntryPatch> {
        Vec::new()
    }

    fn finish(&mut self) -> Vec<EntryPatch> {
        Vec::new()
    }

    fn approval_decided(&mut self, tool_call_id: &str, approved: bool) -> Vec<EntryPatch> {
        vec![EntryPatch::Append(pump::output_entry(OutputLine {
            stream: OutputStream::Stdout,
            text: format!("{tool_call_id} approved={approved}"),
            at: Utc::now(),
        }))]
    }

    fn session_id(&self) -> Option<&str> {
        None
    }

    fn token_usage(&self) -> TokenTotals {
        TokenTotals::default()
    }
}

// One thread: the decision and the end of the output are both waiting when the pump
// next looks, every time, so a pump that could pick the end first would (by chance).
#[tokio::test]
async fn a_denial_the_agent_exits_on_is_shown_every_time() {
    let env = TestEnv::new().await;
    let redis_url = env.settings.redis.url.clone();
    let redis = shared::redis_conn::manager(&redis_url)
        .await
        .expect("redis");
    let keys = Keys::new(env.settings.redis.prefix.clone());
    for round in 0..16 {
        let attempt_id = Uuid::now_v7();
        let (lines_tx, lines) = mpsc::channel(16);
        let (out, mut changes) = mpsc::channel::<EntryChange>(16);
        let driver = Arc::new(AsksOnceThenExits {
            output: Mutex::new(Some(lines_tx.clone())),
        });
        let broker = ApprovalBroker {
            redis: redis.clone(),
            redis_url: redis_url.clone(),
            keys: keys.clone(),
            org_id: Uuid::now_v7(),
            attempt_id,
            process_id: Uuid::now_v7(),
            timeout: Duration::from_secs(60),
            policy: PermissionPolicy::Supervised,
        };
        let pumping = tokio::spawn(pump::agent(
            lines,
            Box::new(ShowsDecisions),
            Some(driver),
            broker,
            None,
            None,
            out,
        ));
        lines_tx
            .send(OutputLine {
                stream: OutputStream::Stdout,
                text: "ask".into(),
                at: Utc::now(),
            })
            .await
            .expect("line");
        drop(lines_tx);

        let mut conn = redis.clone();
        let deadline = Instant::now() + Duration::from_secs(30);
        let pending = loop {
            let pending = shared::approvals::pending(&mut conn, &keys, attempt_id)
                .await
                .expect("pending");
            if let Some(p) = pending.into_iter().next() {
                break p;
            }
            assert!(Instant::now() < deadline, "round {round}: never asked");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let decision = shared::approvals::Decision {
            approve: false,
            reason: Some("not this one".into()),
        };
        assert!(
            shared::approvals::decide(&mut conn, &keys, attempt_id, pending.id, &decision)
                .await
                .expect("decide")
        );

        let report = pumping.await.expect("pump");
        let mut shown = Vec::new();
        while let Ok(change) = changes.try_recv() {
            if let EntryContent::Output { text, .. } = change.entry.content {
                shown.push(text);
            }
        }
        assert_eq!(shown, ["tool-1 approved=false"], "round {round}");
        assert_eq!(report.entries, 1, "round {round}");
    }
}
