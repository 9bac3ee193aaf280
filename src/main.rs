use std::io::BufRead;

use anyhow::Context;
use clap::Parser;
use secrecy::SecretString;
use tessera::auth::AuthService;
use tessera::cli::{Cli, Command, ProjectionsCommand, UsersCommand};
use tessera::config::Settings;
use tessera::startup::{self, Application};
use tessera::telemetry;
use tessera_events::PgEventStore;
use tessera_projections::RebuildOptions;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Only serving needs a safe token secret; administration commands issue no tokens.
    let settings = match cli.command {
        Command::Serve => Settings::load(cli.config.clone())?,
        _ => Settings::load_unchecked(cli.config.clone())?,
    };
    telemetry::init(&settings.log.format, &settings.log.level);
    match cli.command {
        Command::Serve => {
            let app = Application::build(settings).await?;
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
