//! The [`SessionStore`] contract.
//!
//! A session belongs to a stored user (the SQL stores enforce it with a
//! foreign key), so every rule stores its users first.

use gatehouse_application::ports::{SessionStore, UserStore};
use gatehouse_domain::{Session, SessionId, User};
use time::Duration;
use uuid::Uuid;

use super::{assert_same_session, now, session, user};
use crate::support::db::{Backend, TestDb, contract_tests};

contract_tests! {
    an_inserted_session_is_found_with_every_field_intact,
    an_unknown_session_id_is_not_found,
    revoking_a_session_records_when_and_changes_nothing_else,
    revoking_a_revoked_session_keeps_the_first_revocation_time,
    revoking_an_unknown_session_is_not_an_error,
    revoking_a_session_leaves_the_other_sessions_of_its_user_untouched,
}

contract_tests! {
    sql_only: deleting_a_user_deletes_its_sessions,
}

/// Stores a new user named `name`.
async fn stored_user<B: Backend>(backend: &B, name: &str) -> User {
    let user = user(name);
    backend.users().insert(&user).await.unwrap();
    user
}

/// Stores a new live session of `user`.
async fn stored_session<B: Backend>(backend: &B, user: &User) -> Session {
    let session = session(user);
    backend.sessions().insert(&session).await.unwrap();
    session
}

async fn an_inserted_session_is_found_with_every_field_intact<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let bob = stored_user(&backend, "bob").await;
    let live = session(&alice);
    let revoked = Session {
        created_at: live.created_at - Duration::days(2),
        revoked_at: Some(live.created_at - Duration::days(1)),
        ..session(&bob)
    };
    store.insert(&live).await.unwrap();
    store.insert(&revoked).await.unwrap();

    assert_same_session(store.find(live.id).await.unwrap(), &live);
    assert_same_session(store.find(revoked.id).await.unwrap(), &revoked);
}

async fn an_unknown_session_id_is_not_found<B: Backend>(backend: B) {
    let store = backend.sessions();
    assert_eq!(store.find(SessionId::from_uuid(Uuid::now_v7())).await.unwrap(), None);

    let alice = stored_user(&backend, "alice").await;
    stored_session(&backend, &alice).await;
    assert_eq!(store.find(SessionId::from_uuid(Uuid::now_v7())).await.unwrap(), None);
}

async fn revoking_a_session_records_when_and_changes_nothing_else<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let session = stored_session(&backend, &alice).await;
    let at = now() + Duration::minutes(5);

    store.revoke(session.id, at).await.unwrap();

    assert_same_session(store.find(session.id).await.unwrap(), &Session { revoked_at: Some(at), ..session });
}

async fn revoking_a_revoked_session_keeps_the_first_revocation_time<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let session = stored_session(&backend, &alice).await;
    let first = now() + Duration::minutes(5);

    store.revoke(session.id, first).await.unwrap();
    for again in [first + Duration::minutes(1), first - Duration::minutes(1)] {
        store.revoke(session.id, again).await.unwrap();
    }

    assert_same_session(store.find(session.id).await.unwrap(), &Session { revoked_at: Some(first), ..session });
}

async fn revoking_an_unknown_session_is_not_an_error<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let session = stored_session(&backend, &alice).await;
    let unknown = SessionId::from_uuid(Uuid::now_v7());

    assert_eq!(store.revoke(unknown, now()).await, Ok(()));

    assert_eq!(store.find(unknown).await.unwrap(), None, "revoking must not create a session");
    assert_same_session(store.find(session.id).await.unwrap(), &session);
}

async fn revoking_a_session_leaves_the_other_sessions_of_its_user_untouched<B: Backend>(backend: B) {
    let store = backend.sessions();
    let alice = stored_user(&backend, "alice").await;
    let revoked = stored_session(&backend, &alice).await;
    let kept = stored_session(&backend, &alice).await;

    store.revoke(revoked.id, now()).await.unwrap();

    assert_same_session(store.find(kept.id).await.unwrap(), &kept);
}

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
