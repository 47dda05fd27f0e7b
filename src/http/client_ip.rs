//! The client's address: the TCP peer, or the `X-Forwarded-For` entry added by the last trusted
//! proxy when the peer is one of `http.trusted_proxies` or comes through a UNIX socket.

use std::net::{IpAddr, SocketAddr};

use poem::Request;

/// A parsed `http.trusted_proxies` entry: an address or a CIDR block.
#[derive(Debug, Clone, Copy)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr.parse::<IpAddr>().ok()?, prefix.parse::<u8>().ok()?),
            None => {
                let addr = text.parse::<IpAddr>().ok()?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        Some(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let bits = u32::from(self.prefix.min(32));
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let bits = u32::from(self.prefix.min(128));
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

pub fn parse_networks(entries: &[String]) -> Vec<Network> {
    entries
        .iter()
        .filter_map(|entry| Network::parse(entry))
        .collect()
}

/// The client's IP for rate limiting and session records. `None` for a client of a UNIX-socket
/// listener whose proxy named no address: such clients share one rate-limit bucket.
pub fn client_ip(req: &Request, trusted: &[Network]) -> Option<IpAddr> {
    let from_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    match &req.remote_addr().0 {
        poem::Addr::SocketAddr(addr) if from_trusted(addr.ip()) => {
            Some(forwarded_client(req, Some(addr.ip()), from_trusted).unwrap_or(addr.ip()))
        }
        poem::Addr::SocketAddr(addr) => Some(addr.ip()),
        // Only local processes reach a UNIX socket (its mode says which): it is the reverse
        // proxy, trusted like one listed in `http.trusted_proxies`.
        poem::Addr::Unix(_) => forwarded_client(req, None, from_trusted),
        poem::Addr::Custom(..) => None,
    }
}

/// Walk `X-Forwarded-For` from the right: each trusted hop vouches for the entry before it, so
/// the first untrusted entry is the client. An entry that does not parse stops the walk: what
/// lies before it was written by someone no trusted hop vouches for, so the client is the last
/// trusted hop (`peer`, or the last trusted entry).
fn forwarded_client(
    req: &Request,
    peer: Option<IpAddr>,
    from_trusted: impl Fn(IpAddr) -> bool,
) -> Option<IpAddr> {
    let mut entries: Vec<Option<IpAddr>> = Vec::new();
    for value in req.headers().get_all("x-forwarded-for") {
        match value.to_str() {
            Ok(text) => entries.extend(text.split(',').map(parse_entry)),
            Err(_) => entries.push(None),
        }
    }
    let mut last_trusted = peer;
    for entry in entries.into_iter().rev() {
        match entry {
            Some(ip) if from_trusted(ip) => last_trusted = Some(ip),
            Some(ip) => return Some(ip),
            None => return last_trusted,
        }
    }
    last_trusted
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (some proxies add it).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let net = Network::parse("10.0.0.0/8").unwrap_or_else(|| unreachable!());
        assert!(net.contains("10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(!net.contains("11.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        let v6 = Network::parse("fd00::/8").unwrap_or_else(|| unreachable!());
        assert!(v6.contains("fd12::1".parse().unwrap_or(IpAddr::from([0u16; 8]))));
        let lo = Network::parse("127.0.0.0/8").unwrap_or_else(|| unreachable!());
        assert!(
            lo.contains(
                "::ffff:127.0.0.1"
                    .parse()
                    .unwrap_or(IpAddr::from([0u16; 8]))
            )
        );
        assert!(Network::parse("nonsense").is_none());
    }

    fn request(peer: poem::Addr, forwarded: &[&str]) -> Request {
        let mut builder = poem::http::Request::builder();
        for value in forwarded {
            builder = builder.header("x-forwarded-for", *value);
        }
        let (parts, ()) = builder.body(()).expect("request").into_parts();
        let parts = poem::RequestParts::from((
            parts,
            poem::web::LocalAddr(poem::Addr::default()),
            poem::web::RemoteAddr(peer),
            poem::http::uri::Scheme::HTTP,
        ));
        Request::from_parts(parts, poem::Body::empty())
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("ip"))
    }

    /// The client of a TCP request from `peer`, behind proxies in 10.0.0.0/8.
    fn walk(peer: &str, forwarded: &[&str]) -> Option<IpAddr> {
        let peer = poem::Addr::SocketAddr(SocketAddr::new(peer.parse().expect("ip"), 4000));
        client_ip(
            &request(peer, forwarded),
            &parse_networks(&["10.0.0.0/8".to_owned()]),
        )
    }

    #[test]
    fn forwarded_for_is_walked_from_the_right() {
        assert_eq!(walk("10.0.0.1", &["192.0.2.9, 10.0.0.2"]), ip("192.0.2.9"));
        assert_eq!(
            walk("10.0.0.1", &["198.51.100.1", "192.0.2.9, 10.0.0.2"]),
            ip("192.0.2.9"),
            "an entry before the client's is the client's own claim"
        );
        assert_eq!(walk("10.0.0.1", &["192.0.2.9:5555"]), ip("192.0.2.9"));
        assert_eq!(walk("10.0.0.1", &[]), ip("10.0.0.1"));
        assert_eq!(
            walk("192.0.2.50", &["198.51.100.1"]),
            ip("192.0.2.50"),
            "an untrusted peer is the client, whatever it says"
        );
    }

    #[test]
    fn an_unparsable_entry_stops_the_walk_at_the_last_trusted_hop() {
        assert_eq!(walk("10.0.0.1", &["198.51.100.7, garbage"]), ip("10.0.0.1"));
        assert_eq!(
            walk("10.0.0.1", &["198.51.100.7, unknown, 10.0.0.2"]),
            ip("10.0.0.2")
        );
        assert_eq!(walk("10.0.0.1", &["198.51.100.7", ""]), ip("10.0.0.1"));
    }

    #[cfg(unix)]
    #[test]
    fn unix_socket_clients_are_named_by_the_proxy() {
        let trusted = parse_networks(&["10.0.0.0/8".to_owned()]);
        let peer = || {
            let (a, _b) = std::os::unix::net::UnixStream::pair().expect("pair");
            let addr = tokio::net::unix::SocketAddr::from(a.local_addr().expect("addr"));
            poem::Addr::Unix(std::sync::Arc::new(addr))
        };
        let walk = |forwarded: &[&str]| client_ip(&request(peer(), forwarded), &trusted);
        assert_eq!(walk(&["192.0.2.9"]), ip("192.0.2.9"));
        assert_eq!(walk(&["192.0.2.9, 10.0.0.2"]), ip("192.0.2.9"));
        assert_eq!(walk(&[]), None, "no address: the socket's shared bucket");
        assert_eq!(walk(&["192.0.2.9, garbage"]), None);
    }
}
