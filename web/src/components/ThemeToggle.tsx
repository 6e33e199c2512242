import { useState } from 'react';
import { applyTheme, nextTheme, storedTheme, type ThemeChoice } from '../theme';

const NAMES: Record<ThemeChoice, string> = { system: 'System', light: 'Light', dark: 'Dark' };

/** Cycles the colour theme: system → light → dark. */
export function ThemeToggle() {
  const [choice, setChoice] = useState<ThemeChoice>(storedTheme);
  return (
    <button
      type="button"
      className="button button-quiet"
      onClick={() => {
        const next = nextTheme(choice);
        applyTheme(next);
        setChoice(next);
      }}
      aria-label={`Theme: ${NAMES[choice]}. Change theme`}
      title="Change theme"
    >
      <span aria-hidden="true">{choice === 'dark' ? '☾' : choice === 'light' ? '☀' : '◐'}</span>
      <span className="hide-narrow"> {NAMES[choice]}</span>
    </button>
  );
}
