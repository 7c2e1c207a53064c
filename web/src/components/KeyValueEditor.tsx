// Key/value rows (server labels, parameters). Each row's error comes from the
// API's `errors[]` by field name (`labels.env`), shown under that row.
import { useId } from "react";
import { newRow, type KvRow } from "../lib/serverForm";

export interface KeyValueEditorProps {
  /** Group title, e.g. "Labels"; also names each input for screen readers. */
  legend: string;
  rows: KvRow[];
  onChange: (rows: KvRow[]) => void;
  /** The API's message for one row, if any. */
  rowError?: (row: KvRow) => string | undefined;
  hint?: string;
  keyPlaceholder?: string;
  valuePlaceholder?: string;
  /** Suggested keys (a datalist). */
  suggestions?: string[];
  addLabel?: string;
  disabled?: boolean;
}

export function KeyValueEditor({
  legend,
  rows,
  onChange,
  rowError,
  hint,
  keyPlaceholder = "key",
  valuePlaceholder = "value",
  suggestions,
  addLabel = "Add row",
  disabled,
}: KeyValueEditorProps) {
  const uid = useId();
  const listId = suggestions ? `kv${uid}-keys` : undefined;
  const set = (id: number, patch: Partial<KvRow>) => onChange(rows.map((r) => (r.id === id ? { ...r, ...patch } : r)));
  return (
    <fieldset className="kv-editor" disabled={disabled}>
      <legend className="field-label">{legend}</legend>
      {hint ? <p className="field-hint">{hint}</p> : null}
      {suggestions ? (
        <datalist id={listId}>
          {suggestions.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
      ) : null}
      {rows.length === 0 ? <p className="muted small">None.</p> : null}
      <ul className="kv-rows">
        {rows.map((r, i) => {
          const error = rowError?.(r);
          const errId = `kv${uid}-${r.id}-error`;
          const name = `${legend} row ${i + 1}`;
          return (
            <li key={r.id} className={`kv-row${error ? " field-invalid" : ""}`}>
              <div className="kv-inputs">
                <input
                  className="input mono"
                  aria-label={`${name} key`}
                  placeholder={keyPlaceholder}
                  value={r.key}
                  list={listId}
                  autoComplete="off"
                  aria-invalid={error ? true : undefined}
                  aria-describedby={error ? errId : undefined}
                  onChange={(e) => set(r.id, { key: e.target.value })}
                />
                <span aria-hidden="true" className="kv-eq">
                  =
                </span>
                <input
                  className="input mono"
                  aria-label={`${name} value`}
                  placeholder={valuePlaceholder}
                  value={r.value}
                  autoComplete="off"
                  aria-invalid={error ? true : undefined}
                  aria-describedby={error ? errId : undefined}
                  onChange={(e) => set(r.id, { value: e.target.value })}
                />
                <button
                  type="button"
                  className="btn btn-ghost btn-icon"
                  aria-label={`Remove ${legend.toLowerCase()} row ${i + 1}${r.key ? ` (${r.key})` : ""}`}
                  onClick={() => onChange(rows.filter((x) => x.id !== r.id))}
                >
                  <span aria-hidden="true">×</span>
                </button>
              </div>
              {error ? (
                <p id={errId} className="field-error">
                  {error}
                </p>
              ) : null}
            </li>
          );
        })}
      </ul>
      <button type="button" className="btn btn-secondary btn-sm" onClick={() => onChange([...rows, newRow()])}>
        {addLabel}
      </button>
    </fieldset>
  );
}
