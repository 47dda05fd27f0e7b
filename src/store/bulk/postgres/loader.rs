//! The two loading connections: each creates its staged tables, COPYs into them what the sink
//! sends, builds their keys and indexes, adds the foreign keys between them and commits, in a
//! task of its own; its connection is then handed back for the late builds and checks.

use sqlx::{Connection, PgConnection};
use tokio::{sync::mpsc, task::JoinHandle};

use super::{STAGING_SCHEMA, keys::ForeignKey};
use crate::store::bulk::BulkError;

/// Bytes of COPY data per message.
const COPY_CHUNK: usize = 128 * 1024;

pub(super) enum Job {
    Copy {
        sql: String,
        data: Vec<u8>,
    },
    /// Everything was sent: build the keys and commit. A loader whose channel closes without
    /// this rolls back.
    Finish,
}

/// What one loading connection creates, builds and checks.
pub(super) struct LoadPlan {
    pub(super) url: String,
    /// The main connection's `search_path`.
    pub(super) search_path: String,
    /// `CREATE TABLE` of its staged tables.
    pub(super) creates: Vec<String>,
    /// Their keys and indexes, built after the COPYs.
    pub(super) builds: Vec<String>,
    /// The foreign keys between its own tables, added (validated) after the builds.
    pub(super) foreign_keys: Vec<ForeignKey>,
}

pub(super) struct Loader {
    jobs: mpsc::Sender<Job>,
    /// [`Job::Finish`] was sent.
    finishing: bool,
    task: Option<JoinHandle<Result<PgConnection, BulkError>>>,
}

impl Loader {
    /// Start loading `plan`'s tables with what comes through `jobs`.
    pub(super) fn start(
        plan: LoadPlan,
        jobs: mpsc::Sender<Job>,
        receiver: mpsc::Receiver<Job>,
    ) -> Self {
        Self {
            jobs,
            finishing: false,
            task: Some(tokio::spawn(load(plan, receiver))),
        }
    }

    /// Hand the loader a job; when it has stopped, the error it stopped with.
    pub(super) async fn send(&mut self, job: Job) -> Result<(), BulkError> {
        if self.jobs.send(job).await.is_err() {
            return Err(self.failure().await);
        }
        Ok(())
    }

    /// The error the loader stopped with (its channel closed early).
    async fn failure(&mut self) -> BulkError {
        match self.task.take() {
            Some(task) => match task.await {
                Ok(Err(error)) => error,
                Ok(Ok(_)) => BulkError::Loader("it got rows after it was finished".to_owned()),
                Err(error) => BulkError::Loader(error.to_string()),
            },
            None => BulkError::Loader("it was finished already".to_owned()),
        }
    }

    /// Tell the loader no more rows come (it builds its keys and commits in the background).
    pub(super) async fn start_finishing(&mut self) -> Result<(), BulkError> {
        if !self.finishing {
            self.finishing = true;
            self.send(Job::Finish).await?;
        }
        Ok(())
    }

    /// Wait for the loader's commit; its connection is free for more work then.
    pub(super) async fn finish(&mut self) -> Result<PgConnection, BulkError> {
        self.start_finishing().await?;
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|error| BulkError::Loader(error.to_string()))?,
            None => Err(BulkError::Loader("it was finished already".to_owned())),
        }
    }
}

/// One loading connection: create the staged tables, COPY into them, build their keys and
/// indexes, add the foreign keys between them, commit; the connection is handed back for more
/// work.
async fn load(plan: LoadPlan, mut jobs: mpsc::Receiver<Job>) -> Result<PgConnection, BulkError> {
    let LoadPlan {
        url,
        search_path,
        creates,
        builds,
        foreign_keys,
    } = plan;
    let mut conn = PgConnection::connect(&url).await?;
    gatehouse_importer::net::set_tcp_nodelay(&mut conn).await?;
    // The tables are created in the transaction that fills them, so COPY may write frozen
    // rows (`FREEZE`): the key builds and validations then do not dirty every page again to
    // set hint bits, and read the indexes alone (the pages are all-visible).
    sqlx::raw_sql("BEGIN").execute(&mut conn).await?;
    for sql in creates {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await?;
    }
    loop {
        match jobs.recv().await {
            Some(Job::Copy { sql, data }) => {
                let mut copy = conn.copy_in_raw(&sql).await?;
                for chunk in data.chunks(COPY_CHUNK) {
                    copy.send(chunk).await?;
                }
                copy.finish().await?;
            }
            Some(Job::Finish) => break,
            // The sink was dropped mid-load (an error elsewhere): roll back.
            None => {
                return Err(BulkError::Loader("the load was abandoned".to_owned()));
            }
        }
    }
    // For the rest of the session (the connection builds and checks more afterwards):
    //
    // - Key builds sort in small runs (8MB) merged from temporary files, rather than in one
    //   in-memory quicksort of the whole table: with the rows in no useful order, a quicksort
    //   of two million tuples misses the CPU caches on nearly every comparison, while runs that
    //   fit them do not. At 1M users with devices and tokens in login order, the sessions' and
    //   tokens' key builds took 1.25-1.53 s each at 8MB against 1.9-3.0 s at 256MB (the whole
    //   run 15.45-15.50 s against 16.67-17.31 s); with rows already in key order the two are
    //   within 0.1 s of each other. It also keeps the server's memory for the load small.
    // - No parallel workers: the two loading connections already keep two cores busy, and each
    //   worker is one more server process to start. Turning them off on the source, loading
    //   and main connections took the whole machine's CPU for 200k users from 7.5-7.9 to
    //   6.4-6.8 CPU-seconds.
    // - No hash joins: a foreign key is checked with one anti-join of the two tables; with
    //   their keys just built (and the rows frozen, so index-only scans), a merge join of the
    //   two indexes measured two to three times cheaper than the hash join the planner picks
    //   for tables it has no statistics on (the foreign key checks at 200k users: 2.0 and
    //   1.4 s with hash joins, 0.8 and 0.5 s with merge joins; see `keys::plan_check` for
    //   small tables).
    sqlx::raw_sql(
        "SET maintenance_work_mem = '8MB';
         SET max_parallel_maintenance_workers = 0;
         SET max_parallel_workers_per_gather = 0;
         SET enable_hashjoin = off",
    )
    .execute(&mut conn)
    .await?;
    staging_first(&mut conn, &search_path).await?;
    build(&mut conn, builds).await?;
    for key in &foreign_keys {
        super::keys::plan_check(&mut conn, key).await?;
        execute(&mut conn, key.add(false)).await?;
    }
    sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
    Ok(conn)
}

/// Resolve unqualified table names to the staged tables first, for the rest of the session.
async fn staging_first(conn: &mut PgConnection, search_path: &str) -> Result<(), BulkError> {
    sqlx::query("SELECT set_config('search_path', $1, false)")
        .bind(format!("{STAGING_SCHEMA}, {search_path}"))
        .execute(conn)
        .await?;
    Ok(())
}

pub(super) async fn execute(conn: &mut PgConnection, sql: String) -> Result<(), BulkError> {
    tracing::debug!("running: {sql}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await?;
    Ok(())
}

/// Run key and index builds one after the other.
pub(super) async fn build(conn: &mut PgConnection, builds: Vec<String>) -> Result<(), BulkError> {
    for sql in builds {
        execute(conn, sql).await?;
    }
    Ok(())
}
