//! The migration itself: stream Synapse's rows entity by entity, map them to records, and hand
//! them in batches to a [`Sink`]. Reading and writing overlap: the reader fills batches while
//! the writer stores the previous ones.
//!
//! Memory: besides the batches in flight, one entry per Synapse user in the user map (its id,
//! time and flags, 32 bytes, plus the map's key). The per-user outcomes of the CSV report (with
//! a description of every skipped row) are kept only when a report is asked for. Nothing is kept per device: a device's session id is derived from (user, device)
//! with a per-run secret key, so a token finds its session without a map (the token query joins
//! its device row to know whether the device was carried).

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    net::IpAddr,
    time::{Duration, Instant},
};

use futures_util::TryStreamExt;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::sync::mpsc;
use ulid::Ulid;

use crate::{
    progress::{Progress, ProgressMode},
    records::{
        AccessTokenRecord, CompatSessionRecord, EmailRecord, PasswordRecord, RefreshTokenRecord,
        UnsupportedThreepidRecord, UpstreamLinkRecord, UserRecord,
    },
    report::{EntityCounts, Report, UserOutcome, UserStatus},
    sink::Sink,
    source::{
        SourceError, SynAccessToken, SynDevice, SynExternalId, SynLoneRefreshToken, SynThreepid,
        SynUser, SynapseDb,
    },
    user_index::UserIndex,
};

#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// The homeserver's `server_name`.
    pub server_name: String,
    /// Synapse `auth_provider` → target provider id (from the checks).
    pub provider_map: HashMap<String, Ulid>,
    /// "Now", unix ms: the creation time of sessions Synapse has no time for.
    pub now_ms: i64,
    /// Records per batch handed to the sink.
    pub batch_size: usize,
    /// Keep one [`UserOutcome`] per Synapse user and a description of every row not carried,
    /// for the CSV report ([`Report::users`], [`Report::orphans`]). Without it those stay empty
    /// and memory holds only the user map; the summary's counts are kept either way.
    pub per_user_report: bool,
    pub progress: ProgressMode,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("writing to the Gatehouse database: {0}")]
    Sink(#[source] E),
}

/// What the reader sends the writer.
enum Batch {
    Users(Vec<UserRecord>),
    Emails(Vec<EmailRecord>),
    Threepids(Vec<UnsupportedThreepidRecord>),
    Links(Vec<UpstreamLinkRecord>),
    Sessions(Vec<CompatSessionRecord>),
    AccessTokens(Vec<AccessTokenRecord>),
    RefreshTokens(Vec<RefreshTokenRecord>),
    /// No more users, emails, threepids or links follow.
    UsersDone,
}

/// Per-user state kept for the whole run (32 bytes).
struct UserMeta {
    id: Ulid,
    created_ms: i64,
    admin: bool,
    migrated: bool,
    /// Why this user's devices and tokens are not carried, if they are not.
    no_sessions: Option<NoSessions>,
}

#[derive(Debug, Clone, Copy)]
enum NoSessions {
    Deactivated,
    Guest,
}

impl NoSessions {
    fn reason(self) -> &'static str {
        match self {
            Self::Deactivated => "user is deactivated",
            Self::Guest => "user is a guest",
        }
    }
}

/// Buffers for every record kind. Whenever one is full all are flushed, parents first, so a
/// child never reaches the sink before its parent.
struct Batcher {
    size: usize,
    tx: mpsc::Sender<Batch>,
    users: Vec<UserRecord>,
    emails: Vec<EmailRecord>,
    threepids: Vec<UnsupportedThreepidRecord>,
    links: Vec<UpstreamLinkRecord>,
    sessions: Vec<CompatSessionRecord>,
    access: Vec<AccessTokenRecord>,
    refresh: Vec<RefreshTokenRecord>,
    rows: u64,
    /// Time spent waiting for room in the channel.
    blocked: Duration,
}

/// The writer went away (it failed; its error is reported instead).
struct WriterGone;

impl Batcher {
    fn full(&self) -> bool {
        self.users.len() >= self.size
            || self.emails.len() >= self.size
            || self.threepids.len() >= self.size
            || self.links.len() >= self.size
            || self.sessions.len() >= self.size
            || self.access.len() >= self.size
            || self.refresh.len() >= self.size
    }

    async fn maybe_flush(&mut self) -> Result<(), WriterGone> {
        if self.full() {
            self.flush().await
        } else {
            Ok(())
        }
    }

    async fn users_done(&mut self) -> Result<(), WriterGone> {
        self.tx.send(Batch::UsersDone).await.map_err(|_| WriterGone)
    }

    async fn flush(&mut self) -> Result<(), WriterGone> {
        macro_rules! send {
            ($field:ident, $variant:ident) => {
                if !self.$field.is_empty() {
                    let batch = std::mem::replace(&mut self.$field, Vec::with_capacity(self.size));
                    self.rows += batch.len() as u64;
                    let waiting = Instant::now();
                    self.tx
                        .send(Batch::$variant(batch))
                        .await
                        .map_err(|_| WriterGone)?;
                    self.blocked += waiting.elapsed();
                }
            };
        }
        // Each user with a password is two rows (users, user_passwords).
        self.rows += self.users.iter().filter(|u| u.password.is_some()).count() as u64;
        send!(users, Users);
        send!(emails, Emails);
        send!(threepids, Threepids);
        send!(links, Links);
        send!(sessions, Sessions);
        send!(access, AccessTokens);
        send!(refresh, RefreshTokens);
        Ok(())
    }
}

struct Reader<'a> {
    options: &'a MigrateOptions,
    rng: StdRng,
    /// The id [`Reader::ulid_at`] made last.
    last_id: Option<Ulid>,
    report: Report,
    /// What the run keeps per Synapse user, in the order the users were read.
    meta: Vec<UserMeta>,
    /// Full user id (`@lp:server`) → index in `meta` and `report.users`.
    index: UserIndex,
    /// Two independently keyed hashers: the random part of a device's session id (see
    /// [`Reader::session_id`]).
    session_keys: (RandomState, RandomState),
    batcher: Batcher,
}

impl Reader<'_> {
    /// A new id for a row created at `ms`. Ids made in a row for the same millisecond follow
    /// each other (the ULID spec's monotonic mode: the random part of the previous one plus
    /// one), so rows that share a time (tokens never validated, which all get the migration's
    /// time; emails added at once) are written in key order, and PostgreSQL's key builds find
    /// them already sorted.
    fn ulid_at(&mut self, ms: i64) -> Ulid {
        let id = next_ulid(self.last_id, ms, &mut self.rng);
        self.last_id = Some(id);
        id
    }

    fn user(&self, user_id: &str) -> Option<u32> {
        self.index.get(user_id.as_bytes())
    }

    /// The id of the compat session carrying a device: the device's time, and 80 bits of two
    /// keyed SipHashes of (user, device id) with keys drawn for this run. A device and its
    /// tokens compute the same id without remembering it; ids are as unpredictable across runs,
    /// and as unlikely to collide, as random ULIDs. Synapse's (user_id, device_id) is unique.
    fn session_id(&self, user: u32, device_id: &str, created_ms: i64) -> Ulid {
        let high = self.session_keys.0.hash_one((user, device_id));
        let low = self.session_keys.1.hash_one((user, device_id));
        Ulid::from_parts(
            created_ms.max(0) as u64,
            (u128::from(high) << 64) | u128::from(low),
        )
    }

    /// The user's outcome in the report, when per-user outcomes are kept.
    fn outcome(&mut self, index: u32) -> Option<&mut UserOutcome> {
        self.report.users.get_mut(index as usize)
    }

    /// Note a row that is not carried (described only when per-user outcomes are kept).
    fn skip(&mut self, user: Option<u32>, user_id: &str, what: impl FnOnce() -> String) {
        if !self.options.per_user_report {
            return;
        }
        match user {
            Some(index) => {
                if let Some(outcome) = self.outcome(index) {
                    outcome.skipped.push(what());
                }
            }
            None => self.report.orphans.push((user_id.to_owned(), what())),
        }
    }

    async fn users(&mut self, db: &mut SynapseDb, progress: &Progress) -> Result<(), ReadError> {
        let approx = db.approx_count("users").await?;
        self.meta.reserve(approx as usize);
        self.index.reserve(approx as usize);
        if self.options.per_user_report {
            self.report.users.reserve(approx as usize);
        }
        let suffix = format!(":{}", self.options.server_name);
        let mut bar = progress.entity("users", approx);
        let mut stream = db.stream::<SynUser>();
        while let Some(user) = stream.try_next().await? {
            let created_ms = user.creation_ts.saturating_mul(1000);
            let localpart = user
                .name
                .strip_prefix('@')
                .and_then(|rest| rest.strip_suffix(&suffix));
            let (localpart, status, reason) = match (localpart, &user.appservice_id) {
                (None, _) => (
                    user.name.as_str(),
                    UserStatus::Skipped,
                    Some("not a user of this server_name"),
                ),
                (Some(lp), Some(_)) => (
                    lp,
                    UserStatus::Skipped,
                    Some("appservice user: authenticates through its appservice, not carried"),
                ),
                (Some(lp), None) => (
                    lp,
                    UserStatus::Migrated,
                    if user.deactivated {
                        Some("deactivated: devices and tokens not carried")
                    } else if user.is_guest {
                        Some("guest: cannot log in, devices and tokens not carried")
                    } else if user.locked {
                        Some("locked")
                    } else {
                        None
                    },
                ),
            };
            let migrated = status == UserStatus::Migrated;
            let id = self.ulid_at(created_ms);
            let mut has_password = false;
            if migrated {
                let password = match user.password_hash {
                    // Appservice-registered users have '' : no password.
                    Some(hash) if !hash.is_empty() => Some(PasswordRecord {
                        id: self.ulid_at(created_ms),
                        hash,
                    }),
                    _ => None,
                };
                has_password = password.is_some();
                self.batcher.users.push(UserRecord {
                    id,
                    localpart: localpart.to_owned(),
                    created_at_ms: created_ms,
                    password,
                    admin: user.admin,
                    locked_at_ms: user.locked.then_some(created_ms),
                    deactivated_at_ms: user.deactivated.then_some(created_ms),
                    is_guest: user.is_guest,
                });
            }
            let index = self.meta.len() as u32;
            self.meta.push(UserMeta {
                id,
                created_ms,
                admin: user.admin,
                migrated,
                no_sessions: if user.deactivated {
                    Some(NoSessions::Deactivated)
                } else if user.is_guest {
                    Some(NoSessions::Guest)
                } else {
                    None
                },
            });
            if self.options.per_user_report {
                let mut outcome = UserOutcome::new(localpart.into(), status, reason);
                outcome.password = has_password;
                self.report.users.push(outcome);
            }
            self.index.insert(user.name.as_bytes(), index);
            count(&mut self.report.entities[0], migrated);
            bar.tick(!migrated);
            self.batcher.maybe_flush().await?;
        }
        bar.finish();
        Ok(())
    }

    async fn threepids(
        &mut self,
        db: &mut SynapseDb,
        progress: &Progress,
    ) -> Result<(), ReadError> {
        let mut bar = progress.entity("threepids", db.approx_count("user_threepids").await?);
        let mut stream = db.stream::<SynThreepid>();
        while let Some(row) = stream.try_next().await? {
            let user = self.user(&row.user_id);
            let carried = match user {
                Some(index) if self.meta[index as usize].migrated => {
                    let meta = &self.meta[index as usize];
                    let user_id = meta.id;
                    if row.medium == "email" {
                        if let Some(outcome) = self.outcome(index) {
                            outcome.emails += 1;
                        }
                        let id = self.ulid_at(row.added_at);
                        self.batcher.emails.push(EmailRecord {
                            id,
                            user_id,
                            address: row.address,
                            created_at_ms: row.added_at,
                        });
                    } else {
                        if let Some(outcome) = self.outcome(index) {
                            outcome.unsupported_threepids += 1;
                        }
                        self.batcher.threepids.push(UnsupportedThreepidRecord {
                            user_id,
                            medium: row.medium,
                            address: row.address,
                            created_at_ms: row.added_at,
                        });
                    }
                    true
                }
                _ => {
                    self.skip(user, &row.user_id, || {
                        format!("{} {}: user not migrated", row.medium, row.address)
                    });
                    false
                }
            };
            count(&mut self.report.entities[1], carried);
            bar.tick(!carried);
            self.batcher.maybe_flush().await?;
        }
        bar.finish();
        Ok(())
    }

    async fn external_ids(
        &mut self,
        db: &mut SynapseDb,
        progress: &Progress,
    ) -> Result<(), ReadError> {
        let mut bar = progress.entity("external ids", db.approx_count("user_external_ids").await?);
        let mut stream = db.stream::<SynExternalId>();
        while let Some(row) = stream.try_next().await? {
            let user = self.user(&row.user_id);
            let provider = self.options.provider_map.get(&row.auth_provider).copied();
            let carried = match (user, provider) {
                (Some(index), Some(provider_id)) if self.meta[index as usize].migrated => {
                    let meta = &self.meta[index as usize];
                    let (user_id, created_ms) = (meta.id, meta.created_ms);
                    if let Some(outcome) = self.outcome(index) {
                        outcome.upstream_links += 1;
                    }
                    let id = self.ulid_at(created_ms);
                    self.batcher.links.push(UpstreamLinkRecord {
                        id,
                        user_id,
                        provider_id,
                        subject: row.external_id,
                        created_at_ms: created_ms,
                    });
                    true
                }
                (Some(index), None) if self.meta[index as usize].migrated => {
                    self.skip(user, &row.user_id, || {
                        format!(
                            "link to {} ({}): no upstream provider mapped",
                            row.auth_provider, row.external_id
                        )
                    });
                    false
                }
                _ => {
                    self.skip(user, &row.user_id, || {
                        format!(
                            "link to {} ({}): user not migrated",
                            row.auth_provider, row.external_id
                        )
                    });
                    false
                }
            };
            count(&mut self.report.entities[2], carried);
            bar.tick(!carried);
            self.batcher.maybe_flush().await?;
        }
        bar.finish();
        Ok(())
    }

    async fn devices(&mut self, db: &mut SynapseDb, progress: &Progress) -> Result<(), ReadError> {
        let approx = db.approx_count("devices").await?;
        let mut bar = progress.entity("devices", approx);
        let mut stream = db.stream::<SynDevice>();
        while let Some(row) = stream.try_next().await? {
            let user = self.user(&row.user_id);
            let why_not = match user {
                None => Some("no such user"),
                Some(index) => {
                    let meta = &self.meta[index as usize];
                    if !meta.migrated {
                        Some("user not migrated")
                    } else if row.hidden {
                        Some("hidden (a cross-signing placeholder, not a device)")
                    } else if row.device_id == "guest_device" {
                        Some("guest device")
                    } else {
                        meta.no_sessions.map(NoSessions::reason)
                    }
                }
            };
            let carried = match (user, why_not) {
                (Some(index), None) => {
                    let meta = &self.meta[index as usize];
                    let (user_id, admin) = (meta.id, meta.admin);
                    let created_ms = row.last_seen.unwrap_or(self.options.now_ms);
                    let id = self.session_id(index, &row.device_id, created_ms);
                    if let Some(outcome) = self.outcome(index) {
                        outcome.devices += 1;
                    }
                    self.batcher.sessions.push(CompatSessionRecord {
                        id,
                        user_id,
                        device_id: Some(row.device_id),
                        display_name: row.display_name,
                        created_at_ms: created_ms,
                        last_active_at_ms: row.last_seen,
                        last_active_ip: row.ip.as_deref().and_then(parse_ip),
                        user_agent: row.user_agent,
                        is_synapse_admin: admin,
                    });
                    true
                }
                (_, reason) => {
                    self.skip(user, &row.user_id, || {
                        format!(
                            "device {}: {}",
                            row.device_id,
                            reason.unwrap_or("not carried")
                        )
                    });
                    false
                }
            };
            count(&mut self.report.entities[3], carried);
            bar.tick(!carried);
            self.batcher.maybe_flush().await?;
        }
        bar.finish();
        Ok(())
    }

    async fn tokens(&mut self, db: &mut SynapseDb, progress: &Progress) -> Result<(), ReadError> {
        let mut bar = progress.entity("access tokens", db.approx_count("access_tokens").await?);
        {
            let mut stream = db.stream::<SynAccessToken>();
            while let Some(row) = stream.try_next().await? {
                let carried = self.token(row);
                bar.tick(!carried);
                self.batcher.maybe_flush().await?;
            }
        }
        bar.finish();
        let mut stream = db.stream::<SynLoneRefreshToken>();
        while let Some(row) = stream.try_next().await? {
            let user = self.user(&row.user_id);
            self.skip(user, &row.user_id, || {
                format!(
                    "refresh token of device {}: no access token pairs with it",
                    row.device_id
                )
            });
            self.report.entities[5].read += 1;
            self.report.entities[5].skipped += 1;
        }
        Ok(())
    }

    /// Map one access token (and its refresh token); false when it is not carried.
    fn token(&mut self, row: SynAccessToken) -> bool {
        let user = self.user(&row.user_id);
        let has_refresh = row.refresh_token.is_some();
        let describe = || match &row.device_id {
            Some(device) => format!("access token of device {device}"),
            None => "device-less access token".to_owned(),
        };
        let why_not = match user {
            None => Some("no such user".to_owned()),
            Some(index) => {
                let meta = &self.meta[index as usize];
                if let Some(target) = &row.puppets_user_id {
                    Some(format!(
                        "admin 'log in as' token for {target} (puppet tokens are not carried)"
                    ))
                } else if !meta.migrated {
                    Some("user not migrated".to_owned())
                } else if let Some(reason) = meta.no_sessions {
                    Some(reason.reason().to_owned())
                } else if row.superseded {
                    Some(
                        "refreshed already and the new token was used, so Synapse no longer accepts it"
                            .to_owned(),
                    )
                } else if let Some(device) = &row.device_id
                    && (!row.device_carriable || device == "guest_device")
                {
                    // The same rules as in `devices` (the user's rules were checked above).
                    Some("its device is not carried".to_owned())
                } else {
                    None
                }
            }
        };
        if let Some(reason) = why_not {
            self.skip(user, &row.user_id, || {
                format!(
                    "{}{}: {reason}",
                    describe(),
                    if has_refresh {
                        " (with refresh token)"
                    } else {
                        ""
                    }
                )
            });
            count(&mut self.report.entities[4], false);
            if has_refresh {
                count(&mut self.report.entities[5], false);
            }
            return false;
        }
        let Some(index) = user else { return false };
        let (user_id, admin) = {
            let meta = &self.meta[index as usize];
            (meta.id, meta.admin)
        };
        let created_ms = row.last_validated.unwrap_or(self.options.now_ms);
        let session_id = match &row.device_id {
            Some(device) => self.session_id(
                index,
                device,
                row.device_last_seen.unwrap_or(self.options.now_ms),
            ),
            None => {
                // A token without a device gets a device-less session of its own.
                let id = self.ulid_at(created_ms);
                self.batcher.sessions.push(CompatSessionRecord {
                    id,
                    user_id,
                    device_id: None,
                    display_name: None,
                    created_at_ms: created_ms,
                    last_active_at_ms: row.last_validated,
                    last_active_ip: None,
                    user_agent: None,
                    is_synapse_admin: admin,
                });
                id
            }
        };
        let access_id = self.ulid_at(created_ms);
        self.batcher.access.push(AccessTokenRecord {
            id: access_id,
            session_id,
            token: row.token,
            created_at_ms: created_ms,
            expires_at_ms: row.valid_until_ms,
        });
        if let Some(outcome) = self.outcome(index) {
            outcome.access_tokens += 1;
            outcome.refresh_tokens += u32::from(row.refresh_token.is_some());
        }
        count(&mut self.report.entities[4], true);
        if let Some(refresh) = row.refresh_token {
            let id = self.ulid_at(created_ms);
            self.batcher.refresh.push(RefreshTokenRecord {
                id,
                session_id,
                access_token_id: access_id,
                token: refresh,
                created_at_ms: created_ms,
            });
            count(&mut self.report.entities[5], true);
        }
        true
    }
}

enum ReadError {
    Source(SourceError),
    WriterGone,
}

impl From<SourceError> for ReadError {
    fn from(error: SourceError) -> Self {
        Self::Source(error)
    }
}

impl From<WriterGone> for ReadError {
    fn from(_: WriterGone) -> Self {
        Self::WriterGone
    }
}

/// The id after `last` for time `ms`: `last` plus one in the same millisecond (while the
/// random part does not overflow), else a fresh random one.
fn next_ulid(last: Option<Ulid>, ms: i64, rng: &mut impl Rng) -> Ulid {
    let ms = ms.max(0) as u64;
    last.filter(|last| last.timestamp_ms() == ms)
        .and_then(|last| last.increment())
        .unwrap_or_else(|| Ulid::from_parts(ms, rng.r#gen::<u128>()))
}

fn count(counts: &mut EntityCounts, carried: bool) {
    counts.read += 1;
    if carried {
        counts.migrated += 1;
    } else {
        counts.skipped += 1;
    }
}

/// Synapse writes `-` (and sometimes garbage) when it has no address.
fn parse_ip(text: &str) -> Option<String> {
    let text = text.trim();
    match text.parse::<IpAddr>().ok()? {
        // The parser accepts only the canonical dotted quad (no leading zeros), so the text is
        // already what formatting would give, without formatting's cost.
        IpAddr::V4(_) => Some(text.to_owned()),
        ip @ IpAddr::V6(_) => Some(ip.to_string()),
    }
}

/// Migrate everything from `db` into `sink`. The caller commits (or, for a dry run, rolls back)
/// the sink's transaction afterwards.
pub async fn migrate<S: Sink>(
    db: &mut SynapseDb,
    sink: &mut S,
    options: &MigrateOptions,
) -> Result<Report, MigrateError<S::Error>> {
    let started = Instant::now();
    let (tx, mut rx) = mpsc::channel::<Batch>(8);
    let progress = Progress::new(options.progress);
    let mut reader = Reader {
        options,
        rng: StdRng::from_entropy(),
        last_id: None,
        report: Report::default(),
        meta: Vec::new(),
        index: UserIndex::new(),
        session_keys: (RandomState::new(), RandomState::new()),
        batcher: Batcher {
            size: options.batch_size.max(1),
            tx,
            users: Vec::new(),
            emails: Vec::new(),
            threepids: Vec::new(),
            links: Vec::new(),
            sessions: Vec::new(),
            access: Vec::new(),
            refresh: Vec::new(),
            rows: 0,
            blocked: Duration::ZERO,
        },
    };
    let read = async {
        reader.users(db, &progress).await?;
        reader.threepids(db, &progress).await?;
        reader.external_ids(db, &progress).await?;
        reader.batcher.flush().await?;
        reader.batcher.users_done().await?;
        reader.devices(db, &progress).await?;
        reader.tokens(db, &progress).await?;
        reader.batcher.flush().await?;
        // Closing the channel lets the writer finish.
        let (closed, _) = mpsc::channel(1);
        reader.batcher.tx = closed;
        Ok::<(), ReadError>(())
    };
    let mut write_busy = Duration::ZERO;
    let write = async {
        while let Some(batch) = rx.recv().await {
            let busy = Instant::now();
            let written = match &batch {
                Batch::Users(b) => sink.write_users(b).await,
                Batch::Emails(b) => sink.write_emails(b).await,
                Batch::Threepids(b) => sink.write_unsupported_threepids(b).await,
                Batch::Links(b) => sink.write_upstream_links(b).await,
                Batch::Sessions(b) => sink.write_compat_sessions(b).await,
                Batch::AccessTokens(b) => sink.write_access_tokens(b).await,
                Batch::RefreshTokens(b) => sink.write_refresh_tokens(b).await,
                Batch::UsersDone => sink.users_done().await,
            };
            write_busy += busy.elapsed();
            // Dropping the receiver on failure stops the reader.
            written?;
        }
        let busy = Instant::now();
        let flushed = sink.flush().await;
        write_busy += busy.elapsed();
        flushed
    };
    let (read, write) = tokio::join!(read, write);
    match (read, write) {
        (_, Err(error)) => return Err(MigrateError::Sink(error)),
        (Err(ReadError::Source(error)), _) => return Err(error.into()),
        (Err(ReadError::WriterGone), Ok(())) => {
            unreachable!("the writer only stops early on error")
        }
        (Ok(()), Ok(())) => {}
    }
    let mut report = reader.report;
    report.rows_written = reader.batcher.rows;
    report.elapsed = started.elapsed();
    report.write_busy = write_busy;
    report.read_blocked = reader.batcher.blocked;
    Ok(report)
}

/// The current time as unix milliseconds (for [`MigrateOptions::now_ms`]).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};
    use ulid::Ulid;

    use super::{next_ulid, parse_ip};

    #[test]
    fn ids_made_in_the_same_millisecond_follow_each_other() {
        let mut rng = StdRng::seed_from_u64(9);
        let first = next_ulid(None, 1_700_000_000_000, &mut rng);
        let second = next_ulid(Some(first), 1_700_000_000_000, &mut rng);
        let third = next_ulid(Some(second), 1_700_000_000_000, &mut rng);
        assert!(first < second && second < third);
        assert_eq!(second.random(), first.random() + 1);
        assert_eq!(third.timestamp_ms(), 1_700_000_000_000);
        // Another millisecond starts afresh, at its own time.
        let other = next_ulid(Some(third), 1_600_000_000_000, &mut rng);
        assert_eq!(other.timestamp_ms(), 1_600_000_000_000);
        // No overflow into the timestamp: the last id of a millisecond is followed by a fresh
        // random one.
        let last = Ulid::from_parts(5, (1u128 << 80) - 1);
        assert_eq!(next_ulid(Some(last), 5, &mut rng).timestamp_ms(), 5);
        assert_eq!(next_ulid(None, -3, &mut rng).timestamp_ms(), 0);
    }

    #[test]
    fn addresses_come_out_canonical() {
        assert_eq!(parse_ip(" 10.0.0.1 ").as_deref(), Some("10.0.0.1"));
        assert_eq!(parse_ip("010.0.0.1"), None);
        assert_eq!(parse_ip("-"), None);
        assert_eq!(parse_ip("2001:DB8:0:0::1").as_deref(), Some("2001:db8::1"));
        for text in ["0.0.0.0", "255.255.255.255", "192.168.1.10"] {
            let formatted = text.parse::<std::net::IpAddr>().map(|ip| ip.to_string());
            assert_eq!(parse_ip(text), formatted.ok());
        }
    }
}
