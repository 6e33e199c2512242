// Syntax highlighting for code blocks and diffs: highlight.js core and a handful of
// languages, each fetched on first use (its own small chunk), never the whole bundle.
// highlight.js answers HTML; it is read back here into plain segments (text + class),
// so nothing is ever injected as HTML: React renders the text.
import { useEffect, useState } from 'react';
import type { HLJSApi, LanguageFn } from 'highlight.js';

type Loader = () => Promise<{ default: LanguageFn }>;

const LANGUAGES: Record<string, Loader> = {
  typescript: () => import('highlight.js/lib/languages/typescript'),
  javascript: () => import('highlight.js/lib/languages/javascript'),
  rust: () => import('highlight.js/lib/languages/rust'),
  python: () => import('highlight.js/lib/languages/python'),
  go: () => import('highlight.js/lib/languages/go'),
  bash: () => import('highlight.js/lib/languages/bash'),
  json: () => import('highlight.js/lib/languages/json'),
  yaml: () => import('highlight.js/lib/languages/yaml'),
  ini: () => import('highlight.js/lib/languages/ini'),
  css: () => import('highlight.js/lib/languages/css'),
  xml: () => import('highlight.js/lib/languages/xml'),
  markdown: () => import('highlight.js/lib/languages/markdown'),
  sql: () => import('highlight.js/lib/languages/sql'),
  diff: () => import('highlight.js/lib/languages/diff'),
  java: () => import('highlight.js/lib/languages/java'),
  c: () => import('highlight.js/lib/languages/c'),
  cpp: () => import('highlight.js/lib/languages/cpp'),
  dockerfile: () => import('highlight.js/lib/languages/dockerfile'),
  makefile: () => import('highlight.js/lib/languages/makefile'),
};

/** Names a code fence may use for a language, mapped to the loader's name. */
const ALIASES: Record<string, string> = {
  ts: 'typescript',
  tsx: 'typescript',
  js: 'javascript',
  jsx: 'javascript',
  rs: 'rust',
  py: 'python',
  golang: 'go',
  sh: 'bash',
  shell: 'bash',
  zsh: 'bash',
  console: 'bash',
  yml: 'yaml',
  toml: 'ini',
  html: 'xml',
  svg: 'xml',
  md: 'markdown',
  patch: 'diff',
  'c++': 'cpp',
  h: 'c',
  docker: 'dockerfile',
  make: 'makefile',
};

/** The loader name for a language name or alias, or null when it is not one we load. */
export function resolveLanguage(name: string | null | undefined): string | null {
  if (!name) return null;
  const lower = name.toLowerCase();
  const key = ALIASES[lower] ?? lower;
  return key in LANGUAGES ? key : null;
}

let hljs: HLJSApi | null = null;
const loaded = new Set<string>();
const loading = new Map<string, Promise<boolean>>();

/** Fetches highlight.js and `language` once; resolves false for an unknown language or a
 *  failed fetch (the code is then shown plain). */
export function loadLanguage(language: string): Promise<boolean> {
  const key = resolveLanguage(language);
  if (!key) return Promise.resolve(false);
  if (loaded.has(key)) return Promise.resolve(true);
  let p = loading.get(key);
  if (!p) {
    const loader = LANGUAGES[key];
    p = Promise.all([hljs ? Promise.resolve(null) : import('highlight.js/lib/core'), loader ? loader() : null])
      .then(([core, lang]) => {
        if (core) hljs ??= core.default;
        if (!hljs || !lang) return false;
        hljs.registerLanguage(key, lang.default);
        loaded.add(key);
        return true;
      })
      .catch(() => {
        loading.delete(key);
        return false;
      });
    loading.set(key, p);
  }
  return p;
}

/** Whether `language` can be highlighted right now (without waiting). */
export function isLoaded(language: string | null | undefined): boolean {
  const key = resolveLanguage(language);
  return !!key && loaded.has(key);
}

/** Loads `language` and re-renders once it is there; returns whether it is loaded. */
export function useLanguage(language: string | null | undefined): boolean {
  const [ready, setReady] = useState(() => isLoaded(language));
  useEffect(() => {
    if (!language || isLoaded(language)) {
      setReady(isLoaded(language));
      return;
    }
    let live = true;
    void loadLanguage(language).then((ok) => {
      if (live) setReady(ok);
    });
    return () => {
      live = false;
    };
  }, [language]);
  return ready;
}

/** A run of text and the highlight.js classes it is in (`hljs-keyword`, ...). */
export interface Segment {
  text: string;
  className?: string;
}

/** Longer code is shown plain: highlighting it would stall the page. */
export const MAX_HIGHLIGHT_CHARS = 200_000;

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#x27': "'", '#39': "'", apos: "'" };

function decode(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#x27|#39|apos);/g, (_, e: string) => ENTITIES[e] ?? '');
}

/** Reads highlight.js's HTML (only `<span class="…">`, `</span>` and escaped text) back
 *  into lines of segments. Spans that cross a line break are closed and reopened, so
 *  each line stands alone (diff rows are rendered one line at a time). */
export function htmlToLines(html: string): Segment[][] {
  const lines: Segment[][] = [[]];
  const stack: string[] = [];
  const token = /<span class="([^"]*)">|<\/span>|([^<]+)|</g;
  for (let m = token.exec(html); m; m = token.exec(html)) {
    if (m[1] !== undefined) {
      stack.push(m[1]);
    } else if (m[0] === '</span>') {
      stack.pop();
    } else {
      const text = decode(m[2] ?? m[0]);
      const className = stack.length ? stack.join(' ') : undefined;
      const parts = text.split('\n');
      parts.forEach((part, i) => {
        if (i > 0) lines.push([]);
        if (part) lines[lines.length - 1]?.push(className ? { text: part, className } : { text: part });
      });
    }
  }
  return lines;
}

/** `code` highlighted as `language`, line by line; null when the language is not loaded
 *  (call `loadLanguage` first) or the code is too long. */
export function highlightLines(code: string, language: string | null | undefined): Segment[][] | null {
  const key = resolveLanguage(language);
  if (!hljs || !key || !loaded.has(key) || code.length > MAX_HIGHLIGHT_CHARS) return null;
  try {
    return htmlToLines(hljs.highlight(code, { language: key, ignoreIllegals: true }).value);
  } catch {
    return null;
  }
}
