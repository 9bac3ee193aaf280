use std::io::BufRead;

use anyhow::Context;
use clap::Parser;
use tessera::cli::{Cli, Command, ProjectionsCommand, UsersCommand};
use tessera::config::Settings;
use tessera::startup::{self, Application};
use tessera::telemetry;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.clone())?;
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
            UsersCommand::CreateAdmin {
                email,
                password,
                name,
            } => {
                let password = match password.or_else(|| std::env::var("TESSERA_ADMIN_PASSWORD").ok()) {
                    Some(p) => p,
                    None => {
                        eprintln!("password (one line on standard input):");
                        let mut line = String::new();
                        std::io::stdin().lock().read_line(&mut line)?;
                        line.trim_end_matches(['\r', '\n']).to_owned()
                    }
                };
                let _ = (email, password, name);
                anyhow::bail!("not wired yet");
            }
        },
        Command::Projections { command } => match command {
            ProjectionsCommand::Status | ProjectionsCommand::Rebuild { .. } => {
                anyhow::bail!("not wired yet");
            }
        },
    }
    Ok(())
}
