// Light/dark theme. Default: follow the system (prefers-color-scheme). The
// user's explicit choice is kept in localStorage (a preference, not a secret)
// and applied as <html data-theme="…">; CSS variables do the rest.
export type ThemePref = "system" | "light" | "dark";
const KEY = "gantry.theme";

export function loadTheme(): ThemePref {
  try {
    const v = localStorage.getItem(KEY);
    return v === "light" || v === "dark" ? v : "system";
  } catch {
    return "system";
  }
}

export function applyTheme(pref: ThemePref): void {
  const root = document.documentElement;
  if (pref === "system") root.removeAttribute("data-theme");
  else root.setAttribute("data-theme", pref);
}

export function saveTheme(pref: ThemePref): void {
  try {
    if (pref === "system") localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, pref);
  } catch {
    /* storage disabled: the choice lasts for this page only */
  }
  applyTheme(pref);
}

export function effectiveTheme(pref: ThemePref): "light" | "dark" {
  if (pref !== "system") return pref;
  return typeof window !== "undefined" && window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}
