//! The [`UserStore`] contract.

use std::sync::Arc;

use gatehouse_application::ports::{InsertUserError, UserStore};
use gatehouse_domain::{PasswordHash, Role, User, UserId, Username};
use time::Duration;
use tokio::{sync::Barrier, task::JoinSet};
use uuid::Uuid;

use super::{assert_same_user, now, user};
use crate::support::db::{Backend, contract_tests};

contract_tests! {
    an_inserted_user_is_found_by_id_with_every_field_intact,
    an_inserted_user_is_found_by_username_with_every_field_intact,
    an_unknown_id_is_not_found,
    an_unknown_username_is_not_found,
    a_second_user_with_a_taken_username_is_refused,
    of_concurrent_inserts_of_one_username_exactly_one_succeeds,
    concurrent_inserts_of_different_usernames_never_conflict,
    setting_a_password_hash_replaces_that_users_hash_only,
    setting_the_password_hash_of_an_unknown_user_is_not_an_error,
    ping_succeeds,
}

/// Two users whose every field differs, so no column can be swapped or
/// defaulted unnoticed.
fn alice_and_bob() -> (User, User) {
    let alice = User { role: Role::Admin, disabled: true, ..user("alice") };
    let bob = user("bob");
    (alice, bob)
}

async fn an_inserted_user_is_found_by_id_with_every_field_intact<B: Backend>(backend: B) {
    let store = backend.users();
    let (alice, bob) = alice_and_bob();
    store.insert(&alice).await.unwrap();
    store.insert(&bob).await.unwrap();

    assert_same_user(store.find_by_id(alice.id).await.unwrap(), &alice);
    assert_same_user(store.find_by_id(bob.id).await.unwrap(), &bob);
}

async fn an_inserted_user_is_found_by_username_with_every_field_intact<B: Backend>(backend: B) {
    let store = backend.users();
    let (alice, bob) = alice_and_bob();
    store.insert(&alice).await.unwrap();
    store.insert(&bob).await.unwrap();

    assert_same_user(store.find_by_username(&alice.username).await.unwrap(), &alice);
    assert_same_user(store.find_by_username(&bob.username).await.unwrap(), &bob);
    // Any spelling of the name parses to the canonical one.
    assert_same_user(store.find_by_username(&Username::parse(" ALICE ").unwrap()).await.unwrap(), &alice);
}

async fn an_unknown_id_is_not_found<B: Backend>(backend: B) {
    let store = backend.users();
    assert_eq!(store.find_by_id(UserId::from_uuid(Uuid::now_v7())).await.unwrap(), None);

    store.insert(&user("alice")).await.unwrap();
    assert_eq!(store.find_by_id(UserId::from_uuid(Uuid::now_v7())).await.unwrap(), None);
}

async fn an_unknown_username_is_not_found<B: Backend>(backend: B) {
    let store = backend.users();
    let bob = Username::parse("bob").unwrap();
    assert_eq!(store.find_by_username(&bob).await.unwrap(), None);

    store.insert(&user("alice")).await.unwrap();
    assert_eq!(store.find_by_username(&bob).await.unwrap(), None);
    // Neither a prefix nor an extension of a stored name matches it.
    for near in ["alic", "alice2"] {
        assert_eq!(store.find_by_username(&Username::parse(near).unwrap()).await.unwrap(), None, "{near}");
    }
}

async fn a_second_user_with_a_taken_username_is_refused<B: Backend>(backend: B) {
    let store = backend.users();
    let alice = user("alice");
    store.insert(&alice).await.unwrap();

    for spelling in ["alice", "Alice", "  ALICE "] {
        let second = User { role: Role::Admin, ..user(spelling) };
        assert_eq!(store.insert(&second).await, Err(InsertUserError::UsernameTaken), "{spelling:?}");
        assert_eq!(store.find_by_id(second.id).await.unwrap(), None, "{spelling:?} was stored anyway");
    }
    assert_same_user(store.find_by_username(&alice.username).await.unwrap(), &alice);
}

async fn of_concurrent_inserts_of_one_username_exactly_one_succeeds<B: Backend>(backend: B) {
    const RACERS: usize = 20;
    // Every task waits at the barrier, so the inserts really overlap.
    let start = Arc::new(Barrier::new(RACERS));
    let mut racers = JoinSet::new();
    for _ in 0..RACERS {
        let store = backend.users();
        let start = Arc::clone(&start);
        let candidate = user("racer");
        racers.spawn(async move {
            start.wait().await;
            let inserted = store.insert(&candidate).await;
            (candidate, inserted)
        });
    }

    let mut winners = Vec::new();
    let mut taken = 0;
    while let Some(raced) = racers.join_next().await {
        match raced.expect("an insert task panicked") {
            (candidate, Ok(())) => winners.push(candidate),
            (_, Err(InsertUserError::UsernameTaken)) => taken += 1,
            (_, Err(other)) => panic!("a racing insert failed with {other:?} instead of UsernameTaken"),
        }
    }
    assert_eq!(winners.len(), 1, "inserts that succeeded");
    assert_eq!(taken, RACERS - 1, "inserts refused as taken");
    let winner = &winners[0];
    assert_same_user(backend.users().find_by_username(&winner.username).await.unwrap(), winner);
}

async fn concurrent_inserts_of_different_usernames_never_conflict<B: Backend>(backend: B) {
    let users: Vec<User> = (0..20).map(|i| user(&format!("user{i}"))).collect();
    let mut inserts = JoinSet::new();
    for candidate in users.clone() {
        let store = backend.users();
        inserts.spawn(async move { store.insert(&candidate).await });
    }
    while let Some(inserted) = inserts.join_next().await {
        assert_eq!(inserted.expect("an insert task panicked"), Ok(()));
    }

    let store = backend.users();
    for expected in &users {
        assert_same_user(store.find_by_username(&expected.username).await.unwrap(), expected);
    }
}

/// A hash unlike any [`user`] stores.
fn new_hash(tag: &str) -> PasswordHash {
    PasswordHash::new(format!("$argon2id$v=19$m=19456,t=2,p=1${}${tag}", Uuid::new_v4().simple()))
}

async fn setting_a_password_hash_replaces_that_users_hash_only<B: Backend>(backend: B) {
    let store = backend.users();
    let (alice, bob) = alice_and_bob();
    store.insert(&alice).await.unwrap();
    store.insert(&bob).await.unwrap();
    let (first, second) = (new_hash("Zmlyc3Q"), new_hash("c2Vjb25k"));

    store.set_password_hash(alice.id, &first, now() + Duration::minutes(1)).await.unwrap();

    let changed = User { password_hash: first, ..alice.clone() };
    assert_same_user(store.find_by_id(alice.id).await.unwrap(), &changed);
    assert_same_user(store.find_by_username(&alice.username).await.unwrap(), &changed);
    assert_same_user(store.find_by_id(bob.id).await.unwrap(), &bob);

    store.set_password_hash(alice.id, &second, now() + Duration::minutes(2)).await.unwrap();

    let changed_again = User { password_hash: second, ..alice };
    assert_same_user(store.find_by_username(&changed_again.username).await.unwrap(), &changed_again);
    assert_same_user(store.find_by_id(bob.id).await.unwrap(), &bob);
}

async fn setting_the_password_hash_of_an_unknown_user_is_not_an_error<B: Backend>(backend: B) {
    let store = backend.users();
    let alice = user("alice");
    store.insert(&alice).await.unwrap();
    let unknown = UserId::from_uuid(Uuid::now_v7());

    assert_eq!(store.set_password_hash(unknown, &new_hash("bm9ib2R5"), now()).await, Ok(()));

    assert_eq!(store.find_by_id(unknown).await.unwrap(), None, "setting a hash must not create a user");
    assert_same_user(store.find_by_id(alice.id).await.unwrap(), &alice);
}

async fn ping_succeeds<B: Backend>(backend: B) {
    assert_eq!(backend.users().ping().await, Ok(()));
}
