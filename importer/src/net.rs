//! TCP_NODELAY for sqlx's PostgreSQL connections.
//!
//! sqlx leaves Nagle's algorithm on, and its sockets are not reachable through its API. Bulk
//! traffic (COPY data followed by a small CopyDone/Sync, or a small query after a large
//! result) then waits for the peer's delayed ACK, up to 40 ms each time on Linux: the
//! importer spent most of a run idle that way. The server tells us the port it sees us on
//! (`inet_client_port()`); the process's socket bound to that local port is the
//! connection's, and gets TCP_NODELAY (what libpq and the server itself set).

use sqlx::PgConnection;

/// Turn Nagle's algorithm off on `conn`'s socket. Returns whether a socket was found (not on
/// Unix-domain connections, nor behind a proxy that changes the port; nothing to do there).
pub async fn set_tcp_nodelay(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    let port: Option<i32> = sqlx::query_scalar("SELECT inet_client_port()")
        .fetch_one(&mut *conn)
        .await?;
    Ok(match port.and_then(|p| u16::try_from(p).ok()) {
        Some(port) => nodelay_on_local_port(port),
        None => false,
    })
}

#[cfg(target_os = "linux")]
fn nodelay_on_local_port(port: u16) -> bool {
    use std::os::fd::{BorrowedFd, RawFd};

    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    let mut found = false;
    for entry in entries.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<RawFd>().ok())
        else {
            continue;
        };
        // Only sockets: anything else is skipped before a socket call touches it.
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is borrowed for two system calls only; if another thread
        // closed it meanwhile, they fail with EBADF (or reach an unrelated socket, where
        // TCP_NODELAY is harmless).
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let local = socket
            .local_addr()
            .ok()
            .and_then(|addr| addr.as_socket())
            .map(|addr| addr.port());
        if local == Some(port) && socket.set_tcp_nodelay(true).is_ok() {
            found = true;
        }
    }
    found
}

#[cfg(not(target_os = "linux"))]
fn nodelay_on_local_port(_port: u16) -> bool {
    false
}
