//! `gatehouse openapi dump`: print the admin API's OpenAPI document (hidden; used to refresh
//! `openapi/admin-v1.json`).

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum OpenApiCommand {
    /// Print the admin API's OpenAPI document (JSON).
    Dump {
        /// Write it to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub fn run(command: OpenApiCommand) -> anyhow::Result<ExitCode> {
    match command {
        OpenApiCommand::Dump { output } => {
            let spec = crate::http::admin::spec_json();
            match output {
                Some(path) => std::fs::write(&path, spec)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => print!("{spec}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
