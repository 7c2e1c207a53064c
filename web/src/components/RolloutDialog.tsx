// "Roll out pending changes": start a fleet rollout (POST /api/v1/proxy/rollouts)
// for every installed server with pending changes, or for chosen servers,
// with a canary, bounded parallelism and a failure threshold.
import { useEffect, useState } from "react";
import { ApiError } from "../api/client";
import { createRollout, isInstalled, proxyPlan, type ProxyState, type Rollout, type RolloutRequest } from "../api/proxy";
import { SelectField, TextField, useFormErrors } from "./Form";
import { FormDialog } from "./FormDialog";
import { ProxyStatusBadge } from "./ProxyBadges";
import { ReasonField } from "./ProxyDialogs";
import { Spinner } from "./States";

export const ROLLOUT_FIELDS = ["server_ids", "canary", "max_parallel", "max_failures", "reason"] as const;

export type RolloutScope = "pending" | "chosen";

export interface RolloutFormValues {
  scope: RolloutScope;
  chosen: number[];
  canary: string;
  max_parallel: string;
  max_failures: string;
  reason: string;
}

/** The request body; throws a 422-like `ApiError` for numbers the API could not even parse. */
export function rolloutBody(v: RolloutFormValues): RolloutRequest {
  const errors: { field: string; message: string }[] = [];
  const num = (field: string, raw: string): number | undefined => {
    const t = raw.trim();
    if (!t) return undefined;
    if (!/^\d+$/.test(t)) {
      errors.push({ field, message: "must be a whole number" });
      return undefined;
    }
    return Number(t);
  };
  const body: RolloutRequest = {};
  if (v.scope === "chosen") body.server_ids = v.chosen;
  const canary = num("canary", v.canary);
  if (canary != null) body.canary_server_id = canary;
  const parallel = num("max_parallel", v.max_parallel);
  if (parallel != null) body.max_parallel = parallel;
  const failures = num("max_failures", v.max_failures);
  if (failures != null) body.max_failures = failures;
  if (v.reason.trim()) body.reason = v.reason.trim();
  if (errors.length) throw new ApiError({ status: 422, code: "validation_failed", detail: "Please correct the highlighted fields.", errors });
  return body;
}

const EMPTY: RolloutFormValues = { scope: "pending", chosen: [], canary: "", max_parallel: "", max_failures: "", reason: "" };

export function RolloutDialog({
  open,
  states,
  onClose,
  onCreated,
}: {
  open: boolean;
  /** Every server's proxy state (from GET /api/v1/proxy/servers). */
  states: ProxyState[];
  onClose: () => void;
  onCreated: (r: Rollout) => void;
}) {
  const form = useFormErrors(ROLLOUT_FIELDS);
  const [v, setV] = useState<RolloutFormValues>(EMPTY);
  // Which installed servers have pending changes (their plan needs a reload); null while reading.
  const [pending, setPending] = useState<Set<number> | null>(null);
  const installed = states.filter(isInstalled);

  useEffect(() => {
    if (!open) return;
    setPending(null);
    let stop = false;
    (async () => {
      const found = new Set<number>();
      // A few at a time: each plan renders the server's configuration.
      const ids = installed.map((s) => s.server_id);
      for (let i = 0; i < ids.length; i += 6) {
        const batch = ids.slice(i, i + 6);
        const plans = await Promise.allSettled(batch.map((id) => proxyPlan(id)));
        plans.forEach((p, j) => {
          if (p.status === "fulfilled" && p.value.reload_needed) found.add(batch[j]);
        });
        if (stop) return;
      }
      setPending(found);
      setV({ ...EMPTY, chosen: [...found] });
    })();
    return () => {
      stop = true;
    };
  }, [open]);

  const set = <K extends keyof RolloutFormValues>(k: K, value: RolloutFormValues[K]) => setV((prev) => ({ ...prev, [k]: value }));
  const targets = v.scope === "chosen" ? installed.filter((s) => v.chosen.includes(s.server_id)) : installed.filter((s) => pending?.has(s.server_id));
  const canaryOptions = [
    { value: "", label: targets.length ? `Default: the first server (${targets[0].server_name})` : "Default: the first server" },
    ...targets.map((s) => ({ value: String(s.server_id), label: s.server_name })),
  ];

  function toggle(id: number, on: boolean) {
    setV((prev) => ({ ...prev, chosen: on ? [...prev.chosen, id] : prev.chosen.filter((x) => x !== id), canary: !on && prev.canary === String(id) ? "" : prev.canary }));
  }

  const serverIdsError = form.fieldError("server_ids");
  return (
    <FormDialog
      open={open}
      title="Roll out pending changes"
      onClose={onClose}
      size="lg"
      form={form}
      onSubmit={async () => onCreated(await createRollout(rolloutBody(v)))}
      submitLabel={`Start rollout${targets.length ? ` (${targets.length} server${targets.length === 1 ? "" : "s"})` : ""}`}
      busyLabel="Starting…"
      canSubmit={v.scope !== "chosen" || v.chosen.length > 0}
    >
      <p className="muted">
        The canary is applied first, alone; if it succeeds, the other servers follow, a few at a time. Once more servers fail than tolerated,
        the rollout stops and the servers not reached keep their live generation.
      </p>
      <fieldset className="radio-group" aria-describedby={serverIdsError ? "rollout-servers-error" : undefined}>
        <legend className="sr-only">Servers</legend>
        <label className={`radio-card${v.scope === "pending" ? " radio-card-selected" : ""}`}>
          <input type="radio" name="scope" value="pending" checked={v.scope === "pending"} onChange={() => set("scope", "pending")} />
          <span>
            <span className="strong">Every server with pending changes</span>
            <span className="muted small radio-hint">
              {pending == null ? (
                <>
                  <Spinner label="Reading the plans" /> Reading the servers' plans…
                </>
              ) : pending.size === 0 ? (
                "No installed server has pending changes right now."
              ) : (
                `${pending.size} of ${installed.length} installed server${installed.length === 1 ? "" : "s"}.`
              )}
            </span>
          </span>
        </label>
        <label className={`radio-card${v.scope === "chosen" ? " radio-card-selected" : ""}`}>
          <input type="radio" name="scope" value="chosen" checked={v.scope === "chosen"} onChange={() => set("scope", "chosen")} />
          <span>
            <span className="strong">Servers I choose</span>
            <span className="muted small radio-hint">Also re-applies servers that have nothing pending (they report “unchanged”).</span>
          </span>
        </label>
      </fieldset>
      {serverIdsError ? (
        <p id="rollout-servers-error" className="field-error">
          {serverIdsError}
        </p>
      ) : null}
      {v.scope === "chosen" ? (
        installed.length === 0 ? (
          <p className="muted">No server has the reverse proxy installed.</p>
        ) : (
          <fieldset className="kv-editor">
            <legend className="field-label">Servers</legend>
            <ul className="plain-list rollout-servers">
              {installed.map((s) => (
                <li key={s.server_id} className="field field-checkbox">
                  <input
                    id={`rollout-server-${s.server_id}`}
                    type="checkbox"
                    checked={v.chosen.includes(s.server_id)}
                    onChange={(e) => toggle(s.server_id, e.target.checked)}
                  />
                  <label htmlFor={`rollout-server-${s.server_id}`}>{s.server_name}</label>
                  <ProxyStatusBadge status={s.status} />
                  {pending?.has(s.server_id) ? <span className="badge badge-warning">changes pending</span> : null}
                </li>
              ))}
            </ul>
          </fieldset>
        )
      ) : null}
      <div className="form-grid">
        <SelectField label="Canary" name="canary" value={v.canary} onChange={(e) => set("canary", e.target.value)} options={canaryOptions} error={form.fieldError("canary")} />
        <TextField
          label="At once after the canary"
          name="max_parallel"
          inputMode="numeric"
          placeholder="from configuration"
          hint="1–64 servers."
          value={v.max_parallel}
          onChange={(e) => set("max_parallel", e.target.value)}
          error={form.fieldError("max_parallel")}
        />
        <TextField
          label="Failures tolerated"
          name="max_failures"
          inputMode="numeric"
          placeholder="from configuration"
          hint="The rollout stops after more failed servers."
          value={v.max_failures}
          onChange={(e) => set("max_failures", e.target.value)}
          error={form.fieldError("max_failures")}
        />
      </div>
      <ReasonField hint="Optional; shown on the rollout." value={v.reason} onChange={(r) => set("reason", r)} error={form.fieldError("reason")} />
    </FormDialog>
  );
}
