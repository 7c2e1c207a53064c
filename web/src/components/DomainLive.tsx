// Whether a domain's latest version is what its server's proxy serves
// (GET /api/v1/domains/{id}/proxy), e.g. "Live on edge (generation 7)" or
// "Change pending". Re-read when the proxy applies something or the domain changes.
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router";
import { useEvents } from "../api/events";
import { domainLiveState, type DomainLiveState } from "../api/proxy";
import { Badge } from "./Badge";
import { generationPath } from "./ServerProxy";

export function liveHeadline(s: DomainLiveState, serverName?: string | null): { tone: "success" | "warning" | "neutral"; text: string } {
  const on = serverName ? ` on ${serverName}` : "";
  if (s.server_id == null) return { tone: "neutral", text: "Not deployed: the group has no server" };
  if (!s.up_to_date) return { tone: "warning", text: "Change pending" };
  if (!s.served) return { tone: "neutral", text: `Not served${on}` };
  return { tone: "success", text: `Live${on}${s.live_number != null ? ` (generation ${s.live_number})` : ""}` };
}

export function DomainLive({ domainId, serverName }: { domainId: number; serverName?: string | null }) {
  const [state, setState] = useState<DomainLiveState | null>(null);
  const [failed, setFailed] = useState(false);
  const load = useCallback(async () => {
    try {
      setState(await domainLiveState(domainId));
      setFailed(false);
    } catch {
      setFailed(true);
    }
  }, [domainId]);
  useEffect(() => {
    void load();
  }, [load]);
  useEvents("proxy.", (e) => {
    const p = e.payload as { server_id?: number };
    if (state?.server_id == null || p.server_id === state.server_id) void load();
  });
  useEvents("domain.", (e) => {
    if (e.entity_id === String(domainId)) void load();
  });

  if (failed) return <p className="muted small domain-live">The proxy state of this domain could not be read.</p>;
  if (!state) return null;
  const h = liveHeadline(state, serverName);
  return (
    <div className="domain-live" data-testid="domain-live" data-up-to-date={state.up_to_date}>
      <Badge tone={h.tone}>{h.text}</Badge>
      <span className="muted small">{state.detail}</span>
      {state.server_id != null && state.live_number != null ? (
        <Link className="small" to={generationPath(state.server_id, state.live_number)}>
          Live generation
        </Link>
      ) : null}
    </div>
  );
}
