//! The [`UserStore`] contract.

use std::sync::Arc;

use gatehouse_application::ports::{ChangeUserError, InsertUserError, SessionStore, UserChange, UserStore};
use gatehouse_domain::{PasswordHash, Role, User, UserId, Username};
use time::Duration;
use tokio::{sync::Barrier, task::JoinSet};
use uuid::Uuid;

use super::{assert_same_session, assert_same_user, now, session, user};
use crate::support::db::{Backend, TestDb, contract_tests};

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

    listing_returns_users_in_id_order_whatever_the_insertion_order,
    listing_returns_at_most_limit_users,
    listing_after_an_id_starts_strictly_after_it,
    chained_pages_cover_every_user_exactly_once,
    a_user_inserted_during_paging_with_a_larger_id_shows_up_on_a_later_page,

    active_admins_are_the_admins_not_disabled_in_id_order_up_to_the_limit,

    updating_changes_role_and_disabled_as_asked_and_returns_the_new_user,
    updating_leaves_every_other_field_and_user_untouched,
    updating_an_unknown_user_is_not_found,
    demoting_or_disabling_the_only_active_admin_is_refused_and_changes_nothing,
    of_two_active_admins_one_may_be_demoted_but_not_then_the_other,
    a_disabled_admin_does_not_count_as_an_active_admin,

    deleting_removes_the_user_and_only_it,
    deleting_an_unknown_user_is_not_found,
    deleting_the_only_active_admin_is_refused_and_keeps_them,
    of_two_admins_demoting_each_other_at_once_exactly_one_succeeds,
    concurrent_demotions_of_every_admin_leave_exactly_one,
    concurrent_demotions_disablings_and_deletions_of_every_admin_leave_exactly_one,
}

contract_tests! {
    sql_only: deleting_a_user_through_the_store_deletes_its_sessions,
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

// --- list --------------------------------------------------------------------

/// `n` new users (`user0`, `user1`, ...) whose ids are `STEP` apart in
/// name order, so a test can name ids between and beyond them; none stored.
fn spaced_users(n: usize) -> Vec<User> {
    let base = Uuid::now_v7().as_u128();
    (0..n).map(|i| User { id: spaced_id(base, i as u128 * STEP), ..user(&format!("user{i}")) }).collect()
}

const STEP: u128 = 1_000;

fn spaced_id(base: u128, offset: u128) -> UserId {
    UserId::from_uuid(Uuid::from_u128(base + offset))
}

/// An id right after `id` (between it and the next of [`spaced_users`]).
fn just_after(id: UserId) -> UserId {
    UserId::from_uuid(Uuid::from_u128(id.as_uuid().as_u128() + 1))
}

/// Stores `users` in a scrambled order (neither by id nor its reverse) and
/// returns them.
async fn stored_scrambled<B: Backend>(backend: &B, users: Vec<User>) -> Vec<User> {
    let store = backend.users();
    let n = users.len();
    // Odd positions from the back, then even ones from the front.
    let order = (0..n).rev().filter(|i| i % 2 == 1).chain((0..n).filter(|i| i % 2 == 0));
    for i in order {
        store.insert(&users[i]).await.unwrap();
    }
    users
}

fn ids(users: &[User]) -> Vec<UserId> {
    users.iter().map(|u| u.id).collect()
}

/// Asserts that `found` is `expected`, in order, field by field.
fn assert_same_users(found: Vec<User>, expected: &[User]) {
    assert_eq!(ids(&found), ids(expected), "user ids");
    for (found, expected) in found.into_iter().zip(expected) {
        assert_same_user(Some(found), expected);
    }
}

async fn listing_returns_users_in_id_order_whatever_the_insertion_order<B: Backend>(backend: B) {
    let store = backend.users();
    assert_eq!(store.list(None, 10).await.unwrap(), Vec::new(), "an empty store lists nobody");
    // Every field differs between users, the role and flag included.
    let users: Vec<User> = spaced_users(6)
        .into_iter()
        .enumerate()
        .map(|(i, u)| User { role: if i % 3 == 0 { Role::Admin } else { Role::User }, disabled: i % 2 == 1, ..u })
        .collect();
    let users = stored_scrambled(&backend, users).await;

    assert_same_users(store.list(None, 100).await.unwrap(), &users);
}

async fn listing_returns_at_most_limit_users<B: Backend>(backend: B) {
    let store = backend.users();
    let users = stored_scrambled(&backend, spaced_users(5)).await;

    for limit in 1..=5 {
        assert_same_users(store.list(None, limit).await.unwrap(), &users[..limit as usize]);
    }
    assert_same_users(store.list(None, 6).await.unwrap(), &users);
    assert_same_users(store.list(None, u32::MAX).await.unwrap(), &users);
    assert_same_users(store.list(Some(users[1].id), 2).await.unwrap(), &users[2..4]);
}

async fn listing_after_an_id_starts_strictly_after_it<B: Backend>(backend: B) {
    let store = backend.users();
    let users = stored_scrambled(&backend, spaced_users(5)).await;

    for (i, after) in users.iter().enumerate() {
        assert_same_users(store.list(Some(after.id), 10).await.unwrap(), &users[i + 1..]);
    }
    // The cursor need not be a stored id (its user may have been deleted).
    assert_same_users(store.list(Some(just_after(users[1].id)), 10).await.unwrap(), &users[2..]);
    let before_all = UserId::from_uuid(Uuid::from_u128(users[0].id.as_uuid().as_u128() - 1));
    assert_same_users(store.list(Some(before_all), 10).await.unwrap(), &users);
    assert_same_users(store.list(Some(UserId::from_uuid(Uuid::max())), 10).await.unwrap(), &[]);
}

/// Follows pages of `limit` from the start, as an admin client would: each
/// page starts after the last id of the one before, until a short page.
/// `between` runs after each page.
async fn all_pages<S: UserStore>(store: &S, limit: u32, mut between: impl AsyncFnMut(usize)) -> Vec<Vec<User>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store.list(after, limit).await.unwrap();
        assert!(page.len() <= limit as usize, "a page of {} users for a limit of {limit}", page.len());
        let last = page.len() < limit as usize;
        after = page.last().map(|u| u.id);
        pages.push(page);
        between(pages.len()).await;
        if last {
            return pages;
        }
        assert!(pages.len() < 100, "paging does not end");
    }
}

async fn chained_pages_cover_every_user_exactly_once<B: Backend>(backend: B) {
    let store = backend.users();
    let users = stored_scrambled(&backend, spaced_users(7)).await;

    for limit in [1, 2, 3, 7, 8] {
        let pages = all_pages(&store, limit, async |_| {}).await;
        let expected_pages = 7 / limit as usize + 1;
        assert_eq!(pages.len(), expected_pages, "pages of {limit}");
        assert_same_users(pages.concat(), &users);
    }
}

async fn a_user_inserted_during_paging_with_a_larger_id_shows_up_on_a_later_page<B: Backend>(backend: B) {
    let store = backend.users();
    let users = spaced_users(6);
    let (first, late) = users.split_at(4);
    let first = stored_scrambled(&backend, first.to_vec()).await;
    let inserting = backend.users();

    // After the first page, the last two users arrive: ids beyond every
    // page served so far.
    let pages = all_pages(&store, 3, async |served| {
        if served == 1 {
            for user in late {
                inserting.insert(user).await.unwrap();
            }
        }
    })
    .await;

    assert_same_users(pages[0].clone(), &first[..3]);
    assert_same_users(pages.concat(), &users);
}

// --- active admins -----------------------------------------------------------

async fn active_admins_are_the_admins_not_disabled_in_id_order_up_to_the_limit<B: Backend>(backend: B) {
    let store = backend.users();
    assert_eq!(store.active_admins(10).await.unwrap(), Vec::new(), "no users, no admins");
    // user0..user7: admins at 0, 2, 3, 5, 6; of those 3 is disabled; the
    // plain users 1 and 4 are disabled too, 7 is not.
    let users: Vec<User> = spaced_users(8)
        .into_iter()
        .enumerate()
        .map(|(i, u)| User {
            role: if [0, 2, 3, 5, 6].contains(&i) { Role::Admin } else { Role::User },
            disabled: [1, 3, 4].contains(&i),
            ..u
        })
        .collect();
    let users = stored_scrambled(&backend, users).await;
    let active: Vec<UserId> = [0, 2, 5, 6].iter().map(|&i| users[i].id).collect();

    assert_eq!(store.active_admins(10).await.unwrap(), active);
    assert_eq!(store.active_admins(4).await.unwrap(), active);
    assert_eq!(store.active_admins(2).await.unwrap(), active[..2]);
    assert_eq!(store.active_admins(1).await.unwrap(), active[..1]);
}

// --- update ------------------------------------------------------------------

fn admin(name: &str) -> User {
    User { role: Role::Admin, ..user(name) }
}

fn demote() -> UserChange {
    UserChange { role: Some(Role::User), disabled: None }
}

fn disable() -> UserChange {
    UserChange { role: None, disabled: Some(true) }
}

/// Stores `users` in this order.
async fn store_all<B: Backend>(backend: &B, users: &[&User]) {
    let store = backend.users();
    for user in users {
        store.insert(user).await.unwrap();
    }
}

/// Active admin ids, sorted.
async fn active_admin_ids<S: UserStore>(store: &S) -> Vec<UserId> {
    store.active_admins(1_000).await.unwrap()
}

async fn updating_changes_role_and_disabled_as_asked_and_returns_the_new_user<B: Backend>(backend: B) {
    let store = backend.users();
    // Alice stays the active admin throughout, so no change is refused.
    let alice = admin("alice");
    let bob = user("bob");
    store_all(&backend, &[&alice, &bob]).await;
    let at = now() + Duration::minutes(1);

    // (change, bob's role and disabled flag afterwards)
    let steps = [
        (UserChange { role: Some(Role::Admin), disabled: None }, (Role::Admin, false)),
        (UserChange { role: None, disabled: Some(true) }, (Role::Admin, true)),
        (UserChange { role: Some(Role::User), disabled: Some(false) }, (Role::User, false)),
        (UserChange { role: Some(Role::Admin), disabled: Some(true) }, (Role::Admin, true)),
        (UserChange { role: None, disabled: Some(false) }, (Role::Admin, false)),
        (UserChange::default(), (Role::Admin, false)),
        (UserChange { role: Some(Role::User), disabled: None }, (Role::User, false)),
        // Setting a field to the value it has is no change.
        (UserChange { role: Some(Role::User), disabled: Some(false) }, (Role::User, false)),
    ];
    for (step, (change, (role, disabled))) in steps.into_iter().enumerate() {
        let expected = User { role, disabled, ..bob.clone() };
        let returned = store.update(bob.id, change, at + Duration::seconds(step as i64)).await;
        assert_eq!(returned.as_ref().ok(), Some(&expected), "step {step}: {change:?} returned {returned:?}");
        assert_same_user(returned.ok(), &expected);
        assert_same_user(store.find_by_id(bob.id).await.unwrap(), &expected);
        assert_same_user(store.find_by_username(&bob.username).await.unwrap(), &expected);
    }
}

async fn updating_leaves_every_other_field_and_user_untouched<B: Backend>(backend: B) {
    let store = backend.users();
    let alice = admin("alice");
    let bob = User { created_at: now() - Duration::days(3), ..user("bob") };
    let carol = User { disabled: true, ..user("carol") };
    store_all(&backend, &[&alice, &bob, &carol]).await;

    let change = UserChange { role: Some(Role::Admin), disabled: Some(true) };
    let changed = store.update(bob.id, change, now() + Duration::hours(1)).await.unwrap();

    // Id, name, hash and creation time are bob's; only role and flag moved.
    let expected = User { role: Role::Admin, disabled: true, ..bob.clone() };
    assert_same_user(Some(changed), &expected);
    assert_same_user(store.find_by_id(bob.id).await.unwrap(), &expected);
    assert_same_user(store.find_by_id(alice.id).await.unwrap(), &alice);
    assert_same_user(store.find_by_id(carol.id).await.unwrap(), &carol);
}

async fn updating_an_unknown_user_is_not_found<B: Backend>(backend: B) {
    let store = backend.users();
    let unknown = UserId::from_uuid(Uuid::now_v7());
    assert_eq!(store.update(unknown, demote(), now()).await, Err(ChangeUserError::NotFound), "empty store");

    let alice = admin("alice");
    let bob = user("bob");
    store_all(&backend, &[&alice, &bob]).await;

    for change in [demote(), disable(), UserChange::default(), UserChange { role: Some(Role::Admin), disabled: None }] {
        assert_eq!(store.update(unknown, change, now()).await, Err(ChangeUserError::NotFound), "{change:?}");
    }
    assert_eq!(store.find_by_id(unknown).await.unwrap(), None, "updating must not create a user");
    assert_same_users(store.list(None, 10).await.unwrap(), &[alice, bob]);
}

async fn demoting_or_disabling_the_only_active_admin_is_refused_and_changes_nothing<B: Backend>(backend: B) {
    let store = backend.users();
    let alice = admin("alice");
    let bob = user("bob");
    store_all(&backend, &[&alice, &bob]).await;

    let refused = [
        demote(),
        disable(),
        UserChange { role: Some(Role::User), disabled: Some(true) },
        UserChange { role: Some(Role::User), disabled: Some(false) },
        UserChange { role: Some(Role::Admin), disabled: Some(true) },
    ];
    for change in refused {
        assert_eq!(store.update(alice.id, change, now()).await, Err(ChangeUserError::LastAdmin), "{change:?}");
        assert_same_user(store.find_by_id(alice.id).await.unwrap(), &alice);
        assert_eq!(active_admin_ids(&store).await, [alice.id]);
    }
    // Changes that keep her an active admin are fine.
    let kept = [UserChange::default(), UserChange { role: Some(Role::Admin), disabled: Some(false) }];
    for change in kept {
        assert_same_user(store.update(alice.id, change, now()).await.ok(), &alice);
    }
    assert_same_user(store.find_by_id(bob.id).await.unwrap(), &bob);
}

async fn of_two_active_admins_one_may_be_demoted_but_not_then_the_other<B: Backend>(backend: B) {
    let store = backend.users();
    let alice = admin("alice");
    let bob = admin("bob");
    store_all(&backend, &[&alice, &bob]).await;

    let demoted = store.update(bob.id, demote(), now()).await;

    assert_same_user(demoted.ok(), &User { role: Role::User, ..bob.clone() });
    assert_eq!(active_admin_ids(&store).await, [alice.id]);
    assert_eq!(store.update(alice.id, demote(), now()).await, Err(ChangeUserError::LastAdmin));
    assert_eq!(store.update(alice.id, disable(), now()).await, Err(ChangeUserError::LastAdmin));
    assert_same_user(store.find_by_id(alice.id).await.unwrap(), &alice);

    // Promoted again, bob lets alice be disabled.
    store.update(bob.id, UserChange { role: Some(Role::Admin), disabled: None }, now()).await.unwrap();
    let disabled = store.update(alice.id, disable(), now()).await;
    assert_same_user(disabled.ok(), &User { disabled: true, ..alice.clone() });
    assert_eq!(active_admin_ids(&store).await, [bob.id]);
}

async fn a_disabled_admin_does_not_count_as_an_active_admin<B: Backend>(backend: B) {
    let store = backend.users();
    let alice = admin("alice");
    let carol = User { disabled: true, ..admin("carol") };
    store_all(&backend, &[&alice, &carol]).await;
    assert_eq!(active_admin_ids(&store).await, [alice.id]);

    assert_eq!(store.update(alice.id, demote(), now()).await, Err(ChangeUserError::LastAdmin));
    assert_eq!(store.update(alice.id, disable(), now()).await, Err(ChangeUserError::LastAdmin));
    assert_eq!(store.delete(alice.id).await, Err(ChangeUserError::LastAdmin));
    assert_same_user(store.find_by_id(alice.id).await.unwrap(), &alice);
    // A disabled admin is no active admin to lose: demoting her is fine.
    let demoted = store.update(carol.id, demote(), now()).await.unwrap();
    assert_same_user(Some(demoted), &User { role: Role::User, ..carol.clone() });

    // Enabled again as an admin, carol counts, and alice may go.
    let change = UserChange { role: Some(Role::Admin), disabled: Some(false) };
    store.update(carol.id, change, now()).await.unwrap();
    assert_eq!(active_admin_ids(&store).await, [alice.id, carol.id]);
    store.update(alice.id, demote(), now()).await.unwrap();
    assert_eq!(active_admin_ids(&store).await, [carol.id]);
}

// --- delete ------------------------------------------------------------------

async fn deleting_removes_the_user_and_only_it<B: Backend>(backend: B) {
    let store = backend.users();
    let alice = admin("alice");
    let bob = user("bob");
    let carol = User { disabled: true, ..admin("carol") };
    store_all(&backend, &[&alice, &bob, &carol]).await;

    assert_eq!(store.delete(bob.id).await, Ok(()));

    assert_eq!(store.find_by_id(bob.id).await.unwrap(), None);
    assert_eq!(store.find_by_username(&bob.username).await.unwrap(), None);
    assert_same_users(store.list(None, 10).await.unwrap(), &[alice.clone(), carol.clone()]);
    assert_eq!(store.delete(bob.id).await, Err(ChangeUserError::NotFound), "deleted twice");

    // A disabled admin is not the last active one.
    assert_eq!(store.delete(carol.id).await, Ok(()));
    assert_same_users(store.list(None, 10).await.unwrap(), std::slice::from_ref(&alice));

    // The name is free again.
    let new_bob = user("bob");
    store.insert(&new_bob).await.unwrap();
    assert_same_user(store.find_by_username(&bob.username).await.unwrap(), &new_bob);
}

async fn deleting_an_unknown_user_is_not_found<B: Backend>(backend: B) {
    let store = backend.users();
    let unknown = UserId::from_uuid(Uuid::now_v7());
    assert_eq!(store.delete(unknown).await, Err(ChangeUserError::NotFound), "empty store");

    let alice = admin("alice");
    let bob = user("bob");
    store_all(&backend, &[&alice, &bob]).await;

    assert_eq!(store.delete(unknown).await, Err(ChangeUserError::NotFound));
    assert_same_users(store.list(None, 10).await.unwrap(), &[alice, bob]);
}

async fn deleting_the_only_active_admin_is_refused_and_keeps_them<B: Backend>(backend: B) {
    let store = backend.users();
    let alice = admin("alice");
    let bob = user("bob");
    store_all(&backend, &[&alice, &bob]).await;

    assert_eq!(store.delete(alice.id).await, Err(ChangeUserError::LastAdmin));

    assert_same_users(store.list(None, 10).await.unwrap(), &[alice.clone(), bob.clone()]);
    assert_eq!(active_admin_ids(&store).await, [alice.id]);

    // With a second active admin, either may go, but not both.
    store.update(bob.id, UserChange { role: Some(Role::Admin), disabled: None }, now()).await.unwrap();
    assert_eq!(store.delete(alice.id).await, Ok(()));
    assert_eq!(store.delete(bob.id).await, Err(ChangeUserError::LastAdmin));
    assert_eq!(active_admin_ids(&store).await, [bob.id]);
}

async fn deleting_a_user_through_the_store_deletes_its_sessions(db: TestDb) {
    let sessions = db.sessions();
    let alice = admin("alice");
    let bob = user("bob");
    store_all(&db, &[&alice, &bob]).await;
    let bobs = [session(&bob), session(&bob)];
    let alices = session(&alice);
    for session in bobs.iter().chain([&alices]) {
        sessions.insert(session).await.unwrap();
    }

    db.users().delete(bob.id).await.unwrap();

    for session in &bobs {
        assert_eq!(sessions.find(session.id).await.unwrap(), None, "a session of the deleted user survived");
    }
    assert_same_session(sessions.find(alices.id).await.unwrap(), &alices);
}

// --- concurrency -------------------------------------------------------------

/// What one racing change or deletion came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    LastAdmin,
}

/// A change or deletion in a race.
#[derive(Debug, Clone, Copy)]
enum Move {
    Change(UserChange),
    Delete,
}

/// Runs every `(target, move)` at once (all wait at one barrier first) and
/// returns the outcomes in the order given. Any error but `LastAdmin`
/// fails the test: a deadlock or serialisation failure here is a bug.
async fn race<B: Backend>(backend: &B, moves: &[(UserId, Move)]) -> Vec<Outcome> {
    let start = Arc::new(Barrier::new(moves.len()));
    let mut racers = JoinSet::new();
    for (i, &(target, action)) in moves.iter().enumerate() {
        let store = backend.users();
        let start = Arc::clone(&start);
        racers.spawn(async move {
            start.wait().await;
            let result = match action {
                Move::Change(change) => store.update(target, change, now()).await.map(|_| ()),
                Move::Delete => store.delete(target).await,
            };
            (i, result)
        });
    }
    let mut outcomes = vec![None; moves.len()];
    while let Some(raced) = racers.join_next().await {
        let (i, result) = raced.expect("a racing task panicked");
        outcomes[i] = Some(match result {
            Ok(()) => Outcome::Done,
            Err(ChangeUserError::LastAdmin) => Outcome::LastAdmin,
            Err(other) => panic!("{:?} failed with {other:?}: only Ok or LastAdmin may come of the race", moves[i]),
        });
    }
    outcomes.into_iter().map(|o| o.expect("every racer reported")).collect()
}

fn count(outcomes: &[Outcome], which: Outcome) -> usize {
    outcomes.iter().filter(|&&o| o == which).count()
}

async fn of_two_admins_demoting_each_other_at_once_exactly_one_succeeds<B: Backend>(backend: B) {
    const ROUNDS: usize = 10;
    let store = backend.users();
    let mut survivor: Option<User> = None;
    for round in 0..ROUNDS {
        let (alice, bob) = (admin(&format!("alice{round}")), admin(&format!("bob{round}")));
        store_all(&backend, &[&alice, &bob]).await;
        // The last round's survivor steps down, so exactly two active
        // admins face each other.
        if let Some(survivor) = survivor.take() {
            store.update(survivor.id, demote(), now()).await.unwrap();
        }
        assert_eq!(active_admin_ids(&store).await, [alice.id, bob.id], "round {round}: before the race");
        // Even rounds demote, odd rounds disable.
        let change = if round % 2 == 0 { demote() } else { disable() };

        let outcomes = race(&backend, &[(bob.id, Move::Change(change)), (alice.id, Move::Change(change))]).await;

        assert_eq!(count(&outcomes, Outcome::Done), 1, "round {round}: changes that succeeded: {outcomes:?}");
        assert_eq!(count(&outcomes, Outcome::LastAdmin), 1, "round {round}: changes refused: {outcomes:?}");
        // Bob was changed if the first move won, else alice.
        let (winner, loser) = if outcomes[0] == Outcome::Done { (alice, bob) } else { (bob, alice) };
        assert_eq!(active_admin_ids(&store).await, [winner.id], "round {round}: active admins after the race");
        assert_same_user(store.find_by_id(winner.id).await.unwrap(), &winner);
        let changed = if round % 2 == 0 {
            User { role: Role::User, ..loser.clone() }
        } else {
            User { disabled: true, ..loser.clone() }
        };
        assert_same_user(store.find_by_id(loser.id).await.unwrap(), &changed);
        survivor = Some(winner);
    }
}

async fn concurrent_demotions_of_every_admin_leave_exactly_one<B: Backend>(backend: B) {
    const ADMINS: usize = 6;
    let store = backend.users();
    let admins: Vec<User> = (0..ADMINS).map(|i| admin(&format!("admin{i}"))).collect();
    store_all(&backend, &admins.iter().collect::<Vec<_>>()).await;

    let moves: Vec<(UserId, Move)> = admins.iter().map(|a| (a.id, Move::Change(demote()))).collect();
    let outcomes = race(&backend, &moves).await;

    assert_eq!(count(&outcomes, Outcome::Done), ADMINS - 1, "demotions that succeeded: {outcomes:?}");
    let refused: Vec<UserId> =
        (0..ADMINS).filter(|&i| outcomes[i] == Outcome::LastAdmin).map(|i| admins[i].id).collect();
    assert_eq!(active_admin_ids(&store).await, refused, "the one refused is the one left");
    for (admin, outcome) in admins.iter().zip(&outcomes) {
        let role = if *outcome == Outcome::Done { Role::User } else { Role::Admin };
        assert_same_user(store.find_by_id(admin.id).await.unwrap(), &User { role, ..admin.clone() });
    }
}

async fn concurrent_demotions_disablings_and_deletions_of_every_admin_leave_exactly_one<B: Backend>(backend: B) {
    const ADMINS: usize = 9;
    let store = backend.users();
    // A disabled admin and a user, which no move touches, do not count.
    let bystanders = [User { disabled: true, ..admin("disabled") }, user("bystander")];
    let admins: Vec<User> = (0..ADMINS).map(|i| admin(&format!("admin{i}"))).collect();
    store_all(&backend, &admins.iter().chain(&bystanders).collect::<Vec<_>>()).await;
    let moves: Vec<(UserId, Move)> = admins
        .iter()
        .enumerate()
        .map(|(i, a)| match i % 3 {
            0 => (a.id, Move::Change(demote())),
            1 => (a.id, Move::Change(disable())),
            _ => (a.id, Move::Delete),
        })
        .collect();

    let outcomes = race(&backend, &moves).await;

    assert_eq!(count(&outcomes, Outcome::Done), ADMINS - 1, "moves that succeeded: {outcomes:?}");
    let left: Vec<UserId> = (0..ADMINS).filter(|&i| outcomes[i] == Outcome::LastAdmin).map(|i| admins[i].id).collect();
    assert_eq!(active_admin_ids(&store).await, left, "the one refused is the one left");
    for (i, admin) in admins.iter().enumerate() {
        let expected = match (outcomes[i], i % 3) {
            (Outcome::LastAdmin, _) => Some(admin.clone()),
            (Outcome::Done, 0) => Some(User { role: Role::User, ..admin.clone() }),
            (Outcome::Done, 1) => Some(User { disabled: true, ..admin.clone() }),
            (Outcome::Done, _) => None,
        };
        match expected {
            Some(expected) => assert_same_user(store.find_by_id(admin.id).await.unwrap(), &expected),
            None => assert_eq!(store.find_by_id(admin.id).await.unwrap(), None, "{} was deleted", admin.username),
        }
    }
    for bystander in &bystanders {
        assert_same_user(store.find_by_id(bystander.id).await.unwrap(), bystander);
    }
}
