//! What a migration did, per Synapse user and per entity: the CSV report (one row per Synapse
//! user, plus rows for data that names no known user) and the summary table.

use std::{fmt::Write as _, io::Write, time::Duration};

/// Whether a Synapse user was carried over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Migrated,
    Skipped,
}

/// One Synapse user's outcome.
#[derive(Debug, Clone)]
pub struct UserOutcome {
    pub localpart: Box<str>,
    pub status: UserStatus,
    /// Why the user was skipped, or a remark on a migrated user (deactivated, guest, …).
    pub reason: Option<&'static str>,
    pub password: bool,
    pub emails: u32,
    pub unsupported_threepids: u32,
    pub upstream_links: u32,
    pub devices: u32,
    pub access_tokens: u32,
    pub refresh_tokens: u32,
    /// Rows of this user that were not carried, each with its reason.
    pub skipped: Vec<String>,
}

impl UserOutcome {
    pub fn new(localpart: Box<str>, status: UserStatus, reason: Option<&'static str>) -> Self {
        Self {
            localpart,
            status,
            reason,
            password: false,
            emails: 0,
            unsupported_threepids: 0,
            upstream_links: 0,
            devices: 0,
            access_tokens: 0,
            refresh_tokens: 0,
            skipped: Vec::new(),
        }
    }
}

/// Counts for one entity (users, emails, …).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntityCounts {
    pub read: u64,
    pub migrated: u64,
    pub skipped: u64,
}

/// The entities in the order a migration processes them.
pub const ENTITIES: [&str; 6] = [
    "users",
    "threepids",
    "external ids",
    "devices",
    "access tokens",
    "refresh tokens",
];

/// Everything a run produced, for the CSV report and the summary.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub users: Vec<UserOutcome>,
    /// Rows naming a user that is not in Synapse's `users` table (or not on this server).
    pub orphans: Vec<(String, String)>,
    pub entities: [EntityCounts; 6],
    /// Rows written to the target, per table.
    pub rows_written: u64,
    pub elapsed: Duration,
    /// Time the writer spent inside the sink (the rest of `elapsed` it waited for rows).
    pub write_busy: Duration,
    /// Time the reader waited for the writer to take a batch (back pressure).
    pub read_blocked: Duration,
}

impl Report {
    /// Write the CSV report: a header, one row per Synapse user (sorted by localpart), then
    /// one row per orphaned Synapse row.
    pub fn write_csv(&self, writer: impl Write) -> Result<(), csv::Error> {
        let mut out = csv::Writer::from_writer(writer);
        out.write_record([
            "localpart",
            "status",
            "reason",
            "password",
            "emails",
            "unsupported_threepids",
            "upstream_links",
            "devices",
            "access_tokens",
            "refresh_tokens",
            "skipped_rows",
            "skipped",
        ])?;
        let mut order: Vec<&UserOutcome> = self.users.iter().collect();
        order.sort_by(|a, b| a.localpart.cmp(&b.localpart));
        for user in order {
            out.write_record([
                &*user.localpart,
                match user.status {
                    UserStatus::Migrated => "migrated",
                    UserStatus::Skipped => "skipped",
                },
                user.reason.unwrap_or(""),
                if user.password { "1" } else { "0" },
                &user.emails.to_string(),
                &user.unsupported_threepids.to_string(),
                &user.upstream_links.to_string(),
                &user.devices.to_string(),
                &user.access_tokens.to_string(),
                &user.refresh_tokens.to_string(),
                &user.skipped.len().to_string(),
                &user.skipped.join("; "),
            ])?;
        }
        for (user_id, what) in &self.orphans {
            out.write_record([
                user_id.as_str(),
                "skipped",
                "not a user of this server in Synapse's users table",
                "0",
                "0",
                "0",
                "0",
                "0",
                "0",
                "0",
                "1",
                what.as_str(),
            ])?;
        }
        out.flush()?;
        Ok(())
    }

    /// The summary table printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "{:<16} {:>12} {:>12} {:>12}",
            "entity", "read", "migrated", "skipped"
        );
        for (name, counts) in ENTITIES.iter().zip(self.entities.iter()) {
            let _ = writeln!(
                text,
                "{:<16} {:>12} {:>12} {:>12}",
                name, counts.read, counts.migrated, counts.skipped
            );
        }
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let users = self.entities[0].migrated;
        let _ = writeln!(
            text,
            "{} rows written in {:.2} s ({:.0} users/s, {:.0} rows/s)",
            self.rows_written,
            secs,
            users as f64 / secs,
            self.rows_written as f64 / secs
        );
        text
    }
}
