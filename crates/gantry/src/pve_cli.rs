//! `gantry pve …`: Proxmox VE stands from the command line.
//!
//! Two ways to work. Against a running Gantry (`--url`, `--token`), every
//! command goes through its API, so deployments get the VMID ledger, the
//! resumable per-VM state and the rollback that live in Gantry's database.
//! Directly with the YAML files (`--connections connections.yml`), the
//! read-only commands (`clusters test`, `templates`, `plan`) talk to the
//! clusters themselves with the same client and planner Gantry uses; deploy
//! and cleanup are refused there because nothing would remember what they did.
//!
//! `deployment_config.yml` and `users.yml` are always parsed here first, so
//! a mistake is reported as `file:line:col: message` (exit 2) before any
//! request is sent. Progress is a bar on a terminal and plain lines otherwise.

use clap::{Args, Subcommand};
use gantry_pve::blueprint::{Blueprint, UserList};
use gantry_pve::cleanup::CleanupRequest;
use gantry_pve::client::{Auth, Connection, PveClient, PveError, Trust};
use gantry_pve::config::{ClusterFile, ConnectionsFile, YamlError, parse_blueprint, parse_connections, parse_users};
use gantry_pve::model::{Endpoint, Fingerprint, PveUserId, TokenId, VmidRange};
use gantry_pve::plan::{ClusterView, Plan, PlanInput, TemplateInfo};
use gantry_pve::service::{Cluster, Credential, DeploymentView, TestReport};
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const MODES: &str = "\
Two ways to work:
  Against a running Gantry:   --url http://127.0.0.1:8080 --token gty_…   (or GANTRY_URL, GANTRY_TOKEN)
      Every command works. The token is a Gantry API token (operator role to plan, deploy and clean up).
  Directly with the YAML files: --connections connections.yml
      Only `clusters list|test`, `templates` and `plan`. Secrets come from each cluster's secret_env or
      secret_file, never from the YAML; relative secret_file/ca_file paths are relative to connections.yml.
      `deploy`, `cleanup`, `deployments`, `credentials` and `blueprints` need a running Gantry: the VMID
      ledger, the resumable deployment state and the rollback live in its database.
When both are given, --connections wins for the commands it supports.

Exit codes: 0 success; 1 a failure (plan errors, failed VMs, an API or Proxmox error); 2 bad input
(YAML errors are printed as file:line:col: message before any request is sent).";

/// `gantry pve …`.
#[derive(Args, Debug)]
#[command(after_long_help = MODES)]
pub struct PveArgs {
    /// A running Gantry's base URL, e.g. http://127.0.0.1:8080 (deploy and cleanup need one).
    #[arg(long, global = true, env = "GANTRY_URL", value_name = "URL")]
    pub url: Option<String>,
    /// A Gantry API token, sent as `Authorization: Bearer` (prefer the GANTRY_TOKEN variable).
    #[arg(long, global = true, env = "GANTRY_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Talk to the clusters in this connections.yml directly, without Gantry (clusters, templates, plan).
    #[arg(long, global = true, value_name = "FILE")]
    pub connections: Option<PathBuf>,
    /// Print JSON on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// How often to ask Gantry for progress, in milliseconds.
    #[arg(long, global = true, default_value_t = 1000, hide = true)]
    pub poll_ms: u64,
    /// What to do.
    #[command(subcommand)]
    pub command: PveCommand,
}

/// The `pve` subcommands.
#[derive(Subcommand, Debug)]
pub enum PveCommand {
    /// Clusters: list them or test their connections.
    #[command(subcommand)]
    Clusters(ClustersCommand),
    /// Templates on a cluster, with their node, storages and locks.
    Templates {
        /// Cluster name (optional when there is only one).
        #[arg(long)]
        cluster: Option<String>,
    },
    /// Plan a deployment: each user's VMs → node, VMID, clone mode. Changes nothing.
    Plan(StandArgs),
    /// Deploy stands and follow them to the end (needs a running Gantry: --url).
    Deploy(StandArgs),
    /// Remove a deployment's VMs, pools and created users, or only some users' (needs --url).
    Cleanup(CleanupArgs),
    /// Deployments (needs --url): list them, or show one.
    Deployments {
        /// Show this deployment, user → VMs.
        id: Option<i64>,
        /// Follow it until it stops changing.
        #[arg(long, requires = "id")]
        follow: bool,
    },
    /// Show the generated passwords of a deployment's new Proxmox users, once (needs --url).
    Credentials {
        /// Deployment id.
        id: i64,
    },
    /// Blueprints stored in Gantry (needs --url).
    #[command(subcommand)]
    Blueprints(BlueprintsCommand),
}

/// `gantry pve clusters …`.
#[derive(Subcommand, Debug)]
pub enum ClustersCommand {
    /// List clusters.
    List,
    /// Test connections: version, quorum, nodes online, missing privileges.
    Test {
        /// Cluster name; all clusters when omitted.
        name: Option<String>,
    },
}

/// A blueprint and a user list on a cluster.
#[derive(Args, Debug)]
pub struct StandArgs {
    /// Cluster name (optional when there is only one).
    #[arg(long)]
    pub cluster: Option<String>,
    /// The blueprint: a deployment_config.yml.
    // The id `config` shadows the top-level `--config` (gantry's TOML file, which `pve` never reads).
    #[arg(id = "config", long = "config", value_name = "FILE")]
    pub blueprint: PathBuf,
    /// The users: a users.yml (`users: [user@realm, …]` or a bare list).
    #[arg(long, value_name = "FILE")]
    pub users: PathBuf,
}

/// What to clean up.
#[derive(Args, Debug)]
pub struct CleanupArgs {
    /// Deployment id.
    #[arg(long)]
    pub deployment: i64,
    /// Only this user's stand (repeatable); all users when omitted.
    #[arg(long = "user", value_name = "USER@REALM")]
    pub users: Vec<String>,
    /// Keep the Proxmox users Gantry created (remove only VMs, pools and ACLs).
    #[arg(long)]
    pub keep_users: bool,
}

/// `gantry pve blueprints …`.
#[derive(Subcommand, Debug)]
pub enum BlueprintsCommand {
    /// List stored blueprints.
    List,
    /// Store a deployment_config.yml as a blueprint.
    Import {
        /// The YAML file.
        file: PathBuf,
        /// Replace the blueprint of the same name.
        #[arg(long)]
        replace: bool,
    },
    /// Print a stored blueprint as deployment_config.yml.
    Export {
        /// Blueprint name.
        name: String,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
enum CliError {
    /// Bad flags, files or settings (exit 2).
    #[error("{0}")]
    Input(String),
    /// Problems in a YAML file, located (exit 2).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Yaml(Vec<YamlError>),
    /// Gantry refused or could not be reached.
    #[error("{0}")]
    Gantry(String),
    /// A Proxmox call failed.
    #[error("{}: {}", .0.op, .0.detail())]
    Proxmox(PveError),
}

impl CliError {
    fn report(&self) -> ExitCode {
        match self {
            CliError::Yaml(errs) => {
                for e in errs {
                    eprintln!("{e}");
                }
                ExitCode::from(2)
            }
            CliError::Input(m) => {
                eprintln!("gantry pve: {m}");
                ExitCode::from(2)
            }
            other => {
                eprintln!("gantry pve: {other}");
                ExitCode::FAILURE
            }
        }
    }
}

type Outcome = Result<ExitCode, CliError>;

fn code(ok: bool) -> ExitCode {
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Runs `gantry pve …` on its own runtime: it needs no configuration file, database or master key.
pub fn main(args: PveArgs, log_level: Option<&str>, log_format: Option<crate::config::LogFormat>) -> ExitCode {
    let mut cfg = crate::config::Config { log_level: log_level.unwrap_or("warn").to_string(), ..crate::config::Config::default() };
    if let Some(f) = log_format {
        cfg.log_format = f;
    }
    crate::logging::init(&cfg);
    if rustls::crypto::aws_lc_rs::default_provider().install_default().is_err() {
        tracing::debug!("TLS crypto provider already installed");
    }
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => {
            eprintln!("gantry pve: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one `gantry pve` command and returns the exit code.
pub async fn run(args: PveArgs) -> ExitCode {
    match dispatch(args).await {
        Ok(c) => c,
        Err(e) => e.report(),
    }
}

async fn dispatch(args: PveArgs) -> Outcome {
    let out = Out { json: args.json, tty: std::io::stderr().is_terminal(), poll: Duration::from_millis(args.poll_ms.max(10)) };
    match &args.command {
        PveCommand::Clusters(cmd) => match (Files::open(&args)?, cmd) {
            (Some(f), ClustersCommand::List) => f.list(&out),
            (Some(f), ClustersCommand::Test { name }) => f.test(name.as_deref(), &out).await,
            (None, cmd) => {
                let g = Gantry::open(&args, "clusters")?;
                match cmd {
                    ClustersCommand::List => g.list_clusters(&out).await,
                    ClustersCommand::Test { name } => g.test(name.as_deref(), &out).await,
                }
            }
        },
        PveCommand::Templates { cluster } => match Files::open(&args)? {
            Some(f) => f.templates(cluster.as_deref(), &out).await,
            None => Gantry::open(&args, "templates")?.templates(cluster.as_deref(), &out).await,
        },
        PveCommand::Plan(s) => {
            let (bp, users) = read_stand(s)?;
            match Files::open(&args)? {
                Some(f) => f.plan(s.cluster.as_deref(), &bp, &users, &out).await,
                None => Gantry::open(&args, "plan")?.plan(s.cluster.as_deref(), &bp, &users, &out).await,
            }
        }
        PveCommand::Deploy(s) => {
            let (bp, users) = read_stand(s)?;
            Gantry::open(&args, "deploy")?.deploy(s.cluster.as_deref(), &bp, &users, &out).await
        }
        PveCommand::Cleanup(c) => {
            for u in &c.users {
                u.parse::<PveUserId>().map_err(|e| CliError::Input(format!("--user {u}: {e}")))?;
            }
            Gantry::open(&args, "cleanup")?.cleanup(c, &out).await
        }
        PveCommand::Deployments { id: None, .. } => Gantry::open(&args, "deployments")?.deployments(&out).await,
        PveCommand::Deployments { id: Some(id), follow } => Gantry::open(&args, "deployments")?.show(*id, *follow, &out).await,
        PveCommand::Credentials { id } => Gantry::open(&args, "credentials")?.credentials(*id, &out).await,
        PveCommand::Blueprints(cmd) => {
            let g = Gantry::open(&args, "blueprints")?;
            match cmd {
                BlueprintsCommand::List => g.blueprints(&out).await,
                BlueprintsCommand::Import { file, replace } => g.import(file, *replace, &out).await,
                BlueprintsCommand::Export { name, output } => g.export(name, output.as_deref()).await,
            }
        }
    }
}

/// How to print.
struct Out {
    /// JSON on stdout.
    json: bool,
    /// stderr is a terminal: draw progress bars.
    tty: bool,
    /// Progress polling interval.
    poll: Duration,
}

impl Out {
    fn print_json<T: serde::Serialize>(&self, v: &T) -> Result<(), CliError> {
        let text = serde_json::to_string_pretty(v).map_err(|e| CliError::Gantry(format!("cannot render JSON: {e}")))?;
        println!("{text}");
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| CliError::Input(format!("cannot read {}: {e}", path.display())))
}

/// Parses the blueprint and user list, reporting every located problem of both files.
fn read_stand(s: &StandArgs) -> Result<(Blueprint, UserList), CliError> {
    let bp = parse_blueprint(&s.blueprint.display().to_string(), &read_file(&s.blueprint)?);
    let users = parse_users(&s.users.display().to_string(), &read_file(&s.users)?);
    match (bp, users) {
        (Ok(b), Ok(u)) => Ok((b, u)),
        (b, u) => Err(CliError::Yaml(b.err().into_iter().chain(u.err()).flatten().collect())),
    }
}

/// Picks a cluster by name, or the only one.
fn pick<'a>(names: impl Iterator<Item = &'a str>, wanted: Option<&str>, source: &str) -> Result<usize, CliError> {
    let names: Vec<&str> = names.collect();
    match wanted {
        Some(w) => names
            .iter()
            .position(|n| *n == w)
            .ok_or_else(|| CliError::Input(format!("no cluster named '{w}' in {source} (there are: {})", names.join(", ")))),
        None if names.len() == 1 => Ok(0),
        None if names.is_empty() => Err(CliError::Input(format!("{source} has no clusters"))),
        None => Err(CliError::Input(format!("give --cluster: {source} has several ({})", names.join(", ")))),
    }
}

/// Left-aligned columns, two spaces apart; trailing blanks trimmed.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = width.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = width.get(i).copied().unwrap_or(0);
            s.push_str(&format!("{c:<w$}  "));
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn range_text(r: &VmidRange) -> String {
    format!("{}-{}", r.first, r.last)
}

/// The serde name of an enum value (`linked`, `same-node`).
fn label<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

fn print_report(name: &str, r: &TestReport) {
    println!("cluster {name}: {}", if r.ok { "ok" } else { "NOT OK" });
    if let Some(v) = &r.version {
        println!("  version     {v}");
    }
    if let Some(q) = r.quorate {
        println!("  quorum      {}", if q { "yes" } else { "NO" });
    }
    let nodes: Vec<String> = r.nodes.iter().map(|(n, on)| format!("{n} {}", if *on { "online" } else { "OFFLINE" })).collect();
    println!("  nodes       {}/{} online: {}", r.nodes_online, r.nodes_total, nodes.join(", "));
    if r.missing_privileges.is_empty() {
        if r.error.is_none() {
            println!("  privileges  all a deployment needs");
        }
    } else {
        println!("  privileges  MISSING on /: {}", r.missing_privileges.join(", "));
    }
    if let Some(e) = &r.error {
        println!("  error       {e} ({})", r.error_kind.as_deref().unwrap_or("other"));
    }
}

fn print_templates(ts: &[TemplateInfo]) {
    let rows: Vec<Vec<String>> = ts
        .iter()
        .map(|t| {
            vec![
                t.vmid.to_string(),
                t.name.clone(),
                t.node.clone(),
                if t.template { "template".into() } else { "vm".into() },
                format!("{} ({})", t.storages.join(","), if t.shared { "shared" } else { "local" }),
                t.cores.to_string(),
                t.memory_mib.to_string(),
                t.lock.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!("{}", table(&["VMID", "NAME", "NODE", "KIND", "STORAGES", "CORES", "MEM MIB", "LOCK"], &rows));
}

fn print_plan(bp: &Blueprint, plan: &Plan) {
    println!("plan: {} for {} user(s), strategy {}", bp.name, plan.stands.len(), label(&plan.strategy));
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for s in &plan.stands {
        for v in &s.vms {
            rows.push(vec![
                s.user.clone(),
                v.key.clone(),
                v.name.clone(),
                v.node.clone(),
                v.vmid.to_string(),
                label(&v.clone_mode),
                format!("{} on {}", v.template_vmid, v.template_node),
                s.pool.clone(),
            ]);
            notes.extend(v.notes.iter().map(|n| format!("{} / {}: {n}", s.user, v.key)));
        }
    }
    print!("{}", table(&["USER", "VM", "NAME", "NODE", "VMID", "CLONE", "TEMPLATE", "POOL"], &rows));
    let per: Vec<String> = plan.per_node.iter().map(|(n, c)| format!("{n} {c}")).collect();
    println!("VMs per node: {}", if per.is_empty() { "none".into() } else { per.join(", ") });
    for n in &plan.network {
        let mut parts = Vec::new();
        if !n.create.is_empty() {
            parts.push(format!("create bridge(s) {}", n.create.join(", ")));
        }
        if !n.make_vlan_aware.is_empty() {
            parts.push(format!("make {} VLAN-aware", n.make_vlan_aware.join(", ")));
        }
        println!("network on {}: {}", n.node, parts.join("; "));
    }
    for n in notes {
        println!("note: {n}");
    }
    for w in &plan.warnings {
        println!("warning: {w}");
    }
    for e in &plan.errors {
        println!("error: {e}");
    }
    if !plan.errors.is_empty() {
        println!("the plan has errors: deploying it would be refused");
    }
}

/// The per-VM table of a deployment (only the given users' stands when `only` is set).
fn print_deployment(d: &DeploymentView, only: Option<&BTreeSet<String>>) {
    let mut rows = Vec::new();
    for s in d.stands.iter().filter(|s| only.is_none_or(|u| u.contains(&s.user))) {
        if s.vms.is_empty() {
            rows.push(vec![s.user.clone(), "-".into(), "-".into(), "-".into(), s.status.clone(), s.error.clone().unwrap_or_default()]);
        }
        for v in &s.vms {
            rows.push(vec![
                s.user.clone(),
                v.name.clone(),
                v.node.clone(),
                v.vmid.to_string(),
                v.status.clone(),
                v.error.clone().or_else(|| s.error.clone().filter(|_| v.status != "ready")).unwrap_or_default(),
            ]);
        }
    }
    print!("{}", table(&["USER", "VM", "NODE", "VMID", "STATUS", "ERROR"], &rows));
}

// ---- directly with the YAML files ----

/// `connections.yml`, read and checked.
struct Files {
    /// The file as given (for messages).
    path: PathBuf,
    /// Its clusters.
    file: ConnectionsFile,
}

impl Files {
    /// `Some` when `--connections` was given.
    fn open(args: &PveArgs) -> Result<Option<Files>, CliError> {
        let Some(path) = &args.connections else { return Ok(None) };
        let file = parse_connections(&path.display().to_string(), &read_file(path)?).map_err(CliError::Yaml)?;
        Ok(Some(Files { path: path.clone(), file }))
    }

    fn source(&self) -> String {
        self.path.display().to_string()
    }

    /// Relative paths in connections.yml are relative to its directory.
    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() { p.to_path_buf() } else { self.path.parent().unwrap_or(Path::new(".")).join(p) }
    }

    fn cluster(&self, name: Option<&str>) -> Result<&ClusterFile, CliError> {
        let i = pick(self.file.clusters.iter().map(|c| c.name.as_str()), name, &self.source())?;
        self.file.clusters.get(i).ok_or_else(|| CliError::Input("no such cluster".into()))
    }

    /// A client for one cluster, with its secret from the environment or a file.
    fn client(&self, c: &ClusterFile) -> Result<PveClient, CliError> {
        let bad = |m: String| CliError::Input(format!("{}: cluster {}: {m}", self.source(), c.name));
        let endpoints = c
            .endpoints
            .iter()
            .map(|e| e.parse::<Endpoint>().map_err(|x| bad(format!("endpoint '{e}': {x}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let secret = match (&c.secret_env, &c.secret_file) {
            (Some(var), _) => std::env::var(var).map_err(|_| bad(format!("secret_env: the variable {var} is not set")))?,
            (None, Some(f)) => {
                let p = self.resolve(f);
                std::fs::read_to_string(&p)
                    .map_err(|e| bad(format!("secret_file: cannot read {}: {e}", p.display())))?
                    .trim_end_matches(['\r', '\n'])
                    .to_string()
            }
            (None, None) => return Err(bad("give secret_env or secret_file".into())),
        };
        let secret = SecretString::from(secret);
        let auth = match (&c.token_id, &c.username) {
            (Some(t), None) => Auth::Token { id: t.parse::<TokenId>().map_err(|x| bad(format!("token_id: {x}")))?, secret },
            (None, Some(u)) => {
                Auth::Password { user: u.parse::<PveUserId>().map_err(|x| bad(format!("username: {x}")))?, password: secret }
            }
            _ => return Err(bad("give either token_id (an API token, recommended) or username (password login)".into())),
        };
        let trust = match (&c.fingerprint, &c.ca_file) {
            (Some(f), _) => Trust::Fingerprint(f.parse::<Fingerprint>().map_err(|x| bad(format!("fingerprint: {x}")))?),
            (None, Some(f)) => {
                let p = self.resolve(f);
                Trust::Ca(std::fs::read_to_string(&p).map_err(|e| bad(format!("ca_file: cannot read {}: {e}", p.display())))?)
            }
            (None, None) => {
                return Err(bad("give fingerprint (the API certificate's SHA-256) or ca_file; Gantry never connects unverified".into()));
            }
        };
        let conn = Connection { endpoints, auth, trust, timeout: Duration::from_secs(30), ticket_renew_after: Duration::from_secs(3600) };
        PveClient::new(conn).map_err(CliError::Proxmox)
    }

    fn list(&self, out: &Out) -> Outcome {
        if out.json {
            out.print_json(&self.file.clusters)?;
            return Ok(ExitCode::SUCCESS);
        }
        let rows: Vec<Vec<String>> = self
            .file
            .clusters
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    c.endpoints.join(" "),
                    c.token_id.clone().or_else(|| c.username.clone()).unwrap_or_default(),
                    c.vmid_range.clone().unwrap_or_else(|| range_text(&VmidRange::default())),
                ]
            })
            .collect();
        print!("{}", table(&["NAME", "ENDPOINTS", "AUTH", "VMIDS"], &rows));
        Ok(ExitCode::SUCCESS)
    }

    async fn test(&self, name: Option<&str>, out: &Out) -> Outcome {
        let chosen: Vec<&ClusterFile> = match name {
            Some(n) => vec![self.cluster(Some(n))?],
            None => self.file.clusters.iter().collect(),
        };
        let mut all_ok = true;
        let mut reports = Vec::new();
        for c in chosen {
            let r = test_connection(&self.client(c)?).await;
            all_ok &= r.ok;
            reports.push((c.name.clone(), r));
        }
        show_reports(&reports, out)?;
        Ok(code(all_ok))
    }

    async fn templates(&self, name: Option<&str>, out: &Out) -> Outcome {
        let c = self.cluster(name)?;
        let view = ClusterView::load(&self.client(c)?, false).await.map_err(CliError::Proxmox)?;
        if out.json {
            out.print_json(&view.templates)?;
        } else {
            print_templates(&view.templates);
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The planner Gantry runs, without Gantry's ledger or in-flight reservations.
    async fn plan(&self, name: Option<&str>, bp: &Blueprint, users: &UserList, out: &Out) -> Outcome {
        let c = self.cluster(name)?;
        let range = match &c.vmid_range {
            Some(r) => r.parse::<VmidRange>().map_err(|e| CliError::Input(format!("{}: vmid_range: {e}", self.source())))?,
            None => VmidRange::default(),
        };
        let view = ClusterView::load(&self.client(c)?, true).await.map_err(CliError::Proxmox)?;
        let input = PlanInput {
            blueprint: bp,
            users: &users.users,
            deployment_id: 0,
            reservations: Default::default(),
            ledger: BTreeSet::new(),
            range,
        };
        let plan = gantry_pve::plan::make(&view, input);
        if out.json {
            out.print_json(&plan)?;
        } else {
            print_plan(bp, &plan);
        }
        Ok(code(plan.errors.is_empty()))
    }
}

fn show_reports(reports: &[(String, TestReport)], out: &Out) -> Result<(), CliError> {
    if out.json {
        let list: Vec<Value> = reports
            .iter()
            .map(|(n, r)| {
                let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                if let Some(m) = v.as_object_mut() {
                    m.insert("cluster".into(), json!(n));
                }
                v
            })
            .collect();
        return out.print_json(&list);
    }
    for (n, r) in reports {
        print_report(n, r);
    }
    Ok(())
}

/// What Gantry's "test connection" reports, asked with the same client calls.
async fn test_connection(c: &PveClient) -> TestReport {
    gantry_pve::service::test_client(c).await
}

// ---- against a running Gantry ----

/// A Gantry API client authenticated with an API token.
struct Gantry {
    /// HTTP client.
    http: reqwest::Client,
    /// Base URL without a trailing slash.
    base: String,
    /// The API token.
    token: SecretString,
}

/// `POST /stands/deploy`'s answer (the parts the CLI uses).
#[derive(Deserialize)]
struct Accepted {
    /// The new deployment.
    deployment: DeploymentView,
    /// The plan it follows.
    plan: Plan,
}

/// A stored blueprint as the API lists it.
#[derive(Deserialize, serde::Serialize)]
struct StoredBlueprint {
    /// Id.
    id: i64,
    /// The blueprint.
    spec: Blueprint,
    /// Last change.
    updated_at: String,
}

/// A job as the API shows it (the parts the CLI uses).
#[derive(Deserialize)]
struct JobState {
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`.
    status: String,
    /// Why it failed.
    #[serde(default)]
    error: Option<String>,
}

/// A problem+json body.
#[derive(Deserialize)]
struct Problem {
    #[serde(default)]
    detail: String,
    #[serde(default)]
    errors: Vec<FieldProblem>,
}

#[derive(Deserialize)]
struct FieldProblem {
    field: String,
    message: String,
}

impl Gantry {
    fn open(args: &PveArgs, what: &str) -> Result<Gantry, CliError> {
        let Some(url) = args.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            let local = if matches!(what, "clusters" | "templates" | "plan") {
                "give --url (or GANTRY_URL) for a running Gantry, or --connections connections.yml to ask the clusters directly".to_string()
            } else {
                format!(
                    "`{what}` needs a running Gantry: give --url (or GANTRY_URL) and --token (or GANTRY_TOKEN). \
                     The VMID ledger, resumable deployment state and rollback live in Gantry's database, so \
                     --connections alone can only test clusters, list templates and plan"
                )
            };
            return Err(CliError::Input(local));
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| CliError::Input(format!("--url {url}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CliError::Input(format!("--url {url}: must start with http:// or https://")));
        }
        let token = args.token.as_deref().map(str::trim).filter(|t| !t.is_empty()).ok_or_else(|| {
            CliError::Input("give --token (or GANTRY_TOKEN): a Gantry API token, created under Settings → API tokens".into())
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("gantry-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Gantry(format!("cannot build the HTTP client: {e}")))?;
        Ok(Gantry { http, base: url.trim_end_matches('/').to_string(), token: SecretString::from(token.to_string()) })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).bearer_auth(self.token.expose_secret())
    }

    async fn send(&self, rb: reqwest::RequestBuilder, what: &str) -> Result<reqwest::Response, CliError> {
        let r = rb.send().await.map_err(|e| CliError::Gantry(format!("{what}: cannot reach Gantry at {}: {e}", self.base)))?;
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        let mut msg = match serde_json::from_str::<Problem>(&body) {
            Ok(p) => {
                // Field errors say more than a detail that repeats one of them.
                let mut m = if p.errors.iter().any(|f| f.message == p.detail) { String::new() } else { p.detail };
                for f in p.errors {
                    m.push_str(&format!("\n  {}: {}", f.field, f.message));
                }
                m
            }
            Err(_) => body.chars().take(300).collect(),
        };
        if status == reqwest::StatusCode::UNAUTHORIZED {
            msg.push_str(" (is the API token right and not revoked or expired?)");
        }
        Err(CliError::Gantry(format!("{what}: {} {msg}", status.as_u16())))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let what = format!("GET {path}");
        let r = self.send(self.request(reqwest::Method::GET, path), &what).await?;
        r.json().await.map_err(|e| CliError::Gantry(format!("{what}: unexpected answer: {e}")))
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, CliError> {
        let what = format!("POST {path}");
        let r = self.send(self.request(reqwest::Method::POST, path).json(body), &what).await?;
        r.json().await.map_err(|e| CliError::Gantry(format!("{what}: unexpected answer: {e}")))
    }

    async fn clusters(&self) -> Result<Vec<Cluster>, CliError> {
        self.get("/api/v1/pve/clusters").await
    }

    async fn cluster(&self, name: Option<&str>) -> Result<Cluster, CliError> {
        let all = self.clusters().await?;
        let i = pick(all.iter().map(|c| c.name.as_str()), name, &format!("Gantry at {}", self.base))?;
        all.into_iter().nth(i).ok_or_else(|| CliError::Input("no such cluster".into()))
    }

    async fn list_clusters(&self, out: &Out) -> Outcome {
        let all = self.clusters().await?;
        if out.json {
            out.print_json(&all)?;
            return Ok(ExitCode::SUCCESS);
        }
        let rows: Vec<Vec<String>> = all
            .iter()
            .map(|c| {
                vec![
                    c.id.to_string(),
                    c.name.clone(),
                    c.endpoints.join(" "),
                    format!("{} {}", c.auth, c.auth_id),
                    range_text(&c.vmid_range),
                ]
            })
            .collect();
        print!("{}", table(&["ID", "NAME", "ENDPOINTS", "AUTH", "VMIDS"], &rows));
        Ok(ExitCode::SUCCESS)
    }

    async fn test(&self, name: Option<&str>, out: &Out) -> Outcome {
        let chosen = match name {
            Some(_) => vec![self.cluster(name).await?],
            None => self.clusters().await?,
        };
        let mut all_ok = true;
        let mut reports = Vec::new();
        for c in chosen {
            let r: TestReport = self.post(&format!("/api/v1/pve/clusters/{}/test", c.id), &json!({})).await?;
            all_ok &= r.ok;
            reports.push((c.name, r));
        }
        show_reports(&reports, out)?;
        Ok(code(all_ok))
    }

    async fn templates(&self, name: Option<&str>, out: &Out) -> Outcome {
        let c = self.cluster(name).await?;
        let ts: Vec<TemplateInfo> = self.get(&format!("/api/v1/pve/clusters/{}/templates", c.id)).await?;
        if out.json {
            out.print_json(&ts)?;
        } else {
            print_templates(&ts);
        }
        Ok(ExitCode::SUCCESS)
    }

    fn stand_request(cluster: &Cluster, bp: &Blueprint, users: &UserList) -> Value {
        json!({"cluster_id": cluster.id, "spec": bp, "users": users.users.iter().map(ToString::to_string).collect::<Vec<_>>()})
    }

    async fn plan(&self, name: Option<&str>, bp: &Blueprint, users: &UserList, out: &Out) -> Outcome {
        let c = self.cluster(name).await?;
        let plan: Plan = self.post("/api/v1/pve/stands/plan", &Self::stand_request(&c, bp, users)).await?;
        if out.json {
            out.print_json(&plan)?;
        } else {
            print_plan(bp, &plan);
        }
        Ok(code(plan.errors.is_empty()))
    }

    async fn deploy(&self, name: Option<&str>, bp: &Blueprint, users: &UserList, out: &Out) -> Outcome {
        let c = self.cluster(name).await?;
        let a: Accepted = self.post("/api/v1/pve/stands/deploy", &Self::stand_request(&c, bp, users)).await?;
        let id = a.deployment.id;
        let vms: usize = a.plan.stands.iter().map(|s| s.vms.len()).sum();
        eprintln!(
            "deployment {id}: {} for {} user(s), {vms} VM(s) on {}; following it (Ctrl-C stops following, not the deployment; \
             resume with `gantry pve deployments {id} --follow`)",
            bp.name,
            a.plan.stands.len(),
            c.name
        );
        for w in &a.plan.warnings {
            eprintln!("warning: {w}");
        }
        let d = self.follow(&a.deployment, Follow::Deploy, out).await?;
        self.finish_deploy(&d, out)
    }

    fn finish_deploy(&self, d: &DeploymentView, out: &Out) -> Outcome {
        let total: usize = d.stands.iter().map(|s| s.vms.len()).sum();
        let ready = d.stands.iter().flat_map(|s| &s.vms).filter(|v| v.status == "ready").count();
        if out.json {
            out.print_json(d)?;
        } else {
            print_deployment(d, None);
            println!("deployment {}: {} ({ready} of {total} VMs ready)", d.id, d.status);
            let pending = d.stands.iter().filter(|s| s.password_pending).count();
            if pending > 0 {
                println!("{pending} new Proxmox user(s) got a generated password; show them once with `gantry pve credentials {}`", d.id);
            }
            if d.status != "done" {
                println!(
                    "retry the failed VMs from the panel or POST /api/v1/pve/deployments/{}/retry; roll back with `gantry pve cleanup --deployment {}`",
                    d.id, d.id
                );
            }
        }
        Ok(code(d.status == "done"))
    }

    async fn cleanup(&self, a: &CleanupArgs, out: &Out) -> Outcome {
        let before: DeploymentView = self.get(&format!("/api/v1/pve/deployments/{}", a.deployment)).await?;
        let users = (!a.users.is_empty()).then(|| a.users.clone());
        let req = CleanupRequest { users: users.clone(), remove_users: !a.keep_users };
        let body = serde_json::to_value(&req).map_err(|e| CliError::Gantry(e.to_string()))?;
        let _job: Value = self.post(&format!("/api/v1/pve/deployments/{}/cleanup", a.deployment), &body).await?;
        let only: Option<BTreeSet<String>> = users.map(|u| u.into_iter().collect());
        eprintln!(
            "deployment {}: cleaning up {}",
            a.deployment,
            only.as_ref().map(|u| u.iter().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_else(|| "every stand".into())
        );
        let d = self.follow(&before, Follow::Cleanup(only.clone()), out).await?;
        let targeted: Vec<_> = d.stands.iter().filter(|s| only.as_ref().is_none_or(|u| u.contains(&s.user))).collect();
        let ok = d.status != "failed" && targeted.iter().all(|s| s.status == "removed");
        if out.json {
            out.print_json(&d)?;
        } else {
            let rows: Vec<Vec<String>> = targeted
                .iter()
                .map(|s| {
                    let left = s.vms.iter().filter(|v| v.status != "destroyed").count();
                    vec![s.user.clone(), s.pool.clone(), s.status.clone(), left.to_string(), s.error.clone().unwrap_or_default()]
                })
                .collect();
            print!("{}", table(&["USER", "POOL", "STATUS", "VMS LEFT", "ERROR"], &rows));
            println!("deployment {}: {}", d.id, d.status);
        }
        Ok(code(ok))
    }

    async fn deployments(&self, out: &Out) -> Outcome {
        let list: Vec<DeploymentView> = self.get("/api/v1/pve/deployments").await?;
        if out.json {
            out.print_json(&list)?;
            return Ok(ExitCode::SUCCESS);
        }
        let names: BTreeMap<i64, String> = self.clusters().await?.into_iter().map(|c| (c.id, c.name)).collect();
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|d| {
                let counts: Vec<String> = d.counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
                vec![
                    d.id.to_string(),
                    d.blueprint.clone(),
                    names.get(&d.cluster_id).cloned().unwrap_or_else(|| d.cluster_id.to_string()),
                    d.status.clone(),
                    d.stands.len().to_string(),
                    counts.join(", "),
                    d.created_by.clone(),
                    d.created_at.format("%Y-%m-%d %H:%M").to_string(),
                ]
            })
            .collect();
        print!("{}", table(&["ID", "BLUEPRINT", "CLUSTER", "STATUS", "USERS", "VMS", "BY", "CREATED"], &rows));
        Ok(ExitCode::SUCCESS)
    }

    async fn show(&self, id: i64, follow: bool, out: &Out) -> Outcome {
        let d: DeploymentView = self.get(&format!("/api/v1/pve/deployments/{id}")).await?;
        if !follow {
            if out.json {
                out.print_json(&d)?;
            } else {
                print_deployment(&d, None);
                println!("deployment {id}: {} (blueprint {}, by {})", d.status, d.blueprint, d.created_by);
            }
            return Ok(ExitCode::SUCCESS);
        }
        let cleaning = d.status == "cleaning";
        let start = DeploymentView { stands: vec![], ..d };
        let kind = if cleaning { Follow::Cleanup(None) } else { Follow::Deploy };
        let d = self.follow(&start, kind, out).await?;
        if cleaning {
            if out.json {
                out.print_json(&d)?;
            } else {
                print_deployment(&d, None);
                println!("deployment {id}: {}", d.status);
            }
            return Ok(code(d.status == "cleaned"));
        }
        self.finish_deploy(&d, out)
    }

    async fn credentials(&self, id: i64, out: &Out) -> Outcome {
        let creds: Vec<Credential> = self.post(&format!("/api/v1/pve/deployments/{id}/credentials"), &json!({})).await?;
        if out.json {
            out.print_json(&creds)?;
        } else if creds.is_empty() {
            println!("no passwords waiting: they were shown before, or every user already existed");
        } else {
            let rows: Vec<Vec<String>> = creds.iter().map(|c| vec![c.user.clone(), c.password.clone()]).collect();
            print!("{}", table(&["USER", "PASSWORD"], &rows));
            println!("these passwords are not stored any more and will not be shown again");
        }
        Ok(ExitCode::SUCCESS)
    }

    async fn blueprints(&self, out: &Out) -> Outcome {
        let list: Vec<StoredBlueprint> = self.get("/api/v1/pve/blueprints").await?;
        if out.json {
            out.print_json(&list)?;
            return Ok(ExitCode::SUCCESS);
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|b| {
                let keys: Vec<&str> = b.spec.vms.iter().map(|v| v.key.as_str()).collect();
                vec![b.id.to_string(), b.spec.name.clone(), label(&b.spec.strategy), keys.join(", "), b.updated_at.clone()]
            })
            .collect();
        print!("{}", table(&["ID", "NAME", "STRATEGY", "VMS", "UPDATED"], &rows));
        Ok(ExitCode::SUCCESS)
    }

    async fn import(&self, file: &Path, replace: bool, out: &Out) -> Outcome {
        let text = read_file(file)?;
        let bp = parse_blueprint(&file.display().to_string(), &text).map_err(CliError::Yaml)?;
        let stored: StoredBlueprint = self.post("/api/v1/pve/blueprints/import", &json!({"yaml": text, "replace": replace})).await?;
        if out.json {
            out.print_json(&stored)?;
        } else {
            println!("blueprint {} stored with id {} ({} VM(s) per user)", bp.name, stored.id, bp.vms.len());
        }
        Ok(ExitCode::SUCCESS)
    }

    async fn export(&self, name: &str, output: Option<&Path>) -> Outcome {
        let list: Vec<StoredBlueprint> = self.get("/api/v1/pve/blueprints").await?;
        let b = list.iter().find(|b| b.spec.name == name).ok_or_else(|| {
            let names: Vec<&str> = list.iter().map(|b| b.spec.name.as_str()).collect();
            CliError::Input(format!("no blueprint named '{name}' (there are: {})", names.join(", ")))
        })?;
        let path = format!("/api/v1/pve/blueprints/{}/export", b.id);
        let r = self.send(self.request(reqwest::Method::GET, &path), &format!("GET {path}")).await?;
        let text = r.text().await.map_err(|e| CliError::Gantry(format!("GET {path}: {e}")))?;
        match output {
            Some(p) => {
                std::fs::write(p, &text).map_err(|e| CliError::Input(format!("cannot write {}: {e}", p.display())))?;
                eprintln!("wrote {}", p.display());
            }
            None => print!("{text}"),
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Polls a deployment until it stops, drawing one bar and a line per VM that finishes.
    async fn follow(&self, start: &DeploymentView, kind: Follow, out: &Out) -> Result<DeploymentView, CliError> {
        let id = start.id;
        let mut seen: BTreeMap<i64, String> = start.stands.iter().flat_map(|s| &s.vms).map(|v| (v.id, v.status.clone())).collect();
        let mut seen_stands: BTreeMap<i64, String> = start.stands.iter().map(|s| (s.id, s.status.clone())).collect();
        let bar = if out.tty { ProgressBar::new(0) } else { ProgressBar::hidden() };
        let style = ProgressStyle::with_template("{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} VMs  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        let mut last_plain = (usize::MAX, String::new());
        let mut job_checked = false;
        loop {
            let d: DeploymentView = self.get(&format!("/api/v1/pve/deployments/{id}")).await?;
            let stands: Vec<_> = d.stands.iter().filter(|s| kind.covers(&s.user)).collect();
            let total: usize = stands.iter().map(|s| s.vms.len()).sum();
            let mut finished = 0;
            for s in &stands {
                for v in &s.vms {
                    let done = kind.finished(&v.status);
                    finished += usize::from(done);
                    let changed = seen.insert(v.id, v.status.clone()).is_none_or(|old| old != v.status);
                    if done && changed {
                        let err = v.error.as_deref().map(|e| format!("  {e}")).unwrap_or_default();
                        let line = format!("{:<9} {}  {}  {} on {}{err}", v.status, s.user, v.name, v.vmid, v.node);
                        emit(&bar, out, &line);
                    }
                }
                let changed = seen_stands.insert(s.id, s.status.clone()).is_none_or(|old| old != s.status);
                if changed && s.status == "failed" {
                    emit(&bar, out, &format!("failed    {}: {}", s.user, s.error.as_deref().unwrap_or("see the deployment")));
                }
            }
            bar.set_length(total as u64);
            bar.set_position(finished as u64);
            bar.set_message(d.status.clone());
            if !out.tty && (finished, d.status.clone()) != last_plain {
                eprintln!("deployment {id}: {}, {finished}/{total} VMs {}", d.status, kind.verb());
                last_plain = (finished, d.status.clone());
            }
            if !kind.in_progress(&d.status) {
                bar.finish_and_clear();
                return Ok(d);
            }
            // A job that died without recording an outcome leaves the status behind: stop on it.
            if let Some(j) = d.job_id {
                let job: JobState = self.get(&format!("/api/v1/jobs/{j}")).await?;
                if matches!(job.status.as_str(), "failed" | "cancelled" | "succeeded") {
                    if job_checked {
                        bar.finish_and_clear();
                        return Err(CliError::Gantry(format!(
                            "deployment {id} is still '{}' but its job {j} {}: {}",
                            d.status,
                            job.status,
                            job.error.unwrap_or_else(|| "no error recorded".into())
                        )));
                    }
                    // Look once more: the status is written just before the job ends.
                    job_checked = true;
                    continue;
                }
            }
            tokio::time::sleep(out.poll).await;
        }
    }
}

/// Prints a progress line without tearing the bar (stderr under --json, so stdout stays JSON).
fn emit(bar: &ProgressBar, out: &Out, line: &str) {
    bar.suspend(|| {
        if out.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    });
}

/// What is being followed.
enum Follow {
    /// A deployment running its VMs.
    Deploy,
    /// A cleanup, of these users' stands or all.
    Cleanup(Option<BTreeSet<String>>),
}

impl Follow {
    fn covers(&self, user: &str) -> bool {
        match self {
            Follow::Deploy | Follow::Cleanup(None) => true,
            Follow::Cleanup(Some(u)) => u.contains(user),
        }
    }

    fn finished(&self, vm_status: &str) -> bool {
        match self {
            Follow::Deploy => matches!(vm_status, "ready" | "failed"),
            Follow::Cleanup(_) => vm_status == "destroyed",
        }
    }

    fn in_progress(&self, status: &str) -> bool {
        match self {
            Follow::Deploy => matches!(status, "queued" | "running"),
            Follow::Cleanup(_) => matches!(status, "queued" | "running" | "cleaning"),
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            Follow::Deploy => "finished",
            Follow::Cleanup(_) => "removed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_trim() {
        let t = table(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()], vec!["q".into(), String::new()]]);
        assert_eq!(t, "A    LONGER\nxyz  1\nq\n");
    }

    #[test]
    fn picking_a_cluster() {
        let names = ["a", "b"];
        assert_eq!(pick(names.iter().copied(), Some("b"), "x").ok(), Some(1));
        assert!(matches!(pick(names.iter().copied(), None, "x"), Err(CliError::Input(_))));
        assert_eq!(pick(["only"].iter().copied(), None, "x").ok(), Some(0));
    }
}
