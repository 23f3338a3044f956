//! Gatehouse domain: the rules of accounts, roles, sessions and access tokens
//! as plain types and functions.
//!
//! Nothing here performs I/O, reads the clock or touches cryptography: time is
//! always an argument, and hashing or signing live behind the application's
//! ports. That keeps every rule testable with plain unit tests.

pub mod audit;
pub mod mfa;
pub mod passkey;
pub mod password;
pub mod role;
pub mod service;
pub mod session;
pub mod throttle;
pub mod token;
pub mod user;
pub mod username;

pub use audit::{AuditAction, AuditEvent, AuditOutcome, RecordedEvent};
pub use mfa::{
    Amr, AuthMethod, Digest, Factor, FactorId, FactorKind, MfaChallenge, MfaStatus, PendingTotp, RecoveryCode, Sealed,
    SecondFactorMethod, SecurityPolicy, TotpCode, TotpSecret,
};
pub use passkey::{Ceremony, CeremonyPurpose, PasskeyDetails, PasskeyName, PasskeyNameError};
pub use password::{NewPassword, PasswordHash, PasswordRule};
pub use role::{Permission, Role, RoleError};
pub use service::{ClientSecret, Scope, ScopeError, Scopes, ServiceAccount, ServiceAccountId, ServiceName};
pub use session::{RefreshDecision, Revocation, Session, SessionId, SessionState};
pub use throttle::{ThrottleKey, ThrottlePolicy, ThrottleWindow};
pub use token::{AccessClaims, ClaimsError, ServiceClaims, TokenPolicy};
pub use user::{User, UserId, leaves_no_active_admin};
pub use username::{Username, UsernameError};
