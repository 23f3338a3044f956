//! The [`MfaStore`] contract for passkeys: what a passkey factor remembers
//! beside its sealed credential, the compare-and-set of its sign count,
//! and the ceremonies kept between a passkey's start and finish.
//!
//! The helpers that store users and factors are the MFA suite's: passkeys
//! are factors of the same store.

use data_encoding::BASE64URL_NOPAD;
use gatehouse_application::ports::MfaStore;
use gatehouse_domain::{Ceremony, CeremonyPurpose, Factor, FactorId, MfaChallenge, PasskeyDetails, User};
use time::Duration;
use uuid::Uuid;

use super::{
    mfa_store::{added, at_once, challenge, passkey, stored_user, totp},
    now,
};
use crate::support::db::{Backend, contract_tests};

contract_tests! {
    a_passkey_factor_keeps_its_sign_count_user_handle_and_transports,
    a_recorded_passkey_use_sets_the_count_and_last_use_only_when_the_count_is_as_expected,
    of_ten_concurrent_uses_from_one_count_exactly_one_is_recorded,

    a_ceremony_is_taken_once_with_every_field_intact,
    an_expired_ceremony_is_not_taken_and_is_gone,
    of_ten_concurrent_takes_of_one_ceremony_exactly_one_gets_it,
    an_unknown_ceremony_is_not_taken,

    purging_deletes_expired_ceremonies_and_counts_them,
    resetting_a_user_deletes_their_ceremonies_only,
}

/// A new WebAuthn user handle: 64 random bytes (the most WebAuthn allows),
/// base64url.
fn user_handle() -> String {
    let bytes: Vec<u8> = (0..4).flat_map(|_| *Uuid::new_v4().as_bytes()).collect();
    BASE64URL_NOPAD.encode(&bytes)
}

/// What a passkey counted up to and the transports it reported, with a new
/// user handle.
fn details(sign_count: u32, transports: &[&str]) -> PasskeyDetails {
    PasskeyDetails {
        sign_count,
        user_handle: user_handle(),
        transports: transports.iter().map(|&t| t.to_owned()).collect(),
    }
}

/// A new passkey factor of `user` that remembers `details`.
fn key(user: &User, details: PasskeyDetails) -> Factor {
    Factor { passkey: Some(details), ..passkey(user) }
}

/// A new ceremony id: 64 lowercase hex characters, as the use cases make.
fn ceremony_id() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// New relying-party state; it holds a NUL and 0xff, so a store that
/// treats it as text cannot pass.
fn state() -> Vec<u8> {
    let mut bytes = b"{\"challenge\":\"".to_vec();
    bytes.extend_from_slice(&[0x00, 0xff, 0x7f, 0x80]);
    bytes.extend_from_slice(Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(b"\"}");
    bytes
}

/// A new ceremony for `purpose`, of `user` (none for a passwordless
/// sign-in), started now.
fn ceremony(purpose: CeremonyPurpose, user: Option<&User>) -> Ceremony {
    Ceremony::start(ceremony_id(), purpose, user.map(|u| u.id), state(), now())
}

/// Stores `ceremony` and hands it back.
async fn inserted<M: MfaStore>(mfa: &M, ceremony: Ceremony) -> Ceremony {
    mfa.insert_ceremony(&ceremony).await.unwrap();
    ceremony
}

/// Asserts that `found` is `expected`, field by field: `Debug` hides a
/// ceremony's id and state, so a plain `assert_eq!` would not show which
/// differs.
fn assert_same_ceremony(found: Option<Ceremony>, expected: &Ceremony) {
    let found = found.unwrap_or_else(|| panic!("ceremony {:?} not taken", expected.purpose));
    assert_eq!(found.id, expected.id, "id");
    assert_eq!(found.purpose, expected.purpose, "purpose");
    assert_eq!(found.user_id, expected.user_id, "user");
    assert_eq!(found.state, expected.state, "state");
    assert_eq!(found.created_at, expected.created_at, "created at");
    assert_eq!(found.expires_at, expected.expires_at, "expires at");
    assert_eq!(&found, expected);
}

async fn a_passkey_factor_keeps_its_sign_count_user_handle_and_transports<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob) = (stored_user(&backend, "alice").await, stored_user(&backend, "bob").await);
    let t = now();
    let counterless = Factor { created_at: t - Duration::hours(4), ..key(&alice, details(0, &[])) };
    let platform = Factor {
        name: Some("Alice's laptop".into()),
        created_at: t - Duration::hours(3),
        last_used_at: Some(t - Duration::microseconds(1)),
        ..key(&alice, details(1, &["internal"]))
    };
    let roaming = Factor {
        created_at: t - Duration::hours(2),
        ..key(&alice, details(u32::MAX, &["usb", "nfc", "ble", "smart-card", "hybrid", "internal"]))
    };
    let code = Factor { created_at: t - Duration::hours(1), ..totp(&alice) };
    assert_eq!(code.passkey, None, "a TOTP factor has no passkey details");
    let bobs = added(&mfa, key(&bob, details(u32::MAX - 1, &["hybrid", "internal"]))).await;
    // Added in another order than they are listed in.
    let roaming = added(&mfa, roaming).await;
    let code = added(&mfa, code).await;
    let counterless = added(&mfa, counterless).await;
    let platform = added(&mfa, platform).await;

    assert_eq!(mfa.factors(alice.id).await.unwrap(), [counterless, platform, roaming, code]);
    assert_eq!(mfa.factors(bob.id).await.unwrap(), [bobs]);
}

async fn a_recorded_passkey_use_sets_the_count_and_last_use_only_when_the_count_is_as_expected<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob) = (stored_user(&backend, "alice").await, stored_user(&backend, "bob").await);
    let t = now();
    let used = added(&mfa, Factor { created_at: t - Duration::hours(3), ..key(&alice, details(7, &["usb"])) }).await;
    let other = added(&mfa, Factor { created_at: t - Duration::hours(2), ..key(&alice, details(7, &["nfc"])) }).await;
    let counterless = added(&mfa, Factor { created_at: t - Duration::hours(1), ..key(&alice, details(0, &[])) }).await;
    let code = added(&mfa, totp(&alice)).await;
    let bobs = added(&mfa, key(&bob, details(7, &["usb"]))).await;
    let stored = |factor: &Factor, sign_count: u32, at| Factor {
        passkey: factor.passkey.clone().map(|details| PasskeyDetails { sign_count, ..details }),
        last_used_at: Some(at),
        ..factor.clone()
    };
    let alices = [used.clone(), other.clone(), counterless.clone(), code.clone()];

    assert!(!mfa.record_passkey_use(used.id, 6, 8, t).await.unwrap(), "a count below the stored one");
    assert!(!mfa.record_passkey_use(used.id, 8, 9, t).await.unwrap(), "a count above the stored one");
    let unknown = FactorId::from_uuid(Uuid::now_v7());
    assert!(!mfa.record_passkey_use(unknown, 7, 8, t).await.unwrap(), "an unknown factor");
    assert!(!mfa.record_passkey_use(code.id, 0, 1, t).await.unwrap(), "a TOTP factor has no count");
    assert_eq!(mfa.factors(alice.id).await.unwrap(), alices, "a refused use changes nothing");

    assert!(mfa.record_passkey_use(used.id, 7, 8, t).await.unwrap());
    let after = [stored(&used, 8, t), other.clone(), counterless.clone(), code.clone()];
    assert_eq!(mfa.factors(alice.id).await.unwrap(), after, "only the factor used changes");
    let later = t + Duration::minutes(1);
    assert!(!mfa.record_passkey_use(used.id, 7, 9, later).await.unwrap(), "a count read before the last use");
    assert_eq!(mfa.factors(alice.id).await.unwrap(), after);

    assert!(mfa.record_passkey_use(used.id, 8, u32::MAX, later).await.unwrap());
    let latest = later + Duration::microseconds(1);
    assert!(mfa.record_passkey_use(counterless.id, 0, 0, later).await.unwrap(), "a counterless authenticator");
    assert!(mfa.record_passkey_use(counterless.id, 0, 0, latest).await.unwrap(), "and again");
    assert_eq!(
        mfa.factors(alice.id).await.unwrap(),
        [stored(&used, u32::MAX, later), other, stored(&counterless, 0, latest), code]
    );
    assert_eq!(mfa.factors(bob.id).await.unwrap(), [bobs], "another user's passkey with the same count");
}

async fn of_ten_concurrent_uses_from_one_count_exactly_one_is_recorded<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let factor = added(&mfa, key(&alice, details(41, &["internal"]))).await;
    let at = now();

    let recorded = at_once(&mfa, 10, |mfa| {
        let id = factor.id;
        async move { mfa.record_passkey_use(id, 41, 42, at).await.unwrap() }
    })
    .await;
    assert_eq!(recorded, 1);
    let details = factor.passkey.clone().map(|details| PasskeyDetails { sign_count: 42, ..details });
    let stored = Factor { passkey: details, last_used_at: Some(at), ..factor.clone() };
    assert_eq!(mfa.factors(alice.id).await.unwrap(), [stored]);
    assert!(!mfa.record_passkey_use(factor.id, 41, 43, at).await.unwrap(), "the count read before the uses");
}

async fn a_ceremony_is_taken_once_with_every_field_intact<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob) = (stored_user(&backend, "alice").await, stored_user(&backend, "bob").await);
    let t = now();
    let registration = inserted(&mfa, ceremony(CeremonyPurpose::Registration, Some(&alice))).await;
    let sign_in = inserted(&mfa, ceremony(CeremonyPurpose::SignIn, None)).await;
    // A second factor's state lists the user's credentials: several KiB.
    let mut large = state();
    large.extend((0..8192u32).map(|i| u8::try_from(i % 256).unwrap()));
    let second_factor = Ceremony {
        state: large,
        created_at: t - Duration::seconds(7),
        expires_at: t + Duration::microseconds(123_457),
        ..ceremony(CeremonyPurpose::SecondFactor, Some(&bob))
    };
    let second_factor = inserted(&mfa, second_factor).await;

    assert_same_ceremony(mfa.take_ceremony(&sign_in.id, sign_in.created_at).await.unwrap(), &sign_in);
    assert_eq!(mfa.take_ceremony(&sign_in.id, sign_in.created_at).await.unwrap(), None, "already taken");
    assert_same_ceremony(mfa.take_ceremony(&second_factor.id, t).await.unwrap(), &second_factor);
    assert_eq!(mfa.take_ceremony(&second_factor.id, t).await.unwrap(), None, "already taken");
    let last_moment = registration.expires_at - Duration::microseconds(1);
    assert_same_ceremony(mfa.take_ceremony(&registration.id, last_moment).await.unwrap(), &registration);
    assert_eq!(mfa.take_ceremony(&registration.id, t).await.unwrap(), None, "already taken");
}

async fn an_expired_ceremony_is_not_taken_and_is_gone<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let at_expiry = inserted(&mfa, ceremony(CeremonyPurpose::Registration, Some(&alice))).await;
    let long_expired = inserted(&mfa, ceremony(CeremonyPurpose::SignIn, None)).await;
    let live = inserted(&mfa, ceremony(CeremonyPurpose::SecondFactor, Some(&alice))).await;

    assert_eq!(mfa.take_ceremony(&at_expiry.id, at_expiry.expires_at).await.unwrap(), None, "it expires at its expiry");
    let late = long_expired.expires_at + Duration::days(1);
    assert_eq!(mfa.take_ceremony(&long_expired.id, late).await.unwrap(), None);

    // Asked for again while it would be live, it is not there any more.
    assert_eq!(mfa.take_ceremony(&at_expiry.id, at_expiry.created_at).await.unwrap(), None, "the refusal deleted it");
    assert_eq!(mfa.take_ceremony(&long_expired.id, long_expired.created_at).await.unwrap(), None);
    assert_same_ceremony(mfa.take_ceremony(&live.id, live.created_at).await.unwrap(), &live);
}

async fn of_ten_concurrent_takes_of_one_ceremony_exactly_one_gets_it<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let taken = inserted(&mfa, ceremony(CeremonyPurpose::Registration, Some(&alice))).await;
    let other = inserted(&mfa, ceremony(CeremonyPurpose::Registration, Some(&alice))).await;
    let at = now();

    let got = at_once(&mfa, 10, |mfa| {
        let id = taken.id.clone();
        async move { mfa.take_ceremony(&id, at).await.unwrap().is_some() }
    })
    .await;
    assert_eq!(got, 1);
    assert_eq!(mfa.take_ceremony(&taken.id, at).await.unwrap(), None);
    assert_same_ceremony(mfa.take_ceremony(&other.id, at).await.unwrap(), &other);
}

async fn an_unknown_ceremony_is_not_taken<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let alice = stored_user(&backend, "alice").await;
    let kept = inserted(&mfa, ceremony(CeremonyPurpose::Registration, Some(&alice))).await;
    let at = now();

    assert_eq!(mfa.take_ceremony(&ceremony_id(), at).await.unwrap(), None);
    assert_eq!(mfa.take_ceremony("", at).await.unwrap(), None, "no id");
    assert_eq!(mfa.take_ceremony(&kept.id[..63], at).await.unwrap(), None, "a prefix of the id");
    assert_eq!(mfa.take_ceremony(&format!("{}0", kept.id), at).await.unwrap(), None, "the id and more");
    assert_eq!(mfa.take_ceremony(&kept.id.to_uppercase(), at).await.unwrap(), None, "the id in upper case");
    assert_eq!(mfa.take_ceremony(&format!("{} ", kept.id), at).await.unwrap(), None, "the id and a space");
    assert_same_ceremony(mfa.take_ceremony(&kept.id, at).await.unwrap(), &kept);
}

async fn purging_deletes_expired_ceremonies_and_counts_them<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob) = (stored_user(&backend, "alice").await, stored_user(&backend, "bob").await);
    let t = now();
    let long_ago = t - Duration::days(1);
    let expired = [
        Ceremony::start(ceremony_id(), CeremonyPurpose::Registration, Some(alice.id), state(), long_ago),
        Ceremony::start(ceremony_id(), CeremonyPurpose::SignIn, None, state(), long_ago),
        Ceremony { expires_at: t, ..ceremony(CeremonyPurpose::SecondFactor, Some(&bob)) },
    ];
    let live = Ceremony { expires_at: t + Duration::microseconds(1), ..ceremony(CeremonyPurpose::SignIn, None) };
    for ceremony in expired.iter().chain([&live]) {
        mfa.insert_ceremony(ceremony).await.unwrap();
    }
    let expired_challenge = MfaChallenge { expires_at: t - Duration::SECOND, ..challenge(&alice) };
    mfa.insert_challenge(&expired_challenge).await.unwrap();

    assert_eq!(mfa.purge(t, t - Duration::hours(1)).await.unwrap(), 4, "three ceremonies and a challenge");

    for ceremony in &expired {
        // Taken as of its start: found only if it was not deleted.
        assert_eq!(mfa.take_ceremony(&ceremony.id, ceremony.created_at).await.unwrap(), None, "{ceremony:?}");
    }
    assert_eq!(mfa.challenge(&expired_challenge.token_hash).await.unwrap(), None);
    assert_eq!(mfa.purge(t, t - Duration::hours(1)).await.unwrap(), 0);
    assert_same_ceremony(mfa.take_ceremony(&live.id, t).await.unwrap(), &live);
}

async fn resetting_a_user_deletes_their_ceremonies_only<B: Backend>(backend: B) {
    let mfa = backend.mfa();
    let (alice, bob) = (stored_user(&backend, "alice").await, stored_user(&backend, "bob").await);
    added(&mfa, key(&alice, details(3, &["usb"]))).await;
    let bobs_key = added(&mfa, key(&bob, details(3, &["usb"]))).await;
    let alices = [
        inserted(&mfa, ceremony(CeremonyPurpose::Registration, Some(&alice))).await,
        inserted(&mfa, ceremony(CeremonyPurpose::SecondFactor, Some(&alice))).await,
    ];
    let kept = [
        inserted(&mfa, ceremony(CeremonyPurpose::Registration, Some(&bob))).await,
        inserted(&mfa, ceremony(CeremonyPurpose::SecondFactor, Some(&bob))).await,
        inserted(&mfa, ceremony(CeremonyPurpose::SignIn, None)).await,
    ];

    mfa.reset_audited(alice.id, None).await.unwrap();

    let at = now();
    for ceremony in &alices {
        assert_eq!(mfa.take_ceremony(&ceremony.id, at).await.unwrap(), None, "{ceremony:?}");
    }
    for ceremony in &kept {
        assert_same_ceremony(mfa.take_ceremony(&ceremony.id, at).await.unwrap(), ceremony);
    }
    assert_eq!(mfa.factors(alice.id).await.unwrap(), []);
    assert_eq!(mfa.factors(bob.id).await.unwrap(), [bobs_key]);
}
