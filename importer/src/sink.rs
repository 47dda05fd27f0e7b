//! Where migrated records go. Batches arrive parents first (users before their emails and
//! sessions, sessions before their tokens); a sink may buffer, but must have written everything
//! when [`Sink::flush`] returns.

use std::future::Future;

use crate::records::{
    AccessTokenRecord, CompatSessionRecord, EmailRecord, RefreshTokenRecord,
    UnsupportedThreepidRecord, UpstreamLinkRecord, UserRecord,
};

pub trait Sink {
    type Error: std::error::Error + Send + Sync + 'static;

    fn write_users(
        &mut self,
        batch: &[UserRecord],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn write_emails(
        &mut self,
        batch: &[EmailRecord],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn write_unsupported_threepids(
        &mut self,
        batch: &[UnsupportedThreepidRecord],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn write_upstream_links(
        &mut self,
        batch: &[UpstreamLinkRecord],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn write_compat_sessions(
        &mut self,
        batch: &[CompatSessionRecord],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn write_access_tokens(
        &mut self,
        batch: &[AccessTokenRecord],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn write_refresh_tokens(
        &mut self,
        batch: &[RefreshTokenRecord],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// No more users, emails, unsupported threepids or upstream links will come (devices and
    /// tokens may): a sink may start finishing those tables.
    fn users_done(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async { Ok(()) }
    }

    /// Write out anything buffered. Committing (or rolling back a dry run) is the caller's
    /// business, after the migration returns.
    fn flush(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
