//! The [`MfaStore`] contract.
//!
//! Factors, recovery codes, pending secrets and challenges belong to a
//! stored user (the SQL stores enforce it with foreign keys), so every rule
//! stores its users first. Audited writes are checked in the backend's
//! audit log, which they share.

use std::sync::Arc;

use gatehouse_application::ports::{AddFactorError, AuditLog, MfaStore, UserStore};
use gatehouse_domain::{
    AuditAction, AuditEvent, Digest, Factor, FactorId, FactorKind, MfaChallenge, PendingTotp, Sealed, User,
    mfa::{MFA_MAX_FAILURES, TOTP_SLOT, totp_step},
};
use time::{Duration, OffsetDateTime};
use tokio::{sync::Barrier, task::JoinSet};
use uuid::Uuid;

use super::{now, user};
use crate::support::db::{Backend, contract_tests};

contract_tests! {
    an_added_factor_is_listed_with_every_field_as_stored_and_only_for_its_user,
    factors_are_listed_oldest_first,
    a_second_factor_in_a_taken_slot_is_refused_and_writes_nothing,
    of_two_concurrent_adds_in_one_slot_exactly_one_succeeds,
    adding_a_totp_factor_deletes_the_pending_secret_and_replaces_the_recovery_codes_when_given,

    putting_a_pending_totp_secret_replaces_the_earlier_one,

    of_ten_concurrent_acceptances_of_one_step_exactly_one_succeeds,
    a_step_is_accepted_only_after_every_step_accepted_before,

    removing_a_factor_reports_whether_it_existed,
    removing_the_last_factor_deletes_the_recovery_codes_and_removing_one_of_two_keeps_them,

    a_recovery_code_works_once_and_an_unknown_one_not_at_all,
    of_two_concurrent_uses_of_one_recovery_code_exactly_one_succeeds,
    replacing_recovery_codes_needs_a_factor_and_then_replaces_them_all,

    resetting_deletes_the_users_factors_codes_pending_secret_and_challenges_only,

    an_inserted_challenge_is_found_with_every_field_intact,
    a_failure_counts_against_its_challenge_only,
    concurrent_failures_all_count,
    a_challenge_is_spent_once,
    of_ten_concurrent_spends_of_one_challenge_exactly_one_succeeds,
    an_expired_challenge_is_not_spent,
    a_challenge_with_the_maximum_of_failures_is_not_spent,

    purging_deletes_expired_challenges_and_old_pending_secrets_and_counts_them,
}

/// Stores a new user named `name`.
pub(super) async fn stored_user<B: Backend>(backend: &B, name: &str) -> User {
    let user = user(name);
    backend.users().insert(&user).await.unwrap();
    user
}

/// A new random digest.
fn digest() -> Digest {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    Digest(bytes)
}

/// `n` new random digests.
fn digests(n: usize) -> Vec<Digest> {
    (0..n).map(|_| digest()).collect()
}

/// New sealed bytes under a new key id; the bytes hold a NUL and 0xff, so
/// a store that treats them as text cannot pass.
fn sealed() -> Sealed {
    let mut bytes = vec![0x00, 0xff, 0x7f, 0x80];
    bytes.extend_from_slice(Uuid::new_v4().as_bytes());
    Sealed { key_id: format!("key-{}", &Uuid::new_v4().simple().to_string()[..8]), bytes }
}

/// A new factor of `user` in `slot`, created now, never used, unnamed.
fn factor(user: &User, kind: FactorKind, slot: &str) -> Factor {
    Factor {
        id: FactorId::from_uuid(Uuid::now_v7()),
        user_id: user.id,
        kind,
        slot: slot.into(),
        name: None,
        secret: sealed(),
        last_step: None,
        passkey: None,
        created_at: now(),
        last_used_at: None,
    }
}

/// A new TOTP factor of `user`.
pub(super) fn totp(user: &User) -> Factor {
    factor(user, FactorKind::Totp, TOTP_SLOT)
}

/// A new passkey of `user`, in a slot of its own.
pub(super) fn passkey(user: &User) -> Factor {
    factor(user, FactorKind::Passkey, &format!("credential-{}", Uuid::new_v4().simple()))
}

/// A new pending TOTP secret of `user`, created at `at`.
fn pending(user: &User, at: OffsetDateTime) -> PendingTotp {
    PendingTotp { user_id: user.id, secret: sealed(), created_at: at }
}

/// A new challenge of `user`, issued now.
pub(super) fn challenge(user: &User) -> MfaChallenge {
    MfaChallenge::issue(digest(), user.id, now())
}

/// A successful event about `user`, with a detail that tells it apart.
fn event(action: AuditAction, user: &User) -> AuditEvent {
    AuditEvent::success(now(), action).by(user.id).about(user.id).detail(format!("n={}", Uuid::new_v4().simple()))
}

/// The events in the backend's audit log, newest first.
async fn events<B: Backend>(backend: &B) -> Vec<AuditEvent> {
    backend.audit().page(None, 10, None).await.unwrap().into_iter().map(|recorded| recorded.event).collect()
}

/// Adds `factor` without recovery codes or audit event.
pub(super) async fn added<M: MfaStore>(mfa: &M, factor: Factor) -> Factor {
    mfa.add_factor_audited(&factor, None, None).await.unwrap();
    factor
}

/// Adds `factor` with `codes` as the user's recovery codes.
async fn added_with_codes<M: MfaStore>(mfa: &M, factor: Factor, codes: &[Digest]) -> Factor {
    mfa.add_factor_audited(&factor, Some(codes), None).await.unwrap();
    factor
}

/// Runs `n` calls of `call` at once (released together by a barrier);
/// returns how many returned `true`.
pub(super) async fn at_once<M, F, Fut>(mfa: &M, n: usize, call: F) -> usize
where
    M: MfaStore + Clone,
    F: Fn(M) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let (barrier, call) = (Arc::clone(&barrier), call(mfa.clone()));
        tasks.spawn(async move {
            barrier.wait().await;
            call.await
        });
    }
    tasks.join_all().await.into_iter().filter(|succeeded| *succeeded).count()
}

async fn an_added_factor_is_listed_with_every_field_as_stored_and_only_for_its_user<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob, carol) = (
        stored_user(&backend, "alice").await,
        stored_user(&backend, "bob").await,
        stored_user(&backend, "carol").await,
    );
    let t = now();
    let used = Factor {
        name: Some("Alice's phone".into()),
        last_step: Some(totp_step(t) + 1_000_000_000_000),
        created_at: t - Duration::days(3),
        last_used_at: Some(t - Duration::microseconds(1)),
        ..totp(&alice)
    };
    let fresh = Factor { created_at: t, ..passkey(&alice) };
    let bobs = added(&mfa, Factor { name: Some("Bob's key".into()), ..passkey(&bob) }).await;
    let used = added(&mfa, used).await;
    let fresh = added(&mfa, fresh).await;

    assert_eq!(mfa.factors(alice.id).await.unwrap(), [used, fresh]);
    assert_eq!(mfa.factors(bob.id).await.unwrap(), [bobs]);
    assert_eq!(mfa.factors(carol.id).await.unwrap(), []);
}

async fn factors_are_listed_oldest_first<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let t = now();
    let newest = added(&mfa, Factor { created_at: t, ..passkey(&alice) }).await;
    let oldest = added(&mfa, Factor { created_at: t - Duration::hours(2), ..totp(&alice) }).await;
    let middle = added(&mfa, Factor { created_at: t - Duration::hours(1), ..passkey(&alice) }).await;

    assert_eq!(mfa.factors(alice.id).await.unwrap(), [oldest, middle, newest]);
}

async fn a_second_factor_in_a_taken_slot_is_refused_and_writes_nothing<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob) = (stored_user(&backend, "alice").await, stored_user(&backend, "bob").await);
    let codes = digests(2);
    let first = totp(&alice);
    let enabled = event(AuditAction::TotpEnabled, &alice);
    mfa.add_factor_audited(&first, Some(&codes), Some(&enabled)).await.unwrap();
    let key = added(&mfa, passkey(&alice)).await;
    let waiting = pending(&alice, now());
    mfa.put_pending_totp(&waiting).await.unwrap();

    let new_codes = digests(3);
    let second = totp(&alice);
    let again = mfa.add_factor_audited(&second, Some(&new_codes), Some(&event(AuditAction::TotpEnabled, &alice))).await;
    assert_eq!(again, Err(AddFactorError::AlreadyRegistered));
    let twice = Factor { slot: key.slot.clone(), ..passkey(&alice) };
    let again = mfa.add_factor_audited(&twice, Some(&new_codes), Some(&event(AuditAction::PasskeyAdded, &alice))).await;
    assert_eq!(again, Err(AddFactorError::AlreadyRegistered));

    assert_eq!(mfa.factors(alice.id).await.unwrap(), [first, key.clone()]);
    assert_eq!(mfa.pending_totp(alice.id).await.unwrap(), Some(waiting), "the pending secret is kept");
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 2);
    assert!(!mfa.use_recovery_code_audited(alice.id, &new_codes[0], None).await.unwrap(), "no new code was stored");
    assert!(mfa.use_recovery_code_audited(alice.id, &codes[0], None).await.unwrap(), "the old codes are kept");
    assert_eq!(events(&backend).await, [enabled], "no audit event for a refused add");

    // Slots are per user: Bob may take the ones Alice holds.
    let bobs = [added(&mfa, totp(&bob)).await, added(&mfa, Factor { slot: key.slot, ..passkey(&bob) }).await];
    assert_eq!(mfa.factors(bob.id).await.unwrap(), bobs);
}

async fn of_two_concurrent_adds_in_one_slot_exactly_one_succeeds<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let candidates = [totp(&alice), totp(&alice)];
    let barrier = Arc::new(Barrier::new(candidates.len()));
    let mut tasks = JoinSet::new();
    for factor in candidates.clone() {
        let (mfa, barrier, event) = (mfa.clone(), Arc::clone(&barrier), event(AuditAction::TotpEnabled, &alice));
        tasks.spawn(async move {
            barrier.wait().await;
            let result = mfa.add_factor_audited(&factor, Some(&digests(10)), Some(&event)).await;
            (factor, event, result)
        });
    }
    let results = tasks.join_all().await;

    let winners: Vec<_> = results.iter().filter(|(_, _, result)| result.is_ok()).collect();
    assert_eq!(winners.len(), 1, "{:?}", results.iter().map(|(_, _, result)| result).collect::<Vec<_>>());
    for (_, _, result) in &results {
        assert!(matches!(result, Ok(()) | Err(AddFactorError::AlreadyRegistered)), "{result:?}");
    }
    let (factor, event, _) = winners[0];
    assert_eq!(mfa.factors(alice.id).await.unwrap(), std::slice::from_ref(factor));
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 10, "only the winner's codes");
    assert_eq!(events(&backend).await, std::slice::from_ref(event), "only the winner's event");
}

async fn adding_a_totp_factor_deletes_the_pending_secret_and_replaces_the_recovery_codes_when_given<B: Backend>(
    backend: B,
) {
    let mfa = backend.mfa();
    let (alice, bob) = (stored_user(&backend, "alice").await, stored_user(&backend, "bob").await);
    let bobs_pending = pending(&bob, now());
    mfa.put_pending_totp(&bobs_pending).await.unwrap();
    mfa.put_pending_totp(&pending(&alice, now())).await.unwrap();

    // A passkey leaves the pending TOTP secret alone.
    let first_codes = digests(3);
    let key_added = event(AuditAction::PasskeyAdded, &alice);
    mfa.add_factor_audited(&passkey(&alice), Some(&first_codes), Some(&key_added)).await.unwrap();
    assert!(mfa.pending_totp(alice.id).await.unwrap().is_some(), "a passkey does not confirm the TOTP secret");
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 3);
    assert_eq!(events(&backend).await, std::slice::from_ref(&key_added));

    let codes = digests(2);
    let enabled = event(AuditAction::TotpEnabled, &alice);
    mfa.add_factor_audited(&totp(&alice), Some(&codes), Some(&enabled)).await.unwrap();
    assert_eq!(mfa.pending_totp(alice.id).await.unwrap(), None);
    assert_eq!(mfa.pending_totp(bob.id).await.unwrap(), Some(bobs_pending), "another user's secret is kept");
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 2);
    assert!(!mfa.use_recovery_code_audited(alice.id, &first_codes[0], None).await.unwrap(), "the old codes are gone");
    assert_eq!(events(&backend).await, [enabled.clone(), key_added.clone()]);

    // Without codes, the user's codes stay as they are.
    let second_key = event(AuditAction::PasskeyAdded, &alice);
    mfa.add_factor_audited(&passkey(&alice), None, Some(&second_key)).await.unwrap();
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 2);
    assert!(mfa.use_recovery_code_audited(alice.id, &codes[0], None).await.unwrap());
    assert_eq!(events(&backend).await, [second_key, enabled, key_added]);
}

async fn putting_a_pending_totp_secret_replaces_the_earlier_one<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob) = (stored_user(&backend, "alice").await, stored_user(&backend, "bob").await);
    assert_eq!(mfa.pending_totp(alice.id).await.unwrap(), None);

    let t = now();
    let bobs = pending(&bob, t);
    mfa.put_pending_totp(&bobs).await.unwrap();
    let earlier = pending(&alice, t - Duration::minutes(5));
    mfa.put_pending_totp(&earlier).await.unwrap();
    assert_eq!(mfa.pending_totp(alice.id).await.unwrap(), Some(earlier));

    let later = pending(&alice, t);
    mfa.put_pending_totp(&later).await.unwrap();
    assert_eq!(mfa.pending_totp(alice.id).await.unwrap(), Some(later));
    assert_eq!(mfa.pending_totp(bob.id).await.unwrap(), Some(bobs));
}

async fn of_ten_concurrent_acceptances_of_one_step_exactly_one_succeeds<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let factor = added(&mfa, totp(&alice)).await;
    let at = now();
    let step = totp_step(at);

    let accepted = at_once(&mfa, 10, |mfa| {
        let id = factor.id;
        async move { mfa.accept_totp_step(id, step, at).await.unwrap() }
    })
    .await;
    assert_eq!(accepted, 1);
    let stored = mfa.factors(alice.id).await.unwrap();
    assert_eq!(stored, [Factor { last_step: Some(step), last_used_at: Some(at), ..factor.clone() }]);

    assert!(!mfa.accept_totp_step(factor.id, step, at).await.unwrap(), "a replay");
    assert!(!mfa.accept_totp_step(factor.id, step - 1, at).await.unwrap(), "an earlier step");
    let later = at + Duration::seconds(30);
    assert!(mfa.accept_totp_step(factor.id, step + 1, later).await.unwrap(), "the next step");
    let stored = mfa.factors(alice.id).await.unwrap();
    assert_eq!(stored, [Factor { last_step: Some(step + 1), last_used_at: Some(later), ..factor }]);
}

async fn a_step_is_accepted_only_after_every_step_accepted_before<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob) = (stored_user(&backend, "alice").await, stored_user(&backend, "bob").await);
    let t = now();
    let alices = added(&mfa, totp(&alice)).await;
    let bobs = added(&mfa, totp(&bob)).await;

    assert!(mfa.accept_totp_step(alices.id, 100, t).await.unwrap());
    assert!(!mfa.accept_totp_step(alices.id, 99, t + Duration::SECOND).await.unwrap());
    assert!(!mfa.accept_totp_step(alices.id, 100, t + Duration::SECOND).await.unwrap());
    assert!(mfa.accept_totp_step(alices.id, 102, t + Duration::minutes(1)).await.unwrap(), "steps may be skipped");
    assert!(!mfa.accept_totp_step(alices.id, 101, t + Duration::minutes(2)).await.unwrap());
    // Factors are counted apart.
    assert!(mfa.accept_totp_step(bobs.id, 100, t).await.unwrap());

    assert_eq!(
        mfa.factors(alice.id).await.unwrap(),
        [Factor { last_step: Some(102), last_used_at: Some(t + Duration::minutes(1)), ..alices }],
        "a refused step changes nothing"
    );
    assert_eq!(mfa.factors(bob.id).await.unwrap(), [Factor { last_step: Some(100), last_used_at: Some(t), ..bobs }]);
}

async fn removing_a_factor_reports_whether_it_existed<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob) = (stored_user(&backend, "alice").await, stored_user(&backend, "bob").await);
    let factor = added(&mfa, totp(&alice)).await;
    let bobs = added(&mfa, totp(&bob)).await;

    let unknown = FactorId::from_uuid(Uuid::now_v7());
    assert!(!mfa.remove_factor_audited(alice.id, unknown, None).await.unwrap());
    assert!(!mfa.remove_factor_audited(bob.id, factor.id, None).await.unwrap(), "another user's factor");
    assert_eq!(mfa.factors(alice.id).await.unwrap(), std::slice::from_ref(&factor));

    let removed = event(AuditAction::TotpDisabled, &alice);
    assert!(mfa.remove_factor_audited(alice.id, factor.id, Some(&removed)).await.unwrap());
    assert_eq!(mfa.factors(alice.id).await.unwrap(), []);
    assert_eq!(events(&backend).await.first(), Some(&removed));
    assert!(!mfa.remove_factor_audited(alice.id, factor.id, None).await.unwrap(), "already removed");
    assert_eq!(mfa.factors(bob.id).await.unwrap(), [bobs]);
}

async fn removing_the_last_factor_deletes_the_recovery_codes_and_removing_one_of_two_keeps_them<B: Backend>(
    backend: B,
) {
    let mfa = backend.mfa();
    let (alice, bob) = (stored_user(&backend, "alice").await, stored_user(&backend, "bob").await);
    let codes = digests(4);
    let one = added_with_codes(&mfa, totp(&alice), &codes).await;
    let other = added(&mfa, passkey(&alice)).await;
    let bobs = added_with_codes(&mfa, totp(&bob), &digests(3)).await;

    let first = event(AuditAction::TotpDisabled, &alice);
    assert!(mfa.remove_factor_audited(alice.id, one.id, Some(&first)).await.unwrap());
    assert_eq!(mfa.factors(alice.id).await.unwrap(), std::slice::from_ref(&other));
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 4, "MFA is still on");
    assert_eq!(events(&backend).await, std::slice::from_ref(&first));

    let last = event(AuditAction::PasskeyRemoved, &alice);
    assert!(mfa.remove_factor_audited(alice.id, other.id, Some(&last)).await.unwrap());
    assert_eq!(mfa.factors(alice.id).await.unwrap(), []);
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 0, "MFA is off");
    assert!(!mfa.use_recovery_code_audited(alice.id, &codes[0], None).await.unwrap());
    assert_eq!(events(&backend).await, [last, first]);

    assert_eq!(mfa.factors(bob.id).await.unwrap(), [bobs]);
    assert_eq!(mfa.recovery_codes_left(bob.id).await.unwrap(), 3, "another user's codes are kept");
}

async fn a_recovery_code_works_once_and_an_unknown_one_not_at_all<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob, carol) = (
        stored_user(&backend, "alice").await,
        stored_user(&backend, "bob").await,
        stored_user(&backend, "carol").await,
    );
    let codes = digests(3);
    added_with_codes(&mfa, totp(&alice), &codes).await;
    let bobs = digests(1);
    added_with_codes(&mfa, totp(&bob), &bobs).await;
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 3);
    assert_eq!(mfa.recovery_codes_left(carol.id).await.unwrap(), 0, "no codes without MFA");

    let used = event(AuditAction::RecoveryCodeUsed, &alice);
    assert!(mfa.use_recovery_code_audited(alice.id, &codes[1], Some(&used)).await.unwrap());
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 2);
    assert_eq!(events(&backend).await, [used]);

    assert!(!mfa.use_recovery_code_audited(alice.id, &codes[1], None).await.unwrap(), "used up");
    assert!(!mfa.use_recovery_code_audited(alice.id, &digest(), None).await.unwrap(), "unknown");
    assert!(!mfa.use_recovery_code_audited(alice.id, &bobs[0], None).await.unwrap(), "another user's code");
    assert!(!mfa.use_recovery_code_audited(carol.id, &codes[0], None).await.unwrap(), "a user without codes");
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 2);
    assert_eq!(mfa.recovery_codes_left(bob.id).await.unwrap(), 1);

    assert!(mfa.use_recovery_code_audited(alice.id, &codes[0], None).await.unwrap());
    assert!(mfa.use_recovery_code_audited(alice.id, &codes[2], None).await.unwrap());
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 0);
}

async fn of_two_concurrent_uses_of_one_recovery_code_exactly_one_succeeds<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let codes = digests(3);
    added_with_codes(&mfa, totp(&alice), &codes).await;

    let used = at_once(&mfa, 2, |mfa| {
        let (user, code) = (alice.id, codes[0]);
        async move { mfa.use_recovery_code_audited(user, &code, None).await.unwrap() }
    })
    .await;
    assert_eq!(used, 1);
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 2);
}

async fn replacing_recovery_codes_needs_a_factor_and_then_replaces_them_all<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let refused = event(AuditAction::RecoveryCodesRegenerated, &alice);
    assert!(!mfa.replace_recovery_codes_audited(alice.id, &digests(10), Some(&refused)).await.unwrap());
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 0);
    assert_eq!(events(&backend).await, [], "nothing is written without a factor");

    let old = digests(2);
    added_with_codes(&mfa, totp(&alice), &old).await;
    let new = digests(3);
    let regenerated = event(AuditAction::RecoveryCodesRegenerated, &alice);
    assert!(mfa.replace_recovery_codes_audited(alice.id, &new, Some(&regenerated)).await.unwrap());
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 3);
    assert_eq!(events(&backend).await, [regenerated]);
    for code in &old {
        assert!(!mfa.use_recovery_code_audited(alice.id, code, None).await.unwrap(), "an old code still works");
    }
    for code in &new {
        assert!(mfa.use_recovery_code_audited(alice.id, code, None).await.unwrap(), "a new code does not work");
    }
}

async fn resetting_deletes_the_users_factors_codes_pending_secret_and_challenges_only<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob) = (stored_user(&backend, "alice").await, stored_user(&backend, "bob").await);
    let codes = digests(3);
    let mut kept = Vec::new();
    for user in [&alice, &bob] {
        added_with_codes(&mfa, totp(user), &codes).await;
        added(&mfa, passkey(user)).await;
        let waiting = pending(user, now());
        mfa.put_pending_totp(&waiting).await.unwrap();
        let challenge = challenge(user);
        mfa.insert_challenge(&challenge).await.unwrap();
        kept.push((mfa.factors(user.id).await.unwrap(), waiting, challenge));
    }
    let alices_challenge = kept[0].2.clone();

    let reset = event(AuditAction::MfaReset, &alice);
    mfa.reset_audited(alice.id, Some(&reset)).await.unwrap();

    assert_eq!(mfa.factors(alice.id).await.unwrap(), []);
    assert_eq!(mfa.recovery_codes_left(alice.id).await.unwrap(), 0);
    assert_eq!(mfa.pending_totp(alice.id).await.unwrap(), None);
    assert_eq!(mfa.challenge(&alices_challenge.token_hash).await.unwrap(), None);
    assert_eq!(events(&backend).await, [reset]);

    let (factors, waiting, challenge) = kept.pop().unwrap();
    assert_eq!(factors.len(), 2);
    assert_eq!(mfa.factors(bob.id).await.unwrap(), factors);
    assert_eq!(mfa.recovery_codes_left(bob.id).await.unwrap(), 3);
    assert_eq!(mfa.pending_totp(bob.id).await.unwrap(), Some(waiting));
    assert_eq!(mfa.challenge(&challenge.token_hash).await.unwrap(), Some(challenge));
}

async fn an_inserted_challenge_is_found_with_every_field_intact<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob) = (stored_user(&backend, "alice").await, stored_user(&backend, "bob").await);
    let t = now();
    let alices = MfaChallenge {
        token_hash: digest(),
        user_id: alice.id,
        created_at: t - Duration::seconds(7),
        expires_at: t + Duration::microseconds(123_457),
        failures: 3,
    };
    let bobs = challenge(&bob);
    mfa.insert_challenge(&alices).await.unwrap();
    mfa.insert_challenge(&bobs).await.unwrap();

    assert_eq!(mfa.challenge(&alices.token_hash).await.unwrap(), Some(alices));
    assert_eq!(mfa.challenge(&bobs.token_hash).await.unwrap(), Some(bobs));
    assert_eq!(mfa.challenge(&digest()).await.unwrap(), None);
}

async fn a_failure_counts_against_its_challenge_only<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let (one, other) = (challenge(&alice), challenge(&alice));
    mfa.insert_challenge(&one).await.unwrap();
    mfa.insert_challenge(&other).await.unwrap();

    mfa.challenge_failed(&one.token_hash).await.unwrap();
    mfa.challenge_failed(&one.token_hash).await.unwrap();
    mfa.challenge_failed(&digest()).await.unwrap();

    assert_eq!(mfa.challenge(&one.token_hash).await.unwrap(), Some(MfaChallenge { failures: 2, ..one }));
    assert_eq!(mfa.challenge(&other.token_hash).await.unwrap(), Some(other));
}

async fn concurrent_failures_all_count<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let challenge = challenge(&alice);
    mfa.insert_challenge(&challenge).await.unwrap();

    at_once(&mfa, 5, |mfa| {
        let token_hash = challenge.token_hash;
        async move {
            mfa.challenge_failed(&token_hash).await.unwrap();
            true
        }
    })
    .await;
    assert_eq!(mfa.challenge(&challenge.token_hash).await.unwrap(), Some(MfaChallenge { failures: 5, ..challenge }));
}

async fn a_challenge_is_spent_once<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let (one, other) = (challenge(&alice), challenge(&alice));
    mfa.insert_challenge(&one).await.unwrap();
    mfa.insert_challenge(&other).await.unwrap();

    assert!(mfa.spend_challenge(&one.token_hash, now()).await.unwrap());
    assert_eq!(mfa.challenge(&one.token_hash).await.unwrap(), None);
    assert!(!mfa.spend_challenge(&one.token_hash, now()).await.unwrap(), "already spent");
    assert!(!mfa.spend_challenge(&digest(), now()).await.unwrap(), "unknown");
    assert_eq!(mfa.challenge(&other.token_hash).await.unwrap(), Some(other));
}

async fn of_ten_concurrent_spends_of_one_challenge_exactly_one_succeeds<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let challenge = challenge(&alice);
    mfa.insert_challenge(&challenge).await.unwrap();
    let at = now();

    let spent = at_once(&mfa, 10, |mfa| {
        let token_hash = challenge.token_hash;
        async move { mfa.spend_challenge(&token_hash, at).await.unwrap() }
    })
    .await;
    assert_eq!(spent, 1);
    assert_eq!(mfa.challenge(&challenge.token_hash).await.unwrap(), None);
}

async fn an_expired_challenge_is_not_spent<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let challenge = challenge(&alice);
    mfa.insert_challenge(&challenge).await.unwrap();
    let expiry = challenge.expires_at;

    assert!(!mfa.spend_challenge(&challenge.token_hash, expiry + Duration::minutes(1)).await.unwrap());
    assert!(!mfa.spend_challenge(&challenge.token_hash, expiry).await.unwrap(), "it expires at its expiry");
    assert_eq!(
        mfa.challenge(&challenge.token_hash).await.unwrap(),
        Some(challenge.clone()),
        "a refusal deletes nothing"
    );
    assert!(mfa.spend_challenge(&challenge.token_hash, expiry - Duration::microseconds(1)).await.unwrap());
}

async fn a_challenge_with_the_maximum_of_failures_is_not_spent<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let exhausted = MfaChallenge { failures: MFA_MAX_FAILURES, ..challenge(&alice) };
    let counted_up = MfaChallenge { failures: MFA_MAX_FAILURES - 1, ..challenge(&alice) };
    let last_chance = MfaChallenge { failures: MFA_MAX_FAILURES - 1, ..challenge(&alice) };
    for challenge in [&exhausted, &counted_up, &last_chance] {
        mfa.insert_challenge(challenge).await.unwrap();
    }
    mfa.challenge_failed(&counted_up.token_hash).await.unwrap();
    let at = now();

    assert!(!mfa.spend_challenge(&exhausted.token_hash, at).await.unwrap());
    assert!(!mfa.spend_challenge(&counted_up.token_hash, at).await.unwrap());
    assert_eq!(mfa.challenge(&exhausted.token_hash).await.unwrap(), Some(exhausted), "a refusal deletes nothing");
    assert!(mfa.spend_challenge(&last_chance.token_hash, at).await.unwrap(), "fewer failures than the maximum");
}

async fn purging_deletes_expired_challenges_and_old_pending_secrets_and_counts_them<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob, carol) = (
        stored_user(&backend, "alice").await,
        stored_user(&backend, "bob").await,
        stored_user(&backend, "carol").await,
    );
    let t = now();
    let cutoff = t - Duration::hours(1);
    let old_factor = added(&mfa, Factor { created_at: t - Duration::days(30), ..totp(&alice) }).await;
    let expired = [
        MfaChallenge { expires_at: t - Duration::SECOND, ..challenge(&alice) },
        MfaChallenge { created_at: t - Duration::days(1), expires_at: t - Duration::hours(23), ..challenge(&bob) },
    ];
    let live = MfaChallenge { expires_at: t + Duration::SECOND, ..challenge(&alice) };
    for challenge in expired.iter().chain([&live]) {
        mfa.insert_challenge(challenge).await.unwrap();
    }
    mfa.put_pending_totp(&pending(&alice, cutoff - Duration::microseconds(1))).await.unwrap();
    let at_cutoff = pending(&bob, cutoff);
    let recent = pending(&carol, t);
    mfa.put_pending_totp(&at_cutoff).await.unwrap();
    mfa.put_pending_totp(&recent).await.unwrap();

    assert_eq!(mfa.purge(t, cutoff).await.unwrap(), 3);

    for challenge in &expired {
        assert_eq!(mfa.challenge(&challenge.token_hash).await.unwrap(), None);
    }
    assert_eq!(mfa.challenge(&live.token_hash).await.unwrap(), Some(live));
    assert_eq!(mfa.pending_totp(alice.id).await.unwrap(), None);
    assert_eq!(mfa.pending_totp(bob.id).await.unwrap(), Some(at_cutoff), "created at the cut-off, not before");
    assert_eq!(mfa.pending_totp(carol.id).await.unwrap(), Some(recent));
    assert_eq!(mfa.factors(alice.id).await.unwrap(), [old_factor], "factors are never purged");
    assert_eq!(mfa.purge(t, cutoff).await.unwrap(), 0);
}
