import { describe, expect, it } from 'vitest';
import { highlightLines, htmlToLines, isLoaded, loadLanguage, resolveLanguage } from './highlight';

describe('highlighting', () => {
  it('reads highlight.js HTML back into lines of text segments', () => {
    const lines = htmlToLines('<span class="hljs-comment">/* a\nb */</span> x &lt;y&gt; &amp;&quot;&#x27;');
    expect(lines).toEqual([
      [{ text: '/* a', className: 'hljs-comment' }],
      [{ text: 'b */', className: 'hljs-comment' }, { text: " x <y> &\"'" }],
    ]);
  });

  it('nests classes of nested spans', () => {
    expect(htmlToLines('<span class="a">1<span class="b">2</span></span>')).toEqual([
      [
        { text: '1', className: 'a' },
        { text: '2', className: 'a b' },
      ],
    ]);
  });

  it('maps fence names to the languages it loads', () => {
    expect(resolveLanguage('ts')).toBe('typescript');
    expect(resolveLanguage('Rust')).toBe('rust');
    expect(resolveLanguage('sh')).toBe('bash');
    expect(resolveLanguage('brainfuck')).toBeNull();
    expect(resolveLanguage(null)).toBeNull();
  });

  it('loads a language on demand and keeps markup in code as text', async () => {
    expect(highlightLines('let x = 1;', 'javascript')).toBeNull();
    expect(await loadLanguage('js')).toBe(true);
    expect(isLoaded('javascript')).toBe(true);
    const lines = highlightLines('const s = "<script>alert(1)</script>";\n// done', 'javascript');
    expect(lines).toHaveLength(2);
    expect(lines?.[0]?.map((s) => s.text).join('')).toBe('const s = "<script>alert(1)</script>";');
    expect(lines?.[0]?.some((s) => s.className?.includes('hljs-keyword'))).toBe(true);
    expect(lines?.[1]).toEqual([{ text: '// done', className: 'hljs-comment' }]);
  });

  it('an unknown language is not loaded', async () => {
    expect(await loadLanguage('cobol-2099')).toBe(false);
  });
});
