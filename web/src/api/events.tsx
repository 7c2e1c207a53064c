// One shared Server-Sent Events connection to GET /api/v1/events for the
// whole panel. Pages subscribe by kind prefix (`job.`, `user.`, `server.`, `domain.`, `domain_group.`, `proxy.`, `certificate.`, `task.`, `event.`) with
// `useEvents`; job progress is kept in a small store so a job that finished
// before its drawer mounted still shows its final state.
import { createContext, useCallback, useContext, useEffect, useRef, useSyncExternalStore, type ReactNode } from "react";
import type { JobStatus, ServerStatus } from "./client";

/** An event as sent on the stream (`data:` of each SSE message). */
export interface GantryEvent<P = unknown> {
  id: number;
  at: string;
  kind: string;
  entity_type?: string | null;
  entity_id?: string | null;
  payload: P;
}

/** Payload of `server.status_changed`. */
export interface ServerStatusChange {
  server_id: number;
  name: string;
  from: ServerStatus;
  to: ServerStatus;
  message?: string | null;
}

/** Payload of `job.updated`. */
export interface JobUpdate {
  job_id: number;
  kind: string;
  status: JobStatus;
  progress: number;
  message?: string | null;
}

export type StreamState = "connecting" | "open" | "closed";

type Handler = (e: GantryEvent) => void;

export interface LiveJob extends JobUpdate {
  /** Every distinct progress message seen on the stream, in order. */
  messages: { at: string; message: string }[];
  /** Event id of the latest update. */
  eventId: number;
}

/** The event kinds the panel listens to. EventSource needs a listener per event name. */
export const KNOWN_KINDS = [
  "job.updated",
  "user.changed",
  "server.status_changed",
  "domain.changed",
  "domain_group.changed",
  "proxy.status_changed",
  "proxy.applied",
  "proxy.drift_detected",
  "proxy.rollout_updated",
  "certificate.changed",
  "task.changed",
  "event.recorded",
];

/** The `kinds` filter of the stream: every prefix the panel listens to. */
export const STREAM_KINDS = "job.,user.,server.,domain.,domain_group.,proxy.,certificate.,task.,event.";

export interface EventSourceLike {
  addEventListener(type: string, listener: (e: MessageEvent) => void): void;
  close(): void;
  onopen: ((this: EventSource, ev: Event) => unknown) | null;
  onerror: ((this: EventSource, ev: Event) => unknown) | null;
  readyState: number;
}

export class EventHub {
  private handlers = new Map<Handler, string>();
  private jobs = new Map<number, LiveJob>();
  private jobListeners = new Set<() => void>();
  private source: EventSourceLike | null = null;
  private stateListeners = new Set<() => void>();
  state: StreamState = "closed";

  constructor(private readonly open: (url: string) => EventSourceLike = (url) => new EventSource(url)) {}

  connect(): void {
    if (this.source) return;
    this.setState("connecting");
    const source = this.open(`/api/v1/events?kinds=${STREAM_KINDS}`);
    source.onopen = () => this.setState("open");
    source.onerror = () => {
      // EventSource reconnects by itself (sending Last-Event-ID) unless the
      // server refused the stream (e.g. 401), in which case it is CLOSED.
      this.setState(source.readyState === 2 ? "closed" : "connecting");
    };
    for (const kind of KNOWN_KINDS) {
      source.addEventListener(kind, (m: MessageEvent) => this.receive(m.data));
    }
    this.source = source;
  }

  disconnect(): void {
    this.source?.close();
    this.source = null;
    this.jobs.clear();
    this.setState("closed");
  }

  /** Feeds one raw `data:` payload; public so tests can drive the hub. */
  receive(raw: string): void {
    let event: GantryEvent;
    try {
      event = JSON.parse(raw) as GantryEvent;
    } catch {
      return;
    }
    if (event.kind === "job.updated") this.updateJob(event as GantryEvent<JobUpdate>);
    for (const [handler, prefix] of this.handlers) {
      if (event.kind.startsWith(prefix)) handler(event);
    }
  }

  subscribe(prefix: string, handler: Handler): () => void {
    this.handlers.set(handler, prefix);
    return () => {
      this.handlers.delete(handler);
    };
  }

  getJob(id: number): LiveJob | undefined {
    return this.jobs.get(id);
  }

  subscribeJobs(listener: () => void): () => void {
    this.jobListeners.add(listener);
    return () => {
      this.jobListeners.delete(listener);
    };
  }

  subscribeState(listener: () => void): () => void {
    this.stateListeners.add(listener);
    return () => {
      this.stateListeners.delete(listener);
    };
  }

  private setState(state: StreamState) {
    if (this.state === state) return;
    this.state = state;
    this.stateListeners.forEach((l) => l());
  }

  private updateJob(event: GantryEvent<JobUpdate>) {
    const p = event.payload;
    const prev = this.jobs.get(p.job_id);
    if (prev && prev.eventId >= event.id) return;
    const messages = prev ? [...prev.messages] : [];
    if (p.message && messages[messages.length - 1]?.message !== p.message) {
      messages.push({ at: event.at, message: p.message });
    }
    this.jobs.set(p.job_id, { ...p, messages, eventId: event.id });
    this.jobListeners.forEach((l) => l());
  }
}

const HubContext = createContext<EventHub | null>(null);

export function EventsProvider({ hub, enabled, children }: { hub?: EventHub; enabled: boolean; children: ReactNode }) {
  const ref = useRef<EventHub | null>(hub ?? null);
  if (!ref.current) ref.current = new EventHub();
  const h = ref.current;
  useEffect(() => {
    if (!enabled) return;
    h.connect();
    return () => h.disconnect();
  }, [enabled, h]);
  return <HubContext.Provider value={h}>{children}</HubContext.Provider>;
}

function useHub(): EventHub {
  const hub = useContext(HubContext);
  if (!hub) throw new Error("EventsProvider missing");
  return hub;
}

/** Calls `handler` for every event whose kind starts with `prefix`. */
export function useEvents(prefix: string, handler: Handler): void {
  const hub = useHub();
  const latest = useRef(handler);
  useEffect(() => {
    latest.current = handler;
  });
  useEffect(() => hub.subscribe(prefix, (e) => latest.current(e)), [hub, prefix]);
}

/** The latest `job.updated` state of one job seen on the stream, if any. */
export function useLiveJob(id: number | null): LiveJob | undefined {
  const hub = useHub();
  const subscribe = useCallback((l: () => void) => hub.subscribeJobs(l), [hub]);
  return useSyncExternalStore(subscribe, () => (id == null ? undefined : hub.getJob(id)));
}

/** The stream's connection state, for a small "live" indicator. */
export function useStreamState(): StreamState {
  const hub = useHub();
  const subscribe = useCallback((l: () => void) => hub.subscribeState(l), [hub]);
  return useSyncExternalStore(subscribe, () => hub.state);
}

export function useEventHub(): EventHub {
  return useHub();
}

/** Small helper: memoized set of terminal statuses. */
export const TERMINAL: ReadonlySet<JobStatus> = new Set<JobStatus>(["succeeded", "failed", "cancelled"]);
