// The authenticated shell: a skip link, the sidebar navigation (links filtered
// by role), the top bar (stream state, theme toggle, account menu) and the
// page outlet.
import { useEffect, useRef, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import { hasRole } from "../api/client";
import { useStreamState } from "../api/events";
import { useAuth, useMe } from "../auth/AuthContext";
import { effectiveTheme, loadTheme, saveTheme, type ThemePref } from "../lib/theme";
import { NAV } from "../modules";
import { RoleBadge } from "./Badge";
import { useToast } from "./Toasts";

export function Layout() {
  const me = useMe();
  const location = useLocation();
  const [navOpen, setNavOpen] = useState(false);
  const mainRef = useRef<HTMLElement>(null);

  // Close the narrow-screen menu on navigation; move focus to the page.
  useEffect(() => {
    setNavOpen(false);
  }, [location.pathname]);

  return (
    <div className={`shell${navOpen ? " shell-nav-open" : ""}`}>
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); mainRef.current?.focus(); }}>
        Skip to content
      </a>
      <aside className="sidebar" aria-label="Main navigation">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">G</span>
          <span className="brand-name">Gantry</span>
        </div>
        <nav className="nav">
          {NAV.map((section) => {
            const items = section.items.filter((i) => hasRole(me.role, i.minRole));
            if (items.length === 0) return null;
            return (
              <div key={section.title} className="nav-section">
                <h2 className="nav-section-title">{section.title}</h2>
                <ul>
                  {items.map((item) => (
                    <li key={item.path}>
                      <NavLink to={item.path} end={item.path === "/"} className={({ isActive }) => `nav-link${isActive ? " active" : ""}`}>
                        <span className="nav-icon" aria-hidden="true">{item.icon}</span>
                        <span className="nav-label">{item.label}</span>
                        {!item.available ? <span className="nav-soon">soon</span> : null}
                      </NavLink>
                    </li>
                  ))}
                </ul>
              </div>
            );
          })}
        </nav>
      </aside>
      <div className="main-col">
        <TopBar onToggleNav={() => setNavOpen((o) => !o)} navOpen={navOpen} />
        <main id="main" ref={mainRef} tabIndex={-1} className="main">
          <Outlet />
        </main>
      </div>
    </div>
  );
}

function TopBar({ onToggleNav, navOpen }: { onToggleNav: () => void; navOpen: boolean }) {
  const me = useMe();
  const { logout } = useAuth();
  const toast = useToast();
  const stream = useStreamState();
  const [theme, setTheme] = useState<ThemePref>(loadTheme);
  const [menuOpen, setMenuOpen] = useState(false);
  const menuRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!menuOpen) return;
    function onDoc(e: MouseEvent) {
      if (menuRef.current && !menuRef.current.contains(e.target as Node)) setMenuOpen(false);
    }
    document.addEventListener("mousedown", onDoc);
    return () => document.removeEventListener("mousedown", onDoc);
  }, [menuOpen]);

  function cycleTheme() {
    const next: ThemePref = theme === "system" ? (effectiveTheme("system") === "dark" ? "light" : "dark") : theme === "dark" ? "light" : "system";
    setTheme(next);
    saveTheme(next);
  }

  const themeLabel = theme === "system" ? `System theme (${effectiveTheme("system")})` : theme === "dark" ? "Dark theme" : "Light theme";

  return (
    <header className="topbar">
      <button type="button" className="btn btn-ghost btn-icon nav-toggle" aria-label="Menu" aria-expanded={navOpen} onClick={onToggleNav}>
        <span aria-hidden="true">☰</span>
      </button>
      <div className="topbar-spacer" />
      <span className={`live-indicator live-${stream}`} title="Live updates from the server (Server-Sent Events)">
        <span className="live-dot" aria-hidden="true" />
        {stream === "open" ? "Live" : stream === "connecting" ? "Connecting…" : "Offline"}
      </span>
      <button type="button" className="btn btn-ghost theme-toggle" onClick={cycleTheme} aria-label={`Theme: ${themeLabel}. Change theme`} title={themeLabel}>
        <span aria-hidden="true">{theme === "system" ? "◐" : theme === "dark" ? "☾" : "☀"}</span>
        <span className="theme-toggle-text">{theme === "system" ? "System" : theme === "dark" ? "Dark" : "Light"}</span>
      </button>
      <div className="menu" ref={menuRef} onKeyDown={(e) => { if (e.key === "Escape") setMenuOpen(false); }}>
        <button type="button" className="btn btn-ghost user-button" aria-haspopup="true" aria-expanded={menuOpen} onClick={() => setMenuOpen((o) => !o)}>
          <span className="avatar" aria-hidden="true">{(me.display_name || me.username).slice(0, 1).toUpperCase()}</span>
          <span className="user-name">{me.display_name || me.username}</span>
          <RoleBadge role={me.role} />
        </button>
        {menuOpen ? (
          <div className="menu-popover">
            <div className="menu-header">
              Signed in as <strong>{me.username}</strong>
            </div>
            <NavLink to="/account" className="menu-item" onClick={() => setMenuOpen(false)}>
              Account & API tokens
            </NavLink>
            <button
              type="button"
              className="menu-item"
              onClick={async () => {
                setMenuOpen(false);
                try {
                  await logout(); // RequireAuth then sends us to /login
                } catch {
                  toast.error("Could not sign out: the server did not answer.");
                }
              }}
            >
              Sign out
            </button>
          </div>
        ) : null}
      </div>
    </header>
  );
}

export function PageHeader({ title, description, actions }: { title: string; description?: React.ReactNode; actions?: React.ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Gantry`;
  }, [title]);
  return (
    <div className="page-header">
      <div>
        <h1 className="page-title">{title}</h1>
        {description ? <p className="page-description">{description}</p> : null}
      </div>
      {actions ? <div className="page-actions">{actions}</div> : null}
    </div>
  );
}
