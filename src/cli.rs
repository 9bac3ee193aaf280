//! The `tessera` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Self-hostable multimodal AI workspace"
)]
pub struct Cli {
    /// A TOML configuration file (defaults: $TESSERA_CONFIG, then ./tessera.toml if present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database and serve HTTP.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Manage users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Inspect and rebuild read models.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Install and inspect the local models.
    Models {
        /// The model catalog (default: models/catalog.toml of this checkout or installation).
        #[arg(long, env = "TESSERA_CATALOG")]
        catalog: Option<PathBuf>,
        #[command(subcommand)]
        command: ModelsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an administrator (the first one, or another). The password comes from
    /// $TESSERA_ADMIN_PASSWORD, else one line on standard input.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Position and lag of each projection.
    Status,
    /// Rebuild one projection (or all) from the log beside the live tables, then swap.
    Rebuild { name: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download, verify and convert catalog models (all of them, or the ids given).
    Fetch {
        ids: Vec<String>,
        /// Re-hash installed files instead of trusting the install record.
        #[arg(long)]
        verify: bool,
    },
    /// Show each catalog model: task, whether it is installed, its size on disk, its licence.
    List,
}
