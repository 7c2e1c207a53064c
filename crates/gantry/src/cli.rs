//! The command line: `gantry serve` (default), `migrate`, `user …`,
//! `config check`, `healthcheck`, and `pve …` (Proxmox stands, see
//! [`crate::pve_cli`]). Every flag can also come from its `GANTRY_*` variable.

use crate::app::{self, App};
use crate::config::{Config, LogFormat, Overrides};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use gantry_core::accounts::{ChangeUser, CreateUser};
use gantry_core::audit::Actor;
use gantry_core::page::PageRequest;
use gantry_core::repo::UserFilter;
use gantry_core::user::{Role, Username};
use gantry_store::Repos;
use secrecy::{ExposeSecret, SecretString};
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Gantry: a self-hosted infrastructure control plane.
#[derive(Parser, Debug)]
#[command(name = "gantry", version, about)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "GANTRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, global = true, env = "GANTRY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Data directory (default ./data).
    #[arg(long, global = true, env = "GANTRY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, env = "GANTRY_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `debug`.
    #[arg(long, global = true, env = "GANTRY_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate {
        /// Only show applied, pending and unknown migrations.
        #[arg(long)]
        status: bool,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Exit 0 if the local server answers `/livez` (for container health checks).
    Healthcheck,
    /// Print the OpenAPI document (JSON) and exit; needs no database.
    Openapi,
    /// Proxmox VE stands: test clusters, list templates, plan, deploy, clean up
    /// (against a running Gantry, or directly with the YAML files).
    Pve(Box<crate::pve_cli::PveArgs>),
}

/// `gantry user …`.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user. The password is read from stdin with --password-stdin, otherwise generated and printed once.
    Create {
        /// Login name.
        username: String,
        /// Role: admin, operator or viewer.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (ends their sessions). Reads stdin with --password-stdin, otherwise generates one.
    SetPassword {
        /// Login name.
        username: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
}

/// `gantry config …`.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration with secrets redacted; exit non-zero on a bad value.
    Check,
}

impl Cli {
    fn overrides(&self) -> Overrides {
        Overrides { listen: self.listen, data_dir: self.data_dir.clone(), log_format: self.log_format, log_level: self.log_level.clone() }
    }
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // `gantry pve` is a client: it needs no configuration file, database or master key.
    if let Some(Command::Pve(args)) = cli.command.take_if(|c| matches!(c, Command::Pve(_))) {
        return crate::pve_cli::main(*args, cli.log_level.as_deref(), cli.log_format);
    }
    let cfg = match Config::load(cli.config.as_deref(), &cli.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gantry: {e}");
            return ExitCode::from(2);
        }
    };
    crate::logging::init(&cfg);
    for var in crate::config::unknown_env(std::env::vars()) {
        tracing::warn!(variable = %var, "unknown GANTRY_ environment variable ignored (check for a typo; nested keys use __)");
    }
    // One TLS provider for the whole process, chosen explicitly.
    if rustls::crypto::aws_lc_rs::default_provider().install_default().is_err() {
        tracing::debug!("TLS crypto provider already installed");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gantry: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(cli, cfg));
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "gantry failed");
            eprintln!("gantry: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, cfg: Config) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cfg).await,
        Command::Migrate { status } => migrate(cfg, status).await,
        Command::User(cmd) => user(cfg, cmd).await,
        Command::Config(ConfigCommand::Check) => {
            print!("{}", cfg.redacted_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck => healthcheck(cfg).await,
        Command::Pve(args) => Ok(crate::pve_cli::run(*args).await),
        Command::Openapi => {
            let doc = gantry_api::openapi(app::all_routes(&crate::modules::all(&cfg)));
            println!("{}", doc.to_pretty_json()?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(cfg: Config) -> anyhow::Result<ExitCode> {
    let signals = app::termination().context("cannot install signal handlers")?;
    let app = App::start(cfg).await?;
    if let Some(pw) = &app.generated_admin_password {
        // Printed to the console once; never logged.
        println!(
            "\nInitial admin login: user `admin`, password `{}`\nChange it after logging in. It will not be shown again.\n",
            pw.expose_secret()
        );
    }
    println!("Gantry is listening on http://{}", app.addr);
    let stop = app.shutdown.clone();
    tokio::spawn(async move {
        signals.await;
        tracing::info!("shutting down: draining requests and background work");
        stop.cancel();
    });
    app.wait().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn migrate(cfg: Config, status_only: bool) -> anyhow::Result<ExitCode> {
    let db = app::open_db(&cfg).await?;
    let migrations = app::all_migrations(&crate::modules::all(&cfg));
    if status_only {
        let st = gantry_store::migrate::status(&db, &migrations).await?;
        for n in &st.applied {
            println!("applied  {n}");
        }
        for n in &st.pending {
            println!("pending  {n}");
        }
        for n in &st.unknown {
            println!("UNKNOWN  {n} (applied by a newer gantry)");
        }
        return Ok(if st.unknown.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) });
    }
    let applied = gantry_store::migrate::run(&db, &migrations).await?;
    println!("{} migration(s) applied; schema is up to date", applied.len());
    Ok(ExitCode::SUCCESS)
}

fn read_password(from_stdin: bool) -> anyhow::Result<(SecretString, bool)> {
    if from_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("cannot read the password from stdin")?;
        return Ok((SecretString::from(s.trim_end_matches(['\r', '\n']).to_string()), false));
    }
    Ok((SecretString::from(gantry_core::tokens::random_token(18)), true))
}

async fn user(cfg: Config, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let db = app::open_db(&cfg).await?;
    gantry_store::migrate::run(&db, &app::all_migrations(&crate::modules::all(&cfg))).await?;
    let repos = Repos::new(&db);
    let (_, accounts) = app::services(&repos, &cfg);
    let actor = Actor::system("cli");
    match cmd {
        UserCommand::Create { username, role, display_name, password_stdin } => {
            let role: Role = role.parse().map_err(|e: String| anyhow::anyhow!("--role: {e}"))?;
            let (password, generated) = read_password(password_stdin)?;
            let user =
                accounts.create(CreateUser { username, display_name, role, password: password.clone() }, &actor).await.map_err(describe)?;
            println!("created user {} ({}) with id {}", user.username, user.role, user.id);
            if generated {
                println!("password: {}", password.expose_secret());
            }
        }
        UserCommand::SetPassword { username, password_stdin } => {
            let name = Username::parse(&username).map_err(|e| anyhow::anyhow!("username: {e}"))?;
            let (user, _) = repos.users.find_for_login(&name).await?.ok_or_else(|| anyhow::anyhow!("no user named {name}"))?;
            let (password, generated) = read_password(password_stdin)?;
            accounts
                .update(user.id, None, ChangeUser { password: Some(password.clone()), ..Default::default() }, &actor)
                .await
                .map_err(describe)?;
            println!("password of {} changed; their sessions were ended", user.username);
            if generated {
                println!("password: {}", password.expose_secret());
            }
        }
        UserCommand::List => {
            let mut page = PageRequest { limit: 500, after: None };
            println!("{:<6} {:<24} {:<9} {:<8} display name", "id", "username", "role", "status");
            loop {
                let p = accounts.list(&UserFilter::default(), page.clone()).await.map_err(describe)?;
                for u in &p.items {
                    println!(
                        "{:<6} {:<24} {:<9} {:<8} {}",
                        u.id,
                        u.username,
                        u.role,
                        if u.disabled { "disabled" } else { "active" },
                        u.display_name
                    );
                }
                match p.next {
                    Some(c) => page.after = Some(c),
                    None => break,
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(e: gantry_core::ServiceError) -> anyhow::Error {
    match e {
        gantry_core::ServiceError::Validation(errors) => {
            anyhow::anyhow!(errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; "))
        }
        other => anyhow::anyhow!(other.to_string()),
    }
}

async fn healthcheck(cfg: Config) -> anyhow::Result<ExitCode> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut addr = cfg.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf.starts_with(b"HTTP/1.1 200"))
    };
    match tokio::time::timeout(std::time::Duration::from_secs(3), attempt).await {
        Ok(Ok(true)) => Ok(ExitCode::SUCCESS),
        _ => {
            eprintln!("gantry healthcheck: {addr}/livez did not answer 200");
            Ok(ExitCode::FAILURE)
        }
    }
}
