// A list of single values (domain aliases, allow/deny CIDRs). Each row shows
// the API's error for its index (`aliases[1]`), so the indexes of the rows
// match the indexes of the list the form sends.
import { useId } from "react";
import { listRow, type ListRow } from "../lib/domainForm";

export interface ListEditorProps {
  /** Group title, e.g. "Aliases"; also names each input for screen readers. */
  legend: string;
  rows: ListRow[];
  onChange: (rows: ListRow[]) => void;
  /** The API's message for the row at this index, if any. */
  rowError?: (index: number) => string | undefined;
  /** The API's message for the list as a whole. */
  error?: string;
  hint?: string;
  placeholder?: string;
  addLabel?: string;
  disabled?: boolean;
}

export function ListEditor({ legend, rows, onChange, rowError, error, hint, placeholder, addLabel = "Add", disabled }: ListEditorProps) {
  const uid = useId();
  const set = (id: number, value: string) => onChange(rows.map((r) => (r.id === id ? { ...r, value } : r)));
  return (
    <fieldset className={`kv-editor${error ? " field-invalid" : ""}`} disabled={disabled} aria-describedby={error ? `le${uid}-error` : undefined}>
      <legend className="field-label">{legend}</legend>
      {hint ? <p className="field-hint">{hint}</p> : null}
      {error ? (
        <p id={`le${uid}-error`} className="field-error">
          {error}
        </p>
      ) : null}
      {rows.length === 0 ? <p className="muted small">None.</p> : null}
      <ul className="kv-rows">
        {rows.map((r, i) => {
          const err = rowError?.(i);
          const errId = `le${uid}-${r.id}-error`;
          return (
            <li key={r.id} className={`kv-row${err ? " field-invalid" : ""}`}>
              <div className="list-inputs">
                <input
                  className="input mono"
                  aria-label={`${legend} ${i + 1}`}
                  placeholder={placeholder}
                  value={r.value}
                  autoComplete="off"
                  spellCheck={false}
                  aria-invalid={err ? true : undefined}
                  aria-describedby={err ? errId : undefined}
                  onChange={(e) => set(r.id, e.target.value)}
                />
                <button
                  type="button"
                  className="btn btn-ghost btn-icon"
                  aria-label={`Remove ${legend.toLowerCase()} ${i + 1}${r.value ? ` (${r.value})` : ""}`}
                  onClick={() => onChange(rows.filter((x) => x.id !== r.id))}
                >
                  <span aria-hidden="true">×</span>
                </button>
              </div>
              {err ? (
                <p id={errId} className="field-error">
                  {err}
                </p>
              ) : null}
            </li>
          );
        })}
      </ul>
      <button type="button" className="btn btn-secondary btn-sm" onClick={() => onChange([...rows, listRow()])}>
        {addLabel}
      </button>
    </fieldset>
  );
}
