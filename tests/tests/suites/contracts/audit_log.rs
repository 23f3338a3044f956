//! The [`AuditLog`] contract, and the audited writes of the stores: each
//! `*_audited` method appends its event to the same chain, in the same
//! transaction as its change, and a refused write appends nothing.

use std::{collections::BTreeSet, sync::Arc};

use gatehouse_application::ports::{
    AuditLog, ChainBreak, ChainReport, ChangeUserError, InsertUserError, RevokeScope, SessionStore, UserChange,
    UserStore,
};
use gatehouse_domain::{AuditAction, AuditEvent, AuditOutcome, PasswordHash, RecordedEvent, Role, User, UserId};
use gatehouse_infrastructure::MemoryAuditLog;
use time::Duration;
use tokio::{sync::Barrier, task::JoinSet};
use uuid::Uuid;

use super::{assert_same_session, assert_same_user, now, session, user};
use crate::support::db::{Backend, TestDb, contract_tests};

contract_tests! {
    appended_events_come_back_newest_first_numbered_linked_and_intact,
    an_event_without_actor_subject_client_or_detail_comes_back_as_it_was,
    paging_before_a_seq_is_exclusive_and_returns_at_most_limit_events,
    chained_pages_cover_every_event_exactly_once,
    filtering_by_user_keeps_the_events_where_the_user_is_actor_or_subject,

    an_empty_chain_verifies_with_nothing_checked,
    a_chain_of_appended_events_verifies_with_every_event_checked,

    writes_without_an_event_append_nothing,
    inserting_a_user_audited_appends_its_event_with_the_user,
    inserting_a_session_audited_appends_its_event_with_the_session,
    rotating_audited_appends_its_event_only_when_it_rotated,
    revoking_audited_appends_its_event_even_when_nothing_was_left_to_revoke,
    updating_a_user_audited_appends_its_event_with_the_change,
    deleting_a_user_audited_appends_its_event_with_the_deletion,
    setting_a_password_hash_audited_appends_its_event_with_the_hash,
    audited_writes_of_both_stores_append_to_one_chain_in_order,
    a_refused_write_appends_nothing,

    concurrent_appends_and_audited_writes_extend_the_chain_without_a_fork,
}

contract_tests! {
    sql_only: an_altered_event_is_reported_where_it_is,
    a_deleted_event_is_reported_as_missing,
    a_relinked_event_is_reported_as_a_broken_link,
}

/// The `prev_hash` of the first event.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const ACTIONS: [AuditAction; 10] = [
    AuditAction::Register,
    AuditAction::Login,
    AuditAction::Refresh,
    AuditAction::RefreshReuse,
    AuditAction::Logout,
    AuditAction::PasswordChange,
    AuditAction::RoleChange,
    AuditAction::Disable,
    AuditAction::Enable,
    AuditAction::Delete,
];

/// Event number `n`: every field set and different from any other `n`,
/// the time a few microseconds apart.
fn event(n: u32) -> AuditEvent {
    AuditEvent {
        occurred_at: now() + Duration::microseconds(i64::from(n) * 7 + 1),
        action: ACTIONS[n as usize % ACTIONS.len()],
        outcome: if n.is_multiple_of(2) { AuditOutcome::Success } else { AuditOutcome::Failure },
        actor: Some(UserId::from_uuid(Uuid::now_v7())),
        subject: Some(UserId::from_uuid(Uuid::now_v7())),
        client: Some(format!("10.0.{}.{}", n / 256, n % 256)),
        detail: Some(format!("detail={n} é")),
    }
}

/// An event of `action` by `actor` about `subject`.
fn about(action: AuditAction, actor: Option<UserId>, subject: Option<UserId>) -> AuditEvent {
    AuditEvent { actor, subject, ..event(ACTIONS.iter().position(|a| *a == action).unwrap_or(0) as u32) }
}

/// Appends `events` one after the other.
async fn append_all<B: Backend>(backend: &B, events: &[AuditEvent]) {
    let audit = backend.audit();
    for e in events {
        audit.append(e).await.unwrap();
    }
}

/// The whole chain, oldest first.
async fn chain<B: Backend>(backend: &B) -> Vec<RecordedEvent> {
    let mut events = backend.audit().page(None, 10_000, None).await.unwrap();
    events.reverse();
    events
}

/// The events of the whole chain, oldest first.
async fn chain_events<B: Backend>(backend: &B) -> Vec<AuditEvent> {
    chain(backend).await.into_iter().map(|e| e.event).collect()
}

/// Asserts that `chain` (oldest first) is numbered 1, 2, 3... and linked.
fn assert_linked(chain: &[RecordedEvent]) {
    let mut prev = GENESIS;
    for (i, e) in chain.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "seq of the event at {i}");
        assert_eq!(e.prev_hash, prev, "prev_hash of seq {}", e.seq);
        assert_eq!(e.hash.len(), 64, "hash of seq {}", e.seq);
        assert!(e.hash.bytes().all(|b| b.is_ascii_hexdigit()), "hash of seq {}", e.seq);
        prev = &e.hash;
    }
}

fn seqs(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

async fn appended_events_come_back_newest_first_numbered_linked_and_intact<B: Backend>(backend: B) {
    let events: Vec<AuditEvent> = (0..5).map(event).collect();
    append_all(&backend, &events).await;

    let page = backend.audit().page(None, 100, None).await.unwrap();
    assert_eq!(seqs(&page), [5, 4, 3, 2, 1], "newest first");
    let expected: Vec<&AuditEvent> = events.iter().rev().collect();
    assert_eq!(page.iter().map(|e| &e.event).collect::<Vec<_>>(), expected, "every field intact");
    let mut oldest_first = page;
    oldest_first.reverse();
    assert_linked(&oldest_first);
    let hashes: BTreeSet<&str> = oldest_first.iter().map(|e| e.hash.as_str()).collect();
    assert_eq!(hashes.len(), 5, "every hash differs");
}

async fn an_event_without_actor_subject_client_or_detail_comes_back_as_it_was<B: Backend>(backend: B) {
    let bare = AuditEvent::new(now(), AuditAction::Login, AuditOutcome::Failure);
    append_all(&backend, std::slice::from_ref(&bare)).await;

    let page = chain(&backend).await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].event, bare);
    assert_linked(&page);
}

async fn paging_before_a_seq_is_exclusive_and_returns_at_most_limit_events<B: Backend>(backend: B) {
    append_all(&backend, &(0..6).map(event).collect::<Vec<_>>()).await;
    let audit = backend.audit();

    assert_eq!(seqs(&audit.page(None, 2, None).await.unwrap()), [6, 5]);
    assert_eq!(seqs(&audit.page(Some(4), 2, None).await.unwrap()), [3, 2], "before is exclusive");
    assert_eq!(seqs(&audit.page(Some(4), 100, None).await.unwrap()), [3, 2, 1]);
    assert_eq!(seqs(&audit.page(Some(2), 100, None).await.unwrap()), [1]);
    assert_eq!(seqs(&audit.page(Some(1), 100, None).await.unwrap()), Vec::<u64>::new());
    assert_eq!(seqs(&audit.page(Some(100), 3, None).await.unwrap()), [6, 5, 4]);
    assert_eq!(seqs(&audit.page(None, 0, None).await.unwrap()), Vec::<u64>::new());
}

async fn chained_pages_cover_every_event_exactly_once<B: Backend>(backend: B) {
    append_all(&backend, &(0..7).map(event).collect::<Vec<_>>()).await;
    let audit = backend.audit();

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = audit.page(before, 3, None).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        before = Some(last.seq);
        seen.extend(seqs(&page));
    }
    assert_eq!(seen, [7, 6, 5, 4, 3, 2, 1]);
}

async fn filtering_by_user_keeps_the_events_where_the_user_is_actor_or_subject<B: Backend>(backend: B) {
    let alice = Some(UserId::from_uuid(Uuid::now_v7()));
    let bob = Some(UserId::from_uuid(Uuid::now_v7()));
    let carol = Some(UserId::from_uuid(Uuid::now_v7()));
    let events = [
        about(AuditAction::Login, alice, alice),    // 1: alice
        about(AuditAction::RoleChange, bob, alice), // 2: alice (subject), bob (actor)
        about(AuditAction::Login, None, bob),       // 3: bob
        about(AuditAction::Disable, alice, carol),  // 4: alice (actor), carol
        about(AuditAction::Login, None, None),      // 5: nobody
        about(AuditAction::Logout, carol, carol),   // 6: carol
    ];
    append_all(&backend, &events).await;
    let audit = backend.audit();

    assert_eq!(seqs(&audit.page(None, 100, alice).await.unwrap()), [4, 2, 1]);
    assert_eq!(seqs(&audit.page(None, 100, bob).await.unwrap()), [3, 2]);
    assert_eq!(seqs(&audit.page(None, 100, carol).await.unwrap()), [6, 4]);
    let nobody = Some(UserId::from_uuid(Uuid::now_v7()));
    assert_eq!(seqs(&audit.page(None, 100, nobody).await.unwrap()), Vec::<u64>::new());
    // With `before` and `limit` too.
    assert_eq!(seqs(&audit.page(Some(4), 1, alice).await.unwrap()), [2]);
    assert_eq!(seqs(&audit.page(None, 2, alice).await.unwrap()), [4, 2]);
    // The events come back whole.
    let page = audit.page(None, 100, bob).await.unwrap();
    assert_eq!(page.into_iter().map(|e| e.event).collect::<Vec<_>>(), [events[2].clone(), events[1].clone()]);
}

async fn an_empty_chain_verifies_with_nothing_checked<B: Backend>(backend: B) {
    assert_eq!(backend.audit().verify().await.unwrap(), ChainReport { checked: 0, first_break: None });
}

async fn a_chain_of_appended_events_verifies_with_every_event_checked<B: Backend>(backend: B) {
    let audit = backend.audit();
    for n in 1..=12 {
        audit.append(&event(n)).await.unwrap();
        assert_eq!(audit.verify().await.unwrap(), ChainReport { checked: u64::from(n), first_break: None });
    }
}

async fn writes_without_an_event_append_nothing<B: Backend>(backend: B) {
    let alice = User { role: Role::Admin, ..user("alice") };
    let bob = user("bob");
    let users = backend.users();
    let sessions = backend.sessions();
    users.insert(&alice).await.unwrap();
    users.insert(&bob).await.unwrap();
    users.set_password_hash(bob.id, &PasswordHash::new("$argon2id$other".to_owned()), now()).await.unwrap();
    users.update(bob.id, UserChange { role: Some(Role::Admin), disabled: None }, now()).await.unwrap();
    let s = session(&bob);
    sessions.insert(&s).await.unwrap();
    assert!(sessions.rotate(s.id, 0, now()).await.unwrap());
    sessions.revoke(RevokeScope::User(bob.id), now(), now() + Duration::minutes(15)).await.unwrap();
    users.delete(bob.id).await.unwrap();

    assert_eq!(chain(&backend).await, []);
    assert_eq!(backend.audit().verify().await.unwrap(), ChainReport { checked: 0, first_break: None });
}

async fn inserting_a_user_audited_appends_its_event_with_the_user<B: Backend>(backend: B) {
    let users = backend.users();
    let alice = user("alice");
    let registered = about(AuditAction::Register, Some(alice.id), Some(alice.id));

    users.insert_audited(&alice, Some(&registered)).await.unwrap();

    assert_same_user(users.find_by_id(alice.id).await.unwrap(), &alice);
    assert_eq!(chain_events(&backend).await, [registered]);
    assert_linked(&chain(&backend).await);
}

async fn inserting_a_session_audited_appends_its_event_with_the_session<B: Backend>(backend: B) {
    let alice = user("alice");
    backend.users().insert(&alice).await.unwrap();
    let s = session(&alice);
    let login = about(AuditAction::Login, Some(alice.id), Some(alice.id));

    backend.sessions().insert_audited(&s, Some(&login)).await.unwrap();

    assert_same_session(backend.sessions().find(s.id).await.unwrap(), &s);
    assert_eq!(chain_events(&backend).await, [login]);
}

async fn rotating_audited_appends_its_event_only_when_it_rotated<B: Backend>(backend: B) {
    let alice = user("alice");
    backend.users().insert(&alice).await.unwrap();
    let s = session(&alice);
    let sessions = backend.sessions();
    sessions.insert(&s).await.unwrap();
    let first = about(AuditAction::Refresh, Some(alice.id), Some(alice.id));
    let stale = AuditEvent { detail: Some("stale".into()), ..first.clone() };
    let second = AuditEvent { detail: Some("second".into()), ..first.clone() };

    assert!(sessions.rotate_audited(s.id, 0, now(), Some(&first)).await.unwrap());
    assert_eq!(chain_events(&backend).await, std::slice::from_ref(&first));

    // A stale generation rotates nothing and appends nothing.
    assert!(!sessions.rotate_audited(s.id, 0, now(), Some(&stale)).await.unwrap());
    assert_eq!(chain_events(&backend).await, std::slice::from_ref(&first));
    // Nor does an unknown session.
    assert!(
        !sessions
            .rotate_audited(gatehouse_domain::SessionId::from_uuid(Uuid::now_v7()), 0, now(), Some(&stale))
            .await
            .unwrap()
    );
    assert_eq!(chain_events(&backend).await, std::slice::from_ref(&first));

    assert!(sessions.rotate_audited(s.id, 1, now(), Some(&second)).await.unwrap());
    assert_eq!(chain_events(&backend).await, [first, second]);
    assert_eq!(sessions.find(s.id).await.unwrap().map(|s| s.generation), Some(2));
    assert_linked(&chain(&backend).await);
}

async fn revoking_audited_appends_its_event_even_when_nothing_was_left_to_revoke<B: Backend>(backend: B) {
    let alice = user("alice");
    backend.users().insert(&alice).await.unwrap();
    let s = session(&alice);
    let sessions = backend.sessions();
    sessions.insert(&s).await.unwrap();
    let logout = about(AuditAction::Logout, Some(alice.id), Some(alice.id));
    let again = AuditEvent { detail: Some("again".into()), ..logout.clone() };
    let at = now();

    let revoked = sessions
        .revoke_audited(RevokeScope::Session(s.id), at, at + Duration::minutes(15), Some(&logout))
        .await
        .unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(sessions.find(s.id).await.unwrap().and_then(|s| s.revoked_at), Some(at));
    assert_eq!(chain_events(&backend).await, std::slice::from_ref(&logout));

    let revoked = sessions
        .revoke_audited(RevokeScope::User(alice.id), now(), now() + Duration::minutes(15), Some(&again))
        .await
        .unwrap();
    assert_eq!(revoked, []);
    assert_eq!(chain_events(&backend).await, [logout, again]);
    assert_linked(&chain(&backend).await);
}

async fn updating_a_user_audited_appends_its_event_with_the_change<B: Backend>(backend: B) {
    let admin = User { role: Role::Admin, ..user("root") };
    let bob = user("bob");
    let users = backend.users();
    users.insert(&admin).await.unwrap();
    users.insert(&bob).await.unwrap();
    let promoted = about(AuditAction::RoleChange, Some(admin.id), Some(bob.id));

    let changed = users
        .update_audited(bob.id, UserChange { role: Some(Role::Admin), disabled: None }, now(), Some(&promoted))
        .await
        .unwrap();

    let expected = User { role: Role::Admin, ..bob.clone() };
    assert_same_user(Some(changed), &expected);
    assert_same_user(users.find_by_id(bob.id).await.unwrap(), &expected);
    assert_eq!(chain_events(&backend).await, [promoted]);
}

async fn deleting_a_user_audited_appends_its_event_with_the_deletion<B: Backend>(backend: B) {
    let admin = User { role: Role::Admin, ..user("root") };
    let bob = user("bob");
    let users = backend.users();
    users.insert(&admin).await.unwrap();
    users.insert(&bob).await.unwrap();
    let deleted = about(AuditAction::Delete, Some(admin.id), Some(bob.id));

    users.delete_audited(bob.id, Some(&deleted)).await.unwrap();

    assert_eq!(users.find_by_id(bob.id).await.unwrap(), None);
    assert_eq!(chain_events(&backend).await, [deleted]);
}

async fn setting_a_password_hash_audited_appends_its_event_with_the_hash<B: Backend>(backend: B) {
    let bob = user("bob");
    let users = backend.users();
    users.insert(&bob).await.unwrap();
    let changed = about(AuditAction::PasswordChange, Some(bob.id), Some(bob.id));
    let hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$bmV3LXNhbHQ$bmV3LWhhc2g".to_owned());

    users.set_password_hash_audited(bob.id, &hash, now(), Some(&changed)).await.unwrap();

    assert_same_user(users.find_by_id(bob.id).await.unwrap(), &User { password_hash: hash, ..bob });
    assert_eq!(chain_events(&backend).await, [changed]);
}

async fn audited_writes_of_both_stores_append_to_one_chain_in_order<B: Backend>(backend: B) {
    let users = backend.users();
    let sessions = backend.sessions();
    let audit = backend.audit();
    let alice = user("alice");
    let s = session(&alice);
    let mut expected = Vec::new();

    let e = about(AuditAction::Register, Some(alice.id), Some(alice.id));
    users.insert_audited(&alice, Some(&e)).await.unwrap();
    expected.push(e);
    let e = about(AuditAction::Login, Some(alice.id), Some(alice.id));
    sessions.insert_audited(&s, Some(&e)).await.unwrap();
    expected.push(e);
    let e = AuditEvent::new(now(), AuditAction::Login, AuditOutcome::Failure);
    audit.append(&e).await.unwrap();
    expected.push(e);
    let e = about(AuditAction::Refresh, Some(alice.id), Some(alice.id));
    assert!(sessions.rotate_audited(s.id, 0, now(), Some(&e)).await.unwrap());
    expected.push(e);
    let e = about(AuditAction::PasswordChange, Some(alice.id), Some(alice.id));
    users
        .set_password_hash_audited(alice.id, &PasswordHash::new("$argon2id$x".to_owned()), now(), Some(&e))
        .await
        .unwrap();
    expected.push(e);
    let e = about(AuditAction::Logout, Some(alice.id), Some(alice.id));
    sessions.revoke_audited(RevokeScope::User(alice.id), now(), now() + Duration::minutes(15), Some(&e)).await.unwrap();
    expected.push(e);
    let e = about(AuditAction::Disable, None, Some(alice.id));
    users.update_audited(alice.id, UserChange { role: None, disabled: Some(true) }, now(), Some(&e)).await.unwrap();
    expected.push(e);
    let e = about(AuditAction::Delete, None, Some(alice.id));
    users.delete_audited(alice.id, Some(&e)).await.unwrap();
    expected.push(e);

    let recorded = chain(&backend).await;
    assert_linked(&recorded);
    assert_eq!(recorded.into_iter().map(|e| e.event).collect::<Vec<_>>(), expected);
    assert_eq!(audit.verify().await.unwrap(), ChainReport { checked: 8, first_break: None });
}

async fn a_refused_write_appends_nothing<B: Backend>(backend: B) {
    let users = backend.users();
    let root = User { role: Role::Admin, ..user("root") };
    users.insert(&root).await.unwrap();
    let before = about(AuditAction::Login, Some(root.id), Some(root.id));
    append_all(&backend, std::slice::from_ref(&before)).await;

    let taken = user("ROOT");
    let register = about(AuditAction::Register, Some(taken.id), Some(taken.id));
    assert_eq!(users.insert_audited(&taken, Some(&register)).await, Err(InsertUserError::UsernameTaken));
    assert_eq!(chain_events(&backend).await, std::slice::from_ref(&before), "a taken username");

    let demote = about(AuditAction::RoleChange, Some(root.id), Some(root.id));
    assert_eq!(
        users
            .update_audited(root.id, UserChange { role: Some(Role::User), disabled: None }, now(), Some(&demote))
            .await,
        Err(ChangeUserError::LastAdmin)
    );
    let disable = about(AuditAction::Disable, Some(root.id), Some(root.id));
    assert_eq!(
        users.update_audited(root.id, UserChange { role: None, disabled: Some(true) }, now(), Some(&disable)).await,
        Err(ChangeUserError::LastAdmin)
    );
    assert_eq!(chain_events(&backend).await, std::slice::from_ref(&before), "the last admin demoted or disabled");

    let delete_root = about(AuditAction::Delete, Some(root.id), Some(root.id));
    assert_eq!(users.delete_audited(root.id, Some(&delete_root)).await, Err(ChangeUserError::LastAdmin));
    let unknown = UserId::from_uuid(Uuid::now_v7());
    let delete_unknown = about(AuditAction::Delete, Some(root.id), Some(unknown));
    assert_eq!(users.delete_audited(unknown, Some(&delete_unknown)).await, Err(ChangeUserError::NotFound));
    let update_unknown = about(AuditAction::Enable, Some(root.id), Some(unknown));
    assert_eq!(
        users.update_audited(unknown, UserChange::default(), now(), Some(&update_unknown)).await.map(|_| ()),
        Err(ChangeUserError::NotFound)
    );
    assert_eq!(chain_events(&backend).await, [before], "the last admin deleted, an unknown user");

    assert_same_user(users.find_by_id(root.id).await.unwrap(), &root);
    assert_eq!(backend.audit().verify().await.unwrap(), ChainReport { checked: 1, first_break: None });
}

async fn concurrent_appends_and_audited_writes_extend_the_chain_without_a_fork<B: Backend>(backend: B) {
    const RACERS: u32 = 20;
    const BEFORE: u64 = 3;
    append_all(&backend, &(0..BEFORE as u32).map(event).collect::<Vec<_>>()).await;

    let start = Arc::new(Barrier::new(RACERS as usize));
    let mut racers = JoinSet::new();
    for n in 0..RACERS {
        let users = backend.users();
        let audit = backend.audit();
        let start = Arc::clone(&start);
        let e = event(100 + n);
        racers.spawn(async move {
            start.wait().await;
            if n % 2 == 0 {
                audit.append(&e).await.map_err(|e| e.to_string())?;
            } else {
                let u = user(&format!("racer{n}"));
                users.insert_audited(&u, Some(&e)).await.map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(e)
        });
    }
    let mut appended = Vec::new();
    while let Some(joined) = racers.join_next().await {
        appended.push(joined.expect("the task panicked").expect("the write failed"));
    }

    let recorded = chain(&backend).await;
    assert_eq!(recorded.len() as u64, BEFORE + u64::from(RACERS), "exactly {RACERS} more events");
    assert_linked(&recorded);
    let prev_hashes: BTreeSet<&str> = recorded.iter().map(|e| e.prev_hash.as_str()).collect();
    assert_eq!(prev_hashes.len(), recorded.len(), "two events share a prev_hash: the chain forked");
    let mut stored: Vec<String> = recorded[BEFORE as usize..].iter().map(|e| format!("{:?}", e.event)).collect();
    let mut expected: Vec<String> = appended.iter().map(|e| format!("{e:?}")).collect();
    stored.sort();
    expected.sort();
    assert_eq!(stored, expected, "each racer's event once");
    assert_eq!(
        backend.audit().verify().await.unwrap(),
        ChainReport { checked: BEFORE + u64::from(RACERS), first_break: None }
    );
}

/// Five events appended to a fresh test database.
async fn five_events(db: &TestDb) {
    append_all(db, &(0..5).map(event).collect::<Vec<_>>()).await;
    assert_eq!(db.audit().verify().await.unwrap(), ChainReport { checked: 5, first_break: None });
}

async fn an_altered_event_is_reported_where_it_is(db: TestDb) {
    five_events(&db).await;
    db.db.execute_unprepared("UPDATE audit_events SET client = '6.6.6.6' WHERE seq = 3").await.unwrap();

    assert_eq!(
        db.audit().verify().await.unwrap(),
        ChainReport { checked: 2, first_break: Some(ChainBreak::Altered { seq: 3 }) }
    );
}

async fn a_deleted_event_is_reported_as_missing(db: TestDb) {
    five_events(&db).await;
    db.db.execute_unprepared("DELETE FROM audit_events WHERE seq = 2").await.unwrap();

    assert_eq!(
        db.audit().verify().await.unwrap(),
        ChainReport { checked: 1, first_break: Some(ChainBreak::Missing { seq: 2 }) }
    );
}

async fn a_relinked_event_is_reported_as_a_broken_link(db: TestDb) {
    five_events(&db).await;
    let forged = "f".repeat(64);
    db.db.execute_unprepared(&format!("UPDATE audit_events SET prev_hash = '{forged}' WHERE seq = 4")).await.unwrap();

    assert_eq!(
        db.audit().verify().await.unwrap(),
        ChainReport { checked: 3, first_break: Some(ChainBreak::BrokenLink { seq: 4 }) }
    );
}

/// Five events in a fresh in-memory log.
async fn memory_log() -> MemoryAuditLog {
    let log = MemoryAuditLog::new();
    for n in 0..5 {
        log.append(&event(n)).await.unwrap();
    }
    assert_eq!(log.verify().await.unwrap(), ChainReport { checked: 5, first_break: None });
    log
}

#[tokio::test]
async fn an_event_altered_in_memory_is_reported_where_it_is() {
    let log = memory_log().await;
    log.tamper(3, |e| e.event.client = Some("6.6.6.6".into()));

    assert_eq!(
        log.verify().await.unwrap(),
        ChainReport { checked: 2, first_break: Some(ChainBreak::Altered { seq: 3 }) }
    );
}

#[tokio::test]
async fn an_event_relinked_in_memory_is_reported_as_a_broken_link() {
    let log = memory_log().await;
    log.tamper(4, |e| e.prev_hash = "f".repeat(64));

    assert_eq!(
        log.verify().await.unwrap(),
        ChainReport { checked: 3, first_break: Some(ChainBreak::BrokenLink { seq: 4 }) }
    );
}

#[tokio::test]
async fn an_event_renumbered_in_memory_is_reported_as_missing() {
    let log = memory_log().await;
    log.tamper(2, |e| e.seq = 9);

    assert_eq!(
        log.verify().await.unwrap(),
        ChainReport { checked: 1, first_break: Some(ChainBreak::Missing { seq: 2 }) }
    );
}

#[tokio::test]
async fn an_event_rehashed_in_memory_still_breaks_the_next_link() {
    let log = memory_log().await;
    log.tamper(3, |e| {
        e.event.detail = Some("forged".into());
        e.hash = gatehouse_infrastructure::audit_chain::link(&e.prev_hash, e.seq, &e.event);
    });

    assert_eq!(
        log.verify().await.unwrap(),
        ChainReport { checked: 3, first_break: Some(ChainBreak::BrokenLink { seq: 4 }) }
    );
}
