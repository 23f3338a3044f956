//! Service accounts: an admin creates, lists, rotates and deletes them; a
//! client trades its credentials for a service token (the OAuth 2.0
//! client-credentials grant); a service token authenticates as a
//! [`ServicePrincipal`].
//!
//! Secret checks are throttled per `client_id` with the login throttle's
//! limit and window. A deleted account's tokens are refused through the
//! revocation feed that sessions use: its id goes in as the "session", so
//! every instance refuses them within the same bound.

use gatehouse_domain::{
    AuditAction, ClientSecret, Revocation, Scope, ScopeError, Scopes, ServiceAccount, ServiceAccountId, ServiceName,
    SessionId, ThrottleKey, UserId,
    service::{CLIENT_ID_RANDOM_BYTES, CLIENT_SECRET_RANDOM_BYTES, client_id_from_random, is_client_credential},
};
use secrecy::{ExposeSecret, SecretString};
use time::Duration;

use crate::{
    Adapters, AdminPrincipal, AuthError, Gatehouse,
    ports::{
        Admission, Clock, FactorCrypto, IdSource, LoginThrottle, ServiceAccountStore, StoreError, TokenCodec,
        TokenError, VerifiedClientCache,
    },
};

/// A client secret, shown once.
#[derive(Debug)]
pub struct IssuedSecret {
    pub account: ServiceAccount,
    pub client_secret: ClientSecret,
}

/// Why a service-account change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceAccountError {
    #[error("no such service account")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A service token, as the token endpoint answers it.
#[derive(Debug)]
pub struct ServiceToken {
    pub access_token: SecretString,
    pub expires_in: Duration,
    pub scope: Scopes,
}

/// Why a client could not get a token.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    /// Unknown client, wrong secret, or a malformed one: alike.
    #[error("invalid client")]
    InvalidClient,
    /// The request names a scope that is unknown or not granted.
    #[error("invalid scope: {0}")]
    InvalidScope(ScopeError),
    /// Too many failed secret checks for this client id.
    #[error("too many failed client authentications")]
    Throttled { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// The authenticated service client of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipal {
    pub account_id: ServiceAccountId,
    pub client_id: String,
    pub scope: Scopes,
}

impl ServicePrincipal {
    /// Whether the token was granted `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scope.contains(scope)
    }
}

/// The revocation-feed key of a service account: its id, as a session id.
fn feed_key(id: ServiceAccountId) -> SessionId {
    SessionId::from_uuid(id.as_uuid())
}

impl<A: Adapters> Gatehouse<A> {
    /// Creates a service account with `scopes`; the secret is returned once
    /// and only its digest is kept.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn create_service_account(
        &self,
        admin: &AdminPrincipal,
        name: ServiceName,
        scopes: Scopes,
    ) -> Result<IssuedSecret, StoreError> {
        // Stores keep microseconds; so does every answer about the account.
        let now = crate::create_user::truncate_to_micros(self.clock.now());
        let mut id_bytes = [0u8; CLIENT_ID_RANDOM_BYTES];
        self.crypto.random(&mut id_bytes);
        let client_secret = self.new_client_secret();
        let account = ServiceAccount {
            id: ServiceAccountId::from_uuid(self.ids.new_id()),
            name,
            client_id: client_id_from_random(id_bytes),
            secret_hash: self.crypto.digest(client_secret.expose().as_bytes()),
            scopes,
            created_at: now,
        };
        let audit = admin.principal().event(now, AuditAction::ServiceAccountCreate).detail(format!(
            "service_account={} scopes={}",
            account.id,
            account.scopes.to_string().replace(' ', ",")
        ));
        self.service_accounts.insert_audited(&account, Some(&audit)).await?;
        tracing::info!(service_account_id = %account.id, "service account created");
        Ok(IssuedSecret { account, client_secret })
    }

    /// Every service account, oldest first.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn list_service_accounts(&self, _admin: &AdminPrincipal) -> Result<Vec<ServiceAccount>, StoreError> {
        self.service_accounts.list().await
    }

    /// One service account.
    ///
    /// # Errors
    /// [`ServiceAccountError::NotFound`].
    pub async fn service_account(
        &self,
        _admin: &AdminPrincipal,
        id: ServiceAccountId,
    ) -> Result<ServiceAccount, ServiceAccountError> {
        self.service_accounts.find(id).await?.ok_or(ServiceAccountError::NotFound)
    }

    /// A new secret; the old one stops working at once. Tokens already
    /// issued keep working until they expire.
    ///
    /// # Errors
    /// [`ServiceAccountError::NotFound`].
    pub async fn rotate_service_secret(
        &self,
        admin: &AdminPrincipal,
        id: ServiceAccountId,
    ) -> Result<IssuedSecret, ServiceAccountError> {
        let now = self.clock.now();
        let client_secret = self.new_client_secret();
        let digest = self.crypto.digest(client_secret.expose().as_bytes());
        let audit = admin
            .principal()
            .event(now, AuditAction::ServiceAccountSecretRotate)
            .detail(format!("service_account={id}"));
        if !self.service_accounts.set_secret_audited(id, &digest, now, Some(&audit)).await? {
            return Err(ServiceAccountError::NotFound);
        }
        let mut account = self.service_accounts.find(id).await?.ok_or(ServiceAccountError::NotFound)?;
        self.client_cache.forget(&account.client_id);
        account.secret_hash = digest;
        Ok(IssuedSecret { account, client_secret })
    }

    /// Deletes a service account: its secret stops working, and its tokens
    /// are refused at once here and through the revocation feed elsewhere.
    ///
    /// # Errors
    /// [`ServiceAccountError::NotFound`].
    pub async fn delete_service_account(
        &self,
        admin: &AdminPrincipal,
        id: ServiceAccountId,
    ) -> Result<(), ServiceAccountError> {
        let now = self.clock.now();
        let revocation = Revocation {
            session_id: feed_key(id),
            user_id: UserId::from_uuid(id.as_uuid()),
            revoked_at: now,
            relevant_until: self.policy.revocation_relevant_until(now),
        };
        let audit =
            admin.principal().event(now, AuditAction::ServiceAccountDelete).detail(format!("service_account={id}"));
        let client_id = self.service_accounts.find(id).await?.map(|account| account.client_id);
        if !self.service_accounts.delete_audited(id, &revocation, Some(&audit)).await? {
            return Err(ServiceAccountError::NotFound);
        }
        if let Some(client_id) = client_id {
            self.client_cache.forget(&client_id);
        }
        self.revocations.extend(&[revocation]);
        tracing::info!(service_account_id = %id, "service account deleted");
        Ok(())
    }

    /// The client-credentials grant: checks `client_id` and `client_secret`
    /// and issues a service token with the requested scopes (all the
    /// account's when `scope` is `None` or empty).
    ///
    /// # Errors
    /// [`ClientAuthError::InvalidClient`] for an unknown client, a wrong or
    /// malformed secret alike; [`ClientAuthError::Throttled`] once the
    /// client id has used its attempts for the window (the slot is taken
    /// before the secret is checked); [`ClientAuthError::InvalidScope`].
    pub async fn issue_service_token(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        scope: Option<&str>,
    ) -> Result<ServiceToken, ClientAuthError> {
        let account = self.authenticate_client(client_id, client_secret).await?;
        let scope = account.scopes.narrow(scope).map_err(ClientAuthError::InvalidScope)?;
        let now = self.clock.now();
        let claims = self.policy.service_claims(&account, scope.clone(), self.ids.new_id(), now);
        let access_token = SecretString::from(self.tokens.sign_service(&claims)?);
        tracing::info!(service_account_id = %account.id, "service token issued");
        Ok(ServiceToken { access_token, expires_in: Duration::seconds(claims.exp - claims.iat), scope })
    }

    /// Checks a client's credentials (for the token endpoint, and for the
    /// endpoints that take client authentication).
    ///
    /// # Errors
    /// As [`Self::issue_service_token`], without the scope.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        client_secret: &SecretString,
    ) -> Result<ServiceAccount, ClientAuthError> {
        // Only ids of our own form are looked up or counted: anything else
        // cannot exist, and must not grow the throttle's keys.
        if !is_client_credential(client_id) || client_id.len() > 64 {
            return Err(ClientAuthError::InvalidClient);
        }
        let presented = self.crypto.digest(client_secret.expose_secret().as_bytes());
        // Checked within the last second: no throttle slot, no lookup. A
        // wrong secret is a miss and takes the full path below.
        if let Some(account) = self.client_cache.get(client_id, &presented) {
            return Ok(account);
        }
        let now = self.clock.now();
        let keys = [ThrottleKey::Client(client_id.to_owned())];
        let slots = match self.throttle.acquire(&keys, now).await? {
            Admission::Granted(slots) => slots,
            Admission::Refused { retry_after } => return Err(ClientAuthError::Throttled { retry_after }),
        };
        match self.service_accounts.find_by_client_id(client_id).await? {
            // Digests of 256-bit secrets: comparing them leaks nothing
            // about the secret.
            Some(account) if account.secret_hash == presented => {
                self.throttle.succeeded(&slots).await?;
                self.client_cache.insert(&account);
                Ok(account)
            }
            _ => {
                tracing::info!(outcome = "invalid_client", "client authentication refused");
                Err(ClientAuthError::InvalidClient)
            }
        }
    }

    /// Turns a service token into a principal: signature and header, claim
    /// rules, then the in-memory revocation list (a deleted account).
    ///
    /// # Errors
    /// [`AuthError::Invalid`], [`AuthError::Expired`] or
    /// [`AuthError::Revoked`].
    pub fn authenticate_service(&self, token: &str) -> Result<ServicePrincipal, AuthError> {
        let claims = self.tokens.verify_service(token).map_err(|e| match e {
            TokenError::Invalid => AuthError::Invalid,
            TokenError::Internal(e) => AuthError::Store(StoreError::Internal(e)),
        })?;
        self.policy.check_service(&claims, self.clock.now())?;
        // The account deleted, or this one token revoked.
        if self.revocations.is_revoked(feed_key(claims.sub))
            || self.revocations.is_revoked(SessionId::from_uuid(claims.jti))
        {
            return Err(AuthError::Revoked);
        }
        Ok(ServicePrincipal { account_id: claims.sub, client_id: claims.client_id, scope: claims.scope })
    }

    fn new_client_secret(&self) -> ClientSecret {
        let mut random = [0u8; CLIENT_SECRET_RANDOM_BYTES];
        self.crypto.random(&mut random);
        ClientSecret::from_random(random)
    }
}
