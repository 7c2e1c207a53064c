import { useEffect, useRef, useState } from "react";
import { isApiError } from "../api/client";
import { useAuth } from "../auth/AuthContext";
import { TextField } from "../components/Form";

export function LoginPage({ expired }: { expired: boolean }) {
  const { login } = useAuth();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const passwordRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = "Sign in · Gantry";
  }, []);

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
      </main>
    </div>
  );
}
