// One normalized log entry (shared/src/logs.rs EntryContent) as the conversation shows it.
// Open/closed state lives in the conversation (rows unmount when scrolled away), so each
// entry gets `open` (undefined: its default) and `onToggle`.
import { memo, type ReactNode, useId, useMemo } from 'react';
import type { Schemas } from '../api/types';
import type { ApprovalItem, ApprovalOutcome } from './approvals';
import { DiffTable } from './DiffRows';
import { decodeEditChange, type EditChange, editHunks, languageOf } from './diffModel';
import { clock, count, TOOL_STATUS, usd } from './format';
import { useLanguage } from './highlight';
import type { LogEntry } from './logState';
import { Markdown } from './Markdown';
import { safeHref } from './markdown';

type ToolUse = Schemas['ToolUse'];
type ToolAction = Schemas['ToolAction'];

export interface EntryViewProps {
  entry: LogEntry;
  open: boolean | undefined;
  onToggle: (open: boolean) => void;
  /** The open approval of this tool call, if it waits for one. */
  approval?: ApprovalItem;
  /** How this tool call's approval ended, if it was decided while the page watched. */
  outcome?: ApprovalOutcome;
  /** Moves focus to the approval's card above the conversation. */
  onReviewApproval?: (approvalId: string) => void;
}

/** Lines in a text, counting cheaply. */
function lineCount(text: string | null | undefined): number {
  if (!text) return 0;
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Small enough to show open without being asked. */
const SHORT_LINES = 12;

function Toggle({
  open,
  onToggle,
  controls,
  children,
  className,
}: {
  open: boolean;
  onToggle: (open: boolean) => void;
  controls: string;
  children: ReactNode;
  className?: string;
}) {
  return (
    <button
      type="button"
      className={`entry-toggle ${className ?? ''}`}
      aria-expanded={open}
      aria-controls={controls}
      onClick={() => onToggle(!open)}
    >
      <span className="entry-chevron" aria-hidden="true">
        {open ? '▾' : '▸'}
      </span>
      {children}
    </button>
  );
}

export const EntryView = memo(function EntryView(props: EntryViewProps) {
  const { entry } = props;
  switch (entry.type) {
    case 'user_message':
      return (
        <div className="entry-user">
          <div className="entry-who">Prompt</div>
          <Markdown text={entry.text} />
        </div>
      );
    case 'assistant_message':
      return <Markdown text={entry.text} className="entry-assistant" />;
    case 'thinking':
      return <Thinking text={entry.text} {...props} />;
    case 'tool_use':
      return <ToolCard tool={entry} {...props} />;
    case 'system_message':
      return <p className="entry-system">{entry.text}</p>;
    case 'error':
      return (
        <div className="entry-error">
          <strong>Error: </strong>
          <span className="pre-wrap">{entry.text}</span>
        </div>
      );
    case 'token_usage':
      return (
        <p className="entry-usage">
          Tokens: {count(entry.input_tokens)} in
          {entry.cached_input_tokens ? ` (${count(entry.cached_input_tokens)} cached)` : ''}, {count(entry.output_tokens)} out
          {typeof entry.cost_usd === 'number' ? ` · ${usd(entry.cost_usd)}` : ''}
        </p>
      );
    case 'output':
      return (
        <div className={`entry-output${entry.stream === 'stderr' ? ' stderr' : ''}`} title={`${entry.stream} · ${clock(entry.timestamp)}`}>
          {entry.stream === 'stderr' && <span className="visually-hidden">stderr: </span>}
          {entry.text || ' '}
        </div>
      );
    default: {
      // A kind this dashboard does not know yet: show it rather than drop it.
      const unknown = entry as { type?: string };
      return <p className="entry-system">Unknown entry ({String(unknown.type)})</p>;
    }
  }
});

function Thinking({ text, open, onToggle }: { text: string } & EntryViewProps) {
  const id = useId();
  const isOpen = open ?? false;
  const preview = text.split('\n', 1)[0]?.slice(0, 140) ?? '';
  return (
    <div className="entry-thinking">
      <Toggle open={isOpen} onToggle={onToggle} controls={id}>
        <span className="entry-label">Thinking</span>
        {!isOpen && <span className="entry-preview">{preview}</span>}
      </Toggle>
      <div id={id} hidden={!isOpen}>
        {isOpen && <Markdown text={text} className="muted" />}
      </div>
    </div>
  );
}

const ACTION_LABEL: Record<ToolAction['kind'], string> = {
  file_read: 'Read',
  file_edit: 'Edit',
  command_run: 'Run',
  search: 'Search',
  web_fetch: 'Fetch',
  web_search: 'Web search',
  todo_update: 'Plan',
  plan_presentation: 'Plan for approval',
  sub_agent: 'Sub-agent',
  question: 'Question',
  other: 'Tool',
};

/** Plain symbols (no emoji: they render as boxes where no emoji font is installed). */
const ACTION_ICON: Record<ToolAction['kind'], string> = {
  file_read: '▤',
  file_edit: '✎',
  command_run: '$',
  search: '⌕',
  web_fetch: '↗',
  web_search: '⌕',
  todo_update: '☑',
  plan_presentation: '☰',
  sub_agent: '⎇',
  question: '?',
  other: '⚙',
};

function editChanges(action: Extract<ToolAction, { kind: 'file_edit' }>): EditChange[] {
  const raw = (action as { changes?: unknown }).changes;
  return Array.isArray(raw) ? raw.map(decodeEditChange).filter((c): c is EditChange => c !== null) : [];
}

/** Whether a tool card's details start open. */
function openByDefault(tool: ToolUse, editLines: number): boolean {
  if (tool.status === 'pending_approval') return true;
  const a = tool.action;
  switch (a.kind) {
    case 'todo_update':
    case 'plan_presentation':
    case 'question':
      return true;
    case 'command_run':
      return lineCount(a.output) <= SHORT_LINES && !!a.output;
    case 'file_edit':
      return editLines > 0 && editLines <= 40;
    default:
      return false;
  }
}

function ToolCard({ tool, open, onToggle, approval, outcome, onReviewApproval }: { tool: ToolUse } & EntryViewProps) {
  const id = useId();
  const a = tool.action;
  const changes = useMemo(() => (a.kind === 'file_edit' ? editChanges(a) : []), [a]);
  const hunks = useMemo(() => changes.map((c) => editHunks(c)), [changes]);
  const editLines = hunks.reduce((n, hs) => n + hs.reduce((m, h) => m + h.lines.length, 0), 0);
  const isOpen = open ?? openByDefault(tool, editLines);
  const body = <ToolBody tool={tool} changes={changes} hunks={hunks} />;
  const hasBody = a.kind !== 'file_read' || !!tool.result;

  return (
    <div className={`tool-card tool-${tool.status}`} data-status={tool.status} data-action={a.kind}>
      <div className="tool-head">
        {hasBody ? (
          <Toggle open={isOpen} onToggle={onToggle} controls={id} className="tool-title">
            <ToolTitle tool={tool} />
          </Toggle>
        ) : (
          <span className="tool-title">
            <ToolTitle tool={tool} />
          </span>
        )}
        <span className={`pill pill-${tool.status}`}>{TOOL_STATUS[tool.status]}</span>
      </div>
      {tool.status === 'pending_approval' && (
        <p className="tool-approval">
          {approval ? (
            <>
              The agent waits for a decision.{' '}
              <button type="button" className="link-button" onClick={() => onReviewApproval?.(approval.approval.id)}>
                Review the request
              </button>
            </>
          ) : (
            'The agent waits for a decision.'
          )}
        </p>
      )}
      {outcome && !outcome.approve && outcome.reason && <p className="tool-approval">Denied: {outcome.reason}</p>}
      {hasBody && (
        <div id={id} hidden={!isOpen} className="tool-body">
          {isOpen && body}
        </div>
      )}
    </div>
  );
}

function ToolTitle({ tool }: { tool: ToolUse }) {
  const kind = tool.action.kind;
  return (
    <>
      <span className="tool-icon" aria-hidden="true">
        {ACTION_ICON[kind] ?? '⚙'}
      </span>
      <span className="tool-kind">{ACTION_LABEL[kind] ?? tool.tool_name}</span>
      <span className="tool-summary mono">{tool.summary || tool.tool_name}</span>
    </>
  );
}

function ToolBody({ tool, changes, hunks }: { tool: ToolUse; changes: EditChange[]; hunks: ReturnType<typeof editHunks>[] }) {
  const a = tool.action;
  const result = tool.result ? (
    <div className="tool-section">
      <div className="tool-section-label">Result</div>
      <pre className="tool-pre">{tool.result}</pre>
    </div>
  ) : null;
  switch (a.kind) {
    case 'command_run':
      return (
        <>
          <pre className="tool-pre tool-command">
            <span aria-hidden="true">$ </span>
            {a.command}
          </pre>
          {a.output ? <pre className="tool-pre">{a.output}</pre> : tool.status === 'created' ? <p className="muted">Running…</p> : null}
          {typeof a.exit_code === 'number' && (
            <p className={a.exit_code === 0 ? 'exit-ok' : 'exit-fail'}>Exit code {a.exit_code}</p>
          )}
          {result}
        </>
      );
    case 'file_edit':
      return (
        <>
          {changes.length === 0 && <p className="muted">The agent did not report what changed in {a.path}.</p>}
          {changes.map((c, i) => (
            <EditChangeView key={i} path={a.path} change={c} hunks={hunks[i] ?? []} />
          ))}
          {result}
        </>
      );
    case 'search':
      return (
        <>
          <p>
            <span className="mono">{a.query}</span>
            {a.path ? (
              <>
                {' '}
                in <span className="mono">{a.path}</span>
              </>
            ) : null}
          </p>
          {result}
        </>
      );
    case 'web_fetch': {
      const href = safeHref(a.url);
      return (
        <>
          <p>
            {href && /^https?:/i.test(href) ? (
              <a href={href} target="_blank" rel="noopener noreferrer nofollow">
                {a.url}
              </a>
            ) : (
              <span className="mono">{a.url}</span>
            )}
          </p>
          {result}
        </>
      );
    }
    case 'web_search':
      return (
        <>
          <p className="mono">{a.query}</p>
          {result}
        </>
      );
    case 'todo_update':
      return (
        <ul className="todo-list" aria-label="Plan">
          {a.items.map((item, i) => (
            <li key={i} className={`todo-${item.status}`}>
              <span className="todo-mark" aria-hidden="true">
                {item.status === 'completed' ? '✓' : item.status === 'in_progress' ? '▶' : item.status === 'cancelled' ? '✕' : '○'}
              </span>
              <span className="visually-hidden">{item.status.replace('_', ' ')}: </span>
              {item.content}
            </li>
          ))}
        </ul>
      );
    case 'plan_presentation':
      return <Markdown text={a.plan} />;
    case 'sub_agent':
      return (
        <>
          <p>
            {a.description}
            {a.agent_type ? <span className="muted"> ({a.agent_type})</span> : null}
          </p>
          {a.prompt && <Markdown text={a.prompt} className="muted" />}
          {result}
        </>
      );
    case 'question':
      return (
        <>
          {a.questions.map((q, i) => (
            <div key={i} className="tool-section">
              <p>{q.question}</p>
              {q.options && q.options.length > 0 && (
                <ul>
                  {q.options.map((o, j) => (
                    <li key={j}>{o}</li>
                  ))}
                </ul>
              )}
            </div>
          ))}
          {result}
        </>
      );
    case 'other':
      return (
        <>
          <p className="muted">{tool.tool_name}</p>
          {a.arguments && Object.keys(a.arguments).length > 0 && <pre className="tool-pre">{JSON.stringify(a.arguments, null, 2)}</pre>}
          {result}
        </>
      );
    default:
      return result;
  }
}

function EditChangeView({ path, change, hunks }: { path: string; change: EditChange; hunks: ReturnType<typeof editHunks> }) {
  const language = languageOf(path);
  const ready = useLanguage(hunks.length > 0 ? language : null);
  switch (change.op) {
    case 'create':
      return <p className="muted">Created {path}.</p>;
    case 'update':
      return <p className="muted">Changed {path}.</p>;
    case 'delete':
      return <p className="muted">Deleted {path}.</p>;
    case 'rename':
      return (
        <p className="muted">
          Moved to <span className="mono">{change.new_path}</span>.
        </p>
      );
    default:
      return (
        <>
          {change.op === 'replace' && change.replace_all && <p className="muted">Every occurrence replaced.</p>}
          {hunks.length === 0 ? (
            <p className="muted">No change in the text.</p>
          ) : (
            <DiffTable hunks={hunks} mode="unified" language={language} ready={ready} maxRows={400} caption={`Edit of ${path}`} />
          )}
        </>
      );
  }
}
