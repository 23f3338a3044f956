//! Login throttling rules: what is counted, in which window, and when an
//! attempt is refused.
//!
//! Every attempt that will check a password first takes a slot under each
//! of its keys (the username, the client address). A key whose window holds
//! `limit` slots refuses further attempts until the window, which opens at
//! the first attempt, has passed. The stores apply [`ThrottlePolicy::take`]
//! atomically; this module only states the arithmetic, so that every
//! adapter agrees on it.

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr},
};

use time::{Duration, OffsetDateTime};

use crate::Username;

/// What a count is kept for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ThrottleKey {
    /// Guesses against one account, from anywhere.
    Username(Username),
    /// Attempts from one client, against any account. IPv6 clients are
    /// counted per /64 (one host usually holds a whole /64), IPv4 and
    /// IPv4-mapped IPv6 clients per address.
    Address(IpAddr),
    /// Secret checks of one OAuth 2.0 client (a service account's
    /// `client_id`, at most 64 characters).
    Client(String),
}

impl ThrottleKey {
    /// The key for a client address, normalised as described on
    /// [`ThrottleKey::Address`].
    pub fn address(ip: IpAddr) -> Self {
        Self::Address(match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
            v4 => v4,
        })
    }

    /// The keys a login attempt counts under: the username when it is
    /// well-formed, and the client address when it is known. Sorted, so
    /// that stores lock rows in one order and concurrent attempts cannot
    /// deadlock.
    pub fn for_attempt(username: Option<&Username>, client: Option<IpAddr>) -> Vec<Self> {
        let mut keys: Vec<Self> = username.cloned().map(Self::Username).into_iter().collect();
        keys.extend(client.map(Self::address));
        keys.sort();
        keys
    }

    /// Whether a successful attempt clears this key's count (usernames) or
    /// only gives its own slot back (addresses). Clearing an address would
    /// let an attacker reset it by logging into an account of their own
    /// between guesses.
    pub fn cleared_by_success(&self) -> bool {
        matches!(self, Self::Username(_) | Self::Client(_))
    }
}

/// The stable text form stores keep: `user:<name>`, `addr:<ip>` or
/// `client:<client_id>`.
impl fmt::Display for ThrottleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Username(name) => write!(f, "user:{name}"),
            Self::Address(ip) => write!(f, "addr:{ip}"),
            Self::Client(id) => write!(f, "client:{id}"),
        }
    }
}

/// How many attempts a key gets per window. A limit of 0 turns throttling
/// off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub limit: u32,
    pub window: Duration,
}

/// One key's window as a store holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleWindow {
    /// When the window opened (the first attempt in it).
    pub started_at: OffsetDateTime,
    /// Slots taken in it, capped at `limit + 1` (the extra one marks "an
    /// attempt was refused").
    pub attempts: u32,
}

impl ThrottlePolicy {
    /// Whether throttling is on at all.
    pub fn is_enabled(&self) -> bool {
        self.limit > 0
    }

    /// Whether a window opened at `started_at` has closed by `now`.
    pub fn has_expired(&self, started_at: OffsetDateTime, now: OffsetDateTime) -> bool {
        started_at + self.window <= now
    }

    /// The window after one more attempt at `now`: a fresh window when
    /// there was none or it has expired, else one more slot (capped).
    pub fn take(&self, current: Option<ThrottleWindow>, now: OffsetDateTime) -> ThrottleWindow {
        match current {
            Some(w) if !self.has_expired(w.started_at, now) => {
                ThrottleWindow { started_at: w.started_at, attempts: w.attempts.saturating_add(1).min(self.limit + 1) }
            }
            _ => ThrottleWindow { started_at: now, attempts: 1 },
        }
    }

    /// Whether the attempt that produced `window` got its slot; otherwise
    /// `Err(retry_after)`, at least one second.
    ///
    /// # Errors
    /// The time until the window closes, when it is full.
    pub fn judge(&self, window: ThrottleWindow, now: OffsetDateTime) -> Result<(), Duration> {
        if window.attempts <= self.limit {
            Ok(())
        } else {
            Err((window.started_at + self.window - now).max(Duration::SECOND))
        }
    }

    /// The count after an attempt that got its slot gives it back (a
    /// refused attempt may have pushed the count to the `limit + 1` marker;
    /// the slots really taken are at most `limit`).
    pub fn give_back(&self, attempts: u32) -> u32 {
        attempts.min(self.limit).saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
    const POLICY: ThrottlePolicy = ThrottlePolicy { limit: 3, window: Duration::minutes(15) };

    fn name(raw: &str) -> Username {
        Username::parse(raw).unwrap()
    }

    #[test]
    fn the_first_attempt_opens_a_window_of_one() {
        assert_eq!(POLICY.take(None, T0), ThrottleWindow { started_at: T0, attempts: 1 });
    }

    #[test]
    fn attempts_beyond_the_limit_are_refused_until_the_window_closes() {
        let mut window = None;
        for i in 0..3 {
            let w = POLICY.take(window, T0 + Duration::seconds(i));
            assert_eq!(POLICY.judge(w, T0 + Duration::seconds(i)), Ok(()));
            window = Some(w);
        }
        let refused = POLICY.take(window, T0 + Duration::minutes(5));
        assert_eq!(POLICY.judge(refused, T0 + Duration::minutes(5)), Err(Duration::minutes(10)));
        let again = POLICY.take(Some(refused), T0 + Duration::minutes(6));
        assert_eq!(again.attempts, 4, "the count is capped at limit + 1");
        assert_eq!(again.started_at, T0, "refused attempts do not extend the window");
    }

    #[test]
    fn a_closed_window_starts_afresh() {
        let full = ThrottleWindow { started_at: T0, attempts: 4 };
        let later = T0 + Duration::minutes(15);
        assert_eq!(POLICY.take(Some(full), later), ThrottleWindow { started_at: later, attempts: 1 });
    }

    #[test]
    fn retry_after_is_at_least_one_second() {
        let full = ThrottleWindow { started_at: T0, attempts: 4 };
        assert_eq!(POLICY.judge(full, T0 + Duration::minutes(15) - Duration::milliseconds(1)), Err(Duration::SECOND));
    }

    #[test]
    fn giving_back_ignores_the_refusal_marker() {
        assert_eq!(POLICY.give_back(4), 2);
        assert_eq!(POLICY.give_back(2), 1);
        assert_eq!(POLICY.give_back(0), 0);
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let a = ThrottleKey::address("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ThrottleKey::address("2001:db8:1:2:bbbb::2".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "addr:2001:db8:1:2::");
        let mapped = ThrottleKey::address("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(mapped.to_string(), "addr:192.0.2.7");
    }

    #[test]
    fn an_attempt_counts_under_its_username_and_its_address_in_a_fixed_order() {
        let keys = ThrottleKey::for_attempt(Some(&name("Alice")), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(keys.iter().map(ToString::to_string).collect::<Vec<_>>(), ["user:alice", "addr:192.0.2.1"]);
        assert!(ThrottleKey::for_attempt(None, None).is_empty());
    }

    #[test]
    fn only_the_username_is_cleared_by_a_success() {
        assert!(ThrottleKey::Username(name("alice")).cleared_by_success());
        assert!(!ThrottleKey::address("192.0.2.1".parse().unwrap()).cleared_by_success());
    }
}
