// Form fields that show the API's field-level validation errors
// (problem+json `errors[]`) next to the matching input. Name each field after
// the API's field (`username`, `new_password`, …) and pass `form.fieldError(name)`.
import { useCallback, useId, useMemo, useState, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from "react";
import { ApiError, isApiError } from "../api/client";

interface FieldShellProps {
  id: string;
  label: ReactNode;
  hint?: ReactNode;
  error?: string;
  required?: boolean;
  children: ReactNode;
  className?: string;
}

function FieldShell({ id, label, hint, error, required, children, className }: FieldShellProps) {
  return (
    <div className={`field${error ? " field-invalid" : ""}${className ? ` ${className}` : ""}`}>
      <div className="field-label-row">
        <label htmlFor={id} className="field-label">
          {label}
        </label>
        {/* Outside the label: the input's `required` already tells assistive technology. */}
        {required ? (
          <span className="field-required" aria-hidden="true">
            *
          </span>
        ) : null}
      </div>
      {children}
      {hint && !error ? (
        <p id={`${id}-hint`} className="field-hint">
          {hint}
        </p>
      ) : null}
      {error ? (
        <p id={`${id}-error`} className="field-error">
          {error}
        </p>
      ) : null}
    </div>
  );
}

function describedBy(id: string, hint: unknown, error: unknown): string | undefined {
  if (error) return `${id}-error`;
  if (hint) return `${id}-hint`;
  return undefined;
}

export interface TextFieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, "id"> {
  label: ReactNode;
  name: string;
  hint?: ReactNode;
  error?: string;
  id?: string;
  fieldClassName?: string;
  ref?: React.Ref<HTMLInputElement>;
}

export function TextField({ label, hint, error, id, required, fieldClassName, ...input }: TextFieldProps) {
  const auto = useId();
  const fid = id ?? `f${auto}`;
  return (
    <FieldShell id={fid} label={label} hint={hint} error={error} required={required} className={fieldClassName}>
      <input
        id={fid}
        className="input"
        required={required}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(fid, hint, error)}
        {...input}
      />
    </FieldShell>
  );
}

export interface TextAreaFieldProps extends Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, "id"> {
  label: ReactNode;
  name: string;
  hint?: ReactNode;
  error?: string;
  id?: string;
  fieldClassName?: string;
}

export function TextAreaField({ label, hint, error, id, required, fieldClassName, className, ...textarea }: TextAreaFieldProps) {
  const auto = useId();
  const fid = id ?? `f${auto}`;
  return (
    <FieldShell id={fid} label={label} hint={hint} error={error} required={required} className={fieldClassName}>
      <textarea
        id={fid}
        className={`input textarea${className ? ` ${className}` : ""}`}
        required={required}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(fid, hint, error)}
        {...textarea}
      />
    </FieldShell>
  );
}

export interface SelectFieldProps extends Omit<SelectHTMLAttributes<HTMLSelectElement>, "id"> {
  label: ReactNode;
  name: string;
  hint?: ReactNode;
  error?: string;
  id?: string;
  options: { value: string; label: string }[];
  fieldClassName?: string;
}

export function SelectField({ label, hint, error, id, options, required, fieldClassName, ...select }: SelectFieldProps) {
  const auto = useId();
  const fid = id ?? `f${auto}`;
  return (
    <FieldShell id={fid} label={label} hint={hint} error={error} required={required} className={fieldClassName}>
      <select
        id={fid}
        className="input select"
        required={required}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(fid, hint, error)}
        {...select}
      >
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </FieldShell>
  );
}

export interface CheckboxFieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, "id" | "type"> {
  label: ReactNode;
  name: string;
  hint?: ReactNode;
  error?: string;
}

export function CheckboxField({ label, hint, error, ...input }: CheckboxFieldProps) {
  const auto = useId();
  const fid = `f${auto}`;
  return (
    <div className={`field field-checkbox${error ? " field-invalid" : ""}`}>
      <input
        id={fid}
        type="checkbox"
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(fid, hint, error)}
        {...input}
      />
      <label htmlFor={fid}>{label}</label>
      {hint && !error ? (
        <p id={`${fid}-hint`} className="field-hint">
          {hint}
        </p>
      ) : null}
      {error ? (
        <p id={`${fid}-error`} className="field-error">
          {error}
        </p>
      ) : null}
    </div>
  );
}

/**
 * Whether a form with these field names shows `field`. A name ending in "."
 * or "[" covers a whole group of nested fields: `"labels."` shows
 * `labels.env` (key/value editors show each key's error on its row), and
 * `"routes["` shows `routes[0].path` (list editors show each item's errors
 * on its row).
 */
export function formShowsField(fields: readonly string[], field: string): boolean {
  return fields.some((f) => f === field || ((f.endsWith(".") || f.endsWith("[")) && field.startsWith(f)));
}

/** The API's name of an indexed field: `indexedField("routes", 0, "path")` = `routes[0].path`. */
export function indexedField(list: string, index: number, sub?: string): string {
  return `${list}[${index}]${sub ? `.${sub}` : ""}`;
}

/**
 * The messages of one list item: its own (`aliases[1]`) and its sub-fields'
 * (`routes[0].path`), joined. Used for rows that show one error line.
 */
export function itemErrors(errors: readonly { field: string; message: string }[], list: string, index: number): string | undefined {
  const own = `${list}[${index}]`;
  const msgs = errors.filter((e) => e.field === own || e.field.startsWith(`${own}.`)).map((e) => e.message);
  return msgs.length ? msgs.join("; ") : undefined;
}

/**
 * State for one form's submission error. `fieldError(name)` returns the API's
 * message for that field; `formMessage` is what the banner above the buttons
 * shows: the detail when no shown field carries the error.
 */
export function useFormErrors(fields: readonly string[]) {
  const [error, setErrorState] = useState<ApiError | Error | null>(null);
  const setError = useCallback((e: unknown) => {
    setErrorState(e == null ? null : e instanceof Error ? e : new Error(String(e)));
  }, []);
  const clear = useCallback(() => setErrorState(null), []);
  return useMemo(() => {
    const apiErr = isApiError(error) ? error : null;
    const fieldError = (name: string): string | undefined => apiErr?.fieldError(name);
    /** All messages of one list item and its sub-fields (`routes[0]`, `routes[0].path`). */
    const itemError = (list: string, index: number): string | undefined => (apiErr ? itemErrors(apiErr.errors, list, index) : undefined);
    let formMessage: string | null = null;
    if (error) {
      const shown = apiErr ? apiErr.errors.filter((e) => formShowsField(fields, e.field)) : [];
      const unshown = apiErr ? apiErr.errors.filter((e) => !formShowsField(fields, e.field)) : [];
      if (unshown.length > 0) formMessage = unshown.map((e) => `${e.field}: ${e.message}`).join("; ");
      else if (shown.length > 0) formMessage = "Please correct the highlighted fields.";
      else formMessage = apiErr ? apiErr.detail : error.message;
    }
    return { error, setError, clear, fieldError, itemError, formMessage };
  }, [error, setError, clear, fields]);
}

export type FormErrors = ReturnType<typeof useFormErrors>;

export function FormError({ message }: { message: string | null }) {
  if (!message) return null;
  return (
    <p className="form-error" role="alert">
      {message}
    </p>
  );
}
