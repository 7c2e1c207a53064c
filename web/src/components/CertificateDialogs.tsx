// Dialogs of the Certificates page: upload a certificate (PEM chain and
// private key, pasted or read from files) and add an ACME account (a preset
// or a custom directory with an optional CA bundle). Field errors of the
// API's 422 land next to their fields. The private key lives only in this
// dialog's state: cleared when it closes, after an upload, and when the API
// rejects the key.
import { useEffect, useId, useState } from "react";
import { isApiError } from "../api/client";
import { createAcmeAccount, uploadCertificate, type AcmeAccount, type Certificate } from "../api/certificates";
import { DIRECTORY_OPTIONS, LETSENCRYPT_STAGING_URL, LETSENCRYPT_URL, accountBody, emptyAccountForm, emptyUploadForm, uploadBody, type AccountFormValues, type DirectoryChoice, type UploadFormValues } from "../lib/tls";
import { SelectField, TextAreaField, TextField, useFormErrors } from "./Form";
import { FormDialog } from "./FormDialog";

const UPLOAD_FIELDS = ["name", "certificate", "private_key"] as const;

/** A file input that reads a PEM file into a text field (nothing is uploaded until the form is sent). */
function PemFile({ label, accept, onText }: { label: string; accept: string; onText: (text: string) => void }) {
  const id = useId();
  return (
    <div className="field pem-file">
      <label className="field-label" htmlFor={id}>
        {label}
      </label>
      <input
        id={id}
        type="file"
        className="input"
        accept={accept}
        onChange={async (e) => {
          const file = e.target.files?.[0];
          if (file) onText(await file.text());
          e.target.value = ""; // the same file can be chosen again
        }}
      />
    </div>
  );
}

export function UploadCertificateDialog({ open, onClose, onUploaded }: { open: boolean; onClose: () => void; onUploaded: (c: Certificate) => void }) {
  const form = useFormErrors(UPLOAD_FIELDS);
  const [v, setV] = useState<UploadFormValues>(emptyUploadForm);
  useEffect(() => {
    setV(emptyUploadForm());
  }, [open]);
  const set = <K extends keyof UploadFormValues>(k: K, value: UploadFormValues[K]) => setV((prev) => ({ ...prev, [k]: value }));

  function close() {
    setV(emptyUploadForm());
    onClose();
  }

  return (
    <FormDialog
      open={open}
      title="Upload certificate"
      size="lg"
      onClose={close}
      form={form}
      onSubmit={async () => {
        try {
          const c = await uploadCertificate(uploadBody(v));
          setV(emptyUploadForm());
          onUploaded(c);
        } catch (e) {
          // A rejected key is not kept around: paste or choose it again.
          if (isApiError(e) && e.fieldError("private_key")) set("private_key", "");
          throw e;
        }
      }}
      submitLabel="Upload certificate"
      busyLabel="Uploading…"
    >
      <p className="muted small">
        The certificate chain in PEM (the server's certificate first, then the intermediates) and its private key (PKCS#8, RSA or EC,
        without a passphrase). Gantry checks that they match, stores the key encrypted and never shows it again.
      </p>
      <TextField
        label="Name"
        name="name"
        autoComplete="off"
        placeholder="shop.example.com 2027"
        hint="Optional. Default: its first DNS name and expiry date."
        value={v.name}
        onChange={(e) => set("name", e.target.value)}
        error={form.fieldError("name")}
      />
      <div className="pem-pair">
        <div className="pem-col">
          <PemFile label="Certificate file" accept=".pem,.crt,.cer,application/x-pem-file,text/plain" onText={(t) => set("certificate", t)} />
          <TextAreaField
            label="Certificate (PEM)"
            name="certificate"
            required
            className="mono textarea-pem"
            spellCheck={false}
            autoComplete="off"
            placeholder={"-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----"}
            value={v.certificate}
            onChange={(e) => set("certificate", e.target.value)}
            error={form.fieldError("certificate")}
          />
        </div>
        <div className="pem-col">
          <PemFile label="Private key file" accept=".pem,.key,application/x-pem-file,text/plain" onText={(t) => set("private_key", t)} />
          <TextAreaField
            label="Private key (PEM)"
            name="private_key"
            required
            className="mono textarea-pem"
            spellCheck={false}
            autoComplete="off"
            placeholder={"-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----"}
            hint="Never shown again after the upload."
            value={v.private_key}
            onChange={(e) => set("private_key", e.target.value)}
            error={form.fieldError("private_key")}
          />
        </div>
      </div>
    </FormDialog>
  );
}

const ACCOUNT_FIELDS = ["name", "preset", "directory_url", "contact", "ca_bundle"] as const;

const PRESET_URL: Record<Exclude<DirectoryChoice, "custom">, string> = {
  letsencrypt: LETSENCRYPT_URL,
  "letsencrypt-staging": LETSENCRYPT_STAGING_URL,
};

export function AcmeAccountDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (a: AcmeAccount) => void }) {
  const form = useFormErrors(ACCOUNT_FIELDS);
  const [v, setV] = useState<AccountFormValues>(emptyAccountForm);
  useEffect(() => {
    if (open) setV(emptyAccountForm());
  }, [open]);
  const set = <K extends keyof AccountFormValues>(k: K, value: AccountFormValues[K]) => setV((prev) => ({ ...prev, [k]: value }));
  const custom = v.directory === "custom";

  return (
    <FormDialog
      open={open}
      title="Add ACME account"
      onClose={onClose}
      form={form}
      onSubmit={async () => onCreated(await createAcmeAccount(accountBody(v)))}
      submitLabel="Add account"
      busyLabel="Adding…"
    >
      <p className="muted small">
        Gantry registers the account with the CA at its first issuance and keeps its credentials encrypted. Domains with TLS mode “ACME”
        get their certificates through it (HTTP-01, answered by the domain's server) and renew them on their own.
      </p>
      <TextField label="Name" name="name" required autoComplete="off" placeholder="letsencrypt" value={v.name} onChange={(e) => set("name", e.target.value)} error={form.fieldError("name")} />
      <SelectField
        label="Directory"
        name="preset"
        value={v.directory}
        onChange={(e) => set("directory", e.target.value as DirectoryChoice)}
        options={DIRECTORY_OPTIONS}
        hint={custom ? "Any ACME server: a company CA, for example." : <span className="mono break">{PRESET_URL[v.directory as Exclude<DirectoryChoice, "custom">]}</span>}
        error={form.fieldError("preset")}
      />
      {custom ? (
        <TextField
          label="Directory URL"
          name="directory_url"
          required
          type="url"
          autoComplete="off"
          className="input mono"
          placeholder="https://acme.example.internal/directory"
          value={v.directory_url}
          onChange={(e) => set("directory_url", e.target.value)}
          error={form.fieldError("directory_url")}
        />
      ) : null}
      <TextField
        label="Contact e-mail"
        name="contact"
        type="email"
        autoComplete="email"
        placeholder="ops@example.com"
        hint="Optional. The CA may send notices about the account here."
        value={v.contact}
        onChange={(e) => set("contact", e.target.value)}
        error={form.fieldError("contact")}
      />
      {custom ? (
        <TextAreaField
          label="CA bundle (PEM)"
          name="ca_bundle"
          className="mono textarea-pem"
          spellCheck={false}
          placeholder={"-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----"}
          hint="Optional. The roots to trust for this directory, for a private CA."
          value={v.ca_bundle}
          onChange={(e) => set("ca_bundle", e.target.value)}
          error={form.fieldError("ca_bundle")}
        />
      ) : null}
    </FormDialog>
  );
}
