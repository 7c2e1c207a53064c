//! Tasks: the rules, the manual order, links to infrastructure, and the
//! outbox events the panel refreshes from.

use crate::model::{Description, DueDate, LINKS_MAX, Label, LinkKind, LinkRef, Priority, Title};
use crate::store::{TasksOrder, attachment, label, link, task};
use chrono::{DateTime, Utc};
use gantry_core::audit::{Actor, AuditDraft};
use gantry_core::auth::Principal;
use gantry_core::events::DomainEvent;
use gantry_core::ids::UserId;
use gantry_core::page::{Cursor, Direction, Page, PageRequest, Sort};
use gantry_core::repo::{Trail, UserFilter, UserRepo};
use gantry_core::secrets::Keyring;
use gantry_core::user::Role;
use gantry_core::{FieldError, ServiceError, StoreError};
use gantry_store::Db;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// Gap between neighbours in the manual order: room for ten moves into one gap before a renumbering.
const GAP: i64 = 1024;

/// Resolves a link target's display name.
#[async_trait::async_trait]
pub trait LinkTarget: Send + Sync {
    /// The object's name; `Ok(None)` when it does not exist, `Err` when that cannot be told now.
    async fn name(&self, id: i64) -> Result<Option<String>, ServiceError>;
}

/// A user as tasks show them.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct UserRef {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
}

/// A link to an infrastructure object.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct Link {
    /// What it points to.
    pub kind: LinkKind,
    /// The object's id.
    pub id: i64,
    /// Its name now; `null` when the object no longer exists.
    pub name: Option<String>,
}

/// A link as given in a request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    /// `server`, `domain_group`, `domain` or `pve_stand`.
    pub kind: String,
    /// The object's id.
    pub id: i64,
}

/// A task as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Task {
    /// Id.
    pub id: i64,
    /// Title (1–200 characters).
    pub title: String,
    /// Markdown description (may be empty).
    pub description: String,
    /// Priority.
    pub priority: Priority,
    /// Due date, `YYYY-MM-DD`.
    pub due_date: Option<String>,
    /// Who works on it.
    pub assignee: Option<UserRef>,
    /// Labels, sorted.
    pub labels: Vec<String>,
    /// Done or not.
    pub completed: bool,
    /// When it was completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Sort key of the manual order (smaller is higher up).
    pub position: i64,
    /// Linked infrastructure objects.
    pub links: Vec<Link>,
    /// Number of attachments.
    pub attachment_count: i32,
    /// Who created it.
    pub created_by: Option<UserRef>,
    /// Version (`ETag`).
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Fields of a new task or of a partial update; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct TaskInput {
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Priority.
    pub priority: Option<String>,
    /// Due date; `Some(None)` clears it.
    pub due_date: Option<Option<String>>,
    /// Assignee; `Some(None)` clears it.
    pub assignee_id: Option<Option<i64>>,
    /// Labels (replaces the set).
    pub labels: Option<Vec<String>>,
    /// Links (replaces the set).
    pub links: Option<Vec<LinkInput>>,
    /// Completed or reopened.
    pub completed: Option<bool>,
}

/// Where to move a task in the manual order.
#[derive(Debug, Clone, Copy)]
pub enum MoveTo {
    /// Right after this task.
    After(i64),
    /// Right before this task.
    Before(i64),
    /// At this 0-based index of the whole order.
    Index(u64),
}

/// Sortable fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSort {
    /// The manual order.
    Position,
    /// Due date (tasks without one last).
    DueDate,
    /// Priority rank.
    Priority,
    /// Creation time.
    CreatedAt,
    /// Last change.
    UpdatedAt,
}

/// The names `sort=` accepts.
pub const SORTS: &[(&str, TaskSort)] = &[
    ("position", TaskSort::Position),
    ("due_date", TaskSort::DueDate),
    ("priority", TaskSort::Priority),
    ("created_at", TaskSort::CreatedAt),
    ("updated_at", TaskSort::UpdatedAt),
];

/// Whose tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// This user's.
    User(i64),
    /// Unassigned ones.
    Nobody,
}

/// List filters, already parsed.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Done or open.
    pub completed: Option<bool>,
    /// Whose.
    pub assignee: Option<AssigneeFilter>,
    /// Carrying this label.
    pub label: Option<Label>,
    /// This priority.
    pub priority: Option<Priority>,
    /// Due on or before.
    pub due_before: Option<DueDate>,
    /// Due on or after.
    pub due_after: Option<DueDate>,
    /// Substring of title or description.
    pub q: Option<String>,
    /// Linked to this object.
    pub link: Option<LinkRef>,
    /// Order.
    pub sort: Option<Sort<TaskSort>>,
}

/// A label in use.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LabelCount {
    /// The label.
    pub label: String,
    /// Tasks carrying it.
    pub count: i64,
}

/// A user tasks can be assigned to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Assignee {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
}

/// A task changed; panels refresh from it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskChanged {
    /// The task.
    pub task_id: i64,
    /// `created`, `updated`, `completed`, `reopened`, `moved`, `deleted`, `attachment_added`, `attachment_removed`.
    pub change: &'static str,
    /// Its title.
    pub title: String,
}

impl DomainEvent for TaskChanged {
    const KIND: &'static str = "task.changed";
    fn entity(&self) -> Option<(&'static str, String)> {
        Some(("task", self.task_id.to_string()))
    }
}

/// Module settings.
#[derive(Debug, Clone)]
pub struct TasksSettings {
    /// Largest attachment, bytes.
    pub max_attachment_bytes: u64,
    /// Objects without a row older than this are removed by the sweeper.
    pub orphan_grace: Duration,
    /// How often the sweeper runs (zero: never).
    pub sweep_interval: Duration,
}

impl Default for TasksSettings {
    fn default() -> Self {
        Self { max_attachment_bytes: 25 * 1024 * 1024, orphan_grace: Duration::from_secs(3600), sweep_interval: Duration::from_secs(600) }
    }
}

pub(crate) fn db(e: DbErr) -> ServiceError {
    StoreError::Database(e.to_string()).into()
}

/// A missing row, whatever the lookup called it, is a missing task.
pub(crate) fn not_found(e: ServiceError) -> ServiceError {
    match e {
        ServiceError::NotFound(_) => ServiceError::NotFound("task"),
        other => other,
    }
}

/// Parsed changes, every field valid.
#[derive(Default)]
struct Parsed {
    title: Option<Title>,
    description: Option<Description>,
    priority: Option<Priority>,
    due: Option<Option<DueDate>>,
    assignee: Option<Option<i64>>,
    labels: Option<Vec<Label>>,
    links: Option<Vec<LinkRef>>,
    completed: Option<bool>,
}

/// Users by id: (login, display name, disabled).
type UserNames = HashMap<i64, (String, String, bool)>;

/// Open-task counts.
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct OpenCounts {
    /// Not completed.
    pub open: u64,
    /// Not completed and past the due date.
    pub overdue: u64,
}

/// The tasks service.
pub struct TasksService {
    pub(crate) db: Db,
    pub(crate) keyring: Arc<Keyring>,
    users: Arc<dyn UserRepo>,
    targets: RwLock<HashMap<LinkKind, Arc<dyn LinkTarget>>>,
    user_names: Mutex<(Option<Instant>, UserNames)>,
    pub(crate) settings: TasksSettings,
    pub(crate) files: crate::attach::Files,
}

impl TasksService {
    /// Builds the service.
    pub fn new(db: Db, keyring: Arc<Keyring>, users: Arc<dyn UserRepo>, settings: TasksSettings, files: crate::attach::Files) -> Self {
        Self { db, keyring, users, targets: RwLock::new(HashMap::new()), user_names: Mutex::new((None, HashMap::new())), settings, files }
    }

    /// Registers how links of `kind` are resolved and checked.
    pub fn add_link_target(&self, kind: LinkKind, target: Arc<dyn LinkTarget>) {
        if let Ok(mut m) = self.targets.write() {
            m.insert(kind, target);
        }
    }

    fn target(&self, kind: LinkKind) -> Option<Arc<dyn LinkTarget>> {
        self.targets.read().ok().and_then(|m| m.get(&kind).cloned())
    }

    // ----- users -----

    /// Users by id (login, display name, disabled), cached for 10 s; the
    /// directory is small and this keeps listing off the users table.
    pub(crate) async fn user_map(&self, ids: &BTreeSet<i64>) -> UserNames {
        let fresh = self.user_names.lock().ok().and_then(|g| g.0.map(|t| t.elapsed() < Duration::from_secs(10))).unwrap_or(false);
        let missing = self.user_names.lock().map(|g| ids.iter().any(|i| !g.1.contains_key(i))).unwrap_or(true);
        if !fresh || missing {
            let mut all = HashMap::new();
            let mut after = None;
            loop {
                let page = PageRequest { limit: 500, after: after.clone() };
                let Ok(p) = self.users.list(&UserFilter::default(), page).await else { break };
                for u in &p.items {
                    all.insert(u.id.0, (u.username.as_str().to_string(), u.display_name.clone(), u.disabled));
                }
                match p.next {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
            if let Ok(mut g) = self.user_names.lock() {
                *g = (Some(Instant::now()), all);
            }
        }
        self.user_names.lock().map(|g| g.1.clone()).unwrap_or_default()
    }

    /// Active users, for the assignee picker.
    pub async fn assignees(&self) -> Result<Vec<Assignee>, ServiceError> {
        let map = self.user_map(&BTreeSet::new()).await;
        let mut out: Vec<Assignee> = map
            .into_iter()
            .filter(|(_, u)| !u.2)
            .map(|(id, (username, display_name, _))| Assignee { id, username, display_name })
            .collect();
        out.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(out)
    }

    // ----- reading -----

    async fn views(&self, rows: Vec<task::Model>) -> Result<Vec<Task>, ServiceError> {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let c = self.db.connection();
        let mut labels: HashMap<i64, Vec<String>> = HashMap::new();
        let mut links: HashMap<i64, Vec<(LinkKind, i64)>> = HashMap::new();
        if !ids.is_empty() {
            for l in label::Entity::find().filter(label::Column::TaskId.is_in(ids.clone())).all(c).await.map_err(db)? {
                labels.entry(l.task_id).or_default().push(l.label);
            }
            for l in link::Entity::find().filter(link::Column::TaskId.is_in(ids.clone())).all(c).await.map_err(db)? {
                if let Ok(k) = LinkKind::parse(&l.kind) {
                    links.entry(l.task_id).or_default().push((k, l.target_id));
                }
            }
        }
        // Resolve each distinct link target once per request, concurrently.
        let distinct: BTreeSet<(LinkKind, i64)> = links.values().flatten().copied().collect();
        let names: HashMap<(LinkKind, i64), Option<String>> =
            futures_util::future::join_all(distinct.into_iter().map(|(k, id)| async move {
                let name = match self.target(k) {
                    // Reading a task must not fail because a linked module cannot answer now.
                    Some(t) => t.name(id).await.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, kind = k.as_str(), id, "cannot name a linked object");
                        None
                    }),
                    None => None,
                };
                ((k, id), name)
            }))
            .await
            .into_iter()
            .collect();
        let user_ids: BTreeSet<i64> = rows.iter().flat_map(|r| [r.assignee_id, r.created_by]).flatten().collect();
        let users = self.user_map(&user_ids).await;
        let uref = |id: Option<i64>| {
            id.map(|id| UserRef { id, username: users.get(&id).map(|u| u.0.clone()).unwrap_or_else(|| format!("user #{id}")) })
        };
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut ls = labels.remove(&r.id).unwrap_or_default();
                ls.sort();
                let mut lk: Vec<Link> = links
                    .remove(&r.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(kind, id)| Link { kind, id, name: names.get(&(kind, id)).cloned().flatten() })
                    .collect();
                lk.sort_by_key(|a| (a.kind, a.id));
                Task {
                    id: r.id,
                    title: r.title,
                    description: r.description,
                    priority: Priority::from_rank(r.priority),
                    due_date: r.due_date,
                    assignee: uref(r.assignee_id),
                    labels: ls,
                    completed: r.completed,
                    completed_at: r.completed_at,
                    position: r.position,
                    links: lk,
                    attachment_count: r.attachment_count,
                    created_by: uref(r.created_by),
                    version: r.version,
                    created_at: r.created_at,
                    updated_at: r.updated_at,
                }
            })
            .collect())
    }

    pub(crate) async fn row<C: ConnectionTrait>(c: &C, id: i64) -> Result<task::Model, ServiceError> {
        task::Entity::find_by_id(id).one(c).await.map_err(db)?.ok_or(ServiceError::NotFound("task"))
    }

    /// One task.
    pub async fn get(&self, id: i64) -> Result<Task, ServiceError> {
        let r = Self::row(self.db.connection(), id).await?;
        self.views(vec![r]).await?.pop().ok_or(ServiceError::NotFound("task"))
    }

    /// A page of tasks.
    pub async fn list(&self, f: &TaskFilter, page: PageRequest) -> Result<Page<Task>, ServiceError> {
        let sort = f.sort.unwrap_or(Sort { field: TaskSort::Position, direction: Direction::Asc });
        let desc = sort.direction == Direction::Desc;
        let col = match sort.field {
            TaskSort::Position => task::Column::Position,
            TaskSort::DueDate => task::Column::DueKey,
            TaskSort::Priority => task::Column::Priority,
            TaskSort::CreatedAt => task::Column::CreatedAt,
            TaskSort::UpdatedAt => task::Column::UpdatedAt,
        };
        let mut q = task::Entity::find();
        if let Some(c) = f.completed {
            q = q.filter(task::Column::Completed.eq(c));
        }
        match f.assignee {
            Some(AssigneeFilter::User(u)) => q = q.filter(task::Column::AssigneeId.eq(u)),
            Some(AssigneeFilter::Nobody) => q = q.filter(task::Column::AssigneeId.is_null()),
            None => {}
        }
        if let Some(p) = f.priority {
            q = q.filter(task::Column::Priority.eq(p.rank()));
        }
        if let Some(d) = f.due_before {
            q = q.filter(task::Column::DueDate.is_not_null()).filter(task::Column::DueDate.lte(d.key()));
        }
        if let Some(d) = f.due_after {
            q = q.filter(task::Column::DueDate.is_not_null()).filter(task::Column::DueDate.gte(d.key()));
        }
        if let Some(text) = f.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            q = q.filter(Expr::col(task::Column::SearchText).like(gantry_store::contains_lowercase(text)));
        }
        if let Some(l) = &f.label {
            q = q.filter(task::Column::Id.in_subquery(
                Query::select().column(label::Column::TaskId).from(label::Entity).and_where(label::Column::Label.eq(l.as_str())).to_owned(),
            ));
        }
        if let Some(l) = f.link {
            q = q.filter(
                task::Column::Id.in_subquery(
                    Query::select()
                        .column(link::Column::TaskId)
                        .from(link::Entity)
                        .and_where(link::Column::Kind.eq(l.kind.as_str()))
                        .and_where(link::Column::TargetId.eq(l.id))
                        .to_owned(),
                ),
            );
        }
        if let Some(cur) = &page.after {
            let bad = || ServiceError::field("cursor", "the cursor belongs to another sort order (pass `next` with the same sort)");
            // The key carries the order it came from, so a cursor is never read as another order's position.
            let tag = sort_tag(sort);
            let key = cur.key.as_deref().and_then(|k| k.strip_prefix(tag.as_str())).ok_or_else(bad)?;
            let v: sea_orm::Value = match sort.field {
                TaskSort::Position => key.parse::<i64>().map_err(|_| bad())?.into(),
                TaskSort::Priority => key.parse::<i16>().map_err(|_| bad())?.into(),
                TaskSort::DueDate => key.to_string().into(),
                TaskSort::CreatedAt | TaskSort::UpdatedAt => {
                    DateTime::parse_from_rfc3339(key).map_err(|_| bad())?.with_timezone(&Utc).into()
                }
            };
            // `key >= v AND (key > v OR id > last)`, not `key > v OR (key = v AND id > last)`:
            // the leading range lets every database start the (key, id) index
            // scan at the cursor, so a deep page costs what the first one does
            // (measured: the OR form made PostgreSQL read and drop every row
            // before the cursor).
            let cond = if desc {
                Condition::all().add(col.lte(v.clone())).add(Condition::any().add(col.lt(v)).add(task::Column::Id.lt(cur.id)))
            } else {
                Condition::all().add(col.gte(v.clone())).add(Condition::any().add(col.gt(v)).add(task::Column::Id.gt(cur.id)))
            };
            q = q.filter(cond);
        }
        let (order, id_order) =
            if desc { (sea_orm::Order::Desc, sea_orm::Order::Desc) } else { (sea_orm::Order::Asc, sea_orm::Order::Asc) };
        let rows = q
            .order_by(col, order)
            .order_by(task::Column::Id, id_order)
            .limit(page.limit + 1)
            .all(self.db.connection())
            .await
            .map_err(db)?;
        let tag = sort_tag(sort);
        let page = page.finish_keyed(rows, move |r| Cursor { id: r.id, key: Some(format!("{tag}{}", sort_key(sort.field, r))) });
        Ok(Page { items: self.views(page.items).await?, next: page.next })
    }

    /// Open tasks, and how many of them are past their due date (for the dashboard).
    pub async fn open_counts(&self) -> Result<OpenCounts, ServiceError> {
        let c = self.db.connection();
        let open = task::Entity::find().filter(task::Column::Completed.eq(false)).count(c).await.map_err(db)?;
        let today = Utc::now().format("%Y-%m-%d").to_string();
        let overdue = task::Entity::find()
            .filter(task::Column::Completed.eq(false))
            .filter(task::Column::DueKey.lt(today))
            .count(c)
            .await
            .map_err(db)?;
        Ok(OpenCounts { open, overdue })
    }

    /// Labels in use with their counts.
    pub async fn labels(&self) -> Result<Vec<LabelCount>, ServiceError> {
        let rows: Vec<(String, i64)> = label::Entity::find()
            .select_only()
            .column(label::Column::Label)
            .column_as(Expr::col(label::Column::TaskId).count(), "n")
            .group_by(label::Column::Label)
            .order_by_asc(label::Column::Label)
            .into_tuple()
            .all(self.db.connection())
            .await
            .map_err(db)?;
        Ok(rows.into_iter().map(|(label, count)| LabelCount { label, count }).collect())
    }

    // ----- writing -----

    async fn parse(&self, i: TaskInput, creating: bool) -> Result<Parsed, ServiceError> {
        let mut errors = Vec::new();
        let mut p = Parsed::default();
        match (&i.title, creating) {
            (Some(t), _) => match Title::parse(t) {
                Ok(t) => p.title = Some(t),
                Err(m) => errors.push(FieldError::new("title", m)),
            },
            (None, true) => errors.push(FieldError::new("title", "is required")),
            (None, false) => {}
        }
        if let Some(d) = &i.description {
            match Description::parse(d) {
                Ok(d) => p.description = Some(d),
                Err(m) => errors.push(FieldError::new("description", m)),
            }
        }
        if let Some(pr) = &i.priority {
            match Priority::parse(pr) {
                Ok(pr) => p.priority = Some(pr),
                Err(m) => errors.push(FieldError::new("priority", m)),
            }
        }
        if let Some(d) = &i.due_date {
            match d.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(DueDate::parse).transpose() {
                Ok(d) => p.due = Some(d),
                Err(m) => errors.push(FieldError::new("due_date", m)),
            }
        }
        if let Some(a) = i.assignee_id {
            match a {
                None => p.assignee = Some(None),
                Some(id) => match self.users.get(UserId(id)).await {
                    Ok(u) if !u.disabled => p.assignee = Some(Some(id)),
                    Ok(_) => errors.push(FieldError::new("assignee_id", format!("user {id} is disabled"))),
                    Err(StoreError::NotFound) => errors.push(FieldError::new("assignee_id", format!("there is no user {id}"))),
                    Err(e) => return Err(e.into()),
                },
            }
        }
        if let Some(ls) = &i.labels {
            match Label::parse_set(ls) {
                Ok(ls) => p.labels = Some(ls),
                Err(m) => errors.push(FieldError::new("labels", m)),
            }
        }
        if let Some(ls) = &i.links {
            let mut set = BTreeSet::new();
            for (n, l) in ls.iter().enumerate() {
                let field = format!("links[{n}]");
                let kind = match LinkKind::parse(&l.kind) {
                    Ok(k) => k,
                    Err(m) => {
                        errors.push(FieldError::new(format!("{field}.kind"), m));
                        continue;
                    }
                };
                let exists = match self.target(kind) {
                    Some(t) => t.name(l.id).await?.is_some(),
                    None => false,
                };
                if !exists {
                    errors
                        .push(FieldError::new(format!("{field}.id"), format!("there is no {} {}", kind.as_str().replace('_', " "), l.id)));
                    continue;
                }
                set.insert(LinkRef { kind, id: l.id });
            }
            if set.len() > LINKS_MAX {
                errors.push(FieldError::new("links", format!("at most {LINKS_MAX} links")));
            }
            p.links = Some(set.into_iter().collect());
        }
        p.completed = i.completed;
        if errors.is_empty() { Ok(p) } else { Err(ServiceError::Validation(errors)) }
    }

    /// Serializes changes of the manual order: the row lock is held until
    /// commit on PostgreSQL and MySQL; SQLite's writer mutex does it there.
    async fn lock_order(txn: &DatabaseTransaction) -> Result<(), ServiceError> {
        let stmt = Query::update()
            .table(TasksOrder::Table)
            .value(TasksOrder::N, Expr::col(TasksOrder::N).add(1))
            .and_where(Expr::col(TasksOrder::Id).eq(1))
            .to_owned();
        txn.execute(&stmt).await.map_err(db)?;
        Ok(())
    }

    async fn replace_sets(
        txn: &DatabaseTransaction,
        id: i64,
        labels: Option<&[Label]>,
        links: Option<&[LinkRef]>,
    ) -> Result<(), ServiceError> {
        if let Some(ls) = labels {
            label::Entity::delete_many().filter(label::Column::TaskId.eq(id)).exec(txn).await.map_err(db)?;
            if !ls.is_empty() {
                label::Entity::insert_many(ls.iter().map(|l| label::ActiveModel { task_id: Set(id), label: Set(l.as_str().to_string()) }))
                    .exec(txn)
                    .await
                    .map_err(db)?;
            }
        }
        if let Some(ls) = links {
            link::Entity::delete_many().filter(link::Column::TaskId.eq(id)).exec(txn).await.map_err(db)?;
            if !ls.is_empty() {
                link::Entity::insert_many(ls.iter().map(|l| link::ActiveModel {
                    task_id: Set(id),
                    kind: Set(l.kind.as_str().to_string()),
                    target_id: Set(l.id),
                }))
                .exec(txn)
                .await
                .map_err(db)?;
            }
        }
        Ok(())
    }

    /// Creates a task at the bottom of the manual order.
    pub async fn create(&self, input: TaskInput, actor: &Actor) -> Result<Task, ServiceError> {
        let p = self.parse(input, true).await?;
        let title = p.title.ok_or_else(|| ServiceError::field("title", "is required"))?;
        let description = p.description.map(|d| d.as_str().to_string()).unwrap_or_default();
        let now = Utc::now();
        let completed = p.completed.unwrap_or(false);
        let due = p.due.flatten();
        let id = {
            let _w = self.db.write_guard().await;
            let txn = self.db.connection().begin().await.map_err(db)?;
            Self::lock_order(&txn).await?;
            let last: Option<i64> = task::Entity::find()
                .select_only()
                .column_as(Expr::col(task::Column::Position).max(), "m")
                .into_tuple::<Option<i64>>()
                .one(&txn)
                .await
                .map_err(db)?
                .flatten();
            let row = task::ActiveModel {
                title: Set(title.as_str().to_string()),
                search_text: Set(search_text(title.as_str(), &description)),
                description: Set(description),
                priority: Set(p.priority.unwrap_or_default().rank()),
                due_date: Set(due.map(|d| d.key())),
                due_key: Set(due_key(due)),
                assignee_id: Set(p.assignee.flatten()),
                completed: Set(completed),
                completed_at: Set(completed.then_some(now)),
                position: Set(last.unwrap_or(0) + GAP),
                attachment_count: Set(0),
                created_by: Set(actor.user_id.map(|u| u.0)),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .map_err(db)?;
            Self::replace_sets(&txn, row.id, p.labels.as_deref(), p.links.as_deref()).await?;
            let summary = json!({"after": {"title": row.title, "priority": Priority::from_rank(row.priority), "due_date": row.due_date,
                "assignee_id": row.assignee_id, "labels": p.labels.iter().flatten().map(Label::as_str).collect::<Vec<_>>()}});
            let trail = Trail::audit(AuditDraft::new(actor, "task.create", "task", Some(row.id.to_string()), summary))
                .with_event(TaskChanged { task_id: row.id, change: "created", title: row.title.clone() }.draft());
            gantry_store::write_trail(&txn, trail).await?;
            txn.commit().await.map_err(db)?;
            row.id
        };
        self.get(id).await
    }

    /// Applies a partial update. `if_match` is the version the caller read; a
    /// different stored version is a 412 and nothing changes.
    pub async fn update(&self, id: i64, if_match: Option<i64>, input: TaskInput, actor: &Actor) -> Result<Task, ServiceError> {
        let p = self.parse(input, false).await?;
        // Without If-Match the last write wins: a lost race re-reads and applies again.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.try_update(id, if_match, &p, actor).await {
                Err(ServiceError::Stale { .. }) if if_match.is_none() && attempts < 5 => continue,
                Err(e) => return Err(e),
                Ok(()) => return self.get(id).await,
            }
        }
    }

    async fn try_update(&self, id: i64, if_match: Option<i64>, p: &Parsed, actor: &Actor) -> Result<(), ServiceError> {
        {
            let _w = self.db.write_guard().await;
            let txn = self.db.connection().begin().await.map_err(db)?;
            // Take the row lock before reading, so the read sees the last
            // committed version (also under MySQL's repeatable read, whose
            // snapshot starts at the first plain read) and concurrent writers
            // queue instead of failing each other.
            task::Entity::update_many()
                .col_expr(task::Column::Version, Expr::col(task::Column::Version))
                .filter(task::Column::Id.eq(id))
                .exec(&txn)
                .await
                .map_err(db)?;
            let before = Self::row(&txn, id).await?;
            if if_match.is_some_and(|v| v != before.version) {
                return Err(ServiceError::Stale { current: before.version });
            }
            let now = Utc::now();
            let mut am: task::ActiveModel = before.clone().into();
            let mut changed = Vec::new();
            if let Some(t) = &p.title {
                am.title = Set(t.as_str().to_string());
                changed.push("title");
            }
            if let Some(d) = &p.description {
                am.description = Set(d.as_str().to_string());
                changed.push("description");
            }
            let title = p.title.as_ref().map(|t| t.as_str().to_string()).unwrap_or_else(|| before.title.clone());
            let desc = p.description.as_ref().map(|d| d.as_str().to_string()).unwrap_or_else(|| before.description.clone());
            am.search_text = Set(search_text(&title, &desc));
            if let Some(pr) = p.priority {
                am.priority = Set(pr.rank());
                changed.push("priority");
            }
            if let Some(d) = p.due {
                am.due_date = Set(d.map(|d| d.key()));
                am.due_key = Set(due_key(d));
                changed.push("due_date");
            }
            if let Some(a) = p.assignee {
                am.assignee_id = Set(a);
                changed.push("assignee_id");
            }
            let mut change = "updated";
            if let Some(c) = p.completed
                && c != before.completed
            {
                am.completed = Set(c);
                am.completed_at = Set(c.then_some(now));
                changed.push("completed");
                change = if c { "completed" } else { "reopened" };
            }
            if p.labels.is_some() {
                changed.push("labels");
            }
            if p.links.is_some() {
                changed.push("links");
            }
            am.version = Set(before.version + 1);
            am.updated_at = Set(now);
            // The version condition makes the check-and-set atomic on every
            // database, even between two replicas that read the same version.
            let r = task::Entity::update_many()
                .set(am)
                .filter(task::Column::Id.eq(id))
                .filter(task::Column::Version.eq(before.version))
                .exec(&txn)
                .await
                .map_err(db)?;
            if r.rows_affected != 1 {
                // Changed or deleted since it was read.
                let current = Self::row(self.db.connection(), id).await?.version;
                return Err(ServiceError::Stale { current });
            }
            Self::replace_sets(&txn, id, p.labels.as_deref(), p.links.as_deref()).await?;
            let summary = json!({"changed": changed, "before": {"title": before.title, "completed": before.completed},
                "after": {"title": title, "completed": p.completed.unwrap_or(before.completed)}});
            let trail = Trail::audit(AuditDraft::new(actor, "task.update", "task", Some(id.to_string()), summary))
                .with_event(TaskChanged { task_id: id, change, title }.draft());
            gantry_store::write_trail(&txn, trail).await?;
            txn.commit().await.map_err(db)?;
        }
        Ok(())
    }

    /// Deletes a task with its labels, links and attachments. Only its
    /// creator and admins may; the objects are removed after the commit (and
    /// by the sweeper, should that fail).
    pub async fn delete(&self, id: i64, who: &Principal, actor: &Actor) -> Result<(), ServiceError> {
        let keys = {
            let _w = self.db.write_guard().await;
            let txn = self.db.connection().begin().await.map_err(db)?;
            // Write-lock the task row first: an upload commits its attachment
            // only after incrementing this row's count, so it either finished
            // before (and its row is read below) or finds the task gone.
            let locked = task::Entity::update_many()
                .col_expr(task::Column::Version, Expr::col(task::Column::Version).add(1))
                .filter(task::Column::Id.eq(id))
                .exec(&txn)
                .await
                .map_err(db)?;
            if locked.rows_affected != 1 {
                return Err(ServiceError::NotFound("task"));
            }
            let t = Self::row(&txn, id).await?;
            if who.role != Role::Admin && t.created_by != Some(who.user_id.0) {
                return Err(ServiceError::Forbidden("only the task's creator or an admin may delete it".into()));
            }
            let atts = attachment::Entity::find().filter(attachment::Column::TaskId.eq(id)).all(&txn).await.map_err(db)?;
            label::Entity::delete_many().filter(label::Column::TaskId.eq(id)).exec(&txn).await.map_err(db)?;
            link::Entity::delete_many().filter(link::Column::TaskId.eq(id)).exec(&txn).await.map_err(db)?;
            attachment::Entity::delete_many().filter(attachment::Column::TaskId.eq(id)).exec(&txn).await.map_err(db)?;
            task::Entity::delete_by_id(id).exec(&txn).await.map_err(db)?;
            let summary = json!({"before": {"title": t.title, "attachments": atts.len()}});
            let trail = Trail::audit(AuditDraft::new(actor, "task.delete", "task", Some(id.to_string()), summary))
                .with_event(TaskChanged { task_id: id, change: "deleted", title: t.title.clone() }.draft());
            gantry_store::write_trail(&txn, trail).await?;
            txn.commit().await.map_err(db)?;
            atts.into_iter().map(|a| (a.store, a.object_key)).collect::<Vec<_>>()
        };
        for (store, key) in keys {
            if let Err(e) = self.files.delete(self, &store, &key).await {
                tracing::warn!(error = %e, key, "could not delete an attachment's object; the sweeper will retry");
            }
        }
        Ok(())
    }

    /// Moves a task in the manual order. Moves are serialized by the order
    /// lock, so concurrent moves apply one after another and never produce
    /// an order that no sequence of single moves would.
    pub async fn move_task(&self, id: i64, to: MoveTo, actor: &Actor) -> Result<Task, ServiceError> {
        {
            let _w = self.db.write_guard().await;
            let txn = self.db.connection().begin().await.map_err(db)?;
            Self::lock_order(&txn).await?;
            let me = Self::row(&txn, id).await?;
            let mut position = None;
            for attempt in 0..2 {
                let (prev, next) = Self::neighbours(&txn, id, to).await?;
                let candidate = match (prev, next) {
                    (None, None) => Some(me.position),
                    (Some(p), None) => Some(p + GAP),
                    (None, Some(n)) => Some(n - GAP),
                    (Some(p), Some(n)) if n - p >= 2 => Some(p + (n - p) / 2),
                    _ => None,
                };
                if let Some(c) = candidate {
                    position = Some(c);
                    break;
                }
                if attempt == 0 {
                    Self::renumber(&txn).await?;
                }
            }
            let position = position.ok_or_else(|| ServiceError::Internal("no room in the order after renumbering".into()))?;
            let now = Utc::now();
            task::Entity::update_many()
                .col_expr(task::Column::Position, Expr::value(position))
                .col_expr(task::Column::Version, Expr::col(task::Column::Version).add(1))
                .col_expr(task::Column::UpdatedAt, Expr::value(now))
                .filter(task::Column::Id.eq(id))
                .exec(&txn)
                .await
                .map_err(db)?;
            let target = match to {
                MoveTo::After(a) => json!({"after_id": a}),
                MoveTo::Before(b) => json!({"before_id": b}),
                MoveTo::Index(i) => json!({"index": i}),
            };
            let trail = Trail::audit(AuditDraft::new(actor, "task.move", "task", Some(id.to_string()), json!({"to": target})))
                .with_event(TaskChanged { task_id: id, change: "moved", title: me.title.clone() }.draft());
            gantry_store::write_trail(&txn, trail).await?;
            txn.commit().await.map_err(db)?;
        }
        self.get(id).await
    }

    /// The positions the moved task goes between (itself excluded).
    async fn neighbours(txn: &DatabaseTransaction, id: i64, to: MoveTo) -> Result<(Option<i64>, Option<i64>), ServiceError> {
        let others = || task::Entity::find().filter(task::Column::Id.ne(id));
        let pos_of = |rows: Vec<task::Model>| rows.into_iter().next().map(|r| r.position);
        let after = |p: i64, pid: i64| {
            Condition::any()
                .add(task::Column::Position.gt(p))
                .add(Condition::all().add(task::Column::Position.eq(p)).add(task::Column::Id.gt(pid)))
        };
        let before = |p: i64, pid: i64| {
            Condition::any()
                .add(task::Column::Position.lt(p))
                .add(Condition::all().add(task::Column::Position.eq(p)).add(task::Column::Id.lt(pid)))
        };
        let anchor = |aid: i64, field: &'static str| async move {
            if aid == id {
                return Err(ServiceError::field(field, "a task cannot be placed next to itself"));
            }
            Self::row(txn, aid).await.map_err(|e| match e {
                ServiceError::NotFound(_) => ServiceError::field(field, format!("there is no task {aid}")),
                other => other,
            })
        };
        match to {
            MoveTo::After(aid) => {
                let a = anchor(aid, "after_id").await?;
                let next = others()
                    .filter(after(a.position, a.id))
                    .order_by_asc(task::Column::Position)
                    .order_by_asc(task::Column::Id)
                    .limit(1)
                    .all(txn)
                    .await
                    .map_err(db)?;
                Ok((Some(a.position), pos_of(next)))
            }
            MoveTo::Before(bid) => {
                let b = anchor(bid, "before_id").await?;
                let prev = others()
                    .filter(before(b.position, b.id))
                    .order_by_desc(task::Column::Position)
                    .order_by_desc(task::Column::Id)
                    .limit(1)
                    .all(txn)
                    .await
                    .map_err(db)?;
                Ok((pos_of(prev), Some(b.position)))
            }
            MoveTo::Index(i) => {
                let rows = others()
                    .order_by_asc(task::Column::Position)
                    .order_by_asc(task::Column::Id)
                    .offset(i.saturating_sub(1))
                    .limit(if i == 0 { 1 } else { 2 })
                    .all(txn)
                    .await
                    .map_err(db)?;
                if i == 0 {
                    Ok((None, pos_of(rows)))
                } else {
                    let mut it = rows.into_iter().map(|r| r.position);
                    match it.next() {
                        // Past the end: the bottom.
                        None => {
                            let last = others()
                                .order_by_desc(task::Column::Position)
                                .order_by_desc(task::Column::Id)
                                .limit(1)
                                .all(txn)
                                .await
                                .map_err(db)?;
                            Ok((pos_of(last), None))
                        }
                        Some(p) => Ok((Some(p), it.next())),
                    }
                }
            }
        }
    }

    /// Spreads every task out to `GAP` apart again, keeping the order.
    async fn renumber(txn: &DatabaseTransaction) -> Result<(), ServiceError> {
        let ids: Vec<i64> = task::Entity::find()
            .select_only()
            .column(task::Column::Id)
            .order_by_asc(task::Column::Position)
            .order_by_asc(task::Column::Id)
            .into_tuple()
            .all(txn)
            .await
            .map_err(db)?;
        tracing::info!(tasks = ids.len(), "renumbering the manual task order");
        for (n, id) in ids.into_iter().enumerate() {
            let pos = (i64::try_from(n).unwrap_or(i64::MAX / GAP - 1) + 1) * GAP;
            task::Entity::update_many()
                .col_expr(task::Column::Position, Expr::value(pos))
                .filter(task::Column::Id.eq(id))
                .exec(txn)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    /// Checks that a task exists (for attachment routes).
    pub async fn exists(&self, id: i64) -> Result<task::Model, ServiceError> {
        Self::row(self.db.connection(), id).await.map_err(not_found)
    }
}

fn search_text(title: &str, description: &str) -> String {
    format!("{}\n{}", title.to_lowercase(), description.to_lowercase())
}

fn due_key(d: Option<DueDate>) -> String {
    d.map(|d| d.key()).unwrap_or_else(|| "9999-12-31".into())
}

/// `<field>,<asc|desc>|`: the prefix of a cursor's key.
fn sort_tag(sort: Sort<TaskSort>) -> String {
    let name = SORTS.iter().find(|(_, f)| *f == sort.field).map(|(n, _)| *n).unwrap_or("position");
    let dir = if sort.direction == Direction::Desc { "desc" } else { "asc" };
    format!("{name},{dir}|")
}

fn sort_key(f: TaskSort, r: &task::Model) -> String {
    match f {
        TaskSort::Position => r.position.to_string(),
        TaskSort::Priority => r.priority.to_string(),
        TaskSort::DueDate => r.due_key.clone(),
        TaskSort::CreatedAt => r.created_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        TaskSort::UpdatedAt => r.updated_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    }
}
