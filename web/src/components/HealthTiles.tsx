// The dashboard's "Health" row: one tile per area from
// `GET /api/v1/monitoring/summary`. Problems stand out (red/amber), calm
// tiles stay quiet; every tile and every count links to the filtered list.
// Live: the events that can change a count re-read the summary (debounced).
import { useCallback, useEffect, useRef, useState } from "react";
import { Link } from "react-router";
import { useEvents } from "../api/events";
import { healthSummary, type HealthSummary } from "../api/monitoring";
import { formatDateTime } from "../lib/format";
import { healthTiles, HEALTH_EVENT_PREFIXES, type TileView } from "../lib/monitoring";
import { ErrorState, Loading } from "./States";

/** Bursts of events (a rollout, a fleet check) re-read the summary once. */
const REFRESH_DEBOUNCE_MS = 800;

const TONE_TEXT: Record<TileView["tone"], string> = {
  danger: "needs attention",
  warning: "warning",
  info: "busy",
  ok: "all clear",
  neutral: "",
  error: "not available",
};

export function HealthTiles() {
  const [summary, setSummary] = useState<HealthSummary | null>(null);
  const [error, setError] = useState<unknown>(null);
  const seq = useRef(0);

  const load = useCallback(() => {
    const id = ++seq.current;
    healthSummary().then(
      (s) => {
        if (id !== seq.current) return;
        setSummary(s);
        setError(null);
      },
      (e: unknown) => {
        if (id === seq.current) setError(e);
      },
    );
  }, []);
  useEffect(load, [load]);

  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);
  const schedule = useCallback(() => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => {
      timer.current = null;
      load();
    }, REFRESH_DEBOUNCE_MS);
  }, [load]);
  // One subscription per prefix (hooks in a fixed order).
  useEvents(HEALTH_EVENT_PREFIXES[0], schedule);
  useEvents(HEALTH_EVENT_PREFIXES[1], schedule);
  useEvents(HEALTH_EVENT_PREFIXES[2], schedule);
  useEvents(HEALTH_EVENT_PREFIXES[3], schedule);
  useEvents(HEALTH_EVENT_PREFIXES[4], schedule);
  useEvents(HEALTH_EVENT_PREFIXES[5], schedule);

  return (
    <section className="card health" aria-labelledby="health-title">
      <div className="card-head">
        <h2 id="health-title" className="card-title">
          Health
        </h2>
        {summary ? (
          <span className="muted small" title={formatDateTime(summary.at)}>
            as of {formatDateTime(summary.at)}
          </span>
        ) : null}
      </div>
      {summary ? (
        <ul className="health-tiles" aria-label="Health">
          {healthTiles(summary).map((t) => (
            <li key={t.id}>
              <Tile tile={t} />
            </li>
          ))}
        </ul>
      ) : error ? (
        <ErrorState error={error} onRetry={load} title="Could not load the health summary" />
      ) : (
        <Loading />
      )}
    </section>
  );
}

function Tile({ tile }: { tile: TileView }) {
  return (
    <div className={`tile tile-${tile.tone}`} data-testid={`tile-${tile.id}`} data-tone={tile.tone}>
      <div className="tile-head">
        <Link to={tile.href} className="tile-title">
          {tile.title}
        </Link>
        {TONE_TEXT[tile.tone] ? <span className="tile-state">{TONE_TEXT[tile.tone]}</span> : null}
      </div>
      {tile.error ? (
        <p className="tile-error-text" role="note">
          {tile.error}
        </p>
      ) : (
        <>
          <p className="tile-headline">{tile.headline}</p>
          <ul className="tile-counts">
            {tile.counts.map((c) => (
              <li key={c.key}>
                <Link to={c.href} className={`tile-count tone-${c.count > 0 ? c.tone : "zero"}`} data-state={c.key} aria-label={`${tile.title}: ${c.count} ${c.label}`}>
                  <span className="tile-count-n">{c.count}</span> {c.label}
                </Link>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
