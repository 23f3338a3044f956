//! The audit hash chain: how a stored event is linked to the one before it,
//! and how a chain is checked. Shared by every audit store.
//!
//! `hash(n) = SHA-256(hash(n-1) + "\n" + canonical(event n))`, hex-encoded,
//! starting from [`GENESIS`]. Editing a stored event changes its hash;
//! deleting one leaves a gap in `seq` and a `prev_hash` that no longer
//! matches; either way the walk stops at the first broken link.

use aws_lc_rs::digest::{SHA256, digest};
use gatehouse_application::ports::{ChainBreak, ChainReport};
use gatehouse_domain::{AuditEvent, RecordedEvent};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of event `seq` after `prev_hash`.
pub fn link(prev_hash: &str, seq: u64, event: &AuditEvent) -> String {
    let text = format!("{prev_hash}\n{}", event.canonical(seq));
    digest(&SHA256, text.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends `event` after the chain head `(seq, hash)`.
pub fn next(head_seq: u64, head_hash: &str, event: AuditEvent) -> RecordedEvent {
    let seq = head_seq + 1;
    let hash = link(head_hash, seq, &event);
    RecordedEvent { seq, event, prev_hash: head_hash.to_owned(), hash }
}

/// Walks events in `seq` order from the first and reports the first break.
pub fn verify(events: impl IntoIterator<Item = RecordedEvent>) -> ChainReport {
    verify_from(None, events).report
}

/// The result of checking one stretch of a chain, and where it ended.
#[derive(Debug)]
pub struct Stretch {
    pub report: ChainReport,
    /// `(seq, hash)` of the last good event, to continue from.
    pub head: Option<(u64, String)>,
}

/// Checks events that follow `head` (`None`: the start of the chain).
pub fn verify_from(head: Option<(u64, &str)>, events: impl IntoIterator<Item = RecordedEvent>) -> Stretch {
    let (mut last_seq, mut prev) = head.map_or((0, GENESIS.to_owned()), |(seq, hash)| (seq, hash.to_owned()));
    let mut checked = 0;
    let broken = |checked, b| Stretch { report: ChainReport { checked, first_break: Some(b) }, head: None };
    for e in events {
        if e.seq != last_seq + 1 {
            return broken(checked, ChainBreak::Missing { seq: last_seq + 1 });
        }
        if e.prev_hash != prev {
            return broken(checked, ChainBreak::BrokenLink { seq: e.seq });
        }
        if link(&prev, e.seq, &e.event) != e.hash {
            return broken(checked, ChainBreak::Altered { seq: e.seq });
        }
        prev = e.hash;
        last_seq = e.seq;
        checked += 1;
    }
    Stretch { report: ChainReport { checked, first_break: None }, head: Some((last_seq, prev)) }
}

#[cfg(test)]
mod tests {
    use gatehouse_domain::{AuditAction, AuditOutcome};
    use time::macros::datetime;

    use super::*;

    fn chain(n: u64) -> Vec<RecordedEvent> {
        let mut events: Vec<RecordedEvent> = Vec::new();
        for i in 0..n {
            let event = AuditEvent::new(datetime!(2026-01-01 00:00 UTC), AuditAction::Login, AuditOutcome::Success);
            let (seq, hash) = events.last().map_or((0, GENESIS.to_owned()), |e| (e.seq, e.hash.clone()));
            let _ = i;
            events.push(next(seq, &hash, event));
        }
        events
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(chain(5)), ChainReport { checked: 5, first_break: None });
        assert_eq!(verify(Vec::new()), ChainReport { checked: 0, first_break: None });
    }

    #[test]
    fn an_altered_event_is_reported_where_it_is() {
        let mut events = chain(5);
        events[2].event.client = Some("10.9.9.9".into());
        assert_eq!(verify(events).first_break, Some(ChainBreak::Altered { seq: 3 }));
    }

    #[test]
    fn a_deleted_event_is_reported_as_missing() {
        let mut events = chain(5);
        events.remove(1);
        assert_eq!(verify(events).first_break, Some(ChainBreak::Missing { seq: 2 }));
    }

    #[test]
    fn a_rehashed_event_still_breaks_the_next_link() {
        let mut events = chain(5);
        events[2].event.detail = Some("forged".into());
        events[2].hash = link(&events[2].prev_hash, 3, &events[2].event);
        assert_eq!(verify(events).first_break, Some(ChainBreak::BrokenLink { seq: 4 }));
    }

    #[test]
    fn a_chain_checked_in_stretches_matches_one_pass() {
        let events = chain(6);
        let first = verify_from(None, events[..3].to_vec());
        let head = first.head.clone().unwrap();
        let second = verify_from(Some((head.0, &head.1)), events[3..].to_vec());
        assert_eq!(first.report.checked + second.report.checked, 6);
        assert_eq!(second.report.first_break, None);
    }
}
