//! `gatehouse worker`: run only the background job worker (provisioning users and devices in
//! the homeserver), for deployments that run `server --no-worker` elsewhere. Several workers may
//! share one PostgreSQL database: a job is claimed by one worker at a time.

use std::{process::ExitCode, sync::Arc};

use super::setup::{self, ConfigSources};
use crate::{
    domain::{Clock, SystemClock},
    http::shutdown_signal,
    jobs::Worker,
};

pub async fn run(sources: &ConfigSources) -> anyhow::Result<ExitCode> {
    let config = sources.load()?;
    let store = setup::connect_and_migrate(&config).await?;
    let synapse = config.synapse_client()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let worker = Worker {
        housekeeping: crate::services::housekeeping::Housekeeping::new(&config.experimental),
        ..Worker::new(store.clone(), synapse, clock)
    };
    tracing::info!(worker = %worker.name, "job worker started");
    worker.run(shutdown_signal()).await;
    store.close().await;
    tracing::info!("job worker stopped");
    Ok(ExitCode::SUCCESS)
}
