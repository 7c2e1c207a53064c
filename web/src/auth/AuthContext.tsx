// Who is signed in. On start the panel asks GET /auth/me (the session cookie
// is HttpOnly, so this is the only way to know); the CSRF token it returns is
// kept in memory by the API client. A 401 `unauthenticated` from any call
// drops back to the login page.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, call, isApiError, onUnauthenticated, setCsrfToken, type Me } from "../api/client";

type AuthState =
  | { status: "loading" }
  /** `reason`: first visit, the session ended by itself, or the user signed out. */
  | { status: "anonymous"; reason: "initial" | "expired" | "logout" }
  | { status: "error"; error: unknown }
  | { status: "authenticated"; me: Me };

interface AuthApi {
  state: AuthState;
  me: Me | null;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
  refresh(): Promise<void>;
}

const AuthContext = createContext<AuthApi | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ status: "loading" });

  const refresh = useCallback(async () => {
    try {
      const me = await call(api.GET("/api/v1/auth/me"));
      setCsrfToken(me.csrf_token);
      setState({ status: "authenticated", me });
    } catch (e) {
      setCsrfToken(null);
      if (isApiError(e) && e.status === 401) setState({ status: "anonymous", reason: "initial" });
      else setState({ status: "error", error: e });
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  useEffect(
    () =>
      onUnauthenticated(() => {
        setCsrfToken(null);
        setState((s) => (s.status === "authenticated" ? { status: "anonymous", reason: "expired" } : s));
      }),
    [],
  );

  const login = useCallback(async (username: string, password: string) => {
    const res = await call(api.POST("/api/v1/auth/login", { body: { username, password } }));
    setCsrfToken(res.csrf_token);
    const u = res.user;
    setState({
      status: "authenticated",
      me: { id: u.id, username: u.username, display_name: u.display_name, role: u.role, auth: "session", csrf_token: res.csrf_token },
    });
  }, []);

  const logout = useCallback(async () => {
    try {
      await call(api.POST("/api/v1/auth/logout"));
    } finally {
      setCsrfToken(null);
      setState({ status: "anonymous", reason: "logout" });
    }
  }, []);

  const value = useMemo<AuthApi>(
    () => ({ state, me: state.status === "authenticated" ? state.me : null, login, logout, refresh }),
    [state, login, logout, refresh],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthApi {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error("AuthProvider missing");
  return ctx;
}

/** The signed-in user; only call below the authenticated layout. */
export function useMe(): Me {
  const { me } = useAuth();
  if (!me) throw new Error("not signed in");
  return me;
}
