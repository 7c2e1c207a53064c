//! `/api/v1/events`: the live event stream (Server-Sent Events).

use crate::error::ApiResult;
use crate::extract::{ApiQuery, Viewer};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use gantry_core::events::Event;
use gantry_core::ids::EventId;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

/// Stream filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Comma-separated kinds or kind prefixes ending in `.` (e.g. `job.,user.changed`).
    pub kinds: Option<String>,
    /// Replay stored events after this id first (same as the `Last-Event-ID` header).
    pub after: Option<i64>,
}

fn to_sse(ev: &Event) -> SseEvent {
    let data = serde_json::to_string(ev).unwrap_or_else(|_| "{}".into());
    SseEvent::default().id(ev.id.to_string()).event(ev.kind.clone()).data(data)
}

fn wanted(kinds: &[String], ev: &Event) -> bool {
    kinds.is_empty() || kinds.iter().any(|k| if k.ends_with('.') { ev.kind.starts_with(k.as_str()) } else { ev.kind == *k })
}

/// Follow events you may see, live. Each SSE message has `id` (resume with
/// `Last-Event-ID`), `event` (the kind) and `data` (the event as JSON).
/// The stream ends when the server shuts down; clients reconnect.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventQuery),
    responses((status = 200, description = "text/event-stream of events", content_type = "text/event-stream", body = Event)))]
async fn events(
    State(state): State<AppState>,
    Viewer(c): Viewer,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let kinds: Vec<String> = q.kinds.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|s| s.parse::<i64>().ok()).or(q.after);
    // Subscribe before reading history so nothing falls between the two.
    let live = BroadcastStream::new(state.bus.subscribe());
    let mut replay = Vec::new();
    if let Some(after) = resume {
        replay = state.repos.events.after(EventId(after), 1000).await.map_err(gantry_core::ServiceError::from)?;
    }
    let last_replayed = replay.last().map(|e| e.id).unwrap_or(EventId(resume.unwrap_or(0)));
    let (user, role) = (c.principal.user_id, c.principal.role);
    let k1 = kinds.clone();
    let history = stream::iter(replay.into_iter().filter(move |e| e.visible_to(user, role) && wanted(&k1, e)).map(|e| Ok(to_sse(&e))));
    let live = live
        .filter_map(move |r: Result<Arc<Event>, _>| {
            // A lagging client misses some events; it can resume from the last id it saw.
            let out = match r {
                Ok(e) if e.id > last_replayed && e.visible_to(user, role) && wanted(&kinds, &e) => Some(Ok(to_sse(&e))),
                _ => None,
            };
            async move { out }
        })
        .take_until(state.shutdown.clone().cancelled_owned());
    Ok(Sse::new(history.chain(live)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
