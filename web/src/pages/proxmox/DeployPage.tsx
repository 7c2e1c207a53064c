// /proxmox/deploy (operators): the deploy wizard. 1. cluster, blueprint and
// users (one per line) → "Plan" asks the API where every VM would go
// (nothing changes); 2. the plan: per user VM → node, VMID, clone mode,
// warnings, network changes, every node's score → "Deploy" starts the job and
// opens the deployment, which shows its progress live. Editing the inputs
// after planning asks for a new plan first.
import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { isApiError } from "../../api/client";
import { deployStands, listBlueprints, listClusters, planStands, type PvePlan, type StandRequest } from "../../api/pve";
import { FormError, SelectField, TextAreaField, useFormErrors } from "../../components/Form";
import { PlanView } from "../../components/PveViews";
import { EmptyState, ErrorState, Loading } from "../../components/States";
import { useToast } from "../../components/Toasts";
import { parseUsers } from "../../lib/pve";
import { plural } from "../../lib/selection";
import { useList } from "../../lib/useList";

const FIELDS = ["cluster_id", "blueprint", "users", "users["] as const;

/** The users field's message: its own and each line's (`users[1]` → "line 2: …"). */
export function usersError(errors: readonly { field: string; message: string }[], users: string[]): string | undefined {
  const msgs: string[] = [];
  for (const e of errors) {
    if (e.field === "users") msgs.push(e.message);
    const m = /^users\[(\d+)\]$/.exec(e.field);
    if (m) {
      const i = Number(m[1]);
      msgs.push(`${users[i] ?? `line ${i + 1}`}: ${e.message}`);
    }
  }
  return msgs.length ? msgs.join("; ") : undefined;
}

export function DeployPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const toast = useToast();
  const clusters = useList(listClusters);
  const blueprints = useList(listBlueprints);
  const [clusterId, setClusterId] = useState<string>(params.get("cluster") ?? "");
  const [blueprint, setBlueprint] = useState<string>(params.get("blueprint") ?? "");
  const [usersText, setUsersText] = useState("");
  const [plan, setPlan] = useState<{ plan: PvePlan; request: string } | null>(null);
  const [busy, setBusy] = useState<"plan" | "deploy" | null>(null);
  const form = useFormErrors(FIELDS);

  // Default choices once the lists are in.
  useEffect(() => {
    if (!clusterId && clusters.items?.length) setClusterId(String(clusters.items[0].id));
  }, [clusters.items, clusterId]);
  useEffect(() => {
    if (!blueprint && blueprints.items?.length) setBlueprint(blueprints.items[0].spec.name);
  }, [blueprints.items, blueprint]);

  const users = useMemo(() => parseUsers(usersText), [usersText]);
  const request: StandRequest = { cluster_id: Number(clusterId), blueprint, users };
  const requestKey = JSON.stringify(request);
  const stale = plan != null && plan.request !== requestKey;
  const apiErrors = isApiError(form.error) ? form.error.errors : [];

  async function runPlan(e?: React.FormEvent) {
    e?.preventDefault();
    setBusy("plan");
    form.clear();
    try {
      setPlan({ plan: await planStands(request), request: requestKey });
    } catch (err) {
      setPlan(null);
      form.setError(err);
    } finally {
      setBusy(null);
    }
  }

  async function deploy() {
    setBusy("deploy");
    form.clear();
    try {
      const d = await deployStands(request);
      toast.success(`Deployment #${d.deployment.id} started`);
      navigate(`/proxmox/deployments/${d.deployment.id}`, { state: { job: d.job } });
    } catch (err) {
      form.setError(err);
      setBusy(null);
    }
  }

  if (clusters.error || blueprints.error)
    return (
      <div className="card">
        <ErrorState error={clusters.error ?? blueprints.error} onRetry={() => (void clusters.reload(), void blueprints.reload())} />
      </div>
    );
  if (!clusters.items || !blueprints.items)
    return (
      <div className="card">
        <Loading />
      </div>
    );
  if (clusters.items.length === 0 || blueprints.items.length === 0)
    return (
      <div className="card">
        <EmptyState title={clusters.items.length === 0 ? "Add a cluster first" : "Create a blueprint first"} icon="▦" action={<Link className="btn btn-secondary" to={clusters.items.length === 0 ? "/proxmox/clusters" : "/proxmox/blueprints"}>{clusters.items.length === 0 ? "Go to clusters" : "Go to blueprints"}</Link>}>
          <p>A deployment puts a blueprint's VMs on a cluster for each user.</p>
        </EmptyState>
      </div>
    );

  const planErrors = plan?.plan.errors.length ?? 0;
  return (
    <>
      <section className="card" aria-labelledby="pve-deploy-input">
        <h2 className="card-title" id="pve-deploy-input">
          1. Blueprint, cluster and users
        </h2>
        <form className="form" onSubmit={runPlan} noValidate aria-label="Deployment">
          <div className="form-grid">
            <SelectField
              name="cluster_id"
              label="Cluster"
              value={clusterId}
              onChange={(e) => setClusterId(e.target.value)}
              error={form.fieldError("cluster_id")}
              options={clusters.items.map((c) => ({ value: String(c.id), label: c.name }))}
            />
            <SelectField
              name="blueprint"
              label="Blueprint"
              value={blueprint}
              onChange={(e) => setBlueprint(e.target.value)}
              error={form.fieldError("blueprint")}
              options={blueprints.items.map((b) => ({ value: b.spec.name, label: b.spec.name }))}
            />
          </div>
          <TextAreaField
            name="users"
            label="Users"
            required
            rows={6}
            className="mono"
            placeholder={"student1@pve\nstudent2@pve"}
            value={usersText}
            onChange={(e) => setUsersText(e.target.value)}
            error={usersError(apiErrors, users)}
            hint={`One user@realm per line${users.length ? ` (${plural(users.length, "user")})` : ""}. Each gets their own pool and copies of the blueprint's VMs.`}
            spellCheck={false}
          />
          <FormError message={plan == null || busy === "plan" ? form.formMessage : null} />
          <div className="form-actions">
            <button type="submit" className={`btn ${plan && !stale ? "btn-secondary" : "btn-primary"}`} disabled={busy != null || users.length === 0}>
              {busy === "plan" ? "Planning…" : plan ? "Plan again" : "Plan"}
            </button>
          </div>
        </form>
      </section>
      {plan ? (
        <section className="card" aria-labelledby="pve-deploy-plan">
          <div className="card-head">
            <div>
              <h2 className="card-title" id="pve-deploy-plan">
                2. Plan
              </h2>
              <p className="muted small">Nothing has changed on the cluster yet. Expand a VM for every node's score.</p>
            </div>
          </div>
          {stale ? (
            <p className="notice notice-warning" role="status">
              The inputs changed since this plan: plan again before deploying.
            </p>
          ) : null}
          <PlanView plan={plan.plan} />
          <FormError message={busy !== "plan" ? form.formMessage : null} />
          <div className="form-actions">
            <button type="button" className="btn btn-primary" onClick={() => void deploy()} disabled={busy != null || stale || planErrors > 0}>
              {busy === "deploy" ? "Starting…" : `Deploy ${plural(plan.plan.stands.length, "stand")}`}
            </button>
            {planErrors > 0 ? <span className="muted small">Fix the plan's errors first.</span> : null}
          </div>
        </section>
      ) : null}
    </>
  );
}
