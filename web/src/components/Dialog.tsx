// Modal dialog and side drawer: role="dialog", aria-modal, labelled by its
// title; focus moves inside on open, Tab is trapped, Escape closes, and focus
// returns to the element that opened it.
import { useEffect, useId, useRef, type ReactNode } from "react";
import { createPortal } from "react-dom";

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export function focusableIn(root: HTMLElement): HTMLElement[] {
  return Array.from(root.querySelectorAll<HTMLElement>(FOCUSABLE)).filter(
    (el) => !el.hasAttribute("disabled") && el.getAttribute("aria-hidden") !== "true",
  );
}

export interface DialogProps {
  open: boolean;
  title: ReactNode;
  onClose: () => void;
  children: ReactNode;
  /** Buttons, rendered in the footer. */
  footer?: ReactNode;
  /** `alertdialog` for confirmations and conflicts. */
  role?: "dialog" | "alertdialog";
  /** "drawer" slides in from the right; "dialog" is centered. */
  variant?: "dialog" | "drawer";
  size?: "sm" | "md" | "lg";
  /** CSS selector of the element to focus first (default: first field, else first button). */
  initialFocus?: string;
  /** While true, Escape and the backdrop do not close (e.g. during a request). */
  busy?: boolean;
  className?: string;
}

export function Dialog({
  open,
  title,
  onClose,
  children,
  footer,
  role = "dialog",
  variant = "dialog",
  size = "md",
  initialFocus,
  busy = false,
  className,
}: DialogProps) {
  const panelRef = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const bodyId = useId();
  const closeRef = useRef(onClose);
  const busyRef = useRef(busy);
  useEffect(() => {
    closeRef.current = onClose;
    busyRef.current = busy;
  });

  useEffect(() => {
    if (!open) return;
    const opener = document.activeElement as HTMLElement | null;
    const panel = panelRef.current;
    if (panel) {
      const first =
        (initialFocus ? panel.querySelector<HTMLElement>(initialFocus) : null) ??
        panel.querySelector<HTMLElement>("input:not([disabled]), select:not([disabled]), textarea:not([disabled])") ??
        focusableIn(panel).find((el) => !el.classList.contains("dialog-close")) ??
        panel;
      first.focus();
    }
    return () => {
      // Return focus to whatever opened the dialog, if it is still there.
      if (opener && document.contains(opener)) opener.focus();
    };
    // initialFocus is read once on open on purpose.
  }, [open]);

  if (!open) return null;

  function onKeyDown(e: React.KeyboardEvent<HTMLDivElement>) {
    if (e.key === "Escape") {
      e.stopPropagation();
      if (!busyRef.current) closeRef.current();
      return;
    }
    if (e.key !== "Tab" || !panelRef.current) return;
    const items = focusableIn(panelRef.current);
    if (items.length === 0) {
      e.preventDefault();
      return;
    }
    const first = items[0];
    const last = items[items.length - 1];
    const active = document.activeElement;
    if (e.shiftKey && (active === first || active === panelRef.current)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && active === last) {
      e.preventDefault();
      first.focus();
    }
  }

  return createPortal(
    <div
      className={`overlay overlay-${variant}`}
      onMouseDown={(e) => {
        if (e.target === e.currentTarget && !busyRef.current) closeRef.current();
      }}
    >
      <div
        ref={panelRef}
        role={role}
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={bodyId}
        tabIndex={-1}
        className={`dialog dialog-${variant} dialog-${size}${className ? ` ${className}` : ""}`}
        onKeyDown={onKeyDown}
      >
        <header className="dialog-header">
          <h2 id={titleId} className="dialog-title">
            {title}
          </h2>
          <button
            type="button"
            className="btn btn-ghost btn-icon dialog-close"
            aria-label="Close dialog"
            onClick={() => !busyRef.current && closeRef.current()}
          >
            <span aria-hidden="true">×</span>
          </button>
        </header>
        <div id={bodyId} className="dialog-body">
          {children}
        </div>
        {footer ? <footer className="dialog-footer">{footer}</footer> : null}
      </div>
    </div>,
    document.body,
  );
}
