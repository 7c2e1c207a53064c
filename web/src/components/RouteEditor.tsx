// Path routes of a domain: each row is a path prefix and the target that
// serves it. Each input shows the API's error for its field (`routes[0].path`).
import { useId } from "react";
import { routeRow, type RouteRow } from "../lib/domainForm";

export interface RouteEditorProps {
  rows: RouteRow[];
  onChange: (rows: RouteRow[]) => void;
  /** The API's message for a field of the route at `index` (`sub` = "path", …, or undefined for the route itself). */
  fieldError: (index: number, sub?: string) => string | undefined;
  disabled?: boolean;
}

const SUBS = [
  { key: "path", label: "Path", placeholder: "/api" },
  { key: "target_ip", label: "Target IP", placeholder: "10.0.0.7" },
  { key: "target_port", label: "Port", placeholder: "8080" },
] as const;

export function RouteEditor({ rows, onChange, fieldError, disabled }: RouteEditorProps) {
  const uid = useId();
  const set = (id: number, patch: Partial<RouteRow>) => onChange(rows.map((r) => (r.id === id ? { ...r, ...patch } : r)));
  return (
    <fieldset className="kv-editor" disabled={disabled}>
      <legend className="field-label">Path routes</legend>
      <p className="field-hint">Requests whose path starts with a prefix go to its target (longest prefix first); everything else goes to the domain's target.</p>
      {rows.length === 0 ? <p className="muted small">None: the domain's target serves every path.</p> : null}
      <ul className="kv-rows">
        {rows.map((r, i) => {
          const own = fieldError(i);
          const errs = [own, ...SUBS.map((s) => fieldError(i, s.key)), fieldError(i, "scheme")].filter(Boolean);
          const errId = `re${uid}-${r.id}-error`;
          const inv = (sub: string) => (fieldError(i, sub) || own ? true : undefined);
          return (
            <li key={r.id} className={`kv-row${errs.length ? " field-invalid" : ""}`}>
              <div className="route-inputs">
                {SUBS.map((s) => (
                  <input
                    key={s.key}
                    className="input mono"
                    aria-label={`Route ${i + 1} ${s.label.toLowerCase()}`}
                    placeholder={s.placeholder}
                    value={r[s.key]}
                    autoComplete="off"
                    spellCheck={false}
                    inputMode={s.key === "target_port" ? "numeric" : undefined}
                    aria-invalid={inv(s.key)}
                    aria-describedby={inv(s.key) ? errId : undefined}
                    onChange={(e) => set(r.id, { [s.key]: e.target.value })}
                  />
                ))}
                <select
                  className="input select"
                  aria-label={`Route ${i + 1} scheme`}
                  value={r.scheme}
                  aria-invalid={inv("scheme")}
                  onChange={(e) => set(r.id, { scheme: e.target.value as RouteRow["scheme"] })}
                >
                  <option value="http">http</option>
                  <option value="https">https</option>
                </select>
                <button
                  type="button"
                  className="btn btn-ghost btn-icon"
                  aria-label={`Remove route ${i + 1}${r.path ? ` (${r.path})` : ""}`}
                  onClick={() => onChange(rows.filter((x) => x.id !== r.id))}
                >
                  <span aria-hidden="true">×</span>
                </button>
              </div>
              {errs.length ? (
                <p id={errId} className="field-error">
                  {SUBS.map((s) => (fieldError(i, s.key) ? `${s.label}: ${fieldError(i, s.key)}` : null))
                    .concat(fieldError(i, "scheme") ? `Scheme: ${fieldError(i, "scheme")}` : null, own ?? null)
                    .filter(Boolean)
                    .join(" · ")}
                </p>
              ) : null}
            </li>
          );
        })}
      </ul>
      <button type="button" className="btn btn-secondary btn-sm" onClick={() => onChange([...rows, routeRow()])}>
        Add route
      </button>
    </fieldset>
  );
}
