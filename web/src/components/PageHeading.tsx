import { type ReactNode, useEffect, useRef } from 'react';

/** A page's <h1>: sets the document title and takes focus when the page opens, so a
 *  screen reader announces the new page after client-side navigation. */
export function PageHeading({ children, title }: { children: ReactNode; title?: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  const text = title ?? (typeof children === 'string' ? children : undefined);
  useEffect(() => {
    if (text) document.title = `${text} · Switchyard`;
    ref.current?.focus({ preventScroll: true });
  }, [text]);
  return (
    <h1 ref={ref} tabIndex={-1} className="page-heading">
      {children}
    </h1>
  );
}
