//! Passkeys: registration, the list and deletion, and passwordless sign-in
//! with a discoverable credential.
//!
//! Ceremonies (their challenges) are stored through the [`MfaStore`], so
//! that start and finish may run on different instances, and taken out
//! once: a replayed or unknown ceremony finishes nothing. Credentials are
//! stored sealed, bound to their user and credential id, so a row copied
//! or altered in the database does not open. The relying party behind
//! [`PasskeyRelyingParty`] verifies attestations and assertions; the rules
//! around them (what a ceremony is for, the sign count, MFA turning on and
//! off, the audit trail) are here.

use std::net::IpAddr;

use gatehouse_domain::{
    Amr, AuditAction, AuditEvent, AuthMethod, Ceremony, CeremonyPurpose, Factor, FactorId, FactorKind, MfaStatus,
    PasskeyDetails, PasskeyName, PasskeyNameError, RecoveryCode, User, UserId,
    mfa::mfa_token_text,
    passkey::{CEREMONY_ID_BYTES, credential_id_fits, sign_count_is_fresh},
};

use crate::{
    Adapters, Gatehouse, LoginError, Principal, RecentPrincipal, TokenPair,
    metrics::{LoginOutcome, RevocationReason},
    ports::{
        AddFactorError, AuditLog, Clock, FactorCrypto, IdSource, Metrics, MfaStore, PasskeyAssertion, PasskeyError,
        PasskeyRelyingParty, RevokeScope, StartedCeremony, StoreError, StoredPasskey, UserStore,
    },
};

/// A started ceremony as a client gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedPasskeyCeremony {
    /// Names the ceremony when it is finished.
    pub ceremony_id: String,
    /// `{"publicKey": ...}`, the WebAuthn Level 3 JSON options.
    pub options: String,
}

/// A registered passkey, and the recovery codes when it turned MFA on.
#[derive(Debug)]
pub struct PasskeyEnrolment {
    pub passkey: Factor,
    pub recovery_codes: Option<Vec<RecoveryCode>>,
}

/// Why a passkey could not be registered or removed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyManagementError {
    /// No such passkey of this user.
    #[error("not found")]
    NotFound,
    #[error("invalid passkey name: {0}")]
    InvalidName(PasskeyNameError),
    /// The credential does not verify against its ceremony, or the
    /// ceremony is unknown, spent, expired or another user's, or the
    /// credential is registered already. The reason holds nothing secret.
    #[error("credential refused: {0}")]
    CredentialRefused(String),
    #[error("passkey ceremony failed: {0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a passkey's sealed credential is bound to: its user and its
/// credential id.
pub(crate) fn passkey_context(user: UserId, credential_id: &str) -> Vec<u8> {
    let mut context = b"gatehouse passkey ".to_vec();
    context.extend_from_slice(user.as_uuid().as_bytes());
    context.extend_from_slice(credential_id.as_bytes());
    context
}

fn internal(error: PasskeyError) -> PasskeyManagementError {
    PasskeyManagementError::Internal(error.to_string())
}

impl<A: Adapters> Gatehouse<A> {
    /// The principal's passkeys, oldest first.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn passkeys(&self, principal: &Principal) -> Result<Vec<Factor>, StoreError> {
        Ok(self.mfa.factors(principal.user_id).await?.into_iter().filter(|f| f.kind == FactorKind::Passkey).collect())
    }

    /// Starts registering a passkey: creation options asking for a
    /// discoverable credential with user verification, excluding the
    /// user's passkeys.
    ///
    /// # Errors
    /// [`PasskeyManagementError::Internal`], [`StoreError`].
    pub async fn start_passkey_registration(
        &self,
        who: &RecentPrincipal,
    ) -> Result<StartedPasskeyCeremony, PasskeyManagementError> {
        let principal = who.principal();
        let exclude: Vec<String> = self.passkeys(principal).await?.into_iter().map(|f| f.slot).collect();
        let started = self
            .passkeys
            .start_registration(principal.user_id.as_uuid(), principal.username.as_str(), &exclude)
            .map_err(internal)?;
        Ok(self.keep_ceremony(CeremonyPurpose::Registration, Some(principal.user_id), started).await?)
    }

    /// Finishes a registration: the credential must verify against the
    /// principal's own live ceremony, which is spent either way. The first
    /// factor of an account turns MFA on: it returns a new set of recovery
    /// codes and revokes every other session of the user.
    ///
    /// # Errors
    /// [`PasskeyManagementError::InvalidName`] (the ceremony is kept),
    /// [`PasskeyManagementError::CredentialRefused`].
    pub async fn finish_passkey_registration(
        &self,
        principal: &Principal,
        ceremony_id: &str,
        name: &str,
        response: &str,
    ) -> Result<PasskeyEnrolment, PasskeyManagementError> {
        let name = PasskeyName::parse(name).map_err(PasskeyManagementError::InvalidName)?;
        // Stores keep microseconds; so does the answer about the passkey.
        let now = crate::create_user::truncate_to_micros(self.clock.now());
        let refused = |reason: &str| PasskeyManagementError::CredentialRefused(reason.to_owned());
        let ceremony = self
            .mfa
            .take_ceremony(ceremony_id, now)
            .await?
            .filter(|c| c.purpose == CeremonyPurpose::Registration && c.user_id == Some(principal.user_id))
            .ok_or_else(|| refused("unknown, expired or spent ceremony"))?;
        let registered = match self.passkeys.finish_registration(principal.user_id.as_uuid(), &ceremony.state, response)
        {
            Ok(registered) => registered,
            Err(PasskeyError::Internal(reason)) => return Err(PasskeyManagementError::Internal(reason)),
            Err(e) => {
                tracing::info!(user_id = %principal.user_id, error = %e, "passkey registration refused");
                return Err(PasskeyManagementError::CredentialRefused(e.to_string()));
            }
        };
        if !credential_id_fits(&registered.credential_id) {
            return Err(refused("credential id longer than Gatehouse stores"));
        }
        let turns_mfa_on = !MfaStatus::of(&self.mfa.factors(principal.user_id).await?, 0).is_on();
        let codes = turns_mfa_on.then(|| self.new_recovery_codes());
        let digests: Option<Vec<_>> =
            codes.as_ref().map(|codes| codes.iter().map(|c| self.crypto.digest(c.canonical().as_bytes())).collect());
        let factor = Factor {
            id: FactorId::from_uuid(self.ids.new_id()),
            user_id: principal.user_id,
            kind: FactorKind::Passkey,
            secret: self
                .crypto
                .seal(&registered.credential, &passkey_context(principal.user_id, &registered.credential_id)),
            slot: registered.credential_id,
            name: Some(name.into_string()),
            last_step: None,
            passkey: Some(PasskeyDetails {
                sign_count: registered.sign_count,
                user_handle: registered.user_handle,
                transports: registered.transports,
            }),
            created_at: now,
            last_used_at: None,
        };
        let audit = principal
            .event(now, AuditAction::PasskeyAdded)
            .about(principal.user_id)
            .detail(format!("passkey={}", factor.id));
        match self.mfa.add_factor_audited(&factor, digests.as_deref(), Some(&audit)).await {
            Ok(()) => {}
            Err(AddFactorError::AlreadyRegistered) => return Err(refused("credential already registered")),
            Err(AddFactorError::Store(e)) => return Err(e.into()),
        }
        if turns_mfa_on {
            self.revoke(RevokeScope::UserExcept(principal.user_id, principal.session_id), RevocationReason::Mfa)
                .await?;
        }
        tracing::info!(user_id = %principal.user_id, passkey = %factor.id, mfa_turned_on = turns_mfa_on, "passkey added");
        Ok(PasskeyEnrolment { passkey: factor, recovery_codes: codes })
    }

    /// Removes one of the principal's passkeys. When it was the last
    /// factor, MFA is off and the recovery codes go.
    ///
    /// # Errors
    /// [`PasskeyManagementError::NotFound`] for an unknown id or another
    /// user's passkey.
    pub async fn delete_passkey(&self, who: &RecentPrincipal, id: FactorId) -> Result<(), PasskeyManagementError> {
        let principal = who.principal();
        if !self.passkeys(principal).await?.iter().any(|f| f.id == id) {
            return Err(PasskeyManagementError::NotFound);
        }
        let audit = principal
            .event(self.clock.now(), AuditAction::PasskeyRemoved)
            .about(principal.user_id)
            .detail(format!("passkey={id}"));
        if !self.mfa.remove_factor_audited(principal.user_id, id, Some(&audit)).await? {
            return Err(PasskeyManagementError::NotFound);
        }
        tracing::info!(user_id = %principal.user_id, passkey = %id, "passkey removed");
        Ok(())
    }

    /// Starts a passwordless sign-in: request options with no credentials
    /// listed (the authenticator offers its discoverable ones) and user
    /// verification required.
    ///
    /// # Errors
    /// [`LoginError::Store`]; a relying-party failure as
    /// [`LoginError::Store`] too (nothing the client can change).
    pub async fn start_passkey_sign_in(&self) -> Result<StartedPasskeyCeremony, LoginError> {
        let started = self.passkeys.start_sign_in().map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(self.keep_ceremony(CeremonyPurpose::SignIn, None, started).await?)
    }

    /// Finishes a passwordless sign-in and opens a session whose `amr` is
    /// `pop` and `mfa` (a passkey with user verification is two factors).
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] for an unknown, expired or spent
    /// ceremony, an unknown credential, a response that does not verify or
    /// a sign count that did not grow; [`LoginError::AccountDisabled`].
    #[tracing::instrument(skip_all)]
    pub async fn finish_passkey_sign_in(
        &self,
        ceremony_id: &str,
        response: &str,
        client: Option<IpAddr>,
    ) -> Result<TokenPair, LoginError> {
        let result = self.check_passkey_sign_in(ceremony_id, response, client).await;
        let outcome = match &result {
            Ok(_) => Some(LoginOutcome::Success),
            Err(LoginError::InvalidCredentials) => Some(LoginOutcome::InvalidCredentials),
            Err(LoginError::AccountDisabled) => Some(LoginOutcome::Disabled),
            Err(_) => None,
        };
        if let Some(outcome) = outcome {
            self.metrics.login(outcome);
        }
        result
    }

    async fn check_passkey_sign_in(
        &self,
        ceremony_id: &str,
        response: &str,
        client: Option<IpAddr>,
    ) -> Result<TokenPair, LoginError> {
        let now = self.clock.now();
        let client = client.map(|ip| ip.to_string());
        let client = client.as_deref();
        // A refusal that names no user is logged, not audited: sign-in is
        // open to anyone, and an unknown ceremony costs the caller nothing,
        // so each one must not cost a row either.
        let refuse = async |user: Option<UserId>, detail: &str| -> Result<TokenPair, LoginError> {
            if user.is_some() {
                let audit = AuditEvent::failure(now, AuditAction::Login).about(user).client(client).detail(detail);
                self.audit.append(&audit).await?;
            }
            tracing::info!(outcome = "invalid_credentials", reason = detail, "passkey sign-in refused");
            Err(LoginError::InvalidCredentials)
        };
        let Some(ceremony) =
            self.mfa.take_ceremony(ceremony_id, now).await?.filter(|c| c.purpose == CeremonyPurpose::SignIn)
        else {
            return refuse(None, "passkey_unknown_ceremony").await;
        };
        let Ok((handle, credential_id)) = self.passkeys.identify(response) else {
            return refuse(None, "passkey_malformed").await;
        };
        let Some(user) = self.users.find_by_id(UserId::from_uuid(handle)).await? else {
            return refuse(None, "passkey_unknown_credential").await;
        };
        let factors = self.mfa.factors(user.id).await?;
        let Some(factor) = factors.iter().find(|f| f.kind == FactorKind::Passkey && f.slot == credential_id) else {
            return refuse(Some(user.id), "passkey_unknown_credential").await;
        };
        let Some(credential) = self.open_passkey(&user, factor) else {
            return refuse(Some(user.id), "passkey_unreadable").await;
        };
        let stored = StoredPasskey { credential: &credential, sign_count: stored_count(factor) };
        let verified = self.passkeys.finish_sign_in(&ceremony.state, response, stored);
        if !self.accept_assertion(&user, factor, verified, now, client).await? {
            return Err(LoginError::InvalidCredentials);
        }
        if !user.is_active() {
            return Err(self.refuse_disabled(&user, now, client).await?);
        }
        let pair = self.open_checked_session(&user, now, client, Amr::of(&[AuthMethod::Passkey])).await?;
        tracing::info!(user_id = %user.id, session_id = %pair.session_id, outcome = "success", "passkey sign-in");
        Ok(pair)
    }

    /// The request options of a login's passkey step, limited to `user`'s
    /// passkeys, kept as a ceremony named after the login's `mfa_token`
    /// digest; `None` when the user has no passkey that opens.
    pub(crate) async fn start_second_factor_passkey(
        &self,
        user: &User,
        factors: &[Factor],
        ceremony_id: String,
    ) -> Result<Option<String>, StoreError> {
        let opened: Vec<(Vec<u8>, u32)> = factors
            .iter()
            .filter(|f| f.kind == FactorKind::Passkey)
            .filter_map(|f| self.open_passkey(user, f).map(|c| (c, stored_count(f))))
            .collect();
        if opened.is_empty() {
            return Ok(None);
        }
        let stored: Vec<_> = opened
            .iter()
            .map(|(credential, sign_count)| StoredPasskey { credential, sign_count: *sign_count })
            .collect();
        let started = match self.passkeys.start_second_factor(&stored) {
            Ok(started) => started,
            Err(e) => {
                tracing::error!(user_id = %user.id, error = %e, "passkey options for a login could not be made");
                return Ok(None);
            }
        };
        let ceremony =
            Ceremony::start(ceremony_id, CeremonyPurpose::SecondFactor, Some(user.id), started.state, self.clock.now());
        self.mfa.insert_ceremony(&ceremony).await?;
        Ok(Some(started.options))
    }

    /// Checks a passkey as a login's second factor against the ceremony
    /// its `mfa_token` started (spent either way).
    pub(crate) async fn accept_second_factor_passkey(
        &self,
        user: &User,
        ceremony_id: &str,
        response: &str,
        now: time::OffsetDateTime,
        client: Option<&str>,
    ) -> Result<bool, StoreError> {
        let Some(ceremony) = self
            .mfa
            .take_ceremony(ceremony_id, now)
            .await?
            .filter(|c| c.purpose == CeremonyPurpose::SecondFactor && c.user_id == Some(user.id))
        else {
            return Ok(false);
        };
        let verified = self.passkeys.finish_second_factor(&ceremony.state, response);
        let credential_id = match &verified {
            Ok(assertion) => assertion.credential_id.clone(),
            Err(_) => self.passkeys.identify(response).map(|(_, id)| id).unwrap_or_default(),
        };
        let factors = self.mfa.factors(user.id).await?;
        let Some(factor) = factors.iter().find(|f| f.kind == FactorKind::Passkey && f.slot == credential_id) else {
            return Ok(false);
        };
        self.accept_assertion(user, factor, verified, now, client).await
    }

    /// Records a verified assertion: the sign count must have grown (see
    /// [`sign_count_is_fresh`]) and is stored atomically. A count that did
    /// not grow is refused and audited.
    async fn accept_assertion(
        &self,
        user: &User,
        factor: &Factor,
        verified: Result<PasskeyAssertion, PasskeyError>,
        now: time::OffsetDateTime,
        client: Option<&str>,
    ) -> Result<bool, StoreError> {
        let stored = stored_count(factor);
        // The relying party checks the count it was handed; the count
        // stored now is checked and written here, in one compare-and-set.
        let fresh = match verified {
            Ok(assertion) => {
                sign_count_is_fresh(stored, assertion.sign_count)
                    && self.mfa.record_passkey_use(factor.id, stored, assertion.sign_count, now).await?
            }
            Err(PasskeyError::SignCountRegressed) => false,
            Err(e) => {
                tracing::info!(user_id = %user.id, passkey = %factor.id, error = %e, "passkey assertion refused");
                let audit = AuditEvent::failure(now, AuditAction::Login)
                    .about(user.id)
                    .client(client)
                    .detail(format!("passkey={} passkey_rejected", factor.id));
                self.audit.append(&audit).await?;
                return Ok(false);
            }
        };
        if fresh {
            return Ok(true);
        }
        let audit = AuditEvent::failure(now, AuditAction::PasskeySignCountRegressed)
            .about(user.id)
            .client(client)
            .detail(format!("passkey={} stored={stored}", factor.id));
        self.audit.append(&audit).await?;
        tracing::warn!(user_id = %user.id, passkey = %factor.id, "a passkey's sign count did not grow: possible clone; refused");
        Ok(false)
    }

    fn open_passkey(&self, user: &User, factor: &Factor) -> Option<Vec<u8>> {
        match self.crypto.open(&factor.secret, &passkey_context(user.id, &factor.slot)) {
            Ok(credential) => Some(credential),
            Err(e) => {
                tracing::error!(user_id = %user.id, passkey = %factor.id, error = %e, "a passkey does not open with the configured keys");
                None
            }
        }
    }

    async fn keep_ceremony(
        &self,
        purpose: CeremonyPurpose,
        user: Option<UserId>,
        started: StartedCeremony,
    ) -> Result<StartedPasskeyCeremony, StoreError> {
        let mut random = [0u8; CEREMONY_ID_BYTES];
        self.crypto.random(&mut random);
        let id = mfa_token_text(&random);
        self.mfa.insert_ceremony(&Ceremony::start(id.clone(), purpose, user, started.state, self.clock.now())).await?;
        Ok(StartedPasskeyCeremony { ceremony_id: id, options: started.options })
    }
}

fn stored_count(factor: &Factor) -> u32 {
    factor.passkey.as_ref().map_or(0, |p| p.sign_count)
}
