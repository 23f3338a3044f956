//! Audit events: who did what to whom, from where, with what outcome.
//!
//! Events are append-only and hash-chained by the store (each records the
//! hash of the previous one), so an edited or deleted row breaks the chain
//! where it happened. This module only says what an event is and how it is
//! written down for hashing; the hash itself is the store's business.

use std::fmt;

use time::OffsetDateTime;

use crate::UserId;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditAction {
    Register,
    Login,
    Refresh,
    RefreshReuse,
    Logout,
    PasswordChange,
    RoleChange,
    Disable,
    Enable,
    Delete,
    /// TOTP confirmed and switched on.
    TotpEnabled,
    TotpDisabled,
    PasskeyAdded,
    PasskeyRemoved,
    /// An assertion whose signature counter did not grow: a possible
    /// clone of the authenticator; the sign-in was refused.
    PasskeySignCountRegressed,
    /// A wrong, replayed or unusable second factor at login.
    MfaFailed,
    RecoveryCodeUsed,
    RecoveryCodesRegenerated,
    /// An admin removed every factor of a user.
    MfaReset,
    ServiceAccountCreate,
    ServiceAccountSecretRotate,
    ServiceAccountDelete,
}

/// Whether it succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditOutcome {
    Success,
    Failure,
}

/// One audit event, as the use cases describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub occurred_at: OffsetDateTime,
    pub action: AuditAction,
    pub outcome: AuditOutcome,
    /// Who acted (the user themself, an admin, or nobody known).
    pub actor: Option<UserId>,
    /// Whom it concerned.
    pub subject: Option<UserId>,
    /// The client's address, when known.
    pub client: Option<String>,
    /// A short, secret-free detail (`role=admin`, `scope=global`,
    /// `unknown_user`...).
    pub detail: Option<String>,
}

/// A stored event: its place in the chain and the hashes that link it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    /// 1, 2, 3, ... without gaps.
    pub seq: u64,
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

const ACTIONS: [(AuditAction, &str); 22] = [
    (AuditAction::Register, "register"),
    (AuditAction::Login, "login"),
    (AuditAction::Refresh, "refresh"),
    (AuditAction::RefreshReuse, "refresh_reuse"),
    (AuditAction::Logout, "logout"),
    (AuditAction::PasswordChange, "password_change"),
    (AuditAction::RoleChange, "role_change"),
    (AuditAction::Disable, "disable"),
    (AuditAction::Enable, "enable"),
    (AuditAction::Delete, "delete"),
    (AuditAction::TotpEnabled, "totp_enabled"),
    (AuditAction::TotpDisabled, "totp_disabled"),
    (AuditAction::PasskeyAdded, "passkey_added"),
    (AuditAction::PasskeyRemoved, "passkey_removed"),
    (AuditAction::PasskeySignCountRegressed, "passkey_sign_count_regressed"),
    (AuditAction::MfaFailed, "mfa_failed"),
    (AuditAction::RecoveryCodeUsed, "recovery_code_used"),
    (AuditAction::RecoveryCodesRegenerated, "recovery_codes_regenerated"),
    (AuditAction::MfaReset, "mfa_reset"),
    (AuditAction::ServiceAccountCreate, "service_account_create"),
    (AuditAction::ServiceAccountSecretRotate, "service_account_rotate"),
    (AuditAction::ServiceAccountDelete, "service_account_delete"),
];

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        ACTIONS.iter().find(|(a, _)| *a == self).map_or("unknown", |(_, s)| s)
    }

    /// The action named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        ACTIONS.iter().find(|(_, name)| *name == s).map(|(a, _)| *a)
    }
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Self::Success),
            "failure" => Some(Self::Failure),
            _ => None,
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AuditEvent {
    /// A new event at `at` with no actor, subject, client or detail. The
    /// builder methods below fill those in:
    ///
    /// ```
    /// # use gatehouse_domain::{AuditAction, AuditEvent, AuditOutcome, UserId};
    /// # let (now, admin, alice) = (time::OffsetDateTime::UNIX_EPOCH, UserId::from_uuid(uuid::Uuid::nil()), UserId::from_uuid(uuid::Uuid::max()));
    /// let event = AuditEvent::new(now, AuditAction::Disable, AuditOutcome::Success)
    ///     .by(admin)
    ///     .about(alice)
    ///     .client(Some("192.0.2.1"))
    ///     .detail("via=cli");
    /// assert_eq!(event.client.as_deref(), Some("192.0.2.1"));
    /// ```
    pub fn new(at: OffsetDateTime, action: AuditAction, outcome: AuditOutcome) -> Self {
        Self { occurred_at: at, action, outcome, actor: None, subject: None, client: None, detail: None }
    }

    /// A successful event at `at`.
    pub fn success(at: OffsetDateTime, action: AuditAction) -> Self {
        Self::new(at, action, AuditOutcome::Success)
    }

    /// A failed event at `at`.
    pub fn failure(at: OffsetDateTime, action: AuditAction) -> Self {
        Self::new(at, action, AuditOutcome::Failure)
    }

    /// Who acted.
    #[must_use]
    pub fn by(mut self, actor: UserId) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Whom it concerned, if known.
    #[must_use]
    pub fn about(mut self, subject: impl Into<Option<UserId>>) -> Self {
        self.subject = subject.into();
        self
    }

    /// The client's address, if known.
    #[must_use]
    pub fn client(mut self, client: Option<&str>) -> Self {
        self.client = client.map(str::to_owned);
        self
    }

    /// A short, secret-free detail.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Marks the event failed.
    #[must_use]
    pub fn failed(mut self) -> Self {
        self.outcome = AuditOutcome::Failure;
        self
    }

    /// The canonical text hashed into the chain: every field, in a fixed
    /// order, each on its own line, time in microseconds. Stable across
    /// versions: changing it breaks every existing chain.
    pub fn canonical(&self, seq: u64) -> String {
        let micros = self.occurred_at.unix_timestamp_nanos() / 1_000;
        let id = |u: Option<UserId>| u.map(|u| u.to_string()).unwrap_or_default();
        format!(
            "seq={seq}\nat={micros}\naction={}\noutcome={}\nactor={}\nsubject={}\nclient={}\ndetail={}",
            self.action.as_str(),
            self.outcome.as_str(),
            id(self.actor),
            id(self.subject),
            self.client.as_deref().unwrap_or_default().replace('\n', " "),
            self.detail.as_deref().unwrap_or_default().replace('\n', " "),
        )
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn action_names_round_trip() {
        for (action, name) in ACTIONS {
            assert_eq!(action.as_str(), name);
            assert_eq!(AuditAction::parse(name), Some(action));
        }
        assert_eq!(AuditAction::parse("sudo"), None);
    }

    #[test]
    fn the_canonical_form_covers_every_field() {
        let mut event =
            AuditEvent::new(datetime!(2026-01-01 00:00:00.000001 UTC), AuditAction::Login, AuditOutcome::Failure);
        let base = event.canonical(7);
        assert!(base.starts_with("seq=7\nat=1767225600000001\naction=login\noutcome=failure\n"), "{base}");
        event.actor = Some(UserId::from_uuid(Uuid::from_u128(1)));
        assert_ne!(event.canonical(7), base);
        let with_actor = event.canonical(7);
        event.client = Some("10.0.0.1".into());
        assert_ne!(event.canonical(7), with_actor);
        assert_ne!(event.canonical(8), event.canonical(7));
    }

    #[test]
    fn a_newline_in_a_field_cannot_forge_another_field() {
        let mut a = AuditEvent::new(datetime!(2026-01-01 00:00 UTC), AuditAction::Login, AuditOutcome::Success);
        a.detail = Some("x\nactor=someone".into());
        assert_eq!(a.canonical(1).lines().count(), 8);
    }
}
