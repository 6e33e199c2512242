import { render } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { Markdown } from './Markdown';
import { type Block, inlineText, parseInline, parseMarkdown, safeHref } from './markdown';

describe('markdown reading', () => {
  it('reads headings, paragraphs, code fences, lists, quotes, rules and tables', () => {
    const blocks = parseMarkdown(
      [
        '# Title',
        '',
        'Some *em* and **strong** and `code` and ~~gone~~.',
        '',
        '```rust',
        'fn main() {}',
        '```',
        '',
        '- one',
        '- [x] two',
        '  - nested',
        '',
        '1. first',
        '2. second',
        '',
        '> quoted',
        '',
        '---',
        '',
        '| a | b |',
        '|:--|--:|',
        '| 1 | 2 |',
      ].join('\n'),
    );
    expect(blocks.map((b) => b.type)).toEqual(['heading', 'paragraph', 'code', 'list', 'list', 'quote', 'rule', 'table']);
    expect(blocks[2]).toEqual({ type: 'code', lang: 'rust', text: 'fn main() {}' });
    const list = blocks[3] as Extract<Block, { type: 'list' }>;
    expect(list.items[1]?.checked).toBe(true);
    expect(list.items[1]?.children.map((b) => b.type)).toEqual(['paragraph', 'list']);
    const ordered = blocks[4] as Extract<Block, { type: 'list' }>;
    expect(ordered.ordered).toBe(true);
    const table = blocks[7] as Extract<Block, { type: 'table' }>;
    expect(table.align).toEqual(['left', 'right']);
    expect(table.rows).toHaveLength(1);
  });

  it('reads inline emphasis, code and links', () => {
    const nodes = parseInline('a **b _c_** `d*e*` [f](https://x.test/a_b) g');
    expect(nodes.map((n) => n.type)).toEqual(['text', 'strong', 'text', 'code', 'text', 'link', 'text']);
    expect(inlineText(nodes)).toBe('a b c d*e* f g');
  });

  it('leaves snake_case words alone', () => {
    expect(inlineText(parseInline('call my_long_name here'))).toBe('call my_long_name here');
    expect(parseInline('call my_long_name here')).toHaveLength(1);
  });

  it('an unclosed fence runs to the end', () => {
    expect(parseMarkdown('```\ncode\nmore')).toEqual([{ type: 'code', lang: null, text: 'code\nmore' }]);
  });

  it('follows only safe link targets', () => {
    expect(safeHref('https://example.test/x')).toBe('https://example.test/x');
    expect(safeHref('mailto:a@b.test')).toBe('mailto:a@b.test');
    expect(safeHref('/orgs/acme')).toBe('/orgs/acme');
    expect(safeHref('javascript:alert(1)')).toBeNull();
    expect(safeHref('JaVaScRiPt:alert(1)')).toBeNull();
    expect(safeHref('java\tscript:alert(1)')).toBeNull();
    expect(safeHref(' data:text/html,<b>x</b>')).toBeNull();
    expect(safeHref('vbscript:x')).toBeNull();
    expect(safeHref('//evil.test')).toBeNull();
  });

  it('survives deep nesting without blowing the stack', () => {
    const deep = '> '.repeat(5_000) + 'x';
    expect(() => parseMarkdown(deep)).not.toThrow();
    const brackets = '['.repeat(5_000) + 'x' + '](y)'.repeat(5_000);
    expect(() => parseInline(brackets)).not.toThrow();
  });
});

describe('markdown rendering escapes HTML', () => {
  it('shows a <script> as text and runs nothing', () => {
    const text = 'Hello <script>window.__pwned = true</script> there';
    const { container } = render(<Markdown text={text} />);
    expect(container.querySelector('script')).toBeNull();
    expect(container.textContent).toContain('<script>window.__pwned = true</script>');
    expect((window as { __pwned?: boolean }).__pwned).toBeUndefined();
  });

  it('shows an <img onerror> as text, with no element and no handler', () => {
    const text = '<img src=x onerror="window.__pwned=1">\n\n**bold <img src=y onerror=alert(1)>**';
    const { container } = render(<Markdown text={text} />);
    expect(container.querySelector('img')).toBeNull();
    expect(container.querySelector('[onerror]')).toBeNull();
    expect(container.textContent).toContain('<img src=x onerror="window.__pwned=1">');
    expect(container.querySelector('strong')?.textContent).toBe('bold <img src=y onerror=alert(1)>');
  });

  it('HTML inside code blocks and code spans stays text too', () => {
    const { container } = render(<Markdown text={'`<b>x</b>`\n\n```html\n<iframe src="https://evil.test"></iframe>\n```'} />);
    expect(container.querySelector('b')).toBeNull();
    expect(container.querySelector('iframe')).toBeNull();
    expect(container.querySelector('pre')?.textContent).toBe('<iframe src="https://evil.test"></iframe>');
  });

  it('does not link javascript: targets, and images are links that load nothing', () => {
    const { container } = render(<Markdown text={'[click](javascript:alert(1)) ![pixel](https://tracker.test/p.gif)'} />);
    const links = [...container.querySelectorAll('a')];
    expect(links.map((a) => a.getAttribute('href'))).toEqual(['https://tracker.test/p.gif']);
    expect(container.querySelector('img')).toBeNull();
    expect(container.textContent).toContain('click');
    expect(links[0]?.getAttribute('rel')).toContain('noopener');
  });

  it('pushes an agent heading below the page heading', () => {
    const { container } = render(<Markdown text="# Plan" />);
    expect(container.querySelector('h1')).toBeNull();
    expect(container.querySelector('h3')?.textContent).toBe('Plan');
  });
});
