//! The [`ServiceAccountStore`] contract.
//!
//! Audited writes are checked in the backend's audit log, and a deletion's
//! revocation in the backend's session store's feed, which the service
//! accounts share with the other stores.

use gatehouse_application::ports::{AuditLog, ServiceAccountStore, SessionStore};
use gatehouse_domain::{
    AuditAction, AuditEvent, Digest, Revocation, Scope, Scopes, ServiceAccount, ServiceAccountId, ServiceName,
    SessionId, UserId, service::client_id_from_random,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::now;
use crate::support::db::{Backend, contract_tests};

contract_tests! {
    an_inserted_account_is_found_by_id_and_by_client_id_with_every_field_as_stored,
    a_second_account_with_a_taken_id_or_client_id_is_refused_and_writes_nothing,
    accounts_are_listed_in_id_order,
    setting_a_secret_replaces_the_digest_of_that_account_only,
    setting_the_current_secret_again_still_reports_the_account,
    setting_the_secret_of_an_unknown_account_returns_false_and_writes_nothing,
    deleting_an_account_removes_it_records_its_revocation_and_appends_its_event,
    deleting_an_unknown_account_returns_false_and_writes_nothing,
    deleting_an_account_twice_returns_false_the_second_time_and_writes_nothing_more,
}

/// A new random digest; it holds a 0x00 and a 0xff byte, so a store that
/// mangles bytes cannot pass.
fn digest() -> Digest {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[0] = 0x00;
    bytes[31] = 0xff;
    Digest(bytes)
}

/// A new client id, as the application makes them.
fn client_id() -> String {
    let mut random = [0u8; 12];
    random.copy_from_slice(&Uuid::new_v4().as_bytes()[..12]);
    client_id_from_random(random)
}

/// A new account named `name` with `scopes`, id `id`, created now.
fn account_with_id(id: Uuid, name: &str, scopes: &[Scope]) -> ServiceAccount {
    ServiceAccount {
        id: ServiceAccountId::from_uuid(id),
        name: ServiceName::parse(name).expect("a valid service name"),
        client_id: client_id(),
        secret_hash: digest(),
        scopes: Scopes::new(scopes.iter().copied()),
        created_at: now(),
    }
}

/// A new account named `name` with `scopes`, created now.
fn account(name: &str, scopes: &[Scope]) -> ServiceAccount {
    account_with_id(Uuid::now_v7(), name, scopes)
}

/// An unknown account id.
fn unknown() -> ServiceAccountId {
    ServiceAccountId::from_uuid(Uuid::now_v7())
}

/// A successful event about `account` by an admin, with a detail that
/// tells it apart.
fn event(action: AuditAction, account: ServiceAccountId) -> AuditEvent {
    AuditEvent::success(now(), action)
        .by(UserId::from_uuid(Uuid::now_v7()))
        .about(UserId::from_uuid(account.as_uuid()))
        .detail(format!("n={}", Uuid::new_v4().simple()))
}

/// The revocation of `account`'s tokens, revoked now: for a service account
/// the session and user ids are both the account's.
fn revocation(account: ServiceAccountId) -> Revocation {
    let revoked_at = now();
    Revocation {
        session_id: SessionId::from_uuid(account.as_uuid()),
        user_id: UserId::from_uuid(account.as_uuid()),
        revoked_at,
        relevant_until: revoked_at + Duration::minutes(15),
    }
}

/// The events in the backend's audit log, newest first.
async fn events<B: Backend>(backend: &B) -> Vec<AuditEvent> {
    backend.audit().page(None, 10, None).await.unwrap().into_iter().map(|recorded| recorded.event).collect()
}

/// The revocations in the backend's session feed recorded since `since`
/// and relevant now.
async fn feed<B: Backend>(backend: &B, since: OffsetDateTime) -> Vec<Revocation> {
    backend.sessions().revocations_since(since, now()).await.unwrap()
}

/// Inserts `account` with `audit`, expecting success.
async fn inserted<S: ServiceAccountStore>(
    store: &S,
    account: ServiceAccount,
    audit: Option<&AuditEvent>,
) -> ServiceAccount {
    store.insert_audited(&account, audit).await.unwrap();
    account
}

/// Asserts that `found` is `expected`, field by field: `Debug` redacts the
/// digest, so a plain `assert_eq!` would not show that it differs.
fn assert_same_account(found: Option<ServiceAccount>, expected: &ServiceAccount) {
    let found = found.unwrap_or_else(|| panic!("service account {} not found", expected.id));
    assert_eq!(found.secret_hash.to_hex(), expected.secret_hash.to_hex(), "secret digest of {}", expected.id);
    assert_eq!(&found, expected);
}

/// Asserts that `store` holds `expected`, found both by id and client id.
async fn assert_stored<S: ServiceAccountStore>(store: &S, expected: &ServiceAccount) {
    assert_same_account(store.find(expected.id).await.unwrap(), expected);
    assert_same_account(store.find_by_client_id(&expected.client_id).await.unwrap(), expected);
}

/// Asserts that `store` holds no account with `account`'s id or client id.
async fn assert_gone<S: ServiceAccountStore>(store: &S, account: &ServiceAccount) {
    assert_eq!(store.find(account.id).await.unwrap(), None, "found by id");
    assert_eq!(store.find_by_client_id(&account.client_id).await.unwrap(), None, "found by client id");
}

async fn an_inserted_account_is_found_by_id_and_by_client_id_with_every_field_as_stored<B: Backend>(backend: B) {
    let store = backend.service_accounts();
    let t = now();
    let billing = ServiceAccount { created_at: t - Duration::days(3), ..account("billing-sync", &[Scope::UsersRead]) };
    let billing_created = event(AuditAction::ServiceAccountCreate, billing.id);
    let auditor = ServiceAccount {
        created_at: t - Duration::microseconds(1),
        ..account("Audit.Export_2", &[Scope::Introspect, Scope::AuditRead, Scope::UsersWrite, Scope::UsersRead])
    };
    let auditor_created = event(AuditAction::ServiceAccountCreate, auditor.id);
    let billing = inserted(&store, billing, Some(&billing_created)).await;
    let auditor = inserted(&store, auditor, Some(&auditor_created)).await;

    assert_stored(&store, &billing).await;
    assert_stored(&store, &auditor).await;
    assert_eq!(store.find(unknown()).await.unwrap(), None, "unknown id");
    assert_eq!(store.find_by_client_id(&client_id()).await.unwrap(), None, "unknown client id");
    assert_eq!(store.find_by_client_id("").await.unwrap(), None, "empty client id");
    assert_eq!(events(&backend).await, [auditor_created, billing_created]);
}

async fn a_second_account_with_a_taken_id_or_client_id_is_refused_and_writes_nothing<B: Backend>(backend: B) {
    let store = backend.service_accounts();
    let first = account("first", &[Scope::UsersRead]);
    let created = event(AuditAction::ServiceAccountCreate, first.id);
    let first = inserted(&store, first, Some(&created)).await;

    let same_id = ServiceAccount { id: first.id, ..account("same-id", &[Scope::AuditRead]) };
    let again = store.insert_audited(&same_id, Some(&event(AuditAction::ServiceAccountCreate, same_id.id))).await;
    assert!(again.is_err(), "a taken id: {again:?}");
    let same_client =
        ServiceAccount { client_id: first.client_id.clone(), ..account("same-client", &[Scope::AuditRead]) };
    let again =
        store.insert_audited(&same_client, Some(&event(AuditAction::ServiceAccountCreate, same_client.id))).await;
    assert!(again.is_err(), "a taken client id: {again:?}");

    assert_stored(&store, &first).await;
    assert_eq!(store.find(same_client.id).await.unwrap(), None);
    assert_eq!(store.list().await.unwrap(), [first]);
    assert_eq!(events(&backend).await, [created], "no audit event for a refused insert");
}

async fn accounts_are_listed_in_id_order<B: Backend>(backend: B) {
    let store = backend.service_accounts();
    assert_eq!(store.list().await.unwrap(), [], "an empty store");
    let mut ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    ids.sort();
    let accounts: Vec<ServiceAccount> =
        ids.iter().enumerate().map(|(i, id)| account_with_id(*id, &format!("svc-{i}"), &[Scope::Introspect])).collect();
    for i in [3, 0, 4, 1, 2] {
        store.insert_audited(&accounts[i], None).await.unwrap();
    }

    let listed = store.list().await.unwrap();
    let listed_ids: Vec<ServiceAccountId> = listed.iter().map(|a| a.id).collect();
    let expected_ids: Vec<ServiceAccountId> = accounts.iter().map(|a| a.id).collect();
    assert_eq!(listed_ids, expected_ids, "id order");
    for (found, expected) in listed.into_iter().zip(&accounts) {
        assert_same_account(Some(found), expected);
    }
}

async fn setting_a_secret_replaces_the_digest_of_that_account_only<B: Backend>(backend: B) {
    let store = backend.service_accounts();
    let rotated = inserted(&store, account("rotated", &[Scope::UsersRead]), None).await;
    let other = inserted(&store, account("other", &[Scope::UsersRead]), None).await;
    let new_secret = digest();
    let rotate = event(AuditAction::ServiceAccountSecretRotate, rotated.id);

    assert!(store.set_secret_audited(rotated.id, &new_secret, now(), Some(&rotate)).await.unwrap());

    let rotated = ServiceAccount { secret_hash: new_secret, ..rotated };
    assert_stored(&store, &rotated).await;
    assert_stored(&store, &other).await;
    let mut expected = [&rotated, &other];
    expected.sort_by_key(|a| a.id);
    let listed = store.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    for (found, expected) in listed.into_iter().zip(expected) {
        assert_same_account(Some(found), expected);
    }
    assert_eq!(events(&backend).await, [rotate]);
}

async fn setting_the_current_secret_again_still_reports_the_account<B: Backend>(backend: B) {
    let store = backend.service_accounts();
    let account = inserted(&store, account("unchanged", &[Scope::AuditRead]), None).await;
    let rotate = event(AuditAction::ServiceAccountSecretRotate, account.id);

    // Same digest at the creation time: no column changes, yet it exists.
    let again = store.set_secret_audited(account.id, &account.secret_hash, account.created_at, Some(&rotate)).await;
    assert!(again.unwrap(), "the account exists");

    assert_stored(&store, &account).await;
    assert_eq!(events(&backend).await, [rotate]);
}

async fn setting_the_secret_of_an_unknown_account_returns_false_and_writes_nothing<B: Backend>(backend: B) {
    let store = backend.service_accounts();
    let kept = inserted(&store, account("kept", &[Scope::UsersRead]), None).await;
    let id = unknown();

    let rotate = event(AuditAction::ServiceAccountSecretRotate, id);
    let set = store.set_secret_audited(id, &digest(), now(), Some(&rotate)).await;
    assert!(!set.unwrap(), "no such account");

    assert_eq!(store.find(id).await.unwrap(), None, "nothing is created");
    assert_eq!(store.list().await.unwrap(), std::slice::from_ref(&kept));
    assert_stored(&store, &kept).await;
    assert_eq!(events(&backend).await, [], "no audit event");
}

async fn deleting_an_account_removes_it_records_its_revocation_and_appends_its_event<B: Backend>(backend: B) {
    let store = backend.service_accounts();
    let deleted = inserted(&store, account("deleted", &[Scope::UsersWrite]), None).await;
    let kept = inserted(&store, account("kept", &[Scope::UsersRead]), None).await;
    let revoked = revocation(deleted.id);
    let delete = event(AuditAction::ServiceAccountDelete, deleted.id);

    assert!(store.delete_audited(deleted.id, &revoked, Some(&delete)).await.unwrap());

    assert_gone(&store, &deleted).await;
    assert_stored(&store, &kept).await;
    assert_eq!(store.list().await.unwrap(), [kept]);
    assert_eq!(feed(&backend, revoked.revoked_at - Duration::seconds(1)).await, [revoked]);
    assert_eq!(events(&backend).await, [delete]);
}

async fn deleting_an_unknown_account_returns_false_and_writes_nothing<B: Backend>(backend: B) {
    let store = backend.service_accounts();
    let kept = inserted(&store, account("kept", &[Scope::UsersRead]), None).await;
    let id = unknown();
    let revoked = revocation(id);

    let deleted = store.delete_audited(id, &revoked, Some(&event(AuditAction::ServiceAccountDelete, id))).await;
    assert!(!deleted.unwrap(), "no such account");

    assert_stored(&store, &kept).await;
    assert_eq!(store.list().await.unwrap(), [kept]);
    assert_eq!(feed(&backend, revoked.revoked_at - Duration::seconds(1)).await, [], "no revocation");
    assert_eq!(events(&backend).await, [], "no audit event");
}

async fn deleting_an_account_twice_returns_false_the_second_time_and_writes_nothing_more<B: Backend>(backend: B) {
    let store = backend.service_accounts();
    let deleted = inserted(&store, account("deleted", &[Scope::Introspect]), None).await;
    let revoked = revocation(deleted.id);
    let delete = event(AuditAction::ServiceAccountDelete, deleted.id);
    assert!(store.delete_audited(deleted.id, &revoked, Some(&delete)).await.unwrap());

    let later = Revocation {
        revoked_at: revoked.revoked_at + Duration::seconds(1),
        relevant_until: revoked.relevant_until + Duration::seconds(1),
        ..revoked
    };
    let delete_again = event(AuditAction::ServiceAccountDelete, deleted.id);
    let again = store.delete_audited(deleted.id, &later, Some(&delete_again)).await;
    assert!(!again.unwrap(), "already deleted");

    assert_gone(&store, &deleted).await;
    assert_eq!(feed(&backend, revoked.revoked_at - Duration::seconds(1)).await, [revoked], "the first revocation only");
    assert_eq!(events(&backend).await, [delete], "the first event only");
}
