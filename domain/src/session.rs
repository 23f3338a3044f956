//! Sessions: what a successful login opens and what an access token refers to.

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::UserId;

/// A session's identifier; access tokens carry it as the `sid` claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Uuid);

impl SessionId {
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A login session. The refresh token itself is never stored: only its
/// digest (`refresh_token_digest`), so a copy of the database cannot be used
/// to refresh anything.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub refresh_token_digest: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// Where a session stands at a given instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    Live,
    Expired,
    Revoked,
}

impl Session {
    /// The session's state at `now`. Revocation wins over expiry: a revoked
    /// session stays revoked whatever the clock says.
    pub fn state(&self, now: OffsetDateTime) -> SessionState {
        if self.revoked_at.is_some() {
            SessionState::Revoked
        } else if now >= self.expires_at {
            SessionState::Expired
        } else {
            SessionState::Live
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use time::{Duration, macros::datetime};

    use super::*;

    fn session(expires_at: OffsetDateTime, revoked_at: Option<OffsetDateTime>) -> Session {
        let start = datetime!(2026-01-01 00:00 UTC);
        Session {
            id: SessionId::from_uuid(Uuid::nil()),
            user_id: UserId::from_uuid(Uuid::nil()),
            refresh_token_digest: "digest".into(),
            created_at: start,
            last_used_at: start,
            expires_at,
            revoked_at,
        }
    }

    #[test]
    fn a_session_is_live_until_it_expires() {
        let expires = datetime!(2026-01-31 00:00 UTC);
        let s = session(expires, None);
        assert_eq!(s.state(expires - Duration::seconds(1)), SessionState::Live);
        assert_eq!(s.state(expires), SessionState::Expired);
    }

    #[test]
    fn a_revoked_session_stays_revoked_even_before_expiry() {
        let expires = datetime!(2026-01-31 00:00 UTC);
        let s = session(expires, Some(datetime!(2026-01-02 00:00 UTC)));
        assert_eq!(s.state(datetime!(2026-01-03 00:00 UTC)), SessionState::Revoked);
        assert_eq!(s.state(expires + Duration::days(1)), SessionState::Revoked);
    }

    #[test]
    fn debug_output_never_shows_the_refresh_token_digest() {
        let s = session(datetime!(2026-01-31 00:00 UTC), None);
        assert!(!format!("{s:?}").contains("\"digest\""));
    }
}
