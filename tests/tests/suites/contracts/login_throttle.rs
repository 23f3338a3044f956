//! The [`LoginThrottle`] contract, under the suites' policy of
//! [`THROTTLE_LIMIT`] attempts per [`THROTTLE_WINDOW`].
//!
//! Time is an argument, so window expiry is tested with fixed times, not
//! sleeps.

use std::{net::IpAddr, sync::Arc};

use gatehouse_application::ports::{Admission, LoginThrottle, Slots};
use gatehouse_domain::{ThrottleKey, Username};
use gatehouse_infrastructure::{Database, sea_orm::DatabaseSettings};
use time::{Duration, OffsetDateTime};
use tokio::{sync::Barrier, task::JoinSet};

use super::now;
use crate::support::db::{Backend, THROTTLE_LIMIT, THROTTLE_WINDOW, TestDb, contract_tests};

contract_tests! {
    thirty_concurrent_attempts_for_one_username_get_exactly_the_limit_of_slots,
    thirty_concurrent_attempts_from_one_address_for_many_usernames_get_exactly_the_limit_of_slots,
    two_handles_on_one_store_share_the_count,
    a_full_window_refuses_with_the_time_until_it_closes,
    a_closed_window_starts_afresh,
    a_refused_attempt_takes_no_slot_under_its_other_keys,
    a_success_clears_the_usernames_count,
    a_success_gives_back_only_its_own_slot_under_the_address,
    giving_back_a_slot_of_a_window_that_has_closed_changes_nothing,
    releasing_an_attempt_gives_back_its_own_slots_and_clears_nothing,
    keys_are_counted_apart,
    purging_deletes_closed_windows_only,
}

contract_tests! {
    sql_only: instances_with_their_own_connection_pools_share_the_count,
}

fn user(name: &str) -> ThrottleKey {
    ThrottleKey::Username(Username::parse(name).unwrap())
}

fn addr(ip: &str) -> ThrottleKey {
    ThrottleKey::address(ip.parse::<IpAddr>().unwrap())
}

/// Takes a slot, expecting it to be granted.
async fn granted<T: LoginThrottle>(throttle: &T, keys: &[ThrottleKey], at: OffsetDateTime) -> Slots {
    match throttle.acquire(keys, at).await.unwrap() {
        Admission::Granted(slots) => slots,
        refused => panic!("expected a slot for {keys:?} at {at}, got {refused:?}"),
    }
}

/// Takes a slot, expecting a refusal; returns the wait.
async fn refused<T: LoginThrottle>(throttle: &T, keys: &[ThrottleKey], at: OffsetDateTime) -> Duration {
    match throttle.acquire(keys, at).await.unwrap() {
        Admission::Refused { retry_after } => retry_after,
        granted => panic!("expected {keys:?} to be refused at {at}, got {granted:?}"),
    }
}

/// Fills `keys`' window: the limit of failed attempts, starting at `at`.
async fn fill<T: LoginThrottle>(throttle: &T, keys: &[ThrottleKey], at: OffsetDateTime) {
    for _ in 0..THROTTLE_LIMIT {
        granted(throttle, keys, at).await;
    }
}

/// Runs 30 acquisitions at once (released together by a barrier); returns
/// how many were granted.
async fn thirty_at_once<T: LoginThrottle + Clone>(throttle: &T, keys: impl Fn(usize) -> Vec<ThrottleKey>) -> usize {
    let at = now();
    let barrier = Arc::new(Barrier::new(30));
    let mut tasks = JoinSet::new();
    for i in 0..30 {
        let (throttle, barrier, keys) = (throttle.clone(), Arc::clone(&barrier), keys(i));
        tasks.spawn(async move {
            barrier.wait().await;
            matches!(throttle.acquire(&keys, at).await.unwrap(), Admission::Granted(_))
        });
    }
    tasks.join_all().await.into_iter().filter(|granted| *granted).count()
}

async fn thirty_concurrent_attempts_for_one_username_get_exactly_the_limit_of_slots<B: Backend>(backend: B) {
    let throttle = backend.throttle();
    let granted = thirty_at_once(&throttle, |i| vec![user("alice"), addr(&format!("192.0.2.{i}"))]).await;
    assert_eq!(granted, THROTTLE_LIMIT as usize);
}

async fn thirty_concurrent_attempts_from_one_address_for_many_usernames_get_exactly_the_limit_of_slots<B: Backend>(
    backend: B,
) {
    let throttle = backend.throttle();
    let granted = thirty_at_once(&throttle, |i| vec![user(&format!("victim{i}")), addr("203.0.113.7")]).await;
    assert_eq!(granted, THROTTLE_LIMIT as usize);
}

async fn two_handles_on_one_store_share_the_count<B: Backend>(backend: B) {
    let (one, other) = (backend.throttle(), backend.throttle());
    let at = now();
    for i in 0..THROTTLE_LIMIT {
        let throttle = if i % 2 == 0 { &one } else { &other };
        granted(throttle, &[user("alice")], at).await;
    }
    refused(&one, &[user("alice")], at).await;
    refused(&other, &[user("alice")], at).await;
}

async fn instances_with_their_own_connection_pools_share_the_count(test_db: TestDb) {
    let second = Database::connect(&DatabaseSettings::new(test_db.url.clone())).await.unwrap();
    let (one, other) = (test_db.throttle(), second.throttle(THROTTLE_LIMIT, THROTTLE_WINDOW));
    let at = now();
    fill(&one, &[user("alice")], at).await;
    refused(&other, &[user("alice")], at).await;
    second.close().await;
}

async fn a_full_window_refuses_with_the_time_until_it_closes<B: Backend>(backend: B) {
    let throttle = backend.throttle();
    let t0 = now();
    fill(&throttle, &[user("alice")], t0).await;
    let wait = refused(&throttle, &[user("alice")], t0 + Duration::minutes(5)).await;
    assert_eq!(wait, THROTTLE_WINDOW - Duration::minutes(5));
    // Refused attempts do not push the window out.
    let wait = refused(&throttle, &[user("alice")], t0 + Duration::minutes(14)).await;
    assert_eq!(wait, Duration::minutes(1));
}

async fn a_closed_window_starts_afresh<B: Backend>(backend: B) {
    let throttle = backend.throttle();
    let t0 = now();
    fill(&throttle, &[user("alice")], t0).await;
    refused(&throttle, &[user("alice")], t0 + THROTTLE_WINDOW - Duration::SECOND).await;
    let later = t0 + THROTTLE_WINDOW;
    let slots = granted(&throttle, &[user("alice")], later).await;
    assert_eq!(slots.0, [(user("alice"), later)], "the new window opens at the attempt");
    for _ in 1..THROTTLE_LIMIT {
        granted(&throttle, &[user("alice")], later).await;
    }
    refused(&throttle, &[user("alice")], later).await;
}

async fn a_refused_attempt_takes_no_slot_under_its_other_keys<B: Backend>(backend: B) {
    let throttle = backend.throttle();
    let at = now();
    fill(&throttle, &[addr("203.0.113.7")], at).await;
    for _ in 0..10 {
        refused(&throttle, &[user("alice"), addr("203.0.113.7")], at).await;
    }
    // Alice's count was never touched: she still has every slot.
    fill(&throttle, &[user("alice")], at).await;
    refused(&throttle, &[user("alice")], at).await;
}

async fn a_success_clears_the_usernames_count<B: Backend>(backend: B) {
    let throttle = backend.throttle();
    let at = now();
    for _ in 1..THROTTLE_LIMIT {
        granted(&throttle, &[user("alice")], at).await;
    }
    let last = granted(&throttle, &[user("alice")], at).await;
    throttle.succeeded(&last).await.unwrap();
    fill(&throttle, &[user("alice")], at).await;
}

async fn a_success_gives_back_only_its_own_slot_under_the_address<B: Backend>(backend: B) {
    let throttle = backend.throttle();
    let at = now();
    // Four failures from the address, then a success on another account.
    for i in 1..THROTTLE_LIMIT {
        granted(&throttle, &[user(&format!("victim{i}")), addr("203.0.113.7")], at).await;
    }
    let own = granted(&throttle, &[user("mallory"), addr("203.0.113.7")], at).await;
    throttle.succeeded(&own).await.unwrap();
    // The four failures still count: one slot left, not five.
    granted(&throttle, &[addr("203.0.113.7")], at).await;
    refused(&throttle, &[addr("203.0.113.7")], at).await;
}

async fn giving_back_a_slot_of_a_window_that_has_closed_changes_nothing<B: Backend>(backend: B) {
    let throttle = backend.throttle();
    let t0 = now();
    let old = granted(&throttle, &[addr("203.0.113.7")], t0).await;
    let later = t0 + THROTTLE_WINDOW;
    fill(&throttle, &[addr("203.0.113.7")], later).await;
    throttle.succeeded(&old).await.unwrap();
    refused(&throttle, &[addr("203.0.113.7")], later).await;
}

async fn keys_are_counted_apart<B: Backend>(backend: B) {
    let throttle = backend.throttle();
    let at = now();
    fill(&throttle, &[user("alice"), addr("203.0.113.7")], at).await;
    granted(&throttle, &[user("bob"), addr("198.51.100.1")], at).await;
    // IPv6 clients count per /64: a neighbour in the same /64 shares it.
    fill(&throttle, &[addr("2001:db8::1")], at).await;
    refused(&throttle, &[addr("2001:db8::ffff")], at).await;
    granted(&throttle, &[addr("2001:db8:0:1::1")], at).await;
}

async fn purging_deletes_closed_windows_only<B: Backend>(backend: B) {
    let throttle = backend.throttle();
    let t0 = now();
    fill(&throttle, &[user("old")], t0).await;
    fill(&throttle, &[user("recent")], t0 + Duration::minutes(10)).await;
    assert_eq!(throttle.purge(t0 + THROTTLE_WINDOW).await.unwrap(), 1);
    // The recent window still refuses; the old one is gone either way.
    refused(&throttle, &[user("recent")], t0 + THROTTLE_WINDOW).await;
    granted(&throttle, &[user("old")], t0 + THROTTLE_WINDOW).await;
    assert_eq!(throttle.purge(t0 + THROTTLE_WINDOW).await.unwrap(), 0);
}

async fn releasing_an_attempt_gives_back_its_own_slots_and_clears_nothing<B: Backend>(backend: B) {
    let throttle = backend.throttle();
    let at = now();
    let keys = [user("alice"), addr("203.0.113.7")];
    for _ in 1..THROTTLE_LIMIT {
        granted(&throttle, &keys, at).await;
    }
    let unchecked = granted(&throttle, &keys, at).await;
    throttle.release(&unchecked).await.unwrap();
    // The four earlier attempts still count under both keys: one slot left.
    granted(&throttle, &keys, at).await;
    refused(&throttle, &[user("alice")], at).await;
    refused(&throttle, &[addr("203.0.113.7")], at).await;
}
