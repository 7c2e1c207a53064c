// Import domains into a group: paste or choose a YAML/CSV file, run a dry run,
// read the line-by-line report, then apply (only valid lines are applied).
import { useState } from "react";
import { isApiError } from "../api/client";
import { importDomains } from "../api/domains";
import type { ImportFormat, ImportReport } from "../api/domainTypes";
import { Dialog } from "./Dialog";
import { TextAreaField } from "./Form";
import { ImportReportView } from "./ImportReport";

export function formatFromFileName(name: string): ImportFormat | null {
  const n = name.toLowerCase();
  if (n.endsWith(".csv")) return "csv";
  if (n.endsWith(".yaml") || n.endsWith(".yml")) return "yaml";
  return null;
}

export const YAML_EXAMPLE = `- name: shop.example.com
  target_ip: 10.0.0.5
  target_port: 8080
  aliases: [www.shop.example.com]
- name: api.example.com
  target_ip: 10.0.0.6`;
export const CSV_EXAMPLE = `name,target_ip,target_port,scheme,enabled,aliases
shop.example.com,10.0.0.5,8080,http,true,www.shop.example.com`;

export interface ImportDialogProps {
  open: boolean;
  groupId: number;
  groupName: string;
  onClose: () => void;
  /** After a successful apply. */
  onApplied: (report: ImportReport) => void;
}

export function ImportDialog({ open, groupId, groupName, onClose, onApplied }: ImportDialogProps) {
  const [format, setFormat] = useState<ImportFormat>("yaml");
  const [content, setContent] = useState("");
  const [report, setReport] = useState<ImportReport | null>(null);
  /** The content the report belongs to: editing invalidates it. */
  const [checked, setChecked] = useState<{ format: ImportFormat; content: string } | null>(null);
  const [busy, setBusy] = useState<"dry" | "apply" | null>(null);
  const [error, setError] = useState<string | null>(null);

  function reset() {
    setContent("");
    setReport(null);
    setChecked(null);
    setError(null);
  }

  function close() {
    reset();
    onClose();
  }

  async function run(dry: boolean) {
    setBusy(dry ? "dry" : "apply");
    setError(null);
    try {
      const r = await importDomains(groupId, { format, content, dry_run: dry });
      if (dry) {
        setReport(r);
        setChecked({ format, content });
      } else {
        reset();
        onApplied(r);
      }
    } catch (e) {
      setError(isApiError(e) ? (e.errors.length ? e.errors.map((x) => `${x.field}: ${x.message}`).join("; ") : e.detail) : String(e));
    } finally {
      setBusy(null);
    }
  }

  async function pickFile(file: File | undefined) {
    if (!file) return;
    const f = formatFromFileName(file.name);
    if (f) setFormat(f);
    setContent(await file.text());
  }

  const fresh = checked != null && checked.content === content && checked.format === format;
  const canApply = fresh && report != null && report.created + report.updated > 0;

  return (
    <Dialog
      open={open}
      title={`Import domains into “${groupName}”`}
      onClose={close}
      size="lg"
      busy={busy != null}
      footer={
        <>
          <button type="button" className="btn btn-secondary" onClick={close} disabled={busy != null}>
            Cancel
          </button>
          <button type="button" className="btn btn-secondary" onClick={() => void run(true)} disabled={busy != null || !content.trim()}>
            {busy === "dry" ? "Checking…" : "Run dry run"}
          </button>
          <button type="button" className="btn btn-primary" onClick={() => void run(false)} disabled={busy != null || !canApply}>
            {busy === "apply" ? "Applying…" : report && report.rejected > 0 ? `Apply ${report.created + report.updated} valid lines` : "Apply"}
          </button>
        </>
      }
    >
      <p className="muted small">
        A list of domains as YAML (each like a domain's API body) or CSV with the header <code>name,target_ip,target_port,scheme,enabled,aliases</code>{" "}
        (aliases separated by spaces). Existing names are updated. Run a dry run first: nothing changes until you apply.
      </p>
      <fieldset className="radio-inline import-format">
        <legend className="sr-only">Format</legend>
        <span className="field-label">Format</span>
        {(["yaml", "csv"] as const).map((f) => (
          <label key={f} className="radio-inline">
            <input type="radio" name="import-format" value={f} checked={format === f} onChange={() => setFormat(f)} />
            {f.toUpperCase()}
          </label>
        ))}
      </fieldset>
      <div className="field">
        <label className="field-label" htmlFor="import-file">
          File
        </label>
        <input id="import-file" type="file" className="input" accept=".yaml,.yml,.csv,text/yaml,text/csv" onChange={(e) => void pickFile(e.target.files?.[0])} />
      </div>
      <TextAreaField
        label="Content"
        name="content"
        className="mono textarea-import"
        spellCheck={false}
        placeholder={format === "yaml" ? YAML_EXAMPLE : CSV_EXAMPLE}
        hint="Paste here, or choose a file above."
        value={content}
        onChange={(e) => setContent(e.target.value)}
      />
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
      {report ? (
        <>
          {!fresh ? <p className="notice notice-warning">The content changed since this dry run: run it again before applying.</p> : null}
          <ImportReportView report={report} />
        </>
      ) : null}
    </Dialog>
  );
}
