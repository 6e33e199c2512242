// Building blocks the settings sections share: labelled fields with their help and error
// tied to the control, a native modal <dialog> for confirmations, a copy button, the
// shown-once secret panel, and loaders for a resource or a paged list.
import {
  type ReactNode,
  useCallback,
  useEffect,
  useId,
  useRef,
  useState,
} from 'react';
import type { Me } from '../api/types';
import { describedError } from './errors';
import type { Role } from './permissions';
import { ErrorNotice } from '../components/ErrorNotice';

/** What every section gets from the settings page. */
export interface SectionProps {
  /** The org's slug, from the URL. */
  org: string;
  /** The signed-in person's role in it. */
  role: Role;
  me: Me;
}

// ---- Fields --------------------------------------------------------------------------

export interface ControlProps {
  id: string;
  'aria-describedby'?: string;
  'aria-invalid'?: boolean;
}

/** A label, its control (rendered by `children` with the props that tie it to its help
 *  and error), a help line and an error line announced when it appears. */
export function Field({
  label,
  help,
  error,
  children,
}: {
  label: ReactNode;
  help?: ReactNode;
  error?: string | null;
  children: (props: ControlProps) => ReactNode;
}) {
  const id = useId();
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  const describedBy = [error ? errorId : null, help ? helpId : null].filter(Boolean).join(' ') || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-describedby': describedBy, 'aria-invalid': error ? true : undefined })}
      {help && (
        <p id={helpId} className="field-help muted">
          {help}
        </p>
      )}
      {error && (
        <p id={errorId} className="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** An error line for a group (a fieldset) or a whole form, with an id to point at. */
export function FormError({ id, error }: { id?: string; error?: string | null }) {
  if (!error) return null;
  return (
    <p id={id} className="field-error" role="alert">
      {error}
    </p>
  );
}

/** An API error in words (`describeError`), with an optional retry. */
export function SettingsError({
  error,
  overrides,
  onRetry,
}: {
  error: unknown;
  overrides?: Record<string, string>;
  onRetry?: () => void;
}) {
  if (!error) return null;
  return <ErrorNotice error={describedError(error, overrides)} onRetry={onRetry} />;
}

/** Why the person's role cannot use a section or control. */
export function RoleNotice({ children }: { children: ReactNode }) {
  if (!children) return null;
  return <p className="notice notice-info">{children}</p>;
}

/** A polite one-line announcement ("Saved.") that clears itself. */
export function useFlash(ms = 4000): [string, (text: string) => void] {
  const [text, setText] = useState('');
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const flash = useCallback(
    (next: string) => {
      clearTimeout(timer.current);
      setText(next);
      timer.current = setTimeout(() => setText(''), ms);
    },
    [ms],
  );
  return [text, flash];
}

export function Flash({ text }: { text: string }) {
  return (
    <p className="flash" role="status" aria-live="polite">
      {text}
    </p>
  );
}

// ---- Time ----------------------------------------------------------------------------

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });

/** A time as people read it, machine-readable in `dateTime`, or `empty` when absent. */
export function Time({ iso, empty = '—' }: { iso?: string | null; empty?: string }) {
  if (!iso) return <>{empty}</>;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return <>{iso}</>;
  return (
    <time dateTime={iso} title={FULL.format(date)}>
      {DATE_TIME.format(date)}
    </time>
  );
}

// ---- Confirmation --------------------------------------------------------------------

/** A modal confirmation on the native <dialog>: the browser traps focus inside it and
 *  closes it on Escape; focus starts on Cancel and goes back where it was afterwards. */
export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  danger = true,
  busy = false,
  error,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  error?: unknown;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const returnTo = useRef<HTMLElement | null>(null);
  const id = useId();

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      returnTo.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
      if (typeof dialog.showModal === 'function') dialog.showModal();
      else dialog.setAttribute('open', '');
      cancelRef.current?.focus();
    } else if (!open && dialog.open) {
      if (typeof dialog.close === 'function') dialog.close();
      else dialog.removeAttribute('open');
      returnTo.current?.focus();
    }
  }, [open]);

  return (
    <dialog
      ref={ref}
      className="confirm-dialog"
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-body`}
      onCancel={(e) => {
        // Escape: close through the parent's state, so both agree.
        e.preventDefault();
        if (!busy) onCancel();
      }}
      onClose={() => {
        // Closed by the browser itself (a repeated Escape is not cancellable): catch up.
        if (open) onCancel();
      }}
    >
      {open && (
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            onConfirm();
          }}
        >
          <h2 id={`${id}-title`}>{title}</h2>
          <div id={`${id}-body`}>{children}</div>
          <SettingsError error={error} />
          <div className="dialog-actions">
            <button ref={cancelRef} type="button" className="button" onClick={onCancel} disabled={busy}>
              Cancel
            </button>
            <button type="submit" className={`button ${danger ? 'button-danger' : 'button-primary'}`} disabled={busy}>
              {busy ? 'Working…' : confirmLabel}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}

// ---- Copying and secrets shown once -------------------------------------------------

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-http deployments have no async clipboard: copy through a selection.
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand?.('copy');
  area.remove();
  if (!ok) throw new Error('copy refused');
}

/** Copies `text`, and says so (or that it could not) to everyone, screen readers too. */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  return (
    <span className="copy">
      <button
        type="button"
        className="button"
        onClick={() => {
          copyText(text).then(
            () => setState('copied'),
            () => setState('failed'),
          );
        }}
      >
        {label}
      </button>
      <span role="status" aria-live="polite" className="copy-status">
        {state === 'copied' ? 'Copied.' : state === 'failed' ? 'Could not copy: select the text and copy it yourself.' : ''}
      </span>
    </span>
  );
}

/** A secret the server shows once (a token, an invitation link): the value, a copy
 *  button, the warning, and a way to put it away. Takes focus so it is announced. */
export function ShownOnce({
  title,
  value,
  testId,
  children,
  onDone,
}: {
  title: string;
  value: string;
  testId: string;
  children?: ReactNode;
  onDone: () => void;
}) {
  const ref = useRef<HTMLElement>(null);
  const id = useId();
  useEffect(() => {
    ref.current?.focus();
  }, [value]);
  return (
    <section ref={ref} tabIndex={-1} className="card shown-once" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>{title}</h3>
      <p>
        <strong>Copy it now: you won’t see this again.</strong>
      </p>
      <div className="secret-row">
        <code className="secret-value" data-testid={testId} id={`${id}-value`}>
          {value}
        </code>
        <CopyButton text={value} />
      </div>
      {children}
      <button type="button" className="button" onClick={onDone}>
        Done
      </button>
    </section>
  );
}

// ---- Loading -------------------------------------------------------------------------

/** Loads one resource on mount and whenever `load` changes (memoize it). */
export function useResource<T>(load: (signal: AbortSignal) => Promise<T>) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [nonce, setNonce] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setError(null);
    load(controller.signal).then(
      (value) => {
        if (controller.signal.aborted) return;
        setData(value);
        setLoading(false);
      },
      (e: unknown) => {
        if (controller.signal.aborted) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [load, nonce]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { data, setData, error, loading, reload };
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/** A paged list: the first page on mount, `loadMore` for the next, `reload` to start
 *  over. `setItems` applies local changes (a created or revoked row). */
export function usePagedList<T>(loadPage: (cursor: string | undefined, signal: AbortSignal) => Promise<Page<T>>) {
  const [items, setItems] = useState<T[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [nonce, setNonce] = useState(0);
  const controller = useRef<AbortController | null>(null);

  useEffect(() => {
    const c = new AbortController();
    controller.current?.abort();
    controller.current = c;
    setItems(null);
    setError(null);
    loadPage(undefined, c.signal).then(
      (page) => {
        if (c.signal.aborted) return;
        setItems(page.items);
        setCursor(page.next_cursor ?? null);
      },
      (e: unknown) => {
        if (!c.signal.aborted) setError(e);
      },
    );
    return () => c.abort();
  }, [loadPage, nonce]);

  const loadMore = useCallback(() => {
    if (!cursor) return;
    const c = controller.current ?? new AbortController();
    setLoadingMore(true);
    setError(null);
    loadPage(cursor, c.signal)
      .then(
        (page) => {
          if (c.signal.aborted) return;
          setItems((prev) => [...(prev ?? []), ...page.items]);
          setCursor(page.next_cursor ?? null);
        },
        (e: unknown) => {
          if (!c.signal.aborted) setError(e);
        },
      )
      .finally(() => setLoadingMore(false));
  }, [cursor, loadPage]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { items, setItems, cursor, error, loadMore, loadingMore, reload };
}

/** A random idempotency key. `crypto.randomUUID` exists only in secure contexts (https
 *  or localhost); a self-hosted server reached over plain http on a LAN address has only
 *  `crypto.getRandomValues`. */
export function idempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
