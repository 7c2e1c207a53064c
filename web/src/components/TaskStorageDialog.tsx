// Where new task attachments are stored (admins): local disk or an
// S3-compatible store. Opened from the Tasks page's header. The API never
// returns the secret key, so its field always starts empty; left empty, the
// stored secret is kept. Saving S3 settings makes the API write, read back
// and delete a probe object first; what the store answered comes back as an
// error on `s3`, shown as the form's message.
import { useEffect, useRef, useState } from "react";
import { isApiError } from "../api/client";
import { getStorage, putStorage, type StorageKind, type StorageView } from "../api/tasks";
import { formatBytes, STORAGE_FIELDS, storageBody, storageForm, type StorageForm } from "../lib/tasks";
import { CheckboxField, TextField, useFormErrors } from "./Form";
import { FormDialog } from "./FormDialog";
import { ErrorState, Loading } from "./States";
import { useToast } from "./Toasts";

const KINDS: { value: StorageKind; label: string; hint: string }[] = [
  { value: "local", label: "Local disk", hint: "In Gantry's data directory. With several replicas it must be shared storage." },
  { value: "s3", label: "S3-compatible", hint: "AWS S3, MinIO, Ceph RGW, Garage, … The bucket must exist." },
];

export function TaskStorageDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const toast = useToast();
  const form = useFormErrors(STORAGE_FIELDS);
  const [view, setView] = useState<StorageView | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [v, setV] = useState<StorageForm | null>(null);
  const [attempt, setAttempt] = useState(0);
  const kindRef = useRef<HTMLFieldSetElement>(null);
  const loaded = v != null;

  // Each opening reads the setting again and starts from it (the secret
  // empty); closing forgets it, so the next opening starts with "Loading"
  // rather than the last values.
  useEffect(() => {
    if (!open) return;
    let live = true;
    setLoadError(null);
    getStorage().then(
      (s) => {
        if (!live) return;
        setView(s);
        setV(storageForm(s));
      },
      (e) => {
        if (live) setLoadError(e);
      },
    );
    return () => {
      live = false;
      setView(null);
      setV(null);
    };
  }, [open, attempt]);

  // The dialog opened while loading (focus on Cancel): once loaded, focus the chosen kind.
  useEffect(() => {
    if (!loaded) return;
    const active = document.activeElement;
    if (active instanceof HTMLInputElement || active instanceof HTMLSelectElement || active instanceof HTMLTextAreaElement) return;
    kindRef.current?.querySelector<HTMLInputElement>("input:checked")?.focus();
  }, [loaded]);

  function set<K extends keyof StorageForm>(key: K, value: StorageForm[K]) {
    setV((cur) => (cur ? { ...cur, [key]: value } : cur));
  }

  // `s3` names the settings as a whole: the probe's failure or the refused move (409).
  const s3Error = isApiError(form.error) ? form.error.fieldError("s3") : undefined;
  const shownForm = s3Error ? { ...form, formMessage: `The S3 settings were not saved: ${s3Error}` } : form;
  const secretSet = view?.s3?.secret_set ?? false;

  return (
    <FormDialog
      open={open}
      title="Attachment storage"
      onClose={onClose}
      form={shownForm}
      size="lg"
      canSubmit={v != null}
      submitLabel="Save"
      busyLabel={v?.kind === "s3" ? "Testing and saving…" : "Saving…"}
      onSubmit={async () => {
        if (!v) return;
        const saved = await putStorage(storageBody(v));
        toast.success(
          saved.kind === "s3" ? `Attachment storage saved: new attachments go to S3 bucket “${saved.s3?.bucket ?? ""}”` : "Attachment storage saved: new attachments go to the local disk",
        );
        onClose();
      }}
    >
      {loadError ? (
        <ErrorState error={loadError} onRetry={() => setAttempt((n) => n + 1)} title="Could not read the storage setting" />
      ) : !v || !view ? (
        <Loading label="Reading the storage setting…" />
      ) : (
        <>
          <p className="muted">
            Where new attachments are stored. Switching affects new uploads only: existing attachments stay readable where they are.
          </p>
          <dl className="facts">
            <div>
              <dt>Largest attachment</dt>
              <dd>{formatBytes(view.max_bytes)}</dd>
            </div>
          </dl>
          <p className="muted small">
            The size limit is a server setting (<code>tasks.max_attachment_bytes</code>), not changed here.
          </p>
          <fieldset ref={kindRef} className="radio-group" aria-describedby={form.fieldError("kind") ? "storage-kind-error" : undefined}>
            <legend className="sr-only">Storage</legend>
            {KINDS.map((k) => (
              <label key={k.value} className={`radio-card${v.kind === k.value ? " radio-card-selected" : ""}`}>
                <input type="radio" name="kind" value={k.value} checked={v.kind === k.value} onChange={() => set("kind", k.value)} />
                <span>
                  <span className="strong">{k.label}</span>
                  <span className="muted small radio-hint">{k.hint}</span>
                </span>
              </label>
            ))}
          </fieldset>
          {form.fieldError("kind") ? (
            <p id="storage-kind-error" className="field-error">
              {form.fieldError("kind")}
            </p>
          ) : null}
          {v.kind === "s3" ? (
            <>
              {view.kind === "s3" ? (
                <p className="muted small">Once attachments are stored in S3, the bucket, endpoint and prefix cannot change: Gantry does not move objects.</p>
              ) : null}
              <div className="form-grid form-grid-pair">
                <TextField label="Bucket" name="s3.bucket" required autoComplete="off" spellCheck={false} value={v.bucket} onChange={(e) => set("bucket", e.target.value)} error={form.fieldError("s3.bucket")} hint="Must exist already." />
                <TextField label="Region" name="s3.region" required autoComplete="off" spellCheck={false} value={v.region} onChange={(e) => set("region", e.target.value)} error={form.fieldError("s3.region")} hint="us-east-1 when the store does not care." />
              </div>
              <TextField
                label="Endpoint"
                name="s3.endpoint"
                type="url"
                autoComplete="off"
                spellCheck={false}
                placeholder="https://minio.internal:9000"
                value={v.endpoint}
                onChange={(e) => set("endpoint", e.target.value)}
                error={form.fieldError("s3.endpoint")}
                hint="Empty for AWS S3. Requests are path-style (endpoint/bucket/key)."
              />
              <TextField label="Key prefix" name="s3.prefix" autoComplete="off" spellCheck={false} value={v.prefix} onChange={(e) => set("prefix", e.target.value)} error={form.fieldError("s3.prefix")} hint="Optional: a folder inside the bucket." />
              <div className="form-grid form-grid-pair">
                <TextField label="Access key ID" name="s3.access_key_id" required autoComplete="off" spellCheck={false} value={v.access_key_id} onChange={(e) => set("access_key_id", e.target.value)} error={form.fieldError("s3.access_key_id")} />
                <TextField
                  label="Secret access key"
                  name="s3.secret_access_key"
                  type="password"
                  required={!secretSet}
                  autoComplete="new-password"
                  placeholder={secretSet ? "stored — leave empty to keep" : undefined}
                  value={v.secret_access_key}
                  onChange={(e) => set("secret_access_key", e.target.value)}
                  error={form.fieldError("s3.secret_access_key")}
                  hint={secretSet ? "A secret is stored; it is never shown. Type a new one to replace it." : "Stored encrypted; never shown again."}
                />
              </div>
              <CheckboxField
                label="Allow a plain-HTTP endpoint"
                name="s3.allow_http"
                checked={v.allow_http}
                onChange={(e) => set("allow_http", e.target.checked)}
                error={form.fieldError("s3.allow_http")}
                hint="Warning: over http:// the requests, the signed credentials and the files cross the network unencrypted. Use it only on a network you trust."
              />
            </>
          ) : null}
        </>
      )}
    </FormDialog>
  );
}
