//! Turns a process's raw output lines into changes of its entry list: one `output` entry
//! per line for scripts; for coding agents, through the agent's normalizer.

use shared::logs::{EntryContent, LogEntry, PatchOp};
use tokio::sync::mpsc;

use crate::logship::EntryChange;
use crate::runner::OutputLine;

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
