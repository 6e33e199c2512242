// Hunks as table rows, unified or split, with syntax highlighting when the file's
// language has loaded. Used by the attempt's diff and by an agent's file-edit card.
import { memo, type ReactNode, useMemo } from 'react';
import { segments } from './CodeBlock';
import { type Cell, type Hunk, hunkSides, splitRows, unifiedRows } from './diffModel';
import { highlightLines, type Segment } from './highlight';

export type DiffMode = 'unified' | 'split';

interface Highlighted {
  old: Segment[][] | null;
  new: Segment[][] | null;
}

function highlightHunk(hunk: Hunk, language: string | null, ready: boolean): Highlighted {
  if (!ready || !language) return { old: null, new: null };
  const sides = hunkSides(hunk);
  return { old: highlightLines(sides.old.join('\n'), language), new: highlightLines(sides.new.join('\n'), language) };
}

const SIGN: Record<Cell['origin'], string> = { '+': '+', '-': '−', ' ': ' ' };
const ROW_CLASS: Record<Cell['origin'], string> = { '+': 'd-add', '-': 'd-del', ' ': 'd-ctx' };
const SR_LABEL: Record<Cell['origin'], string> = { '+': 'added: ', '-': 'removed: ', ' ': '' };

function code(origin: Cell['origin'], content: string, hl: Segment[] | undefined): ReactNode {
  return (
    <>
      <span className="d-sign" aria-hidden="true">
        {SIGN[origin]}
      </span>
      {SR_LABEL[origin] && <span className="visually-hidden">{SR_LABEL[origin]}</span>}
      {content === '' && !hl ? ' ' : segments(hl, content)}
    </>
  );
}

/** One hunk's rows (the `<tbody>` of a diff table), at most `limit` of them. */
export const HunkRows = memo(function HunkRows({
  hunk,
  mode,
  language,
  ready,
  limit = Infinity,
}: {
  hunk: Hunk;
  mode: DiffMode;
  language: string | null;
  ready: boolean;
  limit?: number;
}) {
  const hl = useMemo(() => highlightHunk(hunk, language, ready), [hunk, language, ready]);
  const cols = mode === 'split' ? 4 : 3;
  const header = (
    <tr className="d-hunk">
      <td colSpan={cols}>{hunk.header || `@@ -${hunk.old_start},${hunk.old_lines} +${hunk.new_start},${hunk.new_lines} @@`}</td>
    </tr>
  );
  if (mode === 'unified') {
    const rows = unifiedRows(hunk).slice(0, limit);
    return (
      <tbody>
        {header}
        {rows.map((r, i) => {
          const line =
            r.origin === '-'
              ? hl.old?.[(r.oldNo ?? 0) - hunk.old_start]
              : hl.new?.[(r.newNo ?? 0) - hunk.new_start];
          return (
            <tr key={i} className={ROW_CLASS[r.origin]}>
              <td className="d-no">{r.oldNo ?? ''}</td>
              <td className="d-no">{r.newNo ?? ''}</td>
              <td className="d-code">{code(r.origin, r.content, line)}</td>
            </tr>
          );
        })}
      </tbody>
    );
  }
  const rows = splitRows(hunk).slice(0, limit);
  return (
    <tbody>
      {header}
      {rows.map((r, i) => (
        <tr key={i}>
          <td className={`d-no ${r.left ? ROW_CLASS[r.left.origin] : 'd-empty'}`}>{r.left?.no ?? ''}</td>
          <td className={`d-code ${r.left ? ROW_CLASS[r.left.origin] : 'd-empty'}`}>
            {r.left && code(r.left.origin, r.left.content, hl.old?.[r.left.no - hunk.old_start])}
          </td>
          <td className={`d-no ${r.right ? ROW_CLASS[r.right.origin] : 'd-empty'}`}>{r.right?.no ?? ''}</td>
          <td className={`d-code ${r.right ? ROW_CLASS[r.right.origin] : 'd-empty'}`}>
            {r.right && code(r.right.origin, r.right.content, hl.new?.[r.right.no - hunk.new_start])}
          </td>
        </tr>
      ))}
    </tbody>
  );
});

/** Rows a hunk shows in `mode` (to keep a file under its row budget). */
export function rowCount(hunk: Hunk, mode: DiffMode): number {
  return 1 + (mode === 'unified' ? hunk.lines.length : splitRows(hunk).length);
}

/** A diff table of `hunks`, cut after `maxRows` rows. */
export function DiffTable({
  hunks,
  mode,
  language,
  ready,
  maxRows = Infinity,
  caption,
}: {
  hunks: readonly Hunk[];
  mode: DiffMode;
  language: string | null;
  ready: boolean;
  maxRows?: number;
  caption: string;
}) {
  let budget = maxRows;
  const bodies: ReactNode[] = [];
  for (let i = 0; i < hunks.length && budget > 0; i++) {
    const hunk = hunks[i] as Hunk;
    bodies.push(<HunkRows key={i} hunk={hunk} mode={mode} language={language} ready={ready} limit={budget - 1} />);
    budget -= rowCount(hunk, mode);
  }
  return (
    <div className="d-scroll">
      <table className={`d-table d-${mode}`}>
        <caption className="visually-hidden">{caption}</caption>
        {mode === 'split' ? (
          <colgroup>
            <col className="d-col-no" />
            <col />
            <col className="d-col-no" />
            <col />
          </colgroup>
        ) : (
          <colgroup>
            <col className="d-col-no" />
            <col className="d-col-no" />
            <col />
          </colgroup>
        )}
        {bodies}
      </table>
    </div>
  );
}
