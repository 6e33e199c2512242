import { memo, type ReactNode, useMemo } from 'react';
import { highlightLines, type Segment, useLanguage } from './highlight';

/** One line of highlighted segments as React nodes. */
export function segments(line: readonly Segment[] | undefined, fallback: string): ReactNode {
  if (!line) return fallback;
  return line.map((s, i) =>
    s.className ? (
      <span key={i} className={s.className}>
        {s.text}
      </span>
    ) : (
      s.text
    ),
  );
}

/** A fenced code block, highlighted once its language has loaded (plain until then). */
export const CodeBlock = memo(function CodeBlock({ code, language }: { code: string; language: string | null }) {
  const ready = useLanguage(language);
  const lines = useMemo(() => (ready ? highlightLines(code, language) : null), [ready, code, language]);
  return (
    <pre className="code-block" data-language={language ?? undefined}>
      <code>
        {lines
          ? lines.map((line, i) => (
              <span key={i}>
                {segments(line, '')}
                {i < lines.length - 1 ? '\n' : null}
              </span>
            ))
          : code}
      </code>
    </pre>
  );
});
