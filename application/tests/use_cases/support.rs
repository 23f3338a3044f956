//! Builds a [`Gatehouse`] over in-memory adapters, with helpers that speak
//! the use cases' language.

use aws_lc_rs::{
    rand::{SecureRandom, SystemRandom},
    signature::Ed25519KeyPair,
};
use gatehouse_application::{
    AuthError, Gatehouse, LoginRequest, Principal, RefreshError, TokenPair,
    ports::{PasswordHasher, UserStore},
};
use gatehouse_domain::{NewPassword, Role, TokenPolicy, User, UserId, Username};
use gatehouse_infrastructure::{
    FixedClock, HmacRefreshTokens, JwtCodec, MemoryAuditLog, MemoryLoginThrottle, MemorySessionStore, MemoryUserStore,
    SigningKey,
    testkit::{InMemory, InMemoryBuilder},
};
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime, macros::datetime};
use uuid::Uuid;

/// Where every test's clock starts.
pub const T0: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);
/// Failed logins allowed per username or address within [`THROTTLE_WINDOW`].
pub const THROTTLE_LIMIT: u32 = 3;
pub const THROTTLE_WINDOW: Duration = Duration::minutes(15);

/// A password that passes the policy.
pub const PASSWORD: &str = "correct horse battery staple";
pub const WRONG_PASSWORD: &str = "incorrect horse battery staple";
/// Another password that passes the policy, for password changes.
pub const NEW_PASSWORD: &str = "purple elephant juggling quietly";

/// The adapter set under test: the public test kit's, time under control.
pub type TestAdapters = InMemory<FixedClock>;

pub type App = Gatehouse<TestAdapters>;

/// What varies between the apps a test builds: one `Setup` is one
/// deployment's configuration (keys and policy).
pub struct Setup {
    /// Ed25519 private key, PKCS#8 DER.
    pub key: Vec<u8>,
    /// The key refresh tokens are derived with.
    pub refresh_key: [u8; 32],
    pub policy: TokenPolicy,
}

impl Default for Setup {
    fn default() -> Self {
        Self { key: ed25519_key(), refresh_key: random_key(), policy: TokenPolicy::default() }
    }
}

impl Setup {
    /// A fresh app: empty stores, clock at [`T0`], throttle at
    /// [`THROTTLE_LIMIT`] per [`THROTTLE_WINDOW`].
    pub fn build(&self) -> App {
        let audit = MemoryAuditLog::new();
        self.build_on(
            MemoryUserStore::with_audit(audit.clone()),
            MemorySessionStore::with_audit(audit),
            FixedClock::new(T0),
        )
    }

    /// An app over existing stores and clock (clones share their data), with
    /// an empty revocation list and throttle of its own, as a process
    /// starting on an existing database.
    pub fn build_on(&self, users: MemoryUserStore, sessions: MemorySessionStore, clock: FixedClock) -> App {
        // The user store's log: the one its writes (and, in `build`, the
        // session store's) append to.
        let audit = users.audit_log();
        InMemoryBuilder::new()
            .clock(clock)
            .stores(users, sessions, audit)
            .policy(self.policy.clone())
            .throttle(MemoryLoginThrottle::new(THROTTLE_LIMIT, THROTTLE_WINDOW))
            .tokens(codec(&self.key))
            .refresh_tokens(HmacRefreshTokens::new(&self.refresh_key).unwrap())
            .build()
            .unwrap()
    }

    /// Another instance of `app`'s deployment: same database, same keys,
    /// same (shared) clock.
    pub fn another_instance(&self, app: &App) -> App {
        self.build_on(app.parts().users.clone(), app.parts().sessions.clone(), app.parts().clock.clone())
    }
}

/// 32 random bytes.
pub fn random_key() -> [u8; 32] {
    let mut key = [0; 32];
    SystemRandom::new().fill(&mut key).unwrap();
    key
}

/// A fresh app with the default policy and a new key.
pub fn app() -> App {
    Setup::default().build()
}

/// A new Ed25519 signing key.
pub fn ed25519_key() -> Vec<u8> {
    Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap().as_ref().to_vec()
}

/// A token codec over `key`.
pub fn codec(key: &[u8]) -> JwtCodec {
    JwtCodec::new(&SigningKey::Ed25519 { pkcs8_der: key.to_vec() }).unwrap()
}

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

pub fn username(raw: &str) -> Username {
    Username::parse(raw).unwrap()
}

pub fn new_password(raw: &str) -> NewPassword {
    NewPassword::parse(secret(raw), None).unwrap()
}

/// Registers `name` with [`PASSWORD`].
pub async fn register(app: &App, name: &str) -> User {
    app.register(username(name), new_password(PASSWORD), None).await.unwrap()
}

/// Puts a user straight into the store, bypassing the use cases (for
/// accounts no use case can make yet, such as disabled ones).
pub async fn insert_user(app: &App, name: &str, role: Role, disabled: bool) -> User {
    let user = User {
        id: UserId::from_uuid(Uuid::now_v7()),
        username: username(name),
        password_hash: app.parts().hasher.hash(secret(PASSWORD)).await.unwrap(),
        role,
        disabled,
        created_at: T0,
    };
    app.parts().users.insert(&user).await.unwrap();
    user
}

pub fn login_request(name: &str, password: &str, client: Option<&str>) -> LoginRequest {
    LoginRequest {
        username: name.to_owned(),
        password: secret(password),
        client: client.map(|ip| ip.parse().expect("an IP address")),
    }
}

/// Logs `name` in with [`PASSWORD`] from no particular address.
pub async fn login(app: &App, name: &str) -> TokenPair {
    app.login(login_request(name, PASSWORD, None)).await.unwrap().signed_in().expect("no second factor")
}

/// The plaintext of a secret token.
pub fn expose(token: &SecretString) -> &str {
    token.expose_secret()
}

/// Refreshes with `pair`'s refresh token, which must succeed.
pub async fn refresh(app: &App, pair: &TokenPair) -> TokenPair {
    app.refresh(expose(&pair.refresh_token), None).await.unwrap()
}

/// The principal of `pair`'s access token, which must authenticate.
pub fn principal(app: &App, pair: &TokenPair) -> Principal {
    app.authenticate(&pair.access_token).unwrap()
}

/// Asserts that `pair`'s session is usable on `app`: its access token
/// authenticates and its refresh token refreshes. The refresh rotates the
/// token; `pair`'s stays good for the grace interval. (`what` names the
/// session in failure messages.)
pub async fn assert_session_usable(app: &App, pair: &TokenPair, what: &str) {
    let auth = app.authenticate(&pair.access_token);
    assert!(auth.is_ok(), "{what}: access token refused: {auth:?}");
    let refreshed = app.refresh(expose(&pair.refresh_token), None).await;
    assert!(refreshed.is_ok(), "{what}: refresh refused: {refreshed:?}");
}

/// Asserts that `pair`'s session has ended on `app`: its access token is
/// revoked and its refresh token refused.
pub async fn assert_session_ended(app: &App, pair: &TokenPair, what: &str) {
    let auth = app.authenticate(&pair.access_token);
    assert!(matches!(auth, Err(AuthError::Revoked)), "{what}: expected a revoked access token, got {auth:?}");
    let refreshed = app.refresh(expose(&pair.refresh_token), None).await;
    assert!(
        matches!(refreshed, Err(RefreshError::InvalidRefreshToken)),
        "{what}: expected a refused refresh, got {refreshed:?}"
    );
}

/// The user stored under `name`, if any.
pub async fn stored_user(app: &App, name: &str) -> Option<User> {
    app.parts().users.find_by_username(&username(name)).await.unwrap()
}
