//! `/api/v1/tasks`: tasks, their order, labels, assignees, attachments and
//! the attachment storage setting.

use crate::attach::{Attachment, StageError, StorageInput, StorageView};
use crate::model::{DueDate, Label, LinkRef, Priority};
use crate::service::{Assignee, AssigneeFilter, LabelCount, LinkInput, MoveTo, SORTS, Task, TaskFilter, TaskInput, TasksService};
use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use gantry_api::error::{ApiError, ApiResult};
use gantry_api::extract::{Admin, ApiJson, ApiPath, ApiQuery, IfMatch, Operator, Viewer, with_etag};
use gantry_api::routes::{PageOf, PageQuery};
use gantry_api::state::AppState;
use gantry_core::FieldError;
use gantry_core::page::Sort;
use serde::{Deserialize, Deserializer};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The module's routes.
pub fn router() -> OpenApiRouter<AppState> {
    // Uploads stream into a staging file with the module's own limit
    // (`tasks.max_attachment_bytes`), so the global JSON body limit is lifted here.
    let uploads = OpenApiRouter::new().routes(routes!(list_attachments, upload_attachment)).layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .routes(routes!(list_tasks, create_task))
        .routes(routes!(list_labels))
        .routes(routes!(list_assignees))
        .routes(routes!(get_storage, put_storage))
        .routes(routes!(get_task, update_task, delete_task))
        .routes(routes!(move_task))
        .routes(routes!(download_attachment, delete_attachment))
        .merge(uploads)
}

fn svc(st: &AppState) -> Result<Arc<TasksService>, ApiError> {
    st.service::<TasksService>()
}

fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A new task.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// Title, 1–200 characters (trimmed).
    pub title: String,
    /// Markdown description.
    pub description: Option<String>,
    /// `low`, `normal` (default), `high` or `urgent`.
    pub priority: Option<String>,
    /// Due date, `YYYY-MM-DD`.
    pub due_date: Option<String>,
    /// Assignee's user id.
    pub assignee_id: Option<i64>,
    /// Labels (a-z, 0-9, '.', '_', '-'; lower-cased).
    pub labels: Option<Vec<String>>,
    /// Linked objects.
    pub links: Option<Vec<LinkInput>>,
    /// Create it already completed.
    pub completed: Option<bool>,
}

/// A partial update: fields left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// Title.
    pub title: Option<String>,
    /// Markdown description (`""` clears it).
    pub description: Option<String>,
    /// Priority.
    pub priority: Option<String>,
    /// Due date; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub due_date: Option<Option<String>>,
    /// Assignee; `null` unassigns.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<i64>>,
    /// Labels (replaces the set).
    pub labels: Option<Vec<String>>,
    /// Links (replaces the set).
    pub links: Option<Vec<LinkInput>>,
    /// Complete (`true`) or reopen (`false`).
    pub completed: Option<bool>,
}

/// Where to move a task: exactly one of the fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// Place it right after this task.
    pub after_id: Option<i64>,
    /// Place it right before this task.
    pub before_id: Option<i64>,
    /// Place it at this 0-based index of the whole manual order.
    pub index: Option<u64>,
}

/// Task list filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// Only completed (true) or open (false) tasks.
    pub completed: Option<bool>,
    /// Only tasks assigned to this user.
    pub assignee_id: Option<i64>,
    /// `me` (the caller's tasks) or `none` (unassigned).
    pub assignee: Option<String>,
    /// Only tasks with this label.
    pub label: Option<String>,
    /// Only this priority.
    pub priority: Option<String>,
    /// Due on or before this date (`YYYY-MM-DD`).
    pub due_before: Option<String>,
    /// Due on or after this date.
    pub due_after: Option<String>,
    /// Case-insensitive substring of title or description.
    pub q: Option<String>,
    /// Linked to an object, `kind:id` (e.g. `server:5`).
    pub link: Option<String>,
    /// `position` (default), `due_date`, `priority`, `created_at`, `updated_at`; prefix `-` for descending.
    pub sort: Option<String>,
    /// Page size (1–500, default 50).
    pub limit: Option<u64>,
    /// Cursor from the previous page's `next`.
    pub cursor: Option<String>,
}

impl TaskQuery {
    fn parse(self, me: i64) -> Result<(TaskFilter, gantry_core::page::PageRequest), ApiError> {
        let mut errors = Vec::new();
        let mut f = TaskFilter { completed: self.completed, ..Default::default() };
        f.assignee = match (self.assignee.as_deref(), self.assignee_id) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::new("assignee", "give assignee or assignee_id, not both"));
                None
            }
            (Some("me"), None) => Some(AssigneeFilter::User(me)),
            (Some("none"), None) => Some(AssigneeFilter::Nobody),
            (Some(other), None) => {
                errors.push(FieldError::new("assignee", format!("must be me or none (got {other:?}); use assignee_id for others")));
                None
            }
            (None, id) => id.map(AssigneeFilter::User),
        };
        fn take<T>(errors: &mut Vec<FieldError>, field: &str, raw: Option<&str>, parse: fn(&str) -> Result<T, String>) -> Option<T> {
            raw.map(parse).transpose().map_err(|m| errors.push(FieldError::new(field, m))).ok().flatten()
        }
        f.label = take(&mut errors, "label", self.label.as_deref(), Label::parse);
        f.priority = take(&mut errors, "priority", self.priority.as_deref(), Priority::parse);
        f.due_before = take(&mut errors, "due_before", self.due_before.as_deref(), DueDate::parse);
        f.due_after = take(&mut errors, "due_after", self.due_after.as_deref(), DueDate::parse);
        f.link = take(&mut errors, "link", self.link.as_deref(), LinkRef::parse);
        f.q = self.q.filter(|q| !q.trim().is_empty());
        if f.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            errors.push(FieldError::new("q", "must be at most 200 characters"));
        }
        if let Some(s) = self.sort.as_deref() {
            match Sort::parse(s, SORTS) {
                Ok(s) => f.sort = Some(s),
                Err(e) => errors.push(e),
            }
        }
        let page = match (PageQuery { limit: self.limit, cursor: self.cursor }).parse() {
            Ok(p) => Some(p),
            Err(e) => {
                if errors.is_empty() {
                    return Err(e);
                }
                None
            }
        };
        match page {
            Some(p) if errors.is_empty() => Ok((f, p)),
            _ => Err(ApiError::validation(errors)),
        }
    }
}

/// List tasks: filter, search, sort, page.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(TaskQuery),
    responses((status = 200, body = PageOf<Task>), (status = 422, body = gantry_api::error::Problem)))]
async fn list_tasks(State(st): State<AppState>, Viewer(c): Viewer, ApiQuery(q): ApiQuery<TaskQuery>) -> ApiResult<Json<PageOf<Task>>> {
    let (f, page) = q.parse(c.principal.user_id.0)?;
    Ok(Json(svc(&st)?.list(&f, page).await?.into()))
}

/// Create a task (it goes to the bottom of the manual order).
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", request_body = CreateRequest,
    responses((status = 201, body = Task), (status = 422, body = gantry_api::error::Problem)))]
async fn create_task(State(st): State<AppState>, Operator(c): Operator, ApiJson(r): ApiJson<CreateRequest>) -> ApiResult<Response> {
    let input = TaskInput {
        title: Some(r.title),
        description: r.description,
        priority: r.priority,
        due_date: r.due_date.map(Some),
        assignee_id: r.assignee_id.map(Some),
        labels: r.labels,
        links: r.links,
        completed: r.completed,
    };
    let t = svc(&st)?.create(input, &c.actor).await?;
    Ok(with_etag(StatusCode::CREATED, t.version, t))
}

/// One task.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = i64, Path, description = "Task id")),
    responses((status = 200, body = Task), (status = 404, body = gantry_api::error::Problem)))]
async fn get_task(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    let t = svc(&st)?.get(id).await?;
    Ok(with_etag(StatusCode::OK, t.version, t))
}

/// Change some fields of a task; send `If-Match` with the version you read.
#[utoipa::path(patch, path = "/api/v1/tasks/{id}", tag = "tasks", request_body = UpdateRequest,
    params(("id" = i64, Path, description = "Task id"), ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses((status = 200, body = Task), (status = 412, body = gantry_api::error::Problem), (status = 422, body = gantry_api::error::Problem)))]
async fn update_task(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    IfMatch(v): IfMatch,
    ApiJson(r): ApiJson<UpdateRequest>,
) -> ApiResult<Response> {
    let input = TaskInput {
        title: r.title,
        description: r.description,
        priority: r.priority,
        due_date: r.due_date,
        assignee_id: r.assignee_id,
        labels: r.labels,
        links: r.links,
        completed: r.completed,
    };
    let t = svc(&st)?.update(id, v, input, &c.actor).await?;
    Ok(with_etag(StatusCode::OK, t.version, t))
}

/// Delete a task and its attachments (its creator or an admin).
#[utoipa::path(delete, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = i64, Path, description = "Task id")),
    responses((status = 204), (status = 403, body = gantry_api::error::Problem), (status = 404, body = gantry_api::error::Problem)))]
async fn delete_task(State(st): State<AppState>, Operator(c): Operator, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    svc(&st)?.delete(id, &c.principal, &c.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Move a task in the manual order.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/move", tag = "tasks", request_body = MoveRequest, params(("id" = i64, Path, description = "Task id")),
    responses((status = 200, body = Task), (status = 422, body = gantry_api::error::Problem)))]
async fn move_task(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<MoveRequest>,
) -> ApiResult<Response> {
    let to = match (r.after_id, r.before_id, r.index) {
        (Some(a), None, None) => MoveTo::After(a),
        (None, Some(b), None) => MoveTo::Before(b),
        // Larger than any list; also keeps the offset within the databases' signed 64-bit range.
        (None, None, Some(i)) => MoveTo::Index(i.min(1 << 40)),
        _ => return Err(ApiError::validation(vec![FieldError::new("after_id", "give exactly one of after_id, before_id or index")])),
    };
    let t = svc(&st)?.move_task(id, to, &c.actor).await?;
    Ok(with_etag(StatusCode::OK, t.version, t))
}

/// Labels in use, with how many tasks carry each.
#[utoipa::path(get, path = "/api/v1/tasks/labels", tag = "tasks", responses((status = 200, body = Vec<LabelCount>)))]
async fn list_labels(State(st): State<AppState>, _: Viewer) -> ApiResult<Json<Vec<LabelCount>>> {
    Ok(Json(svc(&st)?.labels().await?))
}

/// Users tasks can be assigned to (enabled accounts).
#[utoipa::path(get, path = "/api/v1/tasks/assignees", tag = "tasks", responses((status = 200, body = Vec<Assignee>)))]
async fn list_assignees(State(st): State<AppState>, _: Viewer) -> ApiResult<Json<Vec<Assignee>>> {
    Ok(Json(svc(&st)?.assignees().await?))
}

/// A task's attachments.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/attachments", tag = "tasks", params(("id" = i64, Path, description = "Task id")),
    responses((status = 200, body = Vec<Attachment>), (status = 404, body = gantry_api::error::Problem)))]
async fn list_attachments(State(st): State<AppState>, _: Viewer, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Vec<Attachment>>> {
    Ok(Json(svc(&st)?.attachments(id).await?))
}

/// Upload an attachment: `multipart/form-data` with one part named `file`.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/attachments", tag = "tasks", params(("id" = i64, Path, description = "Task id")),
    request_body(content_type = "multipart/form-data", description = "One part named `file`"),
    responses((status = 201, body = Attachment), (status = 413, body = gantry_api::error::Problem), (status = 422, body = gantry_api::error::Problem)))]
async fn upload_attachment(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath(id): ApiPath<i64>,
    mut form: Multipart,
) -> ApiResult<Response> {
    let s = svc(&st)?;
    // Fail fast on an unknown task before reading the body.
    s.exists(id).await?;
    let bad = |m: String| ApiError::bad_request("bad_multipart", m);
    loop {
        let field = form.next_field().await.map_err(|e| bad(format!("the upload is not valid multipart/form-data: {}", e.body_text())))?;
        let Some(mut field) = field else {
            return Err(ApiError::validation(vec![FieldError::new("file", "send the file as a multipart part named `file`")]));
        };
        if field.name() != Some("file") {
            continue;
        }
        let filename = field.file_name().unwrap_or("").to_string();
        let content_type = field.content_type().map(str::to_string);
        let mut staging = s.staging()?;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => staging.write(&chunk).map_err(stage_error)?,
                Ok(None) => break,
                // A dropped connection ends here; the staging file goes with `staging`.
                Err(e) => return Err(bad(format!("the upload was interrupted: {}", e.body_text()))),
            }
        }
        let staged = staging.finish().map_err(stage_error)?;
        let a = s.add_attachment(id, &filename, content_type.as_deref(), staged, &c.actor).await?;
        return Ok((StatusCode::CREATED, Json(a)).into_response());
    }
}

fn stage_error(e: StageError) -> ApiError {
    match e {
        StageError::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", e.to_string()),
        StageError::Io(m) => ApiError::internal(m),
    }
}

/// Download an attachment.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/attachments/{attachment_id}", tag = "tasks",
    params(("id" = i64, Path, description = "Task id"), ("attachment_id" = i64, Path, description = "Attachment id")),
    responses((status = 200, description = "The file, with its recorded content type"), (status = 404, body = gantry_api::error::Problem)))]
async fn download_attachment(State(st): State<AppState>, _: Viewer, ApiPath((id, aid)): ApiPath<(i64, i64)>) -> ApiResult<Response> {
    let (a, stream) = svc(&st)?.download(id, aid).await?;
    let body = Body::from_stream(stream.map(|r| r.map_err(std::io::Error::other)));
    let mut res = Response::new(body);
    let h = res.headers_mut();
    let ct = HeaderValue::from_str(&a.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, ct);
    if let Ok(v) = HeaderValue::from_str(&a.size.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&a.filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    // Uploaded content is never rendered as part of the panel's origin.
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(res)
}

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266).
fn content_disposition(name: &str) -> String {
    let ascii: String = name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let encoded: String = name
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Delete an attachment.
#[utoipa::path(delete, path = "/api/v1/tasks/{id}/attachments/{attachment_id}", tag = "tasks",
    params(("id" = i64, Path, description = "Task id"), ("attachment_id" = i64, Path, description = "Attachment id")),
    responses((status = 204), (status = 404, body = gantry_api::error::Problem)))]
async fn delete_attachment(
    State(st): State<AppState>,
    Operator(c): Operator,
    ApiPath((id, aid)): ApiPath<(i64, i64)>,
) -> ApiResult<StatusCode> {
    svc(&st)?.delete_attachment(id, aid, &c.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Where attachments are stored (admins).
#[utoipa::path(get, path = "/api/v1/tasks/storage", tag = "tasks", responses((status = 200, body = StorageView)))]
async fn get_storage(State(st): State<AppState>, _: Admin) -> ApiResult<Json<StorageView>> {
    Ok(Json(svc(&st)?.storage().await?))
}

/// Change where new attachments are stored (admins). S3 settings are tested with a write, read and delete first.
#[utoipa::path(put, path = "/api/v1/tasks/storage", tag = "tasks", request_body = StorageInput,
    responses((status = 200, body = StorageView), (status = 409, body = gantry_api::error::Problem), (status = 422, body = gantry_api::error::Problem)))]
async fn put_storage(State(st): State<AppState>, Admin(c): Admin, ApiJson(r): ApiJson<StorageInput>) -> ApiResult<Json<StorageView>> {
    Ok(Json(svc(&st)?.set_storage(r, &c.actor).await?))
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn content_disposition_is_safe() {
        assert_eq!(content_disposition("a b.txt"), "attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt");
        assert_eq!(
            content_disposition("отчёт.pdf"),
            "attachment; filename=\"_____.pdf\"; filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf"
        );
    }
}
