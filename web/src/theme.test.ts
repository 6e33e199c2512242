import { afterEach, describe, expect, it } from 'vitest';
import { applyTheme, nextTheme, storedTheme } from './theme';

describe('theme', () => {
  afterEach(() => applyTheme('system'));

  it('cycles system, light, dark', () => {
    expect(nextTheme('system')).toBe('light');
    expect(nextTheme('light')).toBe('dark');
    expect(nextTheme('dark')).toBe('system');
  });

  it('marks the document and remembers an explicit choice only', () => {
    applyTheme('dark');
    expect(document.documentElement.dataset.theme).toBe('dark');
    expect(storedTheme()).toBe('dark');
    applyTheme('system');
    expect(document.documentElement.dataset.theme).toBeUndefined();
    expect(storedTheme()).toBe('system');
  });
});
