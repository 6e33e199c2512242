// The attempt's diff: a file tree beside the files, unified or split, highlighted, each
// file collapsible. Big files (and most files of a big diff) start collapsed, and a file
// shows at most MAX_ROWS rows until asked for all, so a huge diff stays usable.
import { memo, useCallback, useMemo, useState } from 'react';
import { DiffTable, type DiffMode } from './DiffRows';
import {
  buildFileTree,
  collapsedByDefault,
  type Diff,
  displayPath,
  type FileDiff,
  fileKey,
  fileMarkers,
  hiddenContentNote,
  languageOf,
  renderedLines,
  type TreeNode,
  treeOrder,
} from './diffModel';
import { count } from './format';
import { useLanguage } from './highlight';

/** Rows a file shows before "Show all". */
const MAX_ROWS = 1_500;
const MODE_KEY = 'switchyard.diffMode';

const CHANGE_LABEL: Record<FileDiff['change'], string> = {
  added: 'added',
  modified: 'modified',
  deleted: 'deleted',
  renamed: 'renamed',
};

function storedMode(): DiffMode {
  try {
    const v = localStorage.getItem(MODE_KEY);
    if (v === 'unified' || v === 'split') return v;
  } catch {
    // storage blocked: the default
  }
  return typeof window !== 'undefined' && window.matchMedia?.('(min-width: 64rem)').matches ? 'split' : 'unified';
}

const fileDomId = (index: number) => `diff-file-${index}`;

export function DiffView({ diff }: { diff: Diff }) {
  const [mode, setMode] = useState<DiffMode>(storedMode);
  // Only what the person toggled; everything else follows collapsedByDefault.
  const [toggled, setToggled] = useState<ReadonlyMap<string, boolean>>(() => new Map());
  const tree = useMemo(() => buildFileTree(diff.files), [diff.files]);
  const order = useMemo(() => treeOrder(tree), [tree]);

  const isCollapsed = useCallback(
    (file: FileDiff) => toggled.get(fileKey(file)) ?? collapsedByDefault(file, diff),
    [toggled, diff],
  );

  const setCollapsed = useCallback((key: string, value: boolean) => {
    setToggled((prev) => new Map(prev).set(key, value));
  }, []);

  const setAll = (value: boolean) => setToggled(new Map(diff.files.map((f) => [fileKey(f), value])));

  const chooseMode = (m: DiffMode) => {
    setMode(m);
    try {
      localStorage.setItem(MODE_KEY, m);
    } catch {
      // not remembered: fine
    }
  };

  const reveal = (index: number) => {
    const file = diff.files[index];
    if (!file) return;
    setCollapsed(fileKey(file), false);
    requestAnimationFrame(() => {
      const el = document.getElementById(fileDomId(index));
      el?.scrollIntoView({ block: 'start' });
      el?.querySelector<HTMLButtonElement>('.diff-file-toggle')?.focus({ preventScroll: true });
    });
  };

  if (diff.files.length === 0) {
    return (
      <div className="diff" data-testid="diff" data-version={diff.version}>
        <p className="muted">No changes yet.</p>
      </div>
    );
  }

  return (
    <div className="diff" data-testid="diff" data-version={diff.version}>
      <div className="diff-toolbar">
        <p className="diff-summary">
          {count(diff.summary.files_changed)} {diff.summary.files_changed === 1 ? 'file' : 'files'} changed,{' '}
          <span className="exit-ok">+{count(diff.summary.additions)}</span>{' '}
          <span className="exit-fail">−{count(diff.summary.deletions)}</span>
          <span className="visually-hidden">
            {' '}
            ({diff.summary.additions} lines added, {diff.summary.deletions} removed)
          </span>
        </p>
        <div className="segmented" role="group" aria-label="Diff layout">
          <button type="button" className="button" aria-pressed={mode === 'unified'} onClick={() => chooseMode('unified')}>
            Unified
          </button>
          <button type="button" className="button" aria-pressed={mode === 'split'} onClick={() => chooseMode('split')}>
            Split
          </button>
        </div>
        <button type="button" className="button button-quiet" onClick={() => setAll(false)}>
          Expand all
        </button>
        <button type="button" className="button button-quiet" onClick={() => setAll(true)}>
          Collapse all
        </button>
      </div>
      <div className="diff-layout">
        <nav className="diff-tree" aria-label="Changed files">
          <Tree nodes={tree} onPick={reveal} />
        </nav>
        <div className="diff-files">
          {order.map((index) => {
            const file = diff.files[index];
            return file ? (
              <FileSection
                key={fileKey(file)}
                index={index}
                file={file}
                mode={mode}
                collapsed={isCollapsed(file)}
                onCollapse={setCollapsed}
              />
            ) : null;
          })}
        </div>
      </div>
    </div>
  );
}

function Tree({ nodes, onPick }: { nodes: readonly TreeNode[]; onPick: (index: number) => void }) {
  return (
    <ul className="tree">
      {nodes.map((node) =>
        node.type === 'dir' ? (
          <li key={`d:${node.path}`} className="tree-dir">
            <span className="tree-dir-name" title={displayPath(node.path)}>
              {displayPath(node.name)}/
            </span>
            <Tree nodes={node.children} onPick={onPick} />
          </li>
        ) : (
          <li key={`f:${node.index}`}>
            <button
              type="button"
              className={`tree-file change-${node.change}`}
              onClick={() => onPick(node.index)}
              title={displayPath(node.path)}
            >
              <span className="tree-file-name">{displayPath(node.name)}</span>
              <span className="visually-hidden"> ({CHANGE_LABEL[node.change]})</span>
              <span className="tree-counts" aria-label={`${node.additions} added, ${node.deletions} removed`}>
                <span className="exit-ok">+{node.additions}</span> <span className="exit-fail">−{node.deletions}</span>
              </span>
            </button>
          </li>
        ),
      )}
    </ul>
  );
}

const FileSection = memo(function FileSection({
  index,
  file,
  mode,
  collapsed,
  onCollapse,
}: {
  index: number;
  file: FileDiff;
  mode: DiffMode;
  collapsed: boolean;
  onCollapse: (key: string, collapsed: boolean) => void;
}) {
  const [showAll, setShowAll] = useState(false);
  const language = languageOf(file.path);
  const ready = useLanguage(collapsed ? null : language);
  const lines = renderedLines(file);
  const bodyId = `${fileDomId(index)}-body`;
  const cut = !showAll && lines + file.hunks.length > MAX_ROWS;
  const shownPath = displayPath(file.path);
  const markers = fileMarkers(file);
  const note = hiddenContentNote(file);

  return (
    <section
      id={fileDomId(index)}
      className={`diff-file change-${file.change}`}
      data-testid="diff-file"
      data-path={file.path}
      aria-label={shownPath}
    >
      <h3 className="diff-file-head">
        <button
          type="button"
          className="diff-file-toggle"
          aria-expanded={!collapsed}
          aria-controls={bodyId}
          onClick={() => onCollapse(fileKey(file), !collapsed)}
        >
          <span className="entry-chevron" aria-hidden="true">
            {collapsed ? '▸' : '▾'}
          </span>
          <span className="diff-file-path mono">
            {file.old_path && file.old_path !== file.path ? `${displayPath(file.old_path)} → ${shownPath}` : shownPath}
          </span>
        </button>
        <span className={`pill change-pill change-${file.change}`}>{CHANGE_LABEL[file.change]}</span>
        {markers.map((m) => (
          <span key={m} className="muted" data-testid="diff-marker">
            {m}
          </span>
        ))}
        {file.binary ? null : (
          <span className="tree-counts">
            <span className="exit-ok">+{count(file.additions)}</span> <span className="exit-fail">−{count(file.deletions)}</span>
          </span>
        )}
      </h3>
      <div id={bodyId} hidden={collapsed}>
        {!collapsed &&
          (note ? (
            <p className="muted diff-note">{note}</p>
          ) : (
            <>
              {file.symlink && <p className="muted diff-note">A symbolic link: its lines are the path it points to.</p>}
              <DiffTable
                hunks={file.hunks}
                mode={mode}
                language={language}
                ready={ready}
                maxRows={cut ? MAX_ROWS : Infinity}
                caption={`Changes to ${shownPath}`}
              />
              {cut && (
                <p className="diff-note">
                  <button type="button" className="button" onClick={() => setShowAll(true)}>
                    Show all {count(lines)} lines
                  </button>
                </p>
              )}
            </>
          ))}
      </div>
    </section>
  );
});
