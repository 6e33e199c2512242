// Renders the tree from markdown.ts as React elements: every text goes through React's
// escaping, so an agent's `<script>` or `<img onerror>` is shown, never run.
import { memo, type ReactNode, useMemo } from 'react';
import { CodeBlock } from './CodeBlock';
import { type Block, type Inline, parseMarkdown } from './markdown';

function inlines(nodes: readonly Inline[]): ReactNode[] {
  return nodes.map((node, i) => {
    switch (node.type) {
      case 'text':
        return node.text;
      case 'code':
        return <code key={i}>{node.text}</code>;
      case 'strong':
        return <strong key={i}>{inlines(node.children)}</strong>;
      case 'em':
        return <em key={i}>{inlines(node.children)}</em>;
      case 'del':
        return <del key={i}>{inlines(node.children)}</del>;
      case 'break':
        return <br key={i} />;
      case 'link':
        return node.href ? (
          <a key={i} href={node.href} target="_blank" rel="noopener noreferrer nofollow">
            {inlines(node.children)}
          </a>
        ) : (
          <span key={i} className="md-dead-link" title="Link not followed: unsafe address">
            {inlines(node.children)}
          </span>
        );
    }
  });
}

function blocks(nodes: readonly Block[], headingOffset: number): ReactNode[] {
  return nodes.map((node, i) => {
    switch (node.type) {
      case 'heading': {
        const level = Math.min(6, node.level + headingOffset);
        const Tag = `h${level}` as 'h1';
        return <Tag key={i}>{inlines(node.children)}</Tag>;
      }
      case 'paragraph':
        return <p key={i}>{inlines(node.children)}</p>;
      case 'code':
        return <CodeBlock key={i} code={node.text} language={node.lang} />;
      case 'rule':
        return <hr key={i} />;
      case 'quote':
        return <blockquote key={i}>{blocks(node.children, headingOffset)}</blockquote>;
      case 'list': {
        const items = node.items.map((item, j) => (
          <li key={j} className={item.checked === null ? undefined : 'md-task'}>
            {item.checked !== null && (
              <input type="checkbox" checked={item.checked} disabled aria-label={item.checked ? 'Done' : 'Not done'} />
            )}
            {blocks(item.children, headingOffset)}
          </li>
        ));
        return node.ordered ? (
          <ol key={i} start={node.start === 1 ? undefined : node.start}>
            {items}
          </ol>
        ) : (
          <ul key={i}>{items}</ul>
        );
      }
      case 'table':
        return (
          <div key={i} className="md-table">
            <table>
              <thead>
                <tr>
                  {node.head.map((cell, c) => (
                    <th key={c} style={node.align[c] ? { textAlign: node.align[c] ?? undefined } : undefined}>
                      {inlines(cell)}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {node.rows.map((row, r) => (
                  <tr key={r}>
                    {row.map((cell, c) => (
                      <td key={c} style={node.align[c] ? { textAlign: node.align[c] ?? undefined } : undefined}>
                        {inlines(cell)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        );
    }
  });
}

/** Markdown text, rendered safely. `headingOffset` pushes headings down a level or more
 *  so an agent's `# Title` does not compete with the page's own <h1>. */
export const Markdown = memo(function Markdown({
  text,
  headingOffset = 2,
  className,
}: {
  text: string;
  headingOffset?: number;
  className?: string;
}) {
  const tree = useMemo(() => parseMarkdown(text), [text]);
  return <div className={className ? `markdown ${className}` : 'markdown'}>{blocks(tree, headingOffset)}</div>;
});
