//! The [`SessionStore`] contract.
//!
//! A session belongs to a stored user (the SQL stores enforce it with a
//! foreign key), so every rule stores its users first. Revocation records
//! have no such key: they must outlive their sessions.

use std::{collections::BTreeSet, sync::Arc};

use gatehouse_application::ports::{RevokeScope, SessionStore, UserStore};
use gatehouse_domain::{Revocation, Session, SessionId, User, UserId};
use time::{Duration, OffsetDateTime};
use tokio::{sync::Barrier, task::JoinSet};
use uuid::Uuid;

use super::{assert_same_session, now, session, user};
use crate::support::db::{Backend, TestDb, contract_tests};

contract_tests! {
    an_inserted_session_is_found_with_every_field_intact,
    an_unknown_session_id_is_not_found,

    rotating_moves_the_generation_by_one_and_records_when,
    rotating_from_a_stale_or_unissued_generation_changes_nothing,
    a_revoked_session_does_not_rotate,
    an_expired_session_does_not_rotate,
    of_concurrent_rotations_from_one_generation_exactly_one_succeeds,
    concurrent_chained_rotations_lose_no_update,

    revoking_a_session_records_when_and_changes_nothing_else,
    revoking_a_revoked_session_keeps_the_first_revocation_time,
    revoking_an_unknown_session_is_not_an_error,
    revoking_a_session_leaves_the_other_sessions_of_its_user_untouched,
    revoking_a_user_revokes_exactly_its_sessions,
    revoking_a_user_except_one_session_keeps_that_one,
    revoking_reports_only_the_sessions_it_revoked,
    concurrent_revocations_of_a_user_revoke_each_session_once,

    the_feed_holds_the_revocations_since_a_time_that_are_still_relevant,
    the_feed_holds_one_record_per_session_with_its_user,
    a_revocation_stays_in_the_feed_after_its_session_is_purged,

    listing_returns_the_users_live_sessions_newest_first,

    purging_deletes_ended_sessions_and_stale_revocations_and_counts_them,
    a_purged_session_is_gone_for_good,
}

contract_tests! {
    sql_only: deleting_a_user_deletes_its_sessions,
    a_revocation_outlives_the_deletion_of_its_user,
}

/// How long the suites keep a revocation relevant (an access token's
/// lifetime, give or take).
const RELEVANCE: Duration = Duration::minutes(15);

/// Stores a new user named `name`.
async fn stored_user<B: Backend>(backend: &B, name: &str) -> User {
    let user = user(name);
    backend.users().insert(&user).await.unwrap();
    user
}

/// Stores a new live session of `user`.
async fn stored_session<B: Backend>(backend: &B, user: &User) -> Session {
    stored(backend, session(user)).await
}

/// Stores `session` as it is.
async fn stored<B: Backend>(backend: &B, session: Session) -> Session {
    backend.sessions().insert(&session).await.unwrap();
    session
}

/// Stores a new session of `user` and revokes it at `at` until `until`:
/// the session as it is now stored, and its feed record.
async fn revoked_session<B: Backend>(
    backend: &B,
    user: &User,
    at: OffsetDateTime,
    until: OffsetDateTime,
) -> (Session, Revocation) {
    let session = stored_session(backend, user).await;
    let revoked = backend.sessions().revoke(RevokeScope::Session(session.id), at, until).await.unwrap();
    assert_eq!(revoked, vec![revocation(&session, at, until)]);
    (Session { revoked_at: Some(at), ..session.clone() }, revocation(&session, at, until))
}

/// The record revoking `session` at `at` until `relevant_until` leaves.
fn revocation(session: &Session, at: OffsetDateTime, relevant_until: OffsetDateTime) -> Revocation {
    Revocation { session_id: session.id, user_id: session.user_id, revoked_at: at, relevant_until }
}

/// Revocations in a set order: no operation promises one.
fn sorted(mut revocations: Vec<Revocation>) -> Vec<Revocation> {
    revocations.sort_by_key(|r| r.session_id);
    revocations
}

/// Every revocation in the feed that is still relevant at `now`.
async fn whole_feed<S: SessionStore>(store: &S, now: OffsetDateTime) -> Vec<Revocation> {
    sorted(store.revocations_since(OffsetDateTime::UNIX_EPOCH, now).await.unwrap())
}

// --- insert and find -------------------------------------------------------

async fn an_inserted_session_is_found_with_every_field_intact<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let bob = stored_user(&backend, "bob").await;
    let live = session(&alice);
    // A generation beyond 32 bits: the column must hold all of a u64 the
    // service can reach.
    let rotated = Session {
        generation: 5_000_000_000,
        rotated_at: Some(live.created_at - Duration::hours(3)),
        last_used_at: live.created_at - Duration::hours(2),
        created_at: live.created_at - Duration::days(3),
        expires_at: live.created_at + Duration::days(20),
        ..session(&alice)
    };
    let revoked = Session {
        generation: 2,
        rotated_at: Some(live.created_at - Duration::days(1) - Duration::hours(1)),
        created_at: live.created_at - Duration::days(2),
        revoked_at: Some(live.created_at - Duration::days(1)),
        ..session(&bob)
    };
    for s in [&live, &rotated, &revoked] {
        store.insert(s).await.unwrap();
    }

    for s in [&live, &rotated, &revoked] {
        assert_same_session(store.find(s.id).await.unwrap(), s);
    }
}

async fn an_unknown_session_id_is_not_found<B: Backend>(backend: B) {
    let store = backend.sessions();
    assert_eq!(store.find(SessionId::from_uuid(Uuid::now_v7())).await.unwrap(), None);

    let alice = stored_user(&backend, "alice").await;
    stored_session(&backend, &alice).await;
    assert_eq!(store.find(SessionId::from_uuid(Uuid::now_v7())).await.unwrap(), None);
}

// --- rotate -----------------------------------------------------------------

async fn rotating_moves_the_generation_by_one_and_records_when<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let fresh = stored_session(&backend, &alice).await;
    let high =
        stored(&backend, Session { generation: 4_294_967_296, rotated_at: Some(fresh.created_at), ..session(&alice) })
            .await;
    let first = now() + Duration::minutes(5);
    let second = first + Duration::minutes(7);

    assert!(store.rotate(fresh.id, 0, first).await.unwrap(), "rotating from the current generation");
    let once = Session { generation: 1, rotated_at: Some(first), last_used_at: first, ..fresh.clone() };
    assert_same_session(store.find(fresh.id).await.unwrap(), &once);

    assert!(store.rotate(fresh.id, 1, second).await.unwrap(), "rotating from the new generation");
    let twice = Session { generation: 2, rotated_at: Some(second), last_used_at: second, ..fresh };
    assert_same_session(store.find(twice.id).await.unwrap(), &twice);

    assert!(store.rotate(high.id, 4_294_967_296, first).await.unwrap(), "rotating beyond 32 bits");
    let high = Session { generation: 4_294_967_297, rotated_at: Some(first), last_used_at: first, ..high };
    assert_same_session(store.find(high.id).await.unwrap(), &high);
    // Each rotation touched its own session only.
    assert_same_session(store.find(twice.id).await.unwrap(), &twice);
}

async fn rotating_from_a_stale_or_unissued_generation_changes_nothing<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let session = stored_session(&backend, &alice).await;
    let first = now() + Duration::minutes(5);
    assert!(store.rotate(session.id, 0, first).await.unwrap());
    let rotated = store.find(session.id).await.unwrap().expect("the rotated session");
    let later = first + Duration::minutes(1);

    for from in [0, 2, 3, u64::MAX] {
        assert!(!store.rotate(session.id, from, later).await.unwrap(), "rotating from generation {from}");
    }
    assert!(!store.rotate(SessionId::from_uuid(Uuid::now_v7()), 0, later).await.unwrap(), "an unknown session");

    assert_same_session(store.find(session.id).await.unwrap(), &rotated);
}

async fn a_revoked_session_does_not_rotate<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let t = now();
    let revoked_here = stored_session(&backend, &alice).await;
    store.revoke(RevokeScope::Session(revoked_here.id), t, t + RELEVANCE).await.unwrap();
    let revoked_here = Session { revoked_at: Some(t), ..revoked_here };
    let stored_revoked =
        stored(&backend, Session { revoked_at: Some(t - Duration::hours(1)), ..session(&alice) }).await;

    for revoked in [&revoked_here, &stored_revoked] {
        assert!(!store.rotate(revoked.id, 0, t + Duration::minutes(1)).await.unwrap(), "rotated a revoked session");
        assert_same_session(store.find(revoked.id).await.unwrap(), revoked);
    }
}

async fn an_expired_session_does_not_rotate<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let session = stored_session(&backend, &alice).await;

    // A session is expired from its expiry instant on.
    for at in
        [session.expires_at, session.expires_at + Duration::microseconds(1), session.expires_at + Duration::days(1)]
    {
        assert!(!store.rotate(session.id, 0, at).await.unwrap(), "rotated at {at}, expiry {}", session.expires_at);
    }

    assert_same_session(store.find(session.id).await.unwrap(), &session);
    // One microsecond earlier it was still live.
    assert!(store.rotate(session.id, 0, session.expires_at - Duration::microseconds(1)).await.unwrap());
}

async fn of_concurrent_rotations_from_one_generation_exactly_one_succeeds<B: Backend>(backend: B) {
    const RACERS: usize = 20;
    let alice = stored_user(&backend, "alice").await;
    let session = stored_session(&backend, &alice).await;
    let at = now() + Duration::minutes(1);
    let start = Arc::new(Barrier::new(RACERS));
    let mut racers = JoinSet::new();
    for _ in 0..RACERS {
        let store = backend.sessions();
        let start = Arc::clone(&start);
        racers.spawn(async move {
            start.wait().await;
            store.rotate(session.id, 0, at).await
        });
    }

    let mut rotated = 0;
    while let Some(raced) = racers.join_next().await {
        if raced.expect("a rotation task panicked").expect("a racing rotation failed") {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1, "rotations from generation 0 that succeeded");
    let expected = Session { generation: 1, rotated_at: Some(at), last_used_at: at, ..session };
    assert_same_session(backend.sessions().find(expected.id).await.unwrap(), &expected);
}

/// Every task reads the session and rotates it from what it read, until one
/// of its rotations succeeds: a store that loses an update, or lets two
/// rotations from one generation through, ends at the wrong generation.
async fn concurrent_chained_rotations_lose_no_update<B: Backend>(backend: B) {
    const RACERS: usize = 20;
    // Far more than the RACERS attempts the slowest task can need.
    const ATTEMPTS: usize = 1_000;
    let alice = stored_user(&backend, "alice").await;
    let session = stored_session(&backend, &alice).await;
    let at = now() + Duration::minutes(1);
    let start = Arc::new(Barrier::new(RACERS));
    let mut racers = JoinSet::new();
    for _ in 0..RACERS {
        let store = backend.sessions();
        let start = Arc::clone(&start);
        racers.spawn(async move {
            start.wait().await;
            for _ in 0..ATTEMPTS {
                let read = store.find(session.id).await.expect("find").expect("the session");
                if store.rotate(session.id, read.generation, at).await.expect("rotate") {
                    return read.generation;
                }
            }
            panic!("no rotation succeeded in {ATTEMPTS} attempts");
        });
    }

    let mut froms = Vec::new();
    while let Some(raced) = racers.join_next().await {
        froms.push(raced.expect("a rotation task panicked"));
    }
    froms.sort_unstable();
    let expected_froms: Vec<u64> = (0..).take(RACERS).collect();
    assert_eq!(froms, expected_froms, "each generation is rotated away from exactly once");
    let final_generation = u64::try_from(RACERS).unwrap();
    let expected = Session { generation: final_generation, rotated_at: Some(at), last_used_at: at, ..session };
    assert_same_session(backend.sessions().find(expected.id).await.unwrap(), &expected);
}

// --- revoke -----------------------------------------------------------------

async fn revoking_a_session_records_when_and_changes_nothing_else<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let session =
        stored(&backend, Session { generation: 3, rotated_at: Some(now() - Duration::minutes(2)), ..session(&alice) })
            .await;
    let at = now() + Duration::minutes(5);

    let revoked = store.revoke(RevokeScope::Session(session.id), at, at + RELEVANCE).await.unwrap();

    assert_eq!(revoked, vec![revocation(&session, at, at + RELEVANCE)]);
    assert_same_session(store.find(session.id).await.unwrap(), &Session { revoked_at: Some(at), ..session });
}

async fn revoking_a_revoked_session_keeps_the_first_revocation_time<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let session = stored_session(&backend, &alice).await;
    let first = now() + Duration::minutes(5);

    store.revoke(RevokeScope::Session(session.id), first, first + RELEVANCE).await.unwrap();
    for again in [first + Duration::minutes(1), first - Duration::minutes(1)] {
        let revoked = store.revoke(RevokeScope::Session(session.id), again, again + RELEVANCE).await.unwrap();
        assert_eq!(revoked, vec![], "revoking again at {again} revoked something");
    }

    assert_same_session(store.find(session.id).await.unwrap(), &Session { revoked_at: Some(first), ..session.clone() });
    assert_eq!(whole_feed(&store, first).await, vec![revocation(&session, first, first + RELEVANCE)]);
}

async fn revoking_an_unknown_session_is_not_an_error<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let session = stored_session(&backend, &alice).await;
    let unknown = SessionId::from_uuid(Uuid::now_v7());
    let at = now();

    assert_eq!(store.revoke(RevokeScope::Session(unknown), at, at + RELEVANCE).await, Ok(vec![]));
    let nobody = UserId::from_uuid(Uuid::now_v7());
    assert_eq!(store.revoke(RevokeScope::User(nobody), at, at + RELEVANCE).await, Ok(vec![]));
    assert_eq!(store.revoke(RevokeScope::UserExcept(nobody, session.id), at, at + RELEVANCE).await, Ok(vec![]));

    assert_eq!(store.find(unknown).await.unwrap(), None, "revoking must not create a session");
    assert_same_session(store.find(session.id).await.unwrap(), &session);
    assert_eq!(whole_feed(&store, at).await, vec![], "nothing was revoked, so nothing is in the feed");
}

async fn revoking_a_session_leaves_the_other_sessions_of_its_user_untouched<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let revoked = stored_session(&backend, &alice).await;
    let kept = stored_session(&backend, &alice).await;
    let at = now();

    store.revoke(RevokeScope::Session(revoked.id), at, at + RELEVANCE).await.unwrap();

    assert_same_session(store.find(kept.id).await.unwrap(), &kept);
}

async fn revoking_a_user_revokes_exactly_its_sessions<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let bob = stored_user(&backend, "bob").await;
    let at = now() + Duration::minutes(5);
    let alices = [stored_session(&backend, &alice).await, stored_session(&backend, &alice).await];
    let earlier = at - Duration::hours(1);
    let already = stored(&backend, Session { revoked_at: Some(earlier), ..session(&alice) }).await;
    let bobs = stored_session(&backend, &bob).await;

    let revoked = store.revoke(RevokeScope::User(alice.id), at, at + RELEVANCE).await.unwrap();

    let expected: Vec<Revocation> = alices.iter().map(|s| revocation(s, at, at + RELEVANCE)).collect();
    assert_eq!(sorted(revoked), sorted(expected.clone()), "the sessions reported revoked");
    for s in &alices {
        assert_same_session(store.find(s.id).await.unwrap(), &Session { revoked_at: Some(at), ..s.clone() });
    }
    assert_same_session(store.find(already.id).await.unwrap(), &already);
    assert_same_session(store.find(bobs.id).await.unwrap(), &bobs);
    assert_eq!(whole_feed(&store, at).await, sorted(expected), "the feed");
}

async fn revoking_a_user_except_one_session_keeps_that_one<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let bob = stored_user(&backend, "bob").await;
    let at = now() + Duration::minutes(5);
    let others = [stored_session(&backend, &alice).await, stored_session(&backend, &alice).await];
    let kept = stored_session(&backend, &alice).await;
    let bobs = stored_session(&backend, &bob).await;

    let revoked = store.revoke(RevokeScope::UserExcept(alice.id, kept.id), at, at + RELEVANCE).await.unwrap();

    let expected: Vec<Revocation> = others.iter().map(|s| revocation(s, at, at + RELEVANCE)).collect();
    assert_eq!(sorted(revoked), sorted(expected.clone()), "the sessions reported revoked");
    for s in &others {
        assert_same_session(store.find(s.id).await.unwrap(), &Session { revoked_at: Some(at), ..s.clone() });
    }
    assert_same_session(store.find(kept.id).await.unwrap(), &kept);
    assert_same_session(store.find(bobs.id).await.unwrap(), &bobs);
    assert_eq!(whole_feed(&store, at).await, sorted(expected), "the feed");

    // Keeping a session of another user keeps nothing of this one.
    let later = at + Duration::minutes(1);
    let revoked = store.revoke(RevokeScope::UserExcept(alice.id, bobs.id), later, later + RELEVANCE).await.unwrap();
    assert_eq!(revoked, vec![revocation(&kept, later, later + RELEVANCE)]);
    assert_same_session(store.find(bobs.id).await.unwrap(), &bobs);
}

/// Whatever the scope, a call reports the sessions it revoked and none that
/// were revoked already, and every session keeps its first revocation time.
async fn revoking_reports_only_the_sessions_it_revoked<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let [a1, a2, a3, a4] = [
        stored_session(&backend, &alice).await,
        stored_session(&backend, &alice).await,
        stored_session(&backend, &alice).await,
        stored_session(&backend, &alice).await,
    ];
    let t1 = now() + Duration::minutes(5);
    let (t2, t3, t4) = (t1 + Duration::minutes(1), t1 + Duration::minutes(2), t1 + Duration::minutes(3));

    let first = store.revoke(RevokeScope::Session(a1.id), t1, t1 + RELEVANCE).await.unwrap();
    assert_eq!(first, vec![revocation(&a1, t1, t1 + RELEVANCE)]);
    let except = store.revoke(RevokeScope::UserExcept(alice.id, a4.id), t2, t2 + RELEVANCE).await.unwrap();
    assert_eq!(sorted(except), sorted(vec![revocation(&a2, t2, t2 + RELEVANCE), revocation(&a3, t2, t2 + RELEVANCE)]));
    let all = store.revoke(RevokeScope::User(alice.id), t3, t3 + RELEVANCE).await.unwrap();
    assert_eq!(all, vec![revocation(&a4, t3, t3 + RELEVANCE)]);

    for scope in [
        RevokeScope::Session(a1.id),
        RevokeScope::Session(a4.id),
        RevokeScope::UserExcept(alice.id, a1.id),
        RevokeScope::User(alice.id),
    ] {
        assert_eq!(store.revoke(scope, t4, t4 + RELEVANCE).await.unwrap(), vec![], "revoking {scope:?} again");
    }

    for (s, at) in [(&a1, t1), (&a2, t2), (&a3, t2), (&a4, t3)] {
        assert_same_session(store.find(s.id).await.unwrap(), &Session { revoked_at: Some(at), ..s.clone() });
    }
    let feed = vec![
        revocation(&a1, t1, t1 + RELEVANCE),
        revocation(&a2, t2, t2 + RELEVANCE),
        revocation(&a3, t2, t2 + RELEVANCE),
        revocation(&a4, t3, t3 + RELEVANCE),
    ];
    assert_eq!(whole_feed(&store, t4).await, sorted(feed));
}

/// Concurrent logouts everywhere all succeed. Each session is reported by
/// at least one of them (reporting it twice is tolerated: the callers'
/// revocation lists ignore duplicates), and stored once: one revocation
/// time, one feed record, agreeing with each other.
async fn concurrent_revocations_of_a_user_revoke_each_session_once<B: Backend>(backend: B) {
    const RACERS: usize = 10;
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let bob = stored_user(&backend, "bob").await;
    let mut alices = Vec::new();
    for _ in 0..5 {
        alices.push(stored_session(&backend, &alice).await);
    }
    let bobs = stored_session(&backend, &bob).await;
    let base = now() + Duration::minutes(5);
    let ats: Vec<OffsetDateTime> = (0..RACERS).map(|i| base + Duration::seconds(i64::try_from(i).unwrap())).collect();
    let start = Arc::new(Barrier::new(RACERS));
    let mut racers = JoinSet::new();
    for &at in &ats {
        let store = backend.sessions();
        let start = Arc::clone(&start);
        let user = alice.id;
        racers.spawn(async move {
            start.wait().await;
            store.revoke(RevokeScope::User(user), at, at + RELEVANCE).await
        });
    }

    let mut reported = BTreeSet::new();
    while let Some(raced) = racers.join_next().await {
        let revoked = raced.expect("a revoke task panicked").expect("a concurrent revoke failed");
        for r in revoked {
            assert_eq!(r.user_id, alice.id, "reported {r:?}");
            assert_eq!(r.relevant_until, r.revoked_at + RELEVANCE, "reported {r:?}");
            reported.insert(r.session_id);
        }
    }

    let alice_ids: BTreeSet<SessionId> = alices.iter().map(|s| s.id).collect();
    assert_eq!(reported, alice_ids, "the sessions reported revoked");
    let feed = whole_feed(&store, base).await;
    assert_eq!(feed.len(), alices.len(), "one feed record per session: {feed:#?}");
    for s in &alices {
        let found = store.find(s.id).await.unwrap().expect("a revoked session");
        let at = found.revoked_at.unwrap_or_else(|| panic!("session {} was not revoked", s.id));
        assert!(ats.contains(&at), "session {} revoked at {at}, which no call asked for", s.id);
        assert_same_session(Some(found), &Session { revoked_at: Some(at), ..s.clone() });
        let record: Vec<&Revocation> = feed.iter().filter(|r| r.session_id == s.id).collect();
        assert_eq!(record, vec![&revocation(s, at, at + RELEVANCE)], "the feed record of session {}", s.id);
    }
    assert_same_session(store.find(bobs.id).await.unwrap(), &bobs);
}

// --- the revocation feed ----------------------------------------------------

async fn the_feed_holds_the_revocations_since_a_time_that_are_still_relevant<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let bob = stored_user(&backend, "bob").await;
    let [s1, s2, s3] = [
        stored_session(&backend, &alice).await,
        stored_session(&backend, &bob).await,
        stored_session(&backend, &alice).await,
    ];
    let t = now();
    let r1 = revocation(&s1, t, t + Duration::minutes(10));
    let r2 = revocation(&s2, t + Duration::minutes(1), t + Duration::minutes(20));
    let r3 = revocation(&s3, t + Duration::minutes(2), t + Duration::minutes(5));
    for r in [r1, r2, r3] {
        store.revoke(RevokeScope::Session(r.session_id), r.revoked_at, r.relevant_until).await.unwrap();
    }

    let feed = |since: OffsetDateTime, now: OffsetDateTime| {
        let store = store.clone();
        async move { sorted(store.revocations_since(since, now).await.unwrap()) }
    };
    let early = t - Duration::hours(1);
    assert_eq!(feed(early, t).await, sorted(vec![r1, r2, r3]), "everything");
    // `since` is inclusive.
    assert_eq!(feed(r2.revoked_at, t).await, sorted(vec![r2, r3]), "since the second revocation");
    assert_eq!(feed(r2.revoked_at + Duration::microseconds(1), t).await, vec![r3], "since just after it");
    assert_eq!(feed(r3.revoked_at + Duration::microseconds(1), t).await, vec![], "since after the last one");
    // A revocation stops being relevant at its `relevant_until`.
    assert_eq!(feed(early, r3.relevant_until - Duration::microseconds(1)).await, sorted(vec![r1, r2, r3]));
    assert_eq!(feed(early, r3.relevant_until).await, sorted(vec![r1, r2]), "now at r3's end");
    assert_eq!(feed(early, r1.relevant_until).await, vec![r2], "now at r1's end");
    assert_eq!(feed(early, r2.relevant_until).await, vec![], "now at r2's end");
    // Both bounds at once.
    assert_eq!(feed(r2.revoked_at, r3.relevant_until).await, vec![r2]);
}

async fn the_feed_holds_one_record_per_session_with_its_user<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let bob = stored_user(&backend, "bob").await;
    let [a1, a2, b1] = [
        stored_session(&backend, &alice).await,
        stored_session(&backend, &alice).await,
        stored_session(&backend, &bob).await,
    ];
    let t0 = now();
    let (t1, t2) = (t0 + Duration::minutes(1), t0 + Duration::minutes(2));

    store.revoke(RevokeScope::Session(a1.id), t0, t0 + RELEVANCE).await.unwrap();
    store.revoke(RevokeScope::User(alice.id), t1, t1 + RELEVANCE).await.unwrap();
    store.revoke(RevokeScope::UserExcept(bob.id, a1.id), t1, t1 + Duration::minutes(30)).await.unwrap();
    for scope in [RevokeScope::Session(a1.id), RevokeScope::User(alice.id), RevokeScope::User(bob.id)] {
        store.revoke(scope, t2, t2 + RELEVANCE).await.unwrap();
    }

    let expected = vec![
        revocation(&a1, t0, t0 + RELEVANCE),
        revocation(&a2, t1, t1 + RELEVANCE),
        revocation(&b1, t1, t1 + Duration::minutes(30)),
    ];
    assert_eq!(whole_feed(&store, t2).await, sorted(expected));
}

async fn a_revocation_stays_in_the_feed_after_its_session_is_purged<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let session = stored_session(&backend, &alice).await;
    let at = now();
    store.revoke(RevokeScope::Session(session.id), at, at + RELEVANCE).await.unwrap();
    let later = at + Duration::minutes(1);

    assert_eq!(store.purge(later, later).await.unwrap(), 1, "the revoked session goes");

    assert_eq!(store.find(session.id).await.unwrap(), None);
    assert_eq!(whole_feed(&store, later).await, vec![revocation(&session, at, at + RELEVANCE)]);
    assert_eq!(store.purge(at + RELEVANCE, later).await.unwrap(), 1, "the record goes once irrelevant");
    assert_eq!(whole_feed(&store, at).await, vec![], "purged records are gone for any `now`");
}

/// SQL only: the in-memory session store holds no users to delete.
async fn a_revocation_outlives_the_deletion_of_its_user(db: TestDb) {
    let store = db.sessions();
    let alice = stored_user(&db, "alice").await;
    let bob = stored_user(&db, "bob").await;
    let session = stored_session(&db, &alice).await;
    let bobs = stored_session(&db, &bob).await;
    let at = now();
    store.revoke(RevokeScope::User(alice.id), at, at + RELEVANCE).await.unwrap();
    store.revoke(RevokeScope::User(bob.id), at, at + RELEVANCE).await.unwrap();

    db.db.execute_unprepared("DELETE FROM users WHERE username = 'alice'").await.unwrap();

    assert_eq!(store.find(session.id).await.unwrap(), None, "the session went with its user");
    let records = vec![revocation(&session, at, at + RELEVANCE), revocation(&bobs, at, at + RELEVANCE)];
    assert_eq!(whole_feed(&store, at).await, sorted(records), "the revocation stays");
    // Purging while relevant deletes bob's revoked session, not the records.
    assert_eq!(store.purge(at + Duration::minutes(1), at + Duration::minutes(1)).await.unwrap(), 1);
    assert_eq!(whole_feed(&store, at).await.len(), 2);
    assert_eq!(store.purge(at + RELEVANCE, at + RELEVANCE).await.unwrap(), 2, "both records, once irrelevant");
    assert_eq!(whole_feed(&store, at).await, vec![]);
}

// --- list_live --------------------------------------------------------------

async fn listing_returns_the_users_live_sessions_newest_first<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let bob = stored_user(&backend, "bob").await;
    let t = now();
    let opened = |days: i64| {
        let created_at = t - Duration::days(days);
        Session { created_at, last_used_at: created_at, expires_at: created_at + Duration::days(30), ..session(&alice) }
    };
    let newest = opened(1);
    let middle = Session {
        generation: 3,
        rotated_at: Some(t - Duration::hours(1)),
        last_used_at: t - Duration::hours(1),
        ..opened(3)
    };
    let oldest = opened(5);
    let revoked = Session { revoked_at: Some(t - Duration::days(1)), ..opened(2) };
    let expired = opened(40);
    let expiring_now = opened(30);
    assert_eq!(expiring_now.expires_at, t);
    let bobs = Session { user_id: bob.id, ..opened(4) };
    // Stored out of order, so the store's order is not the insertion order.
    for s in [&middle, &revoked, &oldest, &bobs, &newest, &expired, &expiring_now] {
        store.insert(s).await.unwrap();
    }
    let revoked_here = stored(&backend, opened(0)).await;
    store.revoke(RevokeScope::Session(revoked_here.id), t, t + RELEVANCE).await.unwrap();

    assert_eq!(store.list_live(alice.id, t).await.unwrap(), vec![newest.clone(), middle.clone(), oldest.clone()]);
    assert_eq!(store.list_live(bob.id, t).await.unwrap(), vec![bobs]);
    assert_eq!(store.list_live(UserId::from_uuid(Uuid::now_v7()), t).await.unwrap(), vec![]);
    // A microsecond earlier, the session expiring at `t` was still live.
    let before = t - Duration::microseconds(1);
    assert_eq!(store.list_live(alice.id, before).await.unwrap(), vec![newest, middle, oldest, expiring_now]);
}

// --- purge ------------------------------------------------------------------

async fn purging_deletes_ended_sessions_and_stale_revocations_and_counts_them<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let t = now();
    let cutoff = t - Duration::minutes(10);
    let live = stored_session(&backend, &alice).await;
    let expired = stored(&backend, Session { expires_at: t - Duration::seconds(1), ..session(&alice) }).await;
    let expired_and_revoked = stored(
        &backend,
        Session { expires_at: t - Duration::seconds(1), revoked_at: Some(t - Duration::minutes(1)), ..session(&alice) },
    )
    .await;
    // Session deleted, record deleted.
    let (old, old_record) = revoked_session(&backend, &alice, t - Duration::hours(1), t - Duration::seconds(1)).await;
    // Session deleted, record kept.
    let (old_relevant, old_relevant_record) =
        revoked_session(&backend, &alice, t - Duration::minutes(20), t + Duration::minutes(1)).await;
    // Both kept.
    let (recent, recent_record) =
        revoked_session(&backend, &alice, t - Duration::minutes(1), t + Duration::minutes(14)).await;
    // Session kept (not revoked *before* the cutoff), record deleted (not
    // relevant *at* `t`).
    let (at_cutoff, at_cutoff_record) = revoked_session(&backend, &alice, cutoff, t).await;
    assert_eq!(
        whole_feed(&store, t - Duration::hours(2)).await,
        sorted(vec![old_record, old_relevant_record, recent_record, at_cutoff_record]),
    );

    let purged = store.purge(t, cutoff).await.unwrap();

    assert_eq!(purged, 6, "2 expired + 2 revoked before the cutoff sessions, 2 records");
    for gone in [&expired, &expired_and_revoked, &old, &old_relevant] {
        assert_eq!(store.find(gone.id).await.unwrap(), None, "session {} survived", gone.id);
    }
    for kept in [&live, &recent, &at_cutoff] {
        assert_same_session(store.find(kept.id).await.unwrap(), kept);
    }
    assert_eq!(whole_feed(&store, t - Duration::hours(2)).await, sorted(vec![old_relevant_record, recent_record]));
    assert_eq!(store.purge(t, cutoff).await.unwrap(), 0, "purging again");
}

/// A purged session refreshes nothing: it is not found, not listed, does
/// not rotate, and revoking it again adds no record.
async fn a_purged_session_is_gone_for_good<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let t = now();
    let revoked = stored_session(&backend, &alice).await;
    store.revoke(RevokeScope::Session(revoked.id), t - Duration::hours(1), t + Duration::minutes(1)).await.unwrap();
    let expired = stored(&backend, Session { expires_at: t - Duration::seconds(1), ..session(&alice) }).await;
    let live = stored_session(&backend, &alice).await;
    let record = revocation(&revoked, t - Duration::hours(1), t + Duration::minutes(1));

    assert_eq!(store.purge(t, t - Duration::minutes(10)).await.unwrap(), 2);

    for gone in [&revoked, &expired] {
        assert_eq!(store.find(gone.id).await.unwrap(), None, "session {} survived", gone.id);
        assert!(!store.rotate(gone.id, 0, t).await.unwrap(), "a purged session rotated");
        let again = store.revoke(RevokeScope::Session(gone.id), t, t + RELEVANCE).await.unwrap();
        assert_eq!(again, vec![], "revoking a purged session");
        assert_eq!(store.find(gone.id).await.unwrap(), None, "session {} came back", gone.id);
    }
    assert_eq!(store.list_live(alice.id, t).await.unwrap(), vec![live.clone()]);
    assert_eq!(store.revoke(RevokeScope::UserExcept(alice.id, live.id), t, t + RELEVANCE).await.unwrap(), vec![]);
    assert_eq!(whole_feed(&store, t).await, vec![record], "the feed keeps the old record only");
    assert_same_session(store.find(live.id).await.unwrap(), &live);
}

// --- SQL only ---------------------------------------------------------------

/// SQL only: the in-memory session store holds no users to delete. Passing
/// on SQLite also proves its connections run with foreign keys on.
async fn deleting_a_user_deletes_its_sessions(db: TestDb) {
    let store = db.sessions();
    let alice = stored_user(&db, "alice").await;
    let bob = stored_user(&db, "bob").await;
    let alices = [stored_session(&db, &alice).await, stored_session(&db, &alice).await];
    let bobs = stored_session(&db, &bob).await;

    // Ids are stored differently per backend (BLOB on SQLite), names are not.
    db.db.execute_unprepared("DELETE FROM users WHERE username = 'alice'").await.unwrap();

    assert_eq!(db.users().find_by_id(alice.id).await.unwrap(), None);
    for session in &alices {
        assert_eq!(store.find(session.id).await.unwrap(), None, "a session of the deleted user survived");
    }
    assert_same_session(store.find(bobs.id).await.unwrap(), &bobs);
}
