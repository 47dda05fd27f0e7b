//! `gatehouse manage …`: the admin verbs of MAS's `mas-cli manage`. Each verb parses its
//! arguments and calls the account operation the HTTP surfaces use too.

use std::{
    io::{BufRead, IsTerminal, Write},
    process::ExitCode,
};

use anyhow::Context;
use clap::{ArgGroup, Subcommand};

use super::setup::{self, ConfigSources};
use crate::{
    domain::{RandomSource, SystemClock, jobs::Job, scopes::Scope},
    services::accounts::{self, Registration},
    store::Store,
};

#[derive(Subcommand)]
pub enum ManageCommand {
    /// Register a user (interactive unless --yes); the user is provisioned in the homeserver.
    RegisterUser {
        /// The username (Matrix localpart). Asked for when missing and interactive.
        username: Option<String>,
        /// Set this password.
        #[arg(short, long)]
        password: Option<String>,
        /// Add this (verified) email address; repeatable.
        #[arg(short, long = "email", value_name = "EMAIL")]
        emails: Vec<String>,
        /// Allow the user to request admin scopes.
        #[arg(short = 'a', long = "admin", conflicts_with = "no_admin")]
        admin: bool,
        /// Do not allow the user to request admin scopes (the default).
        #[arg(short = 'A', long = "no-admin")]
        no_admin: bool,
        /// Display name to set in the homeserver.
        #[arg(short = 'd', long = "display-name")]
        display_name: Option<String>,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
        /// Accept a password below `passwords.minimum_complexity`.
        #[arg(long)]
        ignore_password_complexity: bool,
    },
    /// Set a user's password.
    SetPassword {
        username: String,
        password: String,
        /// Accept a password below `passwords.minimum_complexity`.
        #[arg(long)]
        ignore_complexity: bool,
    },
    /// Add a (verified) email address to a user.
    AddEmail { username: String, email: String },
    /// Deprecated: emails added by `add-email` are verified already.
    VerifyEmail { username: String, email: String },
    /// Allow a user to request admin scopes.
    PromoteAdmin { username: String },
    /// Stop a user from requesting admin scopes.
    DemoteAdmin { username: String },
    /// List the users allowed to request admin scopes.
    ListAdminUsers,
    /// Lock a user: their tokens stop working and they cannot log in.
    LockUser {
        username: String,
        /// Also deactivate the user (in the homeserver too).
        #[arg(long)]
        deactivate: bool,
    },
    /// Unlock a user.
    UnlockUser {
        username: String,
        /// Also reactivate a deactivated user.
        #[arg(long)]
        reactivate: bool,
    },
    /// End every session of a user.
    KillSessions {
        username: String,
        /// Only list what would be ended.
        #[arg(long)]
        dry_run: bool,
    },
    /// Create a compatibility session and print its access token (it does not expire).
    IssueCompatibilityToken {
        username: String,
        /// Device ID for the session (random 10 characters when missing).
        device_id: Option<String>,
        /// Give the token Synapse admin rights (`urn:synapse:admin:*`).
        #[arg(long)]
        yes_i_want_to_grant_synapse_admin_privileges: bool,
    },
    /// Create a personal session for USERNAME and print its access token (`mpt_…`), e.g. an
    /// admin API token with `--scope urn:mas:admin`.
    IssuePersonalToken {
        username: String,
        /// Scope to grant; repeatable (`urn:mas:admin` for the admin API).
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// Seconds until the token expires (never when missing).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u32>,
        /// A name for the session, shown in listings.
        #[arg(
            long,
            value_name = "NAME",
            default_value = "gatehouse manage issue-personal-token"
        )]
        name: String,
    },
    /// Create a registration token and print it.
    #[command(group(ArgGroup::new("limit").args(["usage_limit", "unlimited"])))]
    IssueUserRegistrationToken {
        /// The token text (random when missing).
        #[arg(long)]
        token: Option<String>,
        /// How many registrations it allows (default 1).
        #[arg(long, value_name = "N")]
        usage_limit: Option<u32>,
        /// Allow any number of registrations.
        #[arg(long)]
        unlimited: bool,
        /// Seconds until the token expires (never when missing).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u32>,
    },
    /// Queue a provisioning job for every user (re-syncs the homeserver).
    ProvisionAllUsers,
    /// Write every user as CSV (username, created_at, admin, locked, deactivated, guest, emails,
    /// password_hash, password_version), to FILE or standard output.
    ExportUsers {
        /// Write here instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Create users from a CSV FILE (columns username, password or password_hash +
    /// password_version, emails (`;`-separated), admin); taken usernames are skipped. Fails
    /// when any row failed.
    ImportUsers {
        /// The CSV file (`-` for standard input).
        file: std::path::PathBuf,
    },
}

impl std::fmt::Debug for ManageCommand {
    // Some verbs carry a password or a token (set-password, register-user -p,
    // issue-user-registration-token --token): name none of the arguments.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManageCommand").finish_non_exhaustive()
    }
}

pub async fn run(sources: &ConfigSources, command: ManageCommand) -> anyhow::Result<ExitCode> {
    let config = sources.load()?;
    let store = setup::connect_and_migrate(&config).await?;
    let clock = SystemClock;
    let outcome = run_command(&store, &config, &clock, command).await;
    store.close().await;
    outcome
}

async fn run_command(
    store: &Store,
    config: &crate::config::RootConfig,
    clock: &SystemClock,
    command: ManageCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        ManageCommand::RegisterUser {
            username,
            password,
            emails,
            admin,
            no_admin: _,
            display_name,
            yes,
            ignore_password_complexity,
        } => {
            let interactive = !yes && std::io::stdin().is_terminal();
            let username = match username {
                Some(username) => username,
                None if interactive => prompt("Username: ")?,
                None => anyhow::bail!(
                    "a username is required (gatehouse manage register-user USERNAME)"
                ),
            };
            if interactive {
                eprintln!(
                    "About to create user {username:?}: admin: {admin}, password: {}, emails: {}",
                    if password.is_some() { "set" } else { "none" },
                    if emails.is_empty() {
                        "none".to_owned()
                    } else {
                        emails.join(", ")
                    }
                );
                let answer = prompt("Create this user? [y/N] ")?;
                if !matches!(answer.as_str(), "y" | "Y" | "yes") {
                    eprintln!("aborted; nothing was created");
                    return Ok(ExitCode::FAILURE);
                }
            }
            let synapse = config.synapse_client()?;
            match synapse.is_localpart_available(&username).await {
                Ok(true) => {}
                Ok(false) => anyhow::bail!(
                    "the homeserver says {username:?} is not available (already taken, invalid, or reserved by an application service)"
                ),
                Err(error) => eprintln!(
                    "warning: could not check the username with the homeserver ({error}); the user is created and provisioned there once it is reachable"
                ),
            }
            let passwords = config.password_hasher()?;
            let user = accounts::register_user(
                store,
                clock,
                &passwords,
                Registration {
                    username,
                    password,
                    emails,
                    admin,
                    display_name,
                    check_complexity: !ignore_password_complexity,
                },
            )
            .await?;
            eprintln!("created user {} ({})", user.username, user.id);
        }
        ManageCommand::SetPassword {
            username,
            password,
            ignore_complexity,
        } => {
            let passwords = config.password_hasher()?;
            let user = accounts::find_user(store, &username).await?;
            accounts::set_password(
                store,
                clock,
                &passwords,
                &user,
                &password,
                !ignore_complexity,
            )
            .await?;
            eprintln!("password of {username} updated");
        }
        ManageCommand::AddEmail { username, email } => {
            let user = accounts::find_user(store, &username).await?;
            accounts::add_email(store, clock, user.id, &email).await?;
            eprintln!("added {email} to {username}");
        }
        ManageCommand::VerifyEmail { .. } => {
            eprintln!(
                "warning: `verify-email` is deprecated and does nothing: addresses added with `add-email` are verified"
            );
        }
        ManageCommand::PromoteAdmin { username } => {
            let user = accounts::find_user(store, &username).await?;
            accounts::set_admin(store, user.id, true).await?;
            eprintln!("{username} can now request admin scopes");
        }
        ManageCommand::DemoteAdmin { username } => {
            let user = accounts::find_user(store, &username).await?;
            accounts::set_admin(store, user.id, false).await?;
            eprintln!(
                "{username} can no longer request admin scopes; the admin scopes of its existing tokens stopped working"
            );
        }
        ManageCommand::ListAdminUsers => {
            let mut reader = store.reader().await?;
            let admins = reader.users().list_admins().await?;
            if admins.is_empty() {
                eprintln!("no user can request admin scopes");
            }
            for user in admins {
                println!("{}", user.username);
            }
        }
        ManageCommand::LockUser {
            username,
            deactivate,
        } => {
            let user = accounts::find_user(store, &username).await?;
            accounts::lock_user(store, clock, user.id, deactivate).await?;
            eprintln!(
                "locked {username}{}",
                if deactivate {
                    " and deactivated it"
                } else {
                    ""
                }
            );
        }
        ManageCommand::UnlockUser {
            username,
            reactivate,
        } => {
            let user = accounts::find_user(store, &username).await?;
            accounts::unlock_user(store, clock, user.id, reactivate).await?;
            eprintln!(
                "unlocked {username}{}",
                if reactivate {
                    " and reactivated it"
                } else {
                    ""
                }
            );
        }
        ManageCommand::KillSessions { username, dry_run } => {
            let user = accounts::find_user(store, &username).await?;
            let sessions = accounts::kill_sessions(store, clock, user.id, dry_run).await?;
            for session in &sessions.compat {
                println!(
                    "compat session {} (device {})",
                    session.id,
                    session.device_id.as_deref().unwrap_or("none")
                );
            }
            for id in &sessions.oauth2 {
                println!("OAuth 2.0 session {id}");
            }
            for id in &sessions.browser {
                println!("browser session {id}");
            }
            eprintln!(
                "{} {} session(s) of {username}",
                if dry_run { "would end" } else { "ended" },
                sessions.total()
            );
        }
        ManageCommand::IssueCompatibilityToken {
            username,
            device_id,
            yes_i_want_to_grant_synapse_admin_privileges,
        } => {
            let user = accounts::find_user(store, &username).await?;
            let issued = accounts::issue_compat_token(
                store,
                clock,
                &mut RandomSource::System.rng(),
                user.id,
                device_id,
                yes_i_want_to_grant_synapse_admin_privileges,
            )
            .await?;
            let device_id = issued.session.device_id.clone().unwrap_or_default();
            eprintln!(
                "compat session {} for {username}, device {device_id}",
                issued.session.id
            );
            println!("{}", issued.access_token);
            let synapse = config.synapse_client()?;
            if let Err(error) = synapse.upsert_device(&username, &device_id, None).await {
                eprintln!(
                    "error: could not create device {device_id} in the homeserver ({error}); a device sync is queued and the token works once it has run"
                );
                return Ok(ExitCode::FAILURE);
            }
        }
        ManageCommand::IssuePersonalToken {
            username,
            scopes,
            expires_in,
            name,
        } => {
            let user = accounts::find_user(store, &username).await?;
            let scope = Scope::from_tokens(&scopes)?;
            let issued = accounts::issue_personal_token(
                store,
                clock,
                &mut RandomSource::System.rng(),
                accounts::PersonalTokenRequest {
                    actor_user_id: user.id,
                    owner_user_id: None,
                    human_name: name,
                    scope,
                    expires_in: expires_in.map(|s| chrono::Duration::seconds(i64::from(s))),
                },
            )
            .await?;
            eprintln!(
                "personal session {} for {username}, scopes: {}",
                issued.session.id, issued.session.scope
            );
            println!("{}", issued.access_token);
        }
        ManageCommand::IssueUserRegistrationToken {
            token,
            usage_limit,
            unlimited,
            expires_in,
        } => {
            let limit = if unlimited {
                None
            } else {
                Some(usage_limit.unwrap_or(1))
            };
            let issued = accounts::issue_registration_token(
                store,
                clock,
                &mut RandomSource::System.rng(),
                token,
                limit,
                expires_in.map(|s| chrono::Duration::seconds(i64::from(s))),
            )
            .await?;
            println!("{}", issued.token);
        }
        ManageCommand::ProvisionAllUsers => {
            let mut repo = store.repo().await?;
            let ids = repo.users().all_ids().await?;
            for user_id in &ids {
                let job = Job::ProvisionUser {
                    user_id: *user_id,
                    set_displayname: None,
                };
                repo.jobs().push(clock, &job).await?;
            }
            repo.save().await?;
            eprintln!("queued provisioning of {} user(s)", ids.len());
        }
        ManageCommand::ExportUsers { output } => {
            let bar = progress_bar("{spinner} exporting {pos}/{len} users {wide_bar} {eta}");
            let progress = |done: u64, total: u64| {
                if let Some(bar) = &bar {
                    bar.set_length(total);
                    bar.set_position(done);
                }
            };
            let count = match &output {
                Some(path) => {
                    // The export holds password hashes: owner-only.
                    let file = super::create_private_file(path, true)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    crate::services::users_csv::export_users(
                        store,
                        std::io::BufWriter::new(file),
                        progress,
                    )
                    .await?
                }
                None => {
                    crate::services::users_csv::export_users(
                        store,
                        std::io::stdout().lock(),
                        progress,
                    )
                    .await?
                }
            };
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            eprintln!("exported {count} user(s)");
        }
        ManageCommand::ImportUsers { file } => {
            let passwords = config.password_hasher()?;
            let input: Box<dyn std::io::Read> = if file.as_os_str() == "-" {
                Box::new(std::io::stdin())
            } else {
                Box::new(
                    std::fs::File::open(&file)
                        .with_context(|| format!("cannot open {}", file.display()))?,
                )
            };
            let bar = progress_bar("{spinner} importing: {pos} rows {elapsed}");
            let results = crate::services::users_csv::import_users(
                store,
                clock,
                &passwords,
                std::io::BufReader::new(input),
                |result| {
                    let line = match (&result.status, &result.reason) {
                        (crate::services::users_csv::ImportStatus::Created, _) => None,
                        (status, reason) => Some(format!(
                            "row {} ({}): {:?}{}",
                            result.row,
                            result.username,
                            status,
                            reason
                                .as_deref()
                                .map(|r| format!(": {r}"))
                                .unwrap_or_default()
                        )),
                    };
                    match &bar {
                        Some(bar) => {
                            bar.inc(1);
                            if let Some(line) = line {
                                bar.println(line);
                            }
                        }
                        None => {
                            if let Some(line) = line {
                                eprintln!("{line}");
                            }
                        }
                    }
                },
            )
            .await?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let summary = crate::services::users_csv::ImportSummary::of(&results);
            eprintln!("imported {} row(s): {summary}", results.len());
            if summary.errors > 0 {
                eprintln!("error: {} row(s) failed", summary.errors);
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on standard error when it is a terminal; nothing otherwise (a summary line
/// is printed at the end either way).
fn progress_bar(template: &str) -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    })
}

fn prompt(question: &str) -> anyhow::Result<String> {
    eprint!("{question}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read from standard input")?;
    Ok(line.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[test]
    fn debug_names_no_argument() {
        let cli = super::super::Cli::try_parse_from([
            "gatehouse",
            "manage",
            "set-password",
            "alice",
            "hunter2-password",
        ])
        .expect("parses");
        let debug = format!("{cli:?}");
        assert!(!debug.contains("hunter2-password"), "{debug}");
        assert!(debug.contains("ManageCommand"), "{debug}");
    }
}
