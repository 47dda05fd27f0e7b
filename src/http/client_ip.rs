//! The client's address: the TCP peer, or the `X-Forwarded-For` entry added by the last trusted
//! proxy when the peer is one of `http.trusted_proxies`.

use std::net::IpAddr;

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

/// The client's IP for rate limiting and session records.
pub fn client_ip(req: &Request, trusted: &[Network]) -> Option<IpAddr> {
    let peer = match req.remote_addr().0 {
        poem::Addr::SocketAddr(addr) => Some(addr.ip()),
        _ => None,
    };
    let from_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    match peer {
        Some(peer) if from_trusted(peer) => {
            // Walk X-Forwarded-For from the right, skipping our own proxies.
            let forwarded = req
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|part| part.trim().parse::<IpAddr>().ok())
                .collect::<Vec<_>>();
            forwarded
                .into_iter()
                .rev()
                .find(|ip| !from_trusted(*ip))
                .or(Some(peer))
        }
        other => other,
    }
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
}
