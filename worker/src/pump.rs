//! Turns a process's raw output lines into changes of its entry list: one `output` entry
//! per line for scripts; for coding agents, through the agent's normalizer, while the
//! agent's driver answers its protocol (permission requests, end of turn).

use redis::aio::ConnectionManager;
use shared::approvals::{self, PendingApproval};
use shared::keys::Keys;
use shared::logs::{EntryContent, LogEntry, OutputStream, PatchOp};
use shared::secrets::Redactor;
use shared::wire::OrgEvent;
use shared::{bus, redis_conn, wire};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::executors::PermissionPolicy;
use crate::executors::driver::{AgentDriver, DriverEvent, ToolRequest};
use crate::logship::EntryChange;
use crate::normalize::pieces::{JoinedLine, LineJoiner, MAX_JOINED_LINE};
use crate::normalize::{EntryPatch, Normalizer, TokenTotals};
use crate::runner::{MAX_LINE_BYTES, OutputLine};

/// The entry a raw output line becomes.
pub fn output_entry(line: OutputLine) -> LogEntry {
    LogEntry {
        timestamp: line.at,
        content: EntryContent::Output {
            stream: line.stream,
            text: line.text,
        },
    }
}

/// A stdout line the joiner released.
fn stdout_line(line: JoinedLine) -> OutputLine {
    OutputLine {
        stream: OutputStream::Stdout,
        text: line.text,
        at: line.at,
    }
}

/// Bytes of raw output buffered before they are written to the raw record.
const RAW_BUFFER: usize = 256 * 1024;

/// Appends every line as an `output` entry, in order, until the lines end.
pub async fn verbatim(mut lines: mpsc::Receiver<OutputLine>, out: mpsc::Sender<EntryChange>) {
    let mut index = 0u64;
    while let Some(line) = lines.recv().await {
        let change = EntryChange {
            op: PatchOp::Append,
            index,
            entry: output_entry(line),
        };
        if out.send(change).await.is_err() {
            return;
        }
        index += 1;
    }
}

/// Where supervised tool calls go for a decision.
#[derive(Clone)]
pub struct ApprovalBroker {
    pub redis: ConnectionManager,
    /// For the blocking wait, on a connection of its own.
    pub redis_url: String,
    pub keys: Keys,
    pub org_id: Uuid,
    pub attempt_id: Uuid,
    pub process_id: Uuid,
    pub timeout: Duration,
    /// `Auto` answers every request at once; otherwise a team member decides.
    pub policy: PermissionPolicy,
}

/// What the agent reported while its output was pumped.
#[derive(Debug, Clone, Default)]
pub struct AgentReport {
    /// The agent's own session id: follow-ups resume it.
    pub session_id: Option<String>,
    pub tokens: TokenTotals,
    /// Entries in the normalized list.
    pub entries: u64,
    /// Why the turn failed, when the agent said so (it may still exit 0).
    pub turn_failure: Option<String>,
}

/// Normalizes an agent's output into entry changes, answering its protocol on the way.
pub async fn agent(
    mut lines: mpsc::Receiver<OutputLine>,
    mut normalizer: Box<dyn Normalizer>,
    driver: Option<Arc<dyn AgentDriver>>,
    approvals: ApprovalBroker,
    redactor: Option<Arc<Redactor>>,
    raw_path: Option<std::path::PathBuf>,
    out: mpsc::Sender<EntryChange>,
) -> AgentReport {
    let mut len = 0u64;
    // The raw output (redacted) is kept beside the normalized entries, so a run can be
    // normalized again if a normalizer improves, and its exact output inspected.
    let mut raw = match &raw_path {
        Some(path) => match tokio::fs::File::create(path).await {
            // Each write of a tokio file is a hop to a blocking thread: a large buffer
            // makes that one hop per 256 KiB, not per 8 KiB, of a fast agent's output.
            Ok(file) => Some(tokio::io::BufWriter::with_capacity(RAW_BUFFER, file)),
            Err(e) => {
                tracing::warn!(error = %e, "raw output not kept");
                None
            }
        },
        None => None,
    };
    let forward = async |patches: Vec<EntryPatch>, len: &mut u64| -> bool {
        for patch in patches {
            let p = patch.into_log_patch(0, len);
            let change = EntryChange {
                op: p.op,
                index: p.index,
                entry: p.entry,
            };
            if out.send(change).await.is_err() {
                return false;
            }
        }
        true
    };
    // Decisions come back from the approval tasks, so the card changes at once.
    let (decided_tx, mut decided) = mpsc::unbounded_channel::<(String, bool)>();
    // Long JSON lines the runner cut into pieces are whole again before the driver, the
    // redactor, the raw record or the normalizer sees them.
    let mut joiner = LineJoiner::new(MAX_LINE_BYTES, MAX_JOINED_LINE);
    // Lines ready to handle, in order.
    let mut ready: VecDeque<OutputLine> = VecDeque::new();
    let mut ended = false;
    let mut arrived: Option<(String, bool)> = None;
    'pump: loop {
        // A decision is sent before the agent hears it, so it is applied before any line
        // read after it, and never lost when the agent's answer ends the output at once.
        while let Some((tool_call_id, approved)) =
            arrived.take().or_else(|| decided.try_recv().ok())
        {
            let patches = normalizer.approval_decided(&tool_call_id, approved);
            if !forward(patches, &mut len).await {
                break 'pump;
            }
        }
        let mut line = match ready.pop_front() {
            Some(line) => line,
            None if ended => break,
            None => tokio::select! {
                line = lines.recv() => {
                    match line {
                        Some(line) if line.stream == OutputStream::Stdout => {
                            for joined in joiner.push(line.text, line.at) {
                                ready.push_back(stdout_line(joined));
                            }
                        }
                        Some(line) => ready.push_back(line),
                        None => {
                            ended = true;
                            ready.extend(joiner.finish().map(stdout_line));
                        }
                    }
                    continue;
                }
                Some(decision) = decided.recv() => {
                    arrived = Some(decision);
                    continue;
                }
            },
        };
        // Secrets are masked before anything reads the line, so no entry, log segment or
        // live message can carry one.
        if let Some(r) = &redactor
            && let std::borrow::Cow::Owned(masked) = r.redact(&line.text)
        {
            line.text = masked;
        }
        if let Some(file) = raw.as_mut() {
            use tokio::io::AsyncWriteExt;
            let bytes = raw_record(&line);
            if let Err(e) = file.write_all(&bytes).await {
                tracing::warn!(error = %e, "raw output no longer kept");
                raw = None;
            }
        }
        normalizer.read_at(line.at);
        let patches = match line.stream {
            OutputStream::Stdout => {
                if let Some(driver) = &driver {
                    match driver.observe(&line.text) {
                        DriverEvent::Permission(request) => {
                            let (broker, driver) = (approvals.clone(), driver.clone());
                            tokio::spawn(decide(broker, driver, request, decided_tx.clone()));
                        }
                        DriverEvent::TurnEnded => driver.end_input(),
                        DriverEvent::Other => {}
                    }
                }
                normalizer.stdout_line(&line.text)
            }
            OutputStream::Stderr => normalizer.stderr_line(&line.text),
        };
        if !forward(patches, &mut len).await {
            break;
        }
    }
    let rest = normalizer.finish();
    forward(rest, &mut len).await;
    if let Some(mut file) = raw {
        use tokio::io::AsyncWriteExt;
        let _ = file.flush().await;
    }
    if let Some(driver) = &driver {
        driver.end_input();
    }
    AgentReport {
        turn_failure: driver.as_ref().and_then(|d| d.turn_failure()),
        session_id: normalizer.session_id().map(str::to_owned),
        tokens: normalizer.token_usage(),
        entries: len,
    }
}

/// One line of the raw output record: a JSON object of its stream, time and text, and a
/// newline. Written from borrowed fields: this runs for every line an agent prints.
fn raw_record(line: &OutputLine) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Record<'a> {
        stream: OutputStream,
        at: &'a chrono::DateTime<chrono::Utc>,
        text: &'a str,
    }
    let record = Record {
        stream: line.stream,
        at: &line.at,
        text: &line.text,
    };
    let mut bytes = Vec::with_capacity(line.text.len() + 64);
    // Strings, a time and an enum: serialization cannot fail.
    let _ = serde_json::to_writer(&mut bytes, &record);
    bytes.push(b'\n');
    bytes
}

/// The tools with which agents present a plan for approval.
const PLAN_TOOLS: &[&str] = &["ExitPlanMode", "ExitSpecMode", "exit_plan_mode"];

/// Gets a decision for one tool call and answers the agent: at once under `Auto`, else
/// from a team member through the approval hand-off, denied when it times out.
async fn decide(
    broker: ApprovalBroker,
    driver: Arc<dyn AgentDriver>,
    request: ToolRequest,
    decided: mpsc::UnboundedSender<(String, bool)>,
) {
    // Under `plan` only the plan itself waits for a person; once it is approved the agent
    // works on its own, as the policy promises.
    let plan_only = broker.policy == PermissionPolicy::Plan
        && !PLAN_TOOLS.contains(&request.tool_name.as_str());
    if broker.policy == PermissionPolicy::Auto || plan_only {
        driver.answer(&request, true, "");
        return;
    }
    let now = chrono::Utc::now();
    let pending = PendingApproval {
        id: Uuid::new_v4(),
        attempt_id: broker.attempt_id,
        process_id: broker.process_id,
        tool_name: request.tool_name.clone(),
        tool_call_id: request.tool_call_id.clone(),
        input: request.input.clone(),
        requested_at: now,
        expires_at: now + chrono::Duration::from_std(broker.timeout).unwrap_or_default(),
    };
    let mut redis = broker.redis.clone();
    let decision = async {
        approvals::request(&mut redis, &broker.keys, &pending).await?;
        bus::emit(
            &mut redis,
            &broker.keys,
            broker.org_id,
            OrgEvent::ApprovalRequested(pending.clone()),
        )
        .await;
        let mut blocking = redis_conn::dedicated(&broker.redis_url).await?;
        approvals::wait(
            &mut blocking,
            &broker.keys,
            broker.attempt_id,
            pending.id,
            broker.timeout,
        )
        .await
    }
    .await;
    let (allow, reason) = match decision {
        Ok(Some(d)) => (
            d.approve,
            d.reason
                .unwrap_or_else(|| "denied by a reviewer".to_owned()),
        ),
        Ok(None) => (
            false,
            format!("no decision within {} s", broker.timeout.as_secs()),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "approval hand-off failed; denying the tool call");
            (false, "the approval could not be requested".to_owned())
        }
    };
    tracing::info!(approval.id = %pending.id, tool = %request.tool_name, allow, "tool call decided");
    let resolved = wire::ApprovalResolved {
        id: pending.id,
        attempt_id: broker.attempt_id,
        approve: allow,
    };
    bus::emit(
        &mut redis,
        &broker.keys,
        broker.org_id,
        OrgEvent::ApprovalResolved(resolved),
    )
    .await;
    if let Some(id) = &request.tool_call_id {
        // The pump may be gone if the process ended meanwhile; nothing left to show then.
        let _ = decided.send((id.clone(), allow));
    }
    driver.answer(&request, allow, &reason);
}
