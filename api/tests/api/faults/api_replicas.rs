//! An api replica killed under 100 live log streams: every client reconnects to another
//! replica with `Last-Event-ID` and ends with the whole log, nothing missing or twice.

use shared::logs::LogPatch;
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::{printing, report};
use crate::attempt_views::assert_gap_free;
use crate::helpers::{SseClient, TestApp};

const CLIENTS: usize = 100;
const LINES: u32 = 300;

/// One viewer's copy of the stream.
struct Viewer {
    sse: SseClient,
    patches: Vec<LogPatch>,
}

/// What one read of a viewer's stream brought.
#[derive(Debug, PartialEq)]
enum Step {
    Patch,
    End,
    /// The connection broke (its replica is gone).
    Broken,
    /// Nothing within the wait.
    Idle,
}

impl Viewer {
    async fn step(&mut self, wait: Duration) -> Step {
        loop {
            match self.sse.next_within(wait).await {
                Some(e) if e.event == "patch" => {
                    self.patches.push(e.json());
                    return Step::Patch;
                }
                Some(e) if e.event == "end" => return Step::End,
                Some(_) => {}
                None if self.sse.closed => return Step::Broken,
                None => return Step::Idle,
            }
        }
    }

    /// Reads until `until`, failing on anything but patches before it.
    async fn read_until(&mut self, until: Step, wait: Duration) {
        loop {
            match self.step(wait).await {
                Step::Patch => {}
                step if step == until => return,
                step => panic!(
                    "expected {until:?}, got {step:?} after {} patches",
                    self.patches.len()
                ),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_replica_killed_under_a_hundred_streams_loses_none_of_their_entries() {
    let app = TestApp::spawn().await;
    // One token holds all hundred streams (the default allows 20 per credential); the
    // killed replica's slots stay counted until their leases lapse, so room for both.
    let mut cluster = Cluster::start(app, 2, 1, |s| {
        s.api.streams.max_per_credential = 2 * CLIENTS as u32;
    })
    .await;
    let project = cluster.app.create_project("Replicas", None).await;
    let task = cluster.app.create_task(project.id, "Watched by many").await;
    let attempt = cluster
        .app
        .start_attempt(task.id, &printing(LINES, "0.04"))
        .await;
    cluster.app.wait_running(attempt.id).await;
    let process = cluster.app.processes(attempt.id).await.remove(0);
    let stream = format!("processes/{}/logs/stream", process.id);
    let mut viewers = Vec::new();
    for _ in 0..CLIENTS {
        viewers.push(Viewer {
            sse: cluster.app.sse(&stream, None).await,
            patches: Vec::new(),
        });
    }
    // Everyone has seen some of the log before the replica dies.
    for v in &mut viewers {
        while v.patches.len() < 5 {
            assert_eq!(v.step(Duration::from_secs(30)).await, Step::Patch);
        }
    }
    let killed_at = Instant::now();
    cluster.apis[0].kill();
    cluster.use_api(1);
    let mut recovered = Duration::ZERO;
    for v in &mut viewers {
        // Drain what arrived before the kill, until the connection breaks.
        v.read_until(Step::Broken, Duration::from_secs(5)).await;
        let resume = v.patches.last().map(|p| p.seq.to_string());
        v.sse = cluster.app.sse(&stream, resume.as_deref()).await;
        recovered = recovered.max(killed_at.elapsed());
    }
    for v in &mut viewers {
        v.read_until(Step::End, Duration::from_secs(60)).await;
    }
    cluster.wait_succeeded(attempt.id).await;
    let stored = cluster.app.logs(process.id).await;
    let stored_entries = stored["entries"].as_array().expect("entries").len();
    assert_eq!(stored_entries, LINES as usize);
    for v in &viewers {
        assert_gap_free(&v.patches);
        assert_eq!(v.patches.len(), viewers[0].patches.len());
        assert_eq!(v.patches, viewers[0].patches);
    }
    report(
        "api replica SIGKILL with 100 SSE clients",
        "each client resumes on the other replica with Last-Event-ID; every stream gap-free and equal to the stored log",
        "nothing lost or doubled",
        Some(recovered),
    );
    cluster.stop().await;
}
