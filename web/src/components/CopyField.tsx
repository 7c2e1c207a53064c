// A read-only value with a Copy button (public keys, commands). Falls back to
// selecting the text when the Clipboard API is unavailable (plain http).
import { useId, useRef, useState } from "react";

export function CopyField({ label, value, multiline = false, testId }: { label: string; value: string; multiline?: boolean; testId?: string }) {
  const id = useId();
  const ref = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  const [copied, setCopied] = useState(false);

  async function copy() {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
      setTimeout(() => setCopied(false), 3000);
    } catch {
      ref.current?.select();
      setCopied(false);
    }
  }

  return (
    <div className="field copy-field">
      <label htmlFor={id} className="field-label">
        {label}
      </label>
      <div className="copy-row">
        {multiline ? (
          <textarea id={id} ref={ref} className="input mono copy-text" readOnly rows={3} value={value} onFocus={(e) => e.currentTarget.select()} data-testid={testId} />
        ) : (
          <input id={id} ref={ref} className="input mono" readOnly value={value} onFocus={(e) => e.currentTarget.select()} data-testid={testId} />
        )}
        <button type="button" className="btn btn-secondary" onClick={copy} aria-label={`Copy ${label.toLowerCase()}`}>
          {copied ? "Copied ✓" : "Copy"}
        </button>
      </div>
      <span className="sr-only" aria-live="polite">
        {copied ? `${label} copied to the clipboard.` : ""}
      </span>
    </div>
  );
}
