// The runtime log level (admins): what is in force, what the configuration
// set, and a form to change it on every replica until they restart. A
// process without a reloadable log subscriber answers 409 `not_supported`;
// a bad directive is a 422 naming `level`.
import { useCallback, useEffect, useState } from "react";
import { isApiError } from "../api/client";
import { getLogLevel, setLogLevel, type LogLevel } from "../api/monitoring";
import { FormError, TextField, useFormErrors } from "./Form";
import { ErrorState, Loading } from "./States";
import { useToast } from "./Toasts";

const FIELDS = ["level"] as const;
const LEVELS = ["error", "warn", "info", "debug", "trace"];

type Level = LogLevel & { configured?: string };

function Unsupported() {
  return (
    <p className="notice notice-info" data-testid="log-level-unsupported">
      This Gantry process cannot change its log level while it runs (it was started without a reloadable log subscriber). Set{" "}
      <code>log_level</code> in the configuration and restart it instead.
    </p>
  );
}

export function LogLevelCard() {
  const toast = useToast();
  const form = useFormErrors(FIELDS);
  const [level, setLevel] = useState<Level | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [unsupported, setUnsupported] = useState(false);
  const [draft, setDraft] = useState("");
  const [saving, setSaving] = useState(false);

  const load = useCallback(() => {
    setLoadError(null);
    getLogLevel().then(
      (l) => {
        setLevel(l);
        setDraft(l.level);
      },
      (e: unknown) => {
        if (isApiError(e) && e.code === "not_supported") setUnsupported(true);
        else setLoadError(e);
      },
    );
  }, []);
  useEffect(load, [load]);

  async function save(value: string) {
    setSaving(true);
    form.clear();
    try {
      const l = await setLogLevel(value.trim());
      setLevel(l);
      setDraft(l.level);
      toast.success(`Log level set to “${l.level}”`);
    } catch (e) {
      if (isApiError(e) && e.code === "not_supported") setUnsupported(true);
      else form.setError(e);
    } finally {
      setSaving(false);
    }
  }

  const configured = level?.configured;
  return (
    <section className="card" aria-labelledby="log-level-title">
      <h2 id="log-level-title" className="card-title">
        Log level
      </h2>
      {unsupported ? (
        <Unsupported />
      ) : loadError ? (
        <ErrorState error={loadError} onRetry={load} />
      ) : !level ? (
        <Loading />
      ) : (
        <form
          className="loglevel"
          aria-label="Change the log level"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void save(draft);
          }}
        >
          <dl className="facts facts-2 loglevel-facts">
            <div>
              <dt>In force</dt>
              <dd>
                <code data-testid="log-level-current">{level.level}</code>
              </dd>
            </div>
            <div>
              <dt>Configured</dt>
              <dd>
                <code data-testid="log-level-configured">{configured || "—"}</code>
                {configured && configured !== level.level ? <span className="muted small"> (a restart returns to it)</span> : null}
              </dd>
            </div>
          </dl>
          <div className="loglevel-row">
            <TextField
              name="level"
              label="New level"
              list="log-level-presets"
              autoComplete="off"
              spellCheck={false}
              className="input mono"
              value={draft}
              onChange={(e) => setDraft(e.target.value)}
              error={form.fieldError("level")}
              hint={
                <>
                  <code>error</code>, <code>warn</code>, <code>info</code>, <code>debug</code> or <code>trace</code>, optionally with
                  per-crate overrides (<code>info,gantry_proxy=debug</code>). Applies to every replica until they restart.
                </>
              }
            />
            <datalist id="log-level-presets">
              {LEVELS.map((l) => (
                <option key={l} value={l} />
              ))}
            </datalist>
            <div className="loglevel-actions">
              <button type="submit" className="btn btn-primary" disabled={saving || !draft.trim() || draft.trim() === level.level}>
                {saving ? "Setting…" : "Set level"}
              </button>
              {configured && configured !== level.level ? (
                <button type="button" className="btn btn-secondary" disabled={saving} onClick={() => void save(configured)}>
                  Back to “{configured}”
                </button>
              ) : null}
            </div>
          </div>
          <FormError message={form.fieldError("level") ? null : form.formMessage} />
        </form>
      )}
    </section>
  );
}
