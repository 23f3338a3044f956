//! Second factors: TOTP codes (RFC 6238), recovery codes, the challenge that
//! joins login's two steps, and the authentication methods (`amr`, RFC 8176)
//! a session remembers.
//!
//! A factor is anything registered to an account that proves possession on
//! top of the password: a TOTP secret or a passkey. MFA is on while at least
//! one factor is registered; recovery codes exist only while it is on.
//!
//! The cryptography (HMAC-SHA-1, hashing, sealing) is behind the
//! application's ports; this module holds the rules around it: time steps,
//! the ±1 step window, truncation to six digits, replay, code formats.

use std::fmt;

use data_encoding::{BASE32_NOPAD, HEXLOWER};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::UserId;

/// Seconds per TOTP time step.
pub const TOTP_PERIOD_SECONDS: i64 = 30;
/// Digits of a TOTP code.
pub const TOTP_DIGITS: u32 = 6;
/// Steps accepted on either side of the current one (clock drift).
pub const TOTP_SKEW_STEPS: u64 = 1;
/// Bytes of a new TOTP secret: 160 bits, the HMAC-SHA-1 block RFC 4226
/// recommends.
pub const TOTP_SECRET_BYTES: usize = 20;

/// Recovery codes issued at once.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Random bytes drawn per recovery code; 60 of their bits are used (twelve
/// base32 characters).
pub const RECOVERY_CODE_RANDOM_BYTES: usize = 8;
const RECOVERY_CODE_CHARS: usize = 12;

/// Random bytes of an `mfa_token` (256 bits).
pub const MFA_TOKEN_BYTES: usize = 32;
/// How long an `mfa_token` lasts.
pub const MFA_CHALLENGE_TTL: Duration = Duration::seconds(300);
/// Wrong second factors an `mfa_token` survives; the next one kills it.
pub const MFA_MAX_FAILURES: u32 = 5;

/// A TOTP shared secret. It never appears in `Debug` output.
pub struct TotpSecret(SecretSlice<u8>);

impl TotpSecret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(SecretSlice::from(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// The secret as authenticator apps take it: RFC 4648 base32, no padding.
    pub fn to_base32(&self) -> SecretString {
        SecretString::from(BASE32_NOPAD.encode(self.expose()))
    }

    /// The `otpauth://` URI that authenticator apps import (usually from a
    /// QR code), in the Key Uri Format: issuer and account in the label and
    /// the issuer again as a parameter, SHA-1, 6 digits, 30 s.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> SecretString {
        let issuer = percent_encode(issuer);
        SecretString::from(format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_PERIOD_SECONDS}",
            account = percent_encode(account),
            secret = self.to_base32().expose_secret(),
        ))
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// Everything but RFC 3986's unreserved characters, percent-encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The TOTP time step (RFC 6238 `T`) that `at` falls in; 0 before the epoch.
pub fn totp_step(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp().div_euclid(TOTP_PERIOD_SECONDS)).unwrap_or(0)
}

/// The steps a code is checked against at `at`: the current one first, then
/// one on either side.
pub fn totp_candidate_steps(at: OffsetDateTime) -> Vec<u64> {
    let current = totp_step(at);
    let mut steps = vec![current];
    for skew in 1..=TOTP_SKEW_STEPS {
        if let Some(earlier) = current.checked_sub(skew) {
            steps.push(earlier);
        }
        steps.push(current + skew);
    }
    steps
}

/// RFC 4226 dynamic truncation of an HMAC-SHA-1 value to a
/// [`TOTP_DIGITS`]-digit code.
pub fn truncate_hotp(mac: &[u8; 20]) -> u32 {
    let offset = usize::from(mac[19] & 0x0f);
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    binary % 10u32.pow(TOTP_DIGITS)
}

/// A code as a user types it: six digits, spaces allowed between them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TotpCode(u32);

impl TotpCode {
    /// `None` for anything but [`TOTP_DIGITS`] ASCII digits (spaces
    /// ignored).
    pub fn parse(typed: &str) -> Option<Self> {
        let digits: String = typed.chars().filter(|c| *c != ' ').collect();
        if digits.len() != TOTP_DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(Self)
    }

    /// Which of `candidates` this code is the code of, given each step's
    /// HMAC: every candidate is computed and compared, so the time taken
    /// does not depend on which one matched.
    pub fn matching_step(&self, candidates: &[u64], mac_of: impl Fn(u64) -> [u8; 20]) -> Option<u64> {
        let mut found = None;
        for &step in candidates {
            let matches = truncate_hotp(&mac_of(step)) == self.0;
            if matches && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode(<redacted>)")
    }
}

/// Whether a code of `step` may still be accepted after `last_accepted`: a
/// code (or an earlier one) that was accepted once never works again.
pub fn totp_step_is_fresh(last_accepted: Option<u64>, step: u64) -> bool {
    last_accepted.is_none_or(|last| step > last)
}

/// A recovery code as shown to the user once: `abcd-efgh-ijkl`, twelve
/// base32 characters (60 random bits).
pub struct RecoveryCode(SecretString);

const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

impl RecoveryCode {
    /// A code made of the first 60 bits of `random`.
    pub fn from_random(random: [u8; RECOVERY_CODE_RANDOM_BYTES]) -> Self {
        let bits = u64::from_be_bytes(random);
        let chars: Vec<u8> = (0..RECOVERY_CODE_CHARS)
            .map(|i| RECOVERY_ALPHABET[usize::try_from((bits >> (59 - 5 * i)) & 0x1f).unwrap_or(0)])
            .collect();
        let shown = chars.chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-");
        Self(SecretString::from(shown))
    }

    /// The code as shown to the user.
    pub fn shown(&self) -> &str {
        self.0.expose_secret()
    }

    /// The canonical form that is hashed and stored.
    pub fn canonical(&self) -> String {
        normalize_recovery_code(self.shown()).unwrap_or_default()
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

/// A typed recovery code in canonical form (lower case, without spaces and
/// `-`); `None` when it cannot be one.
pub fn normalize_recovery_code(typed: &str) -> Option<String> {
    let canonical: String = typed.chars().filter(|c| !matches!(c, ' ' | '-')).map(|c| c.to_ascii_lowercase()).collect();
    (canonical.len() == RECOVERY_CODE_CHARS && canonical.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
        .then_some(canonical)
}

/// How a user proved who they are (RFC 8176 method references).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    Password,
    Totp,
    RecoveryCode,
    Passkey,
}

/// The `amr` of a session: the RFC 8176 values of its sign-in, in a fixed
/// order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Amr(Vec<String>);

impl Amr {
    /// The values for a sign-in with `methods`: `pwd` for a password, `otp`
    /// for a TOTP code, `pop` for a passkey (proof of possession of a key),
    /// and `mfa` when a second factor was used (a passkey, with user
    /// verification, counts as one on its own).
    pub fn of(methods: &[AuthMethod]) -> Self {
        let has = |m| methods.contains(&m);
        let mut values = Vec::new();
        if has(AuthMethod::Password) {
            values.push("pwd");
        }
        if has(AuthMethod::Totp) {
            values.push("otp");
        }
        if has(AuthMethod::Passkey) {
            values.push("pop");
        }
        if has(AuthMethod::Totp) || has(AuthMethod::RecoveryCode) || has(AuthMethod::Passkey) {
            values.push("mfa");
        }
        Self(values.into_iter().map(str::to_owned).collect())
    }

    /// A password alone: `["pwd"]`.
    pub fn password() -> Self {
        Self::of(&[AuthMethod::Password])
    }

    /// `amr` values as read back from a token or a store.
    pub fn from_values(values: Vec<String>) -> Self {
        Self(values)
    }

    pub fn values(&self) -> &[String] {
        &self.0
    }

    /// Whether the sign-in used a second factor.
    pub fn is_multi_factor(&self) -> bool {
        self.0.iter().any(|v| v == "mfa")
    }
}

/// A registered factor's identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FactorId(Uuid);

impl FactorId {
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for FactorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The kinds of second factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FactorKind {
    Totp,
    Passkey,
}

impl FactorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Passkey => "passkey",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "totp" => Some(Self::Totp),
            "passkey" => Some(Self::Passkey),
            _ => None,
        }
    }
}

/// Bytes sealed with an AEAD key, and the id of that key (so that keys can
/// rotate: a value names the key that opens it).
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed").field("key_id", &self.key_id).field("len", &self.bytes.len()).finish()
    }
}

/// A second factor registered to an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Factor {
    pub id: FactorId,
    pub user_id: UserId,
    pub kind: FactorKind,
    /// What makes the factor unique for its user: `totp` for the one TOTP
    /// secret, a credential id for a passkey.
    pub slot: String,
    /// A name the user gave it (passkeys).
    pub name: Option<String>,
    /// The secret (TOTP) or credential (passkey), sealed.
    pub secret: Sealed,
    /// The last TOTP step accepted (replay protection).
    pub last_step: Option<u64>,
    /// A passkey's counter, user handle and transports; `None` for TOTP.
    pub passkey: Option<crate::PasskeyDetails>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// The one slot a TOTP factor takes.
pub const TOTP_SLOT: &str = "totp";

/// A TOTP secret waiting for its first code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingTotp {
    pub user_id: UserId,
    pub secret: Sealed,
    pub created_at: OffsetDateTime,
}

/// What a user has set up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MfaStatus {
    pub totp: bool,
    pub passkeys: u32,
    pub recovery_codes: u32,
}

impl MfaStatus {
    /// From a user's factors and remaining recovery codes.
    pub fn of(factors: &[Factor], recovery_codes: u32) -> Self {
        let count = |kind| factors.iter().filter(|f| f.kind == kind).count();
        Self {
            totp: count(FactorKind::Totp) > 0,
            passkeys: u32::try_from(count(FactorKind::Passkey)).unwrap_or(u32::MAX),
            recovery_codes,
        }
    }

    /// MFA is on while any factor is registered.
    pub fn is_on(&self) -> bool {
        self.totp || self.passkeys > 0
    }

    /// The ways to complete a login, in the contract's order.
    pub fn methods(&self) -> Vec<SecondFactorMethod> {
        let mut methods = Vec::new();
        if self.totp {
            methods.push(SecondFactorMethod::Totp);
        }
        if self.passkeys > 0 {
            methods.push(SecondFactorMethod::Passkey);
        }
        if self.is_on() {
            methods.push(SecondFactorMethod::RecoveryCode);
        }
        methods
    }
}

/// A way to complete the second step of a login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecondFactorMethod {
    Totp,
    Passkey,
    RecoveryCode,
}

impl SecondFactorMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Passkey => "passkey",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

/// The `mfa_token` handed to the client: its random bytes in lower-case hex.
pub fn mfa_token_text(random: &[u8; MFA_TOKEN_BYTES]) -> String {
    HEXLOWER.encode(random)
}

/// A SHA-256 digest: what is stored of an `mfa_token` or a recovery code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn to_hex(&self) -> String {
        HEXLOWER.encode(&self.0)
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        HEXLOWER.decode(hex.as_bytes()).ok()?.try_into().ok().map(Self)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest(..)")
    }
}

/// The state between a right password and the second factor: what is
/// stored of an `mfa_token` (only its digest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfaChallenge {
    pub token_hash: Digest,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Wrong second factors presented with it so far.
    pub failures: u32,
}

impl MfaChallenge {
    /// A challenge issued at `now`.
    pub fn issue(token_hash: Digest, user_id: UserId, now: OffsetDateTime) -> Self {
        Self { token_hash, user_id, created_at: now, expires_at: now + MFA_CHALLENGE_TTL, failures: 0 }
    }

    /// Whether it may still complete a login at `now`: not expired and not
    /// exhausted by wrong codes.
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at && self.failures < MFA_MAX_FAILURES
    }
}

/// How long a sign-in counts as recent, and whether admins need a second
/// factor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityPolicy {
    /// `security.reauth_max_age_seconds`.
    pub reauth_max_age: Duration,
    /// `mfa.required_for_admin`.
    pub mfa_required_for_admin: bool,
    /// The issuer authenticator apps show next to the account name.
    pub totp_issuer: String,
}

impl Default for SecurityPolicy {
    fn default() -> Self {
        Self { reauth_max_age: Duration::seconds(900), mfa_required_for_admin: false, totp_issuer: "Gatehouse".into() }
    }
}

impl SecurityPolicy {
    /// Whether a sign-in at `auth_time` is recent at `now`. Counted in
    /// whole seconds, as tokens carry `auth_time` (a NumericDate): a
    /// sign-in at 12:00:00.9 is 1 s old at 12:00:01.1, not 0.2 s.
    pub fn is_recent(&self, auth_time: OffsetDateTime, now: OffsetDateTime) -> bool {
        now.unix_timestamp() - auth_time.unix_timestamp() <= self.reauth_max_age.whole_seconds()
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    /// RFC 4226 appendix D: HMAC-SHA-1 of the counters 0..=9 under the
    /// secret "12345678901234567890", and the codes they truncate to.
    const RFC4226: [(&str, u32); 10] = [
        ("cc93cf18508d94934c64b65d8ba7667fb7cde4b0", 755_224),
        ("75a48a19d4cbe100644e8ac1397eea747a2d33ab", 287_082),
        ("0bacb7fa082fef30782211938bc1c5e70416ff44", 359_152),
        ("66c28227d03a2d5529262ff016a1e6ef76557ece", 969_429),
        ("a904c900a64b35909874b33e61c5938a8e15ed1c", 338_314),
        ("a37e783d7b7233c083d4f62926c7a25f238d0316", 254_676),
        ("bc9cd28561042c83f219324d3c607256c03272ae", 287_922),
        ("a4fb960c0bc06e1eabb804e5b397cdc4b45596fa", 162_583),
        ("1b3c89f65e6c9e883012052823443f048b4332db", 399_871),
        ("1637409809a679dc698207310c8c7fc07290d9e5", 520_489),
    ];

    fn mac(hex: &str) -> [u8; 20] {
        let mut out = [0u8; 20];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn truncation_gives_the_rfc_4226_codes() {
        for (hex, code) in RFC4226 {
            assert_eq!(truncate_hotp(&mac(hex)), code, "{hex}");
        }
    }

    #[test]
    fn time_steps_are_thirty_seconds_from_the_epoch() {
        // RFC 6238 appendix B: T = 1 at 59 s, 0x23523EC at 1111111109 s.
        assert_eq!(totp_step(datetime!(1970-01-01 00:00:59 UTC)), 1);
        assert_eq!(totp_step(OffsetDateTime::from_unix_timestamp(1_111_111_109).unwrap()), 0x0235_23EC);
        assert_eq!(totp_step(OffsetDateTime::from_unix_timestamp(20_000_000_000).unwrap()), 0x27B_C86AA);
        assert_eq!(totp_step(datetime!(1969-12-31 23:59:00 UTC)), 0);
    }

    #[test]
    fn a_code_is_checked_against_the_current_step_and_one_either_side() {
        let at = OffsetDateTime::from_unix_timestamp(90).unwrap();
        assert_eq!(totp_candidate_steps(at), vec![3, 2, 4]);
        assert_eq!(totp_candidate_steps(datetime!(1970-01-01 00:00:10 UTC)), vec![0, 1]);
    }

    #[test]
    fn a_code_matches_the_step_whose_mac_truncates_to_it() {
        let macs = |step: u64| mac(RFC4226[usize::try_from(step).unwrap()].0);
        let code = TotpCode::parse("338314").unwrap();
        assert_eq!(code.matching_step(&[3, 2, 4], macs), Some(4));
        assert_eq!(code.matching_step(&[6, 5, 7], macs), None);
    }

    #[test]
    fn codes_are_six_digits_and_may_hold_spaces() {
        assert!(TotpCode::parse("123456").is_some());
        assert!(TotpCode::parse("123 456").is_some());
        assert!(TotpCode::parse(" 012345 ").is_some());
        for bad in ["12345", "1234567", "12a456", "", "１２３４５６", "-12345"] {
            assert!(TotpCode::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_step_accepted_once_and_every_earlier_one_are_replays() {
        assert!(totp_step_is_fresh(None, 10));
        assert!(totp_step_is_fresh(Some(9), 10));
        assert!(!totp_step_is_fresh(Some(10), 10));
        assert!(!totp_step_is_fresh(Some(10), 9));
    }

    #[test]
    fn the_otpauth_uri_names_issuer_account_and_parameters() {
        let secret = TotpSecret::new(b"12345678901234567890".to_vec());
        assert_eq!(secret.to_base32().expose_secret(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            secret.otpauth_uri("Gatehouse Inc", "bob+1@example").expose_secret(),
            "otpauth://totp/Gatehouse%20Inc:bob%2B1%40example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Gatehouse%20Inc&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(format!("{secret:?}"), "TotpSecret(<redacted>)");
    }

    #[test]
    fn recovery_codes_hold_sixty_random_bits_in_three_groups() {
        let code = RecoveryCode::from_random([0xff; 8]);
        assert_eq!(code.shown(), "7777-7777-7777");
        let code = RecoveryCode::from_random([0, 0, 0, 0, 0, 0, 0, 0x10]);
        assert_eq!(code.shown(), "aaaa-aaaa-aaab");
        assert_eq!(code.canonical(), "aaaaaaaaaaab");
        assert_eq!(format!("{code:?}"), "RecoveryCode(<redacted>)");
    }

    #[test]
    fn recovery_codes_match_in_any_case_with_spaces_and_dashes() {
        assert_eq!(normalize_recovery_code("ABCD-efgh-2345").as_deref(), Some("abcdefgh2345"));
        assert_eq!(normalize_recovery_code(" abcd efgh 2345 ").as_deref(), Some("abcdefgh2345"));
        assert_eq!(normalize_recovery_code("abcd--efgh-2345").as_deref(), Some("abcdefgh2345"));
        for bad in ["abcd-efgh-234", "abcd-efgh-23456", "abcd-efgh-2341", "abcd_efgh_2345", ""] {
            assert_eq!(normalize_recovery_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn amr_names_each_method_and_mfa_for_any_second_factor() {
        let values = |methods: &[AuthMethod]| Amr::of(methods).values().to_vec();
        assert_eq!(values(&[AuthMethod::Password]), ["pwd"]);
        assert_eq!(values(&[AuthMethod::Password, AuthMethod::Totp]), ["pwd", "otp", "mfa"]);
        assert_eq!(values(&[AuthMethod::Password, AuthMethod::RecoveryCode]), ["pwd", "mfa"]);
        assert_eq!(values(&[AuthMethod::Passkey]), ["pop", "mfa"]);
        assert!(!Amr::password().is_multi_factor());
        assert!(Amr::of(&[AuthMethod::Password, AuthMethod::Totp]).is_multi_factor());
    }

    fn factor(kind: FactorKind) -> Factor {
        Factor {
            id: FactorId::from_uuid(Uuid::nil()),
            user_id: UserId::from_uuid(Uuid::nil()),
            kind,
            slot: TOTP_SLOT.into(),
            name: None,
            secret: Sealed { key_id: "k".into(), bytes: vec![] },
            last_step: None,
            passkey: None,
            created_at: datetime!(2026-01-01 00:00 UTC),
            last_used_at: None,
        }
    }

    #[test]
    fn mfa_is_on_when_any_factor_is_registered() {
        assert!(!MfaStatus::of(&[], 0).is_on());
        assert!(MfaStatus::of(&[], 0).methods().is_empty());
        let totp = MfaStatus::of(&[factor(FactorKind::Totp)], 10);
        assert!(totp.is_on());
        assert_eq!(totp.methods(), [SecondFactorMethod::Totp, SecondFactorMethod::RecoveryCode]);
        let passkeys = MfaStatus::of(&[factor(FactorKind::Passkey), factor(FactorKind::Passkey)], 3);
        assert_eq!(passkeys, MfaStatus { totp: false, passkeys: 2, recovery_codes: 3 });
        assert_eq!(passkeys.methods(), [SecondFactorMethod::Passkey, SecondFactorMethod::RecoveryCode]);
    }

    #[test]
    fn an_mfa_challenge_dies_after_five_minutes_or_five_wrong_codes() {
        let now = datetime!(2026-01-01 00:00 UTC);
        let mut challenge = MfaChallenge::issue(Digest([0; 32]), UserId::from_uuid(Uuid::nil()), now);
        assert!(challenge.is_usable(now + Duration::seconds(299)));
        assert!(!challenge.is_usable(now + Duration::seconds(300)));
        challenge.failures = 4;
        assert!(challenge.is_usable(now));
        challenge.failures = 5;
        assert!(!challenge.is_usable(now));
    }

    #[test]
    fn a_sign_in_is_recent_up_to_the_max_age_inclusive() {
        let policy = SecurityPolicy { reauth_max_age: Duration::seconds(900), ..SecurityPolicy::default() };
        let at = datetime!(2026-01-01 00:00 UTC);
        assert!(policy.is_recent(at, at + Duration::seconds(900)));
        assert!(!policy.is_recent(at, at + Duration::seconds(901)));
        // Whole seconds: what a token's `auth_time` can say.
        let policy = SecurityPolicy { reauth_max_age: Duration::seconds(1), ..SecurityPolicy::default() };
        let late_in_a_second = at + Duration::milliseconds(900);
        assert!(policy.is_recent(late_in_a_second, at + Duration::milliseconds(1_999)));
        assert!(!policy.is_recent(late_in_a_second, at + Duration::seconds(2)));
    }

    #[test]
    fn digests_round_trip_through_hex() {
        let digest = Digest([0xab; 32]);
        assert_eq!(Digest::from_hex(&digest.to_hex()), Some(digest));
        assert_eq!(Digest::from_hex("zz"), None);
    }
}
