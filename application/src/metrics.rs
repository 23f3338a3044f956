//! What the use cases report to the operator's metrics: outcomes, never
//! who (no username, token or address is ever a label).

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginOutcome {
    Success,
    InvalidCredentials,
    Throttled,
    Disabled,
    MfaRequired,
}

/// How a refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefreshOutcome {
    Rotated,
    Grace,
    Reuse,
    Invalid,
}

/// Why sessions were revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// Logout in any scope, or the user ending one of their sessions.
    Logout,
    /// A refresh token was presented again after its grace interval.
    Reuse,
    /// The user changed their password (every other session ends).
    PasswordChange,
    /// An administrator changed or deleted the account (also a login
    /// undone because the account changed while it ran).
    Admin,
    /// A second factor was turned on.
    Mfa,
}

impl LoginOutcome {
    pub const ALL: [Self; 5] =
        [Self::Success, Self::InvalidCredentials, Self::Throttled, Self::Disabled, Self::MfaRequired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Throttled => "throttled",
            Self::Disabled => "disabled",
            Self::MfaRequired => "mfa_required",
        }
    }
}

impl RefreshOutcome {
    pub const ALL: [Self; 4] = [Self::Rotated, Self::Grace, Self::Reuse, Self::Invalid];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rotated => "rotated",
            Self::Grace => "grace",
            Self::Reuse => "reuse",
            Self::Invalid => "invalid",
        }
    }
}

impl RevocationReason {
    pub const ALL: [Self; 5] = [Self::Logout, Self::Reuse, Self::PasswordChange, Self::Admin, Self::Mfa];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Reuse => "reuse",
            Self::PasswordChange => "password_change",
            Self::Admin => "admin",
            Self::Mfa => "mfa",
        }
    }
}
