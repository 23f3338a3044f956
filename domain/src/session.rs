//! Sessions: what a successful login opens and what an access token refers to.

use std::fmt;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{Amr, UserId};

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

/// A login session.
///
/// Refresh tokens are not stored at all: the token for rotation number
/// `generation` is derived from the session id and that number with a
/// server-side key (see the `RefreshTokens` port), so the store keeps only
/// the counter and when it last moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    /// How many times the refresh token was rotated; only the token of this
    /// generation rotates.
    pub generation: u64,
    /// When `generation` last moved (`None` before the first rotation).
    pub rotated_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    /// When its user signed in (a refresh does not move it): what "recent
    /// authentication" is measured from.
    pub auth_time: OffsetDateTime,
    /// How its user signed in.
    pub amr: Amr,
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

/// What presenting the refresh token of a given generation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshDecision {
    /// The current token: rotate to the next generation.
    Rotate,
    /// The token rotated away less than the grace interval ago (two tabs, a
    /// retried request): answer with the current token, change nothing.
    Grace,
    /// An older token, or the previous one after the grace interval: the
    /// token was copied; revoke the whole session.
    Reuse,
    /// The session is over (revoked or expired), or the generation was
    /// never issued.
    Refuse,
}

impl Session {
    /// Judges a refresh with the token of generation `presented` at `now`.
    pub fn judge_refresh(&self, presented: u64, now: OffsetDateTime, grace: Duration) -> RefreshDecision {
        if self.state(now) != SessionState::Live || presented > self.generation {
            return RefreshDecision::Refuse;
        }
        if presented == self.generation {
            return RefreshDecision::Rotate;
        }
        let just_rotated = self.rotated_at.is_some_and(|at| now - at < grace);
        if presented + 1 == self.generation && just_rotated { RefreshDecision::Grace } else { RefreshDecision::Reuse }
    }
}

/// A revoked session as other instances learn of it. Access tokens of the
/// session must be refused until `relevant_until`; after that every access
/// token it could have issued has expired, and the record can be purged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub revoked_at: OffsetDateTime,
    pub relevant_until: OffsetDateTime,
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
            generation: 0,
            rotated_at: None,
            created_at: start,
            last_used_at: start,
            expires_at,
            revoked_at,
            auth_time: start,
            amr: Amr::password(),
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

    const GRACE: Duration = Duration::seconds(10);

    fn rotated(generation: u64, at: OffsetDateTime) -> Session {
        Session { generation, rotated_at: Some(at), ..session(datetime!(2026-01-31 00:00 UTC), None) }
    }

    #[test]
    fn the_current_refresh_token_rotates() {
        let now = datetime!(2026-01-02 00:00 UTC);
        assert_eq!(
            session(datetime!(2026-01-31 00:00 UTC), None).judge_refresh(0, now, GRACE),
            RefreshDecision::Rotate
        );
        assert_eq!(rotated(3, now).judge_refresh(3, now, GRACE), RefreshDecision::Rotate);
    }

    #[test]
    fn the_token_rotated_away_within_the_grace_interval_gets_the_current_one() {
        let at = datetime!(2026-01-02 00:00 UTC);
        let s = rotated(4, at);
        assert_eq!(s.judge_refresh(3, at + Duration::seconds(9), GRACE), RefreshDecision::Grace);
        assert_eq!(s.judge_refresh(3, at + Duration::seconds(10), GRACE), RefreshDecision::Reuse);
    }

    #[test]
    fn older_tokens_are_reuse_even_within_the_grace_interval() {
        let at = datetime!(2026-01-02 00:00 UTC);
        assert_eq!(rotated(4, at).judge_refresh(2, at, GRACE), RefreshDecision::Reuse);
        assert_eq!(rotated(4, at).judge_refresh(0, at, GRACE), RefreshDecision::Reuse);
    }

    #[test]
    fn ended_sessions_and_unissued_generations_are_refused() {
        let now = datetime!(2026-01-02 00:00 UTC);
        let revoked = session(datetime!(2026-01-31 00:00 UTC), Some(now));
        assert_eq!(revoked.judge_refresh(0, now, GRACE), RefreshDecision::Refuse);
        let expired = session(datetime!(2026-01-01 12:00 UTC), None);
        assert_eq!(expired.judge_refresh(0, now, GRACE), RefreshDecision::Refuse);
        assert_eq!(rotated(1, now).judge_refresh(2, now, GRACE), RefreshDecision::Refuse);
    }
}
