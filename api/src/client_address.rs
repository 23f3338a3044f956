//! The client's address: the TCP peer, or, when the peer is a trusted
//! proxy, the address that proxy forwarded in `X-Forwarded-For`.
//!
//! The throttle and the audit trail key on this address, so a forged header
//! must never pick it: the header counts only when the peer is trusted, it
//! is read from the right (the entries a trusted proxy appended), and a
//! malformed entry on the way falls back to the peer.

use std::net::{IpAddr, SocketAddr};

use actix_web::{HttpRequest, http::header::HeaderName};
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The proxies whose `X-Forwarded-For` is believed (`server.trusted_proxies`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses CIDR blocks; a bare address means that one address.
    ///
    /// # Errors
    /// The first entry that is neither, as given.
    pub fn parse<S: AsRef<str>>(blocks: &[S]) -> Result<Self, String> {
        blocks
            .iter()
            .map(|raw| {
                let raw = raw.as_ref().trim();
                raw.parse::<IpNet>()
                    .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{raw:?} is not a CIDR block or an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address for a request from `peer` that carried the
    /// `X-Forwarded-For` values `forwarded` (in header order).
    ///
    /// When `peer` is trusted: the rightmost entry that is not itself a
    /// trusted proxy, or the leftmost one when all are (as nginx's
    /// `real_ip_recursive` does). Otherwise, or when an entry on the way is
    /// malformed, or there is none: `peer`.
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl IntoIterator<Item = &'a str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let entries: Vec<&str> = forwarded.into_iter().flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for entry in entries.iter().rev() {
            let Some(ip) = parse_entry(entry) else { return peer };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }

    /// The client address of `req` (see [`Self::client`]); `None` when the
    /// connection has no peer address (a Unix socket, a test request).
    pub fn of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        let values = req.headers().get_all(X_FORWARDED_FOR).filter_map(|v| v.to_str().ok());
        // A header value that is not visible ASCII is malformed as a whole.
        if req.headers().get_all(X_FORWARDED_FOR).any(|v| v.to_str().is_err()) {
            return Some(peer);
        }
        Some(self.client(peer, values))
    }
}

/// One `X-Forwarded-For` entry: an address, an IPv4 address with a port,
/// or a bracketed IPv6 address with or without a port.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    entry.strip_prefix('[')?.strip_suffix(']')?.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(blocks: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(blocks).unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        assert_eq!(TrustedProxies::default().client(ip("10.0.0.2"), ["203.0.113.9"]), ip("10.0.0.2"));
    }

    #[test]
    fn an_untrusted_peer_cannot_forward_an_address() {
        assert_eq!(proxies(&["10.0.0.0/8"]).client(ip("198.51.100.4"), ["203.0.113.9"]), ip("198.51.100.4"));
    }

    #[test]
    fn a_trusted_peer_forwards_the_rightmost_untrusted_entry() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client forged the first entry; the proxy appended the real one.
        let client = trusted.client(ip("10.0.0.2"), ["1.1.1.1, 203.0.113.9, 10.0.0.7"]);
        assert_eq!(client, ip("203.0.113.9"));
    }

    #[test]
    fn several_header_lines_read_as_one_list() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(trusted.client(ip("10.0.0.2"), ["203.0.113.9", "10.0.0.7"]), ip("203.0.113.9"));
    }

    #[test]
    fn when_every_entry_is_trusted_the_leftmost_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(trusted.client(ip("10.0.0.2"), ["10.1.1.1, 10.0.0.7"]), ip("10.1.1.1"));
    }

    #[test]
    fn a_malformed_entry_falls_back_to_the_peer() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(trusted.client(ip("10.0.0.2"), ["203.0.113.9, not-an-ip"]), ip("10.0.0.2"));
        assert_eq!(trusted.client(ip("10.0.0.2"), [""]), ip("10.0.0.2"));
        assert_eq!(trusted.client(ip("10.0.0.2"), ["203.0.113.9,,10.0.0.7"]), ip("10.0.0.2"));
    }

    #[test]
    fn garbage_left_of_the_client_is_never_read() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(trusted.client(ip("10.0.0.2"), ["junk, 203.0.113.9"]), ip("203.0.113.9"));
    }

    #[test]
    fn no_header_means_the_peer() {
        assert_eq!(proxies(&["10.0.0.0/8"]).client(ip("10.0.0.2"), []), ip("10.0.0.2"));
    }

    #[test]
    fn entries_with_ports_and_brackets_are_understood() {
        let trusted = proxies(&["10.0.0.0/8", "::1"]);
        assert_eq!(trusted.client(ip("::1"), ["203.0.113.9:5555"]), ip("203.0.113.9"));
        assert_eq!(trusted.client(ip("::1"), ["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(trusted.client(ip("::1"), ["[2001:db8::1]"]), ip("2001:db8::1"));
    }

    #[test]
    fn an_ipv4_mapped_peer_matches_an_ipv4_block() {
        assert_eq!(proxies(&["127.0.0.1"]).client(ip("::ffff:127.0.0.1"), ["203.0.113.9"]), ip("203.0.113.9"));
    }

    #[test]
    fn a_bad_block_is_reported_as_given() {
        assert_eq!(
            TrustedProxies::parse(&["10.0.0.0/33"]).unwrap_err(),
            r#""10.0.0.0/33" is not a CIDR block or an IP address"#
        );
    }
}
