import { useEffect, useRef, useState } from "react";
import { isApiError } from "../api/client";
import { getAuthOptions, register } from "../api/tasks";
import { useAuth } from "../auth/AuthContext";
import { FormError, TextField, useFormErrors } from "../components/Form";

export function LoginPage({ expired }: { expired: boolean }) {
  const { login } = useAuth();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const passwordRef = useRef<HTMLInputElement>(null);
  const [selfRegistration, setSelfRegistration] = useState(false);
  const [registering, setRegistering] = useState(false);

  useEffect(() => {
    document.title = registering ? "Create account · Gantry" : "Sign in · Gantry";
  }, [registering]);

  // Whether anyone may create an account here (an admin setting). A Gantry
  // without the option simply shows no "Create account".
  useEffect(() => {
    let live = true;
    getAuthOptions().then(
      (o) => live && setSelfRegistration(o.self_registration === true),
      () => live && setSelfRegistration(false),
    );
    return () => {
      live = false;
    };
  }, []);

  if (registering && selfRegistration) {
    return <RegisterCard onCancel={() => setRegistering(false)} />;
  }

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(username.trim(), password);
    } catch (err) {
      setBusy(false);
      if (isApiError(err)) {
        if (err.code === "invalid_credentials") setError("Wrong username or password.");
        else if (err.code === "too_many_attempts") setError("Too many failed attempts. Wait a moment, then try again.");
        else setError(err.detail);
      } else setError("Sign-in failed.");
      setPassword("");
      passwordRef.current?.focus();
    }
  }

  return (
    <div className="login-page">
      <main className="login-card" aria-labelledby="login-title">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">G</span>
          <span className="brand-name">Gantry</span>
        </div>
        <h1 id="login-title" className="login-title">Sign in</h1>
        <p className="muted">Infrastructure control plane</p>
        {expired ? (
          <p className="notice notice-info" role="status">Your session ended. Sign in again to continue.</p>
        ) : null}
        <form onSubmit={submit} noValidate className="form">
          <TextField label="Username" name="username" autoComplete="username" autoFocus value={username} onChange={(e) => setUsername(e.target.value)} required />
          <TextField ref={passwordRef} label="Password" name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
          {error ? (
            <p className="form-error" role="alert" data-testid="login-error">
              {error}
            </p>
          ) : null}
          <button type="submit" className="btn btn-primary btn-block" disabled={busy || !username || !password}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
        {selfRegistration ? (
          <p className="login-alt">
            No account yet?{" "}
            <button type="button" className="btn-link" onClick={() => setRegistering(true)}>
              Create account
            </button>
          </p>
        ) : null}
      </main>
    </div>
  );
}

const REGISTER_FIELDS = ["username", "display_name", "password"] as const;

/** Self-registration: creates a viewer account, then signs in with it. */
function RegisterCard({ onCancel }: { onCancel: () => void }) {
  const { login } = useAuth();
  const [username, setUsername] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const form = useFormErrors(REGISTER_FIELDS);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    form.clear();
    try {
      await register({ username: username.trim(), password, ...(displayName.trim() ? { display_name: displayName.trim() } : {}) });
    } catch (err) {
      setBusy(false);
      form.setError(err);
      if (isApiError(err) && err.fieldError("password")) setPassword("");
      return;
    }
    try {
      await login(username.trim(), password);
    } catch (err) {
      setBusy(false);
      form.setError(err);
    }
  }

  return (
    <div className="login-page">
      <main className="login-card" aria-labelledby="register-title">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">G</span>
          <span className="brand-name">Gantry</span>
        </div>
        <h1 id="register-title" className="login-title">Create account</h1>
        <p className="muted">New accounts can look at everything; an admin gives more rights.</p>
        <form onSubmit={submit} noValidate className="form" aria-labelledby="register-title">
          <TextField label="Username" name="username" autoComplete="username" autoFocus required value={username} onChange={(e) => setUsername(e.target.value)} error={form.fieldError("username")} hint="1–64 of a–z, 0–9, “.”, “_” and “-”." />
          <TextField label="Display name" name="display_name" autoComplete="name" value={displayName} onChange={(e) => setDisplayName(e.target.value)} error={form.fieldError("display_name")} />
          <TextField label="Password" name="password" type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} error={form.fieldError("password")} hint="At least 10 characters." />
          <FormError message={form.formMessage} />
          <button type="submit" className="btn btn-primary btn-block" disabled={busy || !username.trim() || !password}>
            {busy ? "Creating account…" : "Create account"}
          </button>
        </form>
        <p className="login-alt">
          Have an account?{" "}
          <button type="button" className="btn-link" onClick={onCancel}>
            Sign in
          </button>
        </p>
      </main>
    </div>
  );
}
