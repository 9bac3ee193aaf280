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
