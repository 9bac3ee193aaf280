use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use secrecy::SecretString;
use tessera::auth::AuthService;
use tessera::cli::{Cli, Command, ModelsCommand, ProjectionsCommand, UsersCommand};
use tessera::config::Settings;
use tessera::startup::{self, Application};
use tessera::telemetry;
use tessera_events::PgEventStore;
use tessera_models::catalog::{Catalog, InstallState};
use tessera_projections::RebuildOptions;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Model management needs no configuration, database or telemetry.
    if let Command::Models { catalog, command } = &cli.command {
        return models_command(catalog.clone(), command);
    }
    // Only serving needs a safe token secret; administration commands issue no tokens.
    let settings = match cli.command {
        Command::Serve => Settings::load(cli.config.clone())?,
        _ => Settings::load_unchecked(cli.config.clone())?,
    };
    telemetry::init(settings.log.format, &settings.log.level);
    match cli.command {
        Command::Serve => {
            let base = setup_base_url(&settings);
            let app = Application::build(settings).await?;
            // A fresh install: the person at this terminal creates the administrator in the
            // browser. (Printed, not logged: the link is a secret.)
            if let Some((token, expires_at)) = app.auth().issue_setup_link().await? {
                use secrecy::ExposeSecret as _;
                let base = base.unwrap_or_else(|| format!("http://127.0.0.1:{}", app.port()));
                println!(
                    "\nTessera has no administrator yet. Open this link to create one \
                     (it works once, until {expires_at}):\n\n    {base}/setup#{}\n",
                    token.expose_secret()
                );
            }
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let pool = startup::connect_pool(&settings)?;
            startup::migrate(&pool).await?;
            println!("migrations applied");
        }
        Command::Openapi => {
            println!("{}", tessera::openapi::document().to_pretty_json()?);
        }
        Command::Users { command } => match command {
            UsersCommand::CreateAdmin { email, name } => {
                // Never from an argument: a command line is visible to every local user.
                let password = match std::env::var("TESSERA_ADMIN_PASSWORD") {
                    Ok(p) => p,
                    Err(_) => {
                        eprintln!("password (one line on standard input):");
                        let mut line = String::new();
                        std::io::stdin().lock().read_line(&mut line)?;
                        line.trim_end_matches(['\r', '\n']).to_owned()
                    }
                };
                let pool = startup::connect_pool(&settings)?;
                startup::migrate(&pool).await?;
                let auth = AuthService::new(
                    PgEventStore::new(pool.clone()),
                    pool,
                    settings.auth.clone(),
                    settings.quotas.clone(),
                );
                let id = auth
                    .create_admin(&email, SecretString::from(password), &name)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot create the administrator: {e}"))?;
                println!("administrator {email} created with id {id}");
            }
        },
        Command::Models { .. } => unreachable!("handled before configuration is loaded"),
        Command::Projections { command } => {
            let pool = startup::connect_pool(&settings)?;
            startup::migrate(&pool).await?;
            let projections = tessera_projections::read_models::all();
            match command {
                ProjectionsCommand::Status => {
                    let statuses = tessera_projections::status(&pool, &projections).await?;
                    println!(
                        "{:<16} {:>10} {:>10} {:>8} {:>8} {:>6}  owner",
                        "projection", "position", "head", "lag", "version", "epoch"
                    );
                    for s in statuses {
                        println!(
                            "{:<16} {:>10} {:>10} {:>8} {:>8} {:>6}  {}",
                            s.name,
                            s.position,
                            s.head,
                            s.lag,
                            format!("{}/{}", s.version, s.target_version),
                            s.epoch,
                            s.owner_node.as_deref().unwrap_or("-")
                        );
                    }
                }
                ProjectionsCommand::Rebuild { name } => {
                    let chosen: Vec<_> = projections
                        .iter()
                        .filter(|p| name.as_deref().is_none_or(|n| n == p.name()))
                        .collect();
                    if chosen.is_empty() {
                        let known: Vec<_> = projections.iter().map(|p| p.name()).collect();
                        anyhow::bail!(
                            "no projection named {:?}; known: {}",
                            name.unwrap_or_default(),
                            known.join(", ")
                        );
                    }
                    let store = PgEventStore::new(pool.clone());
                    let options = RebuildOptions::new(settings.node_id());
                    for p in chosen {
                        let started = std::time::Instant::now();
                        let report =
                            tessera_projections::rebuild(&pool, &store, p.as_ref(), &options)
                                .await
                                .with_context(|| format!("rebuilding {}", p.name()))?;
                        println!(
                            "{}: {} events replayed up to position {} in {:.2?}, swapped in",
                            p.name(),
                            report.events,
                            report.position,
                            started.elapsed()
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// The folder holding `catalog.toml` and `tools/`: `$TESSERA_SHARE_DIR/models`, then `models/` in
/// the working directory, then the source checkout this binary was built from, then
/// `share/tessera/models` beside the installed binary.
fn models_share_dir() -> anyhow::Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(share) = std::env::var_os("TESSERA_SHARE_DIR").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(share).join("models"));
    }
    candidates.push(PathBuf::from("models"));
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    if let Some(prefix) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
    {
        candidates.push(prefix.join("share").join("tessera").join("models"));
    }
    candidates
        .iter()
        .find(|dir| dir.join("catalog.toml").is_file())
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "cannot find the model catalog; looked in {} (set TESSERA_SHARE_DIR or --catalog)",
                candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

fn models_command(catalog: Option<PathBuf>, command: &ModelsCommand) -> anyhow::Result<()> {
    let share = models_share_dir();
    let catalog_path = match catalog {
        Some(path) => path,
        None => share
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .join("catalog.toml"),
    };
    match command {
        ModelsCommand::Fetch { ids, verify } => {
            let tool = share?.join("tools").join("fetch.py");
            let mut cmd = std::process::Command::new("python3");
            cmd.arg(&tool).arg("--catalog").arg(&catalog_path);
            if *verify {
                cmd.arg("--verify");
            }
            // Inherited stdout and stderr stream the tool's progress as it happens.
            let status = cmd.args(ids).status().with_context(|| {
                format!(
                    "cannot run python3 {} (is Python 3.11+ installed?)",
                    tool.display()
                )
            })?;
            if !status.success() {
                std::process::exit(status.code().unwrap_or(1));
            }
        }
        ModelsCommand::List => {
            let catalog = Catalog::load_with_user(&catalog_path)?;
            println!(
                "{:<24} {:<14} {:<21} {:<8} {:>10}  {:<10}  licence",
                "id", "version", "task", "runtime", "size", "state"
            );
            for m in catalog.models() {
                let (size, state) = match catalog.install_state(m) {
                    InstallState::Installed { bytes } => (format_size(bytes), "installed".into()),
                    InstallState::Missing(files) if files.len() == m.all_files().count() => {
                        ("-".into(), "missing".into())
                    }
                    InstallState::Missing(files) => {
                        ("-".into(), format!("partial ({} missing)", files.len()))
                    }
                };
                println!(
                    "{:<24} {:<14} {:<21} {:<8} {:>10}  {:<10}  {}",
                    m.id,
                    m.version,
                    m.task,
                    m.runtime.to_string(),
                    size,
                    state,
                    m.licence.as_deref().unwrap_or("-")
                );
            }
            println!("models folder: {}", catalog.models_dir().display());
        }
    }
    Ok(())
}

fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Where the setup link points: the public URL when configured, else the address served on
/// (`None`: the loopback address and the port the server binds, known once it has).
fn setup_base_url(settings: &tessera::config::Settings) -> Option<String> {
    if let Some(url) = &settings.server.public_url {
        return Some(url.trim_end_matches('/').to_owned());
    }
    let host = settings.server.host.as_str();
    if matches!(host, "0.0.0.0" | "::" | "127.0.0.1" | "localhost") {
        return None;
    }
    Some(format!("http://{host}:{}", settings.server.port))
}
