//! Registering and creating accounts.

use gatehouse_application::{CreateUserError, ports::PasswordHasher};
use gatehouse_domain::Role;

use crate::support::{PASSWORD, T0, WRONG_PASSWORD, app, new_password, register, secret, stored_user, username};

#[tokio::test]
async fn registering_creates_a_user_account_under_the_lower_cased_name() {
    let app = app();

    let user = app.register(username("  Alice.Smith "), new_password(PASSWORD), None).await.unwrap();

    assert_eq!(user.username.as_str(), "alice.smith");
    assert_eq!(user.role, Role::User);
    assert!(user.is_active());
    assert_eq!(user.created_at, T0);
    assert_eq!(stored_user(&app, "alice.smith").await.as_ref(), Some(&user));
}

#[tokio::test]
async fn registering_a_taken_name_again_in_any_case_is_refused() {
    let app = app();
    let alice = register(&app, "alice").await;

    for taken in ["alice", "ALICE", "Alice", " aLiCe "] {
        let result = app.register(username(taken), new_password("another good passphrase"), None).await;
        assert!(matches!(result, Err(CreateUserError::UsernameTaken)), "{taken:?}: {result:?}");
    }
    // The first account is untouched: same id, and still its own password.
    let stored = stored_user(&app, "alice").await.unwrap();
    assert_eq!(stored.id, alice.id);
    assert!(app.parts().hasher.verify(secret(PASSWORD), Some(stored.password_hash)).await.unwrap());
}

#[tokio::test]
async fn creating_an_admin_account_under_a_taken_name_is_refused_too() {
    let app = app();
    register(&app, "alice").await;

    let result = app.create_user(username("Alice"), new_password(PASSWORD), Role::Admin).await;

    assert!(matches!(result, Err(CreateUserError::UsernameTaken)), "{result:?}");
    assert_eq!(stored_user(&app, "alice").await.unwrap().role, Role::User);
}

#[tokio::test]
async fn the_password_is_stored_as_an_argon2id_hash_never_as_itself() {
    let app = app();
    let user = register(&app, "alice").await;

    let hash = stored_user(&app, "alice").await.unwrap().password_hash;
    assert_eq!(hash, user.password_hash);
    assert!(hash.as_str().starts_with("$argon2id$v=19$"), "not argon2id");
    assert!(!hash.as_str().contains(PASSWORD));
    assert!(app.parts().hasher.verify(secret(PASSWORD), Some(hash.clone())).await.unwrap());
    assert!(!app.parts().hasher.verify(secret(WRONG_PASSWORD), Some(hash)).await.unwrap());
}

#[tokio::test]
async fn two_accounts_with_the_same_password_get_different_hashes_and_ids() {
    let app = app();
    let alice = register(&app, "alice").await;
    let bob = register(&app, "bob").await;

    assert_ne!(alice.id, bob.id);
    assert_ne!(alice.password_hash, bob.password_hash, "hashes must be salted");
}

#[tokio::test]
async fn creating_a_user_with_the_admin_role_makes_an_admin() {
    let app = app();

    let admin = app.create_user(username("Root"), new_password(PASSWORD), Role::Admin).await.unwrap();

    assert_eq!(admin.role, Role::Admin);
    assert_eq!(admin.username.as_str(), "root");
    assert_eq!(stored_user(&app, "root").await.unwrap().role, Role::Admin);
}
