//! `gatehouse server`: migrate, sync the static clients, bind every listener, serve until
//! SIGINT/SIGTERM.

use std::{process::ExitCode, sync::Arc, time::Duration};

use clap::Args;

use super::{
    embedded,
    setup::{self, ConfigSources},
};
use crate::{
    domain::{Clock, SystemClock},
    http::{self, AppState, SERVED_RESOURCES},
    jobs::Worker,
    services::housekeeping::Housekeeping,
};

#[derive(Debug, Default, Args)]
pub struct ServerArgs {
    /// Do not apply pending database migrations at start-up (fail if the schema is behind).
    #[arg(long)]
    no_migrate: bool,
    /// Do not run the background job worker in this process (run `gatehouse worker` instead).
    #[arg(long)]
    no_worker: bool,
    /// Do not copy the static `clients` from the configuration into the database at start-up.
    #[arg(long)]
    no_sync: bool,
}

pub async fn run(sources: &ConfigSources, args: ServerArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let files = match sources.files() {
        Some(files) => files,
        None => vec![embedded::ensure(&sources.data_dir)?],
    };
    let config = setup::load_files(&files)?;
    setup::check_deep(&config)?;

    let store = setup::connect(&config).await?;
    if args.no_migrate {
        let pending = store.pending_migrations().await?;
        anyhow::ensure!(
            pending.is_empty(),
            "the database schema is behind ({} pending migrations); run `gatehouse database migrate` or drop --no-migrate",
            pending.len()
        );
    } else {
        store.migrate().await?;
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if !args.no_sync {
        super::config::sync_clients(&store, &config, clock.as_ref(), false, false).await?;
    }

    for listener in &config.http.listeners {
        for resource in &listener.resources {
            let name = http::resource_name(resource);
            if !SERVED_RESOURCES.contains(&name) {
                tracing::warn!(listener = %listener.name, resource = %name, "this build does not serve this resource yet");
            }
        }
    }

    let listeners = http::bind_listeners(&config.http.listeners).await?;
    for listener in &listeners {
        let urls = listener.urls.join(", ");
        tracing::info!(listener = %listener.name, resources = ?listener.resources, "listening on {urls}");
    }
    let public_base = config.http.public_base.to_string();
    let passwords = config.password_hasher()?;
    let keystore = config.keystore()?;
    let state = AppState::new(
        store.clone(),
        config,
        clock.clone(),
        crate::domain::RandomSource::System,
        passwords,
        keystore,
    )?;
    // Measure the password schemes now rather than on the first failed sign-in (a slow bcrypt
    // cost takes a second), so that the first sign-ins already fail in equal time.
    let hasher = state.passwords.clone();
    tokio::spawn(async move { hasher.burn_slowest_verification().await });
    let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = if args.no_worker {
        None
    } else {
        let worker = Worker::new(store.clone(), state.synapse.clone(), clock.clone());
        let worker = Worker {
            wake: state.jobs_wake.clone(),
            housekeeping: Housekeeping::new(&state.config.experimental),
            ..worker
        };
        Some(tokio::spawn(worker.run(async {
            let _ = worker_stopped.await;
        })))
    };
    // One line on stdout so that scripts and people see where to go.
    println!(
        "Gatehouse is ready at {public_base} (started in {} ms)",
        started.elapsed().as_millis()
    );
    let served = http::serve(
        listeners,
        state,
        http::shutdown_signal(),
        Duration::from_secs(10),
    )
    .await;
    // Stop the worker after the listeners: requests in flight may still queue jobs.
    let _ = stop_worker.send(());
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    served?;
    store.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
