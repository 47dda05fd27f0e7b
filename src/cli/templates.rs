//! `gatehouse templates check`: loads the templates as the server does (embedded, or replaced
//! from `templates.path`) and renders every page with its sample context, so that a template
//! that would fail in front of a person fails here first.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Args, Subcommand};

use super::setup::{self, ConfigSources};
use crate::{
    config::RootConfig,
    templates::{LAYOUTS, Origin, SAMPLES, Templates},
};

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Compile every template and render each page with a sample context, as the server would
    /// (strict: an undefined variable is an error). Uses `templates.path` from the configuration;
    /// without any configuration, checks the embedded templates.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Write each rendered page to DIR/<template name> (DIR is created if missing).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Make the renders deterministic. Accepted as in MAS; the sample contexts hold nothing that
    /// varies between runs (no times, no random values), so renders are deterministic already.
    #[arg(long)]
    stabilise: bool,
}

pub fn run(sources: &ConfigSources, command: TemplatesCommand) -> anyhow::Result<ExitCode> {
    match command {
        TemplatesCommand::Check(args) => check(sources, args),
    }
}

fn check(sources: &ConfigSources, args: CheckArgs) -> anyhow::Result<ExitCode> {
    if args.stabilise {
        tracing::debug!("--stabilise: the sample contexts are deterministic already");
    }
    // Templates need no database or secrets, but a configuration that exists is loaded (and
    // validated) as every verb does, so that `templates.path` is the one the server would use.
    let config = match sources.files() {
        Some(files) => setup::load_files(&files)?,
        None => {
            tracing::info!("no configuration found; checking the embedded templates");
            RootConfig::default()
        }
    };
    let templates = Templates::load(&config.templates)?;
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }

    let mut failed = false;
    for sample in SAMPLES {
        let name = sample.template;
        match sample.render(&templates) {
            Ok(html) => {
                if let Some(dir) = &args.out_dir {
                    let path = dir.join(name);
                    std::fs::write(&path, html)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                }
                println!("{name}: ok{}", origin_note(templates.origin(name)));
            }
            Err(error) => {
                failed = true;
                eprintln!("error: template {name}: {error}");
            }
        }
    }
    // The rest (layouts, and templates `templates.path` adds for the pages to include) have no
    // context of their own: they compiled, and rendered as part of the pages above.
    for (name, origin) in templates.origins() {
        if SAMPLES.iter().any(|sample| sample.template == name) {
            continue;
        }
        let role = if LAYOUTS.contains(&name) {
            "a layout, rendered through the pages"
        } else {
            "not a page, rendered only where a page includes it"
        };
        println!("{name}: compiled ({role}){}", origin_note(Some(origin)));
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Where a template replaced from `templates.path` came from; nothing for embedded ones.
fn origin_note(origin: Option<&Origin>) -> String {
    match origin {
        Some(Origin::File(path)) => format!(" (from {})", path.display()),
        Some(Origin::Embedded) | None => String::new(),
    }
}
