// Builds synthetic agent runs for tests (and for measuring the conversation in a browser):
// the patches a worker would stream for `n` entries of every kind, tool calls created and
// then replaced with their outcome, as shared/src/logs.rs numbers them (seq from 0).
import type { LogEntry, LogPatch } from './logState';

const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);

/** The `i`-th entry of a synthetic run: a realistic mix of every kind. */
export function fakeEntry(i: number, status: 'created' | 'success' = 'success'): LogEntry {
  const timestamp = new Date(T0 + i * 250).toISOString();
  switch (i % 10) {
    case 0:
      return { timestamp, type: 'assistant_message', text: `Step ${i}: I will **look** at \`src/lib.rs\` next.` };
    case 1:
      return { timestamp, type: 'thinking', text: `Thinking about step ${i}.\nIt may need a second line.` };
    case 2:
      return {
        timestamp,
        type: 'tool_use',
        tool_name: 'Bash',
        tool_call_id: `call-${i}`,
        summary: 'cargo test',
        status,
        action: {
          kind: 'command_run',
          command: 'cargo test',
          exit_code: status === 'created' ? null : 0,
          output: status === 'created' ? null : `running 3 tests\ntest ok (${i})`,
        },
      };
    case 3:
      return {
        timestamp,
        type: 'tool_use',
        tool_name: 'Edit',
        tool_call_id: `call-${i}`,
        summary: 'src/lib.rs',
        status,
        action: {
          kind: 'file_edit',
          path: 'src/lib.rs',
          // The wire carries shared::logs::FileChange objects (see diffModel.ts EditChange).
          changes: [{ op: 'replace', old_text: 'let a = 1;', new_text: `let a = ${i};` }] as never,
        },
      };
    case 4:
      return {
        timestamp,
        type: 'tool_use',
        tool_name: 'TodoWrite',
        tool_call_id: `call-${i}`,
        summary: 'Update the plan',
        status,
        action: {
          kind: 'todo_update',
          items: [
            { content: 'Read the code', status: 'completed' },
            { content: `Fix step ${i}`, status: 'in_progress' },
            { content: 'Run the tests', status: 'pending' },
          ],
        },
      };
    case 5:
      return { timestamp, type: 'output', stream: i % 20 === 5 ? 'stderr' : 'stdout', text: `line ${i}` };
    case 6:
      return { timestamp, type: 'token_usage', input_tokens: 1200 + i, output_tokens: 300, cost_usd: 0.0123 };
    case 7:
      return { timestamp, type: 'system_message', text: `Session ${i} resumed` };
    case 8:
      return { timestamp, type: 'user_message', text: `Please continue with step ${i}.` };
    default:
      return { timestamp, type: 'error', text: `Error ${i}: something failed` };
  }
}

/** The patches of an `n`-entry run, in seq order: every entry appended, and every tool
 *  call appended as `created` then replaced with its outcome. */
export function fakeRunPatches(n: number): LogPatch[] {
  const patches: LogPatch[] = [];
  let seq = 0;
  for (let i = 0; i < n; i++) {
    const entry = fakeEntry(i, 'created');
    patches.push({ seq: seq++, op: 'append', index: i, entry });
    if (entry.type === 'tool_use') patches.push({ seq: seq++, op: 'replace', index: i, entry: fakeEntry(i, 'success') });
  }
  return patches;
}

/** The entries of a finished `n`-entry run (what applying `fakeRunPatches(n)` gives). */
export function fakeRunEntries(n: number): LogEntry[] {
  return Array.from({ length: n }, (_, i) => fakeEntry(i, 'success'));
}
