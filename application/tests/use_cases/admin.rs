//! User administration: listing, inspecting, changing and deleting users,
//! which only admins may do, and which ends the changed user's sessions.

use gatehouse_application::{
    AdminError, AdminPrincipal, AuthError, LoginError, Principal, RefreshError, UserPage,
    admin::MAX_PAGE,
    ports::{UserChange, UserStore},
};
use gatehouse_domain::{Role, User, UserId};
use time::Duration;
use uuid::Uuid;

use crate::support::{
    App, PASSWORD, Setup, T0, WRONG_PASSWORD, app, assert_session_ended, assert_session_usable, expose, insert_user,
    login, login_request, new_password, principal, refresh, register, stored_user, username,
};

/// Creates `name` as an admin with [`PASSWORD`].
async fn create_admin(app: &App, name: &str) -> User {
    app.create_user(username(name), new_password(PASSWORD), Role::Admin).await.unwrap()
}

/// Logs `name` in and returns the principal of the new session.
async fn principal_of(app: &App, name: &str) -> Principal {
    principal(app, &login(app, name).await)
}

/// The proof the admin use cases take.
fn as_admin(app: &App, principal: &Principal) -> AdminPrincipal {
    app.authorize_admin(principal.clone()).expect("an admin")
}

fn promote() -> UserChange {
    UserChange { role: Some(Role::Admin), disabled: None }
}

fn demote() -> UserChange {
    UserChange { role: Some(Role::User), disabled: None }
}

fn disable() -> UserChange {
    UserChange { role: None, disabled: Some(true) }
}

fn enable() -> UserChange {
    UserChange { role: None, disabled: Some(false) }
}

fn ids(users: &[User]) -> Vec<UserId> {
    users.iter().map(|u| u.id).collect()
}

/// Every user in the store, in id order.
async fn all_users(app: &App) -> Vec<User> {
    app.parts().users.list(None, u32::MAX).await.unwrap()
}

// --- who may administer ------------------------------------------------------

#[tokio::test]
async fn a_non_admin_is_forbidden_every_administration_and_changes_nothing() {
    let app = app();
    let admin = create_admin(&app, "root").await;
    let bob = register(&app, "bob").await;
    let bobs = login(&app, "bob").await;
    register(&app, "mallory").await;
    let mallory = principal_of(&app, "mallory").await;
    assert_eq!(mallory.role, Role::User);

    // The admin use cases take an `AdminPrincipal`, which only
    // `authorize_admin` makes: a non-admin cannot even call them.
    assert_err!(app.authorize_admin(mallory.clone()), AuthError::Forbidden);

    assert_eq!(stored_user(&app, "bob").await, Some(bob));
    assert_eq!(stored_user(&app, "root").await, Some(admin));
    assert_eq!(stored_user(&app, "mallory").await.unwrap().role, Role::User);
    assert_session_usable(&app, &bobs, "bob's session").await;
}

#[tokio::test]
async fn a_demoted_admin_logging_in_again_is_forbidden_administration() {
    // Tokens carry the role they were signed with; a demoted admin's old
    // tokens are revoked (see below), and a new login carries the new role.
    let app = app();
    create_admin(&app, "root").await;
    let alice = create_admin(&app, "alice").await;
    let root = principal_of(&app, "root").await;

    app.change_user(&as_admin(&app, &root), alice.id, demote()).await.unwrap();

    let alice = principal_of(&app, "alice").await;
    assert_eq!(alice.role, Role::User);
    assert_err!(app.authorize_admin(alice), AuthError::Forbidden);
}

// --- list and get ------------------------------------------------------------

#[tokio::test]
async fn listing_pages_through_every_user_in_creation_order_with_next_none_on_the_last_page() {
    let app = app();
    create_admin(&app, "root").await;
    for name in ["bob", "carol", "dave", "erin"] {
        register(&app, name).await;
    }
    let root = principal_of(&app, "root").await;
    let everyone = all_users(&app).await;
    assert_eq!(everyone.len(), 5);

    for limit in 1..=6_usize {
        let mut pages: Vec<UserPage> = Vec::new();
        let mut after = None;
        loop {
            let page = app.list_users(&as_admin(&app, &root), after, limit as u32).await.unwrap();
            assert!(page.users.len() <= limit, "limit {limit}: a page of {}", page.users.len());
            after = page.next;
            let last = page.next.is_none();
            pages.push(page);
            if last {
                break;
            }
            assert!(pages.len() <= everyone.len(), "limit {limit}: paging does not end");
        }

        let listed: Vec<User> = pages.iter().flat_map(|p| p.users.clone()).collect();
        assert_eq!(listed, everyone, "limit {limit}: every user once, in order");
        // Full pages point at their last user; the last page has no next,
        // even when it is full (no empty page at the end).
        assert_eq!(pages.len(), everyone.len().div_ceil(limit), "limit {limit}: pages");
        for page in &pages[..pages.len() - 1] {
            assert_eq!(page.users.len(), limit);
            assert_eq!(page.next, page.users.last().map(|u| u.id), "limit {limit}");
        }
    }
}

#[tokio::test]
async fn listing_after_the_last_user_or_an_empty_page_has_no_next() {
    let app = app();
    let root = create_admin(&app, "root").await;
    let bob = register(&app, "bob").await;
    let principal = principal_of(&app, "root").await;

    let page = app.list_users(&as_admin(&app, &principal), Some(bob.id), 10).await.unwrap();
    assert_eq!(page, UserPage { users: Vec::new(), next: None });

    let page = app.list_users(&as_admin(&app, &principal), Some(root.id), 1).await.unwrap();
    assert_eq!(page, UserPage { users: vec![bob], next: None });
}

#[tokio::test]
async fn the_page_size_is_clamped_to_between_one_and_the_maximum() {
    let app = app();
    create_admin(&app, "root").await;
    let root = principal_of(&app, "root").await;
    // More users than a page holds, stored directly: one hash for all.
    let hash = app.parts().users.find_by_username(&username("root")).await.unwrap().unwrap().password_hash;
    let extra = MAX_PAGE as usize + 5;
    for i in 0..extra {
        let user = User {
            id: UserId::from_uuid(Uuid::now_v7()),
            username: username(&format!("user{i}")),
            password_hash: hash.clone(),
            role: Role::User,
            disabled: false,
            created_at: T0,
        };
        app.parts().users.insert(&user).await.unwrap();
    }
    let everyone = all_users(&app).await;
    assert_eq!(everyone.len(), extra + 1);

    // Zero is taken as one.
    let page = app.list_users(&as_admin(&app, &root), None, 0).await.unwrap();
    assert_eq!(ids(&page.users), ids(&everyone[..1]));
    assert_eq!(page.next, Some(everyone[0].id));

    // Anything beyond the maximum is the maximum.
    for limit in [MAX_PAGE + 1, 1_000, u32::MAX] {
        let page = app.list_users(&as_admin(&app, &root), None, limit).await.unwrap();
        assert_eq!(ids(&page.users), ids(&everyone[..MAX_PAGE as usize]), "limit {limit}");
        assert_eq!(page.next, Some(everyone[MAX_PAGE as usize - 1].id), "limit {limit}");
    }
    let page = app.list_users(&as_admin(&app, &root), None, MAX_PAGE).await.unwrap();
    assert_eq!(page.users.len(), MAX_PAGE as usize);

    let rest =
        app.list_users(&as_admin(&app, &root), Some(everyone[MAX_PAGE as usize - 1].id), u32::MAX).await.unwrap();
    assert_eq!(ids(&rest.users), ids(&everyone[MAX_PAGE as usize..]));
    assert_eq!(rest.next, None);
}

#[tokio::test]
async fn getting_a_user_returns_them_and_an_unknown_id_is_not_found() {
    let app = app();
    create_admin(&app, "root").await;
    let bob = register(&app, "bob").await;
    let root = principal_of(&app, "root").await;

    assert_eq!(app.get_user(&as_admin(&app, &root), bob.id).await.unwrap(), bob);
    assert_eq!(app.get_user(&as_admin(&app, &root), root.user_id).await.unwrap().username, username("root"));
    assert_err!(app.get_user(&as_admin(&app, &root), UserId::from_uuid(Uuid::now_v7())).await, AdminError::NotFound);
}

// --- change ------------------------------------------------------------------

#[tokio::test]
async fn changing_a_user_returns_and_stores_the_change() {
    let app = app();
    create_admin(&app, "root").await;
    let bob = register(&app, "bob").await;
    let root = principal_of(&app, "root").await;

    let changed = app
        .change_user(&as_admin(&app, &root), bob.id, UserChange { role: Some(Role::Admin), disabled: Some(true) })
        .await;

    let expected = User { role: Role::Admin, disabled: true, ..bob };
    assert_eq!(changed.unwrap(), expected);
    assert_eq!(app.get_user(&as_admin(&app, &root), expected.id).await.unwrap(), expected);
    assert_err!(
        app.change_user(&as_admin(&app, &root), UserId::from_uuid(Uuid::now_v7()), disable()).await,
        AdminError::NotFound
    );
}

#[tokio::test]
async fn changing_a_user_ends_every_session_of_theirs_and_only_theirs() {
    let app = app();
    create_admin(&app, "root").await;
    let bob = register(&app, "bob").await;
    register(&app, "carol").await;
    let roots = login(&app, "root").await;
    let bobs = [login(&app, "bob").await, login(&app, "bob").await];
    let carols = login(&app, "carol").await;

    for (i, change) in [promote(), demote(), disable(), enable(), UserChange::default()].into_iter().enumerate() {
        let bobs_now = login(&app, "bob").await;

        app.change_user(&as_admin(&app, &principal(&app, &roots)), bob.id, change).await.unwrap();

        // The access token is refused at once, the refresh token too.
        assert_session_ended(&app, &bobs_now, &format!("change {i} ({change:?}): bob's newest session")).await;
        if change == disable() {
            // A disabled bob may not log in to make the next session.
            app.change_user(&as_admin(&app, &principal(&app, &roots)), bob.id, enable()).await.unwrap();
        }
    }
    for (i, pair) in bobs.iter().enumerate() {
        assert_session_ended(&app, pair, &format!("bob's session {i}")).await;
    }
    assert_session_usable(&app, &carols, "carol's session").await;
    assert_session_usable(&app, &roots, "the admin's session").await;
}

#[tokio::test]
async fn another_instance_refuses_a_changed_users_refresh_at_once_and_their_access_token_after_its_sync() {
    let setup = Setup::default();
    let a = setup.build();
    let b = setup.another_instance(&a);
    create_admin(&a, "root").await;
    let bob = register(&a, "bob").await;
    let bobs = login(&a, "bob").await;
    b.sync_revocations().await.unwrap();

    a.change_user(&as_admin(&a, &principal_of(&a, "root").await), bob.id, promote()).await.unwrap();

    assert_err!(b.refresh(expose(&bobs.refresh_token), None).await, RefreshError::InvalidRefreshToken);
    b.parts().clock.advance(Duration::SECOND);
    assert_eq!(b.sync_revocations().await.unwrap(), 1);
    assert_err!(b.authenticate(&bobs.access_token), AuthError::Revoked);
}

#[tokio::test]
async fn a_refused_change_ends_no_session() {
    let app = app();
    let root = create_admin(&app, "root").await;
    let carol = insert_user(&app, "carol", Role::Admin, true).await;
    let roots = login(&app, "root").await;
    let admin = principal(&app, &roots);

    // The only active admin may be neither demoted nor disabled, not even
    // by themselves; a disabled admin does not count.
    for change in [demote(), disable(), UserChange { role: Some(Role::User), disabled: Some(true) }] {
        assert_err!(app.change_user(&as_admin(&app, &admin), root.id, change).await, AdminError::LastAdmin);
    }
    // Changing an unknown user is no change either.
    assert_err!(
        app.change_user(&as_admin(&app, &admin), UserId::from_uuid(Uuid::now_v7()), demote()).await,
        AdminError::NotFound
    );

    assert_session_usable(&app, &roots, "the last admin's session").await;
    assert_eq!(stored_user(&app, "root").await, Some(root));
    assert_eq!(stored_user(&app, "carol").await, Some(carol));
}

#[tokio::test]
async fn with_a_second_active_admin_an_admin_may_step_down_and_their_sessions_end() {
    let app = app();
    let root = create_admin(&app, "root").await;
    let alice = create_admin(&app, "alice").await;
    let roots = login(&app, "root").await;
    let alices = login(&app, "alice").await;

    let demoted = app.change_user(&as_admin(&app, &principal(&app, &roots)), root.id, demote()).await.unwrap();

    assert_eq!(demoted, User { role: Role::User, ..root });
    assert_session_ended(&app, &roots, "the demoted admin's own session").await;
    assert_session_usable(&app, &alices, "the other admin's session").await;
    // Now alice is the last one.
    assert_err!(
        app.change_user(&as_admin(&app, &principal(&app, &alices)), alice.id, disable()).await,
        AdminError::LastAdmin
    );
}

#[tokio::test]
async fn a_disabled_users_correct_login_is_refused_as_disabled_until_enabled_again() {
    let app = app();
    create_admin(&app, "root").await;
    let bob = register(&app, "bob").await;
    let root = principal_of(&app, "root").await;

    app.change_user(&as_admin(&app, &root), bob.id, disable()).await.unwrap();

    assert_err!(app.login(login_request("bob", PASSWORD, None)).await, LoginError::AccountDisabled);
    // The wrong password says nothing about the account.
    assert_err!(app.login(login_request("bob", WRONG_PASSWORD, None)).await, LoginError::InvalidCredentials);

    app.change_user(&as_admin(&app, &root), bob.id, enable()).await.unwrap();
    let pair = login(&app, "bob").await;
    assert_eq!(principal(&app, &pair).user_id, bob.id);
}

#[tokio::test]
async fn a_promoted_users_old_session_ends_and_their_next_tokens_carry_the_admin_role() {
    let app = app();
    create_admin(&app, "root").await;
    let bob = register(&app, "bob").await;
    let old = login(&app, "bob").await;
    assert_eq!(principal(&app, &old).role, Role::User);

    app.change_user(&as_admin(&app, &principal_of(&app, "root").await), bob.id, promote()).await.unwrap();

    // The promotion ends the session whose tokens say "user"...
    assert_session_ended(&app, &old, "bob's session from before the promotion").await;
    // ...and every token from now on says "admin", refreshed ones too.
    let new = login(&app, "bob").await;
    assert_eq!(principal(&app, &new).role, Role::Admin);
    let refreshed = refresh(&app, &new).await;
    let bob_as_admin = principal(&app, &refreshed);
    assert_eq!(bob_as_admin.role, Role::Admin);
    assert_eq!(app.list_users(&as_admin(&app, &bob_as_admin), None, 10).await.unwrap().users.len(), 2);
}

#[tokio::test]
async fn a_refresh_carries_the_role_stored_now_not_the_one_the_session_began_with() {
    // Behind the use cases' back (no revocation), so the refresh itself is
    // what picks up the role.
    let app = app();
    let bob = register(&app, "bob").await;
    let pair = login(&app, "bob").await;
    app.parts().users.update(bob.id, promote(), T0).await.unwrap();

    let refreshed = refresh(&app, &pair).await;

    assert_eq!(principal(&app, &refreshed).role, Role::Admin);
    assert_eq!(principal(&app, &pair).role, Role::User, "a signed token keeps its role");
}

// --- delete ------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_user_ends_their_sessions_and_removes_them() {
    let setup = Setup::default();
    let app = setup.build();
    let other = setup.another_instance(&app);
    create_admin(&app, "root").await;
    let bob = register(&app, "bob").await;
    register(&app, "carol").await;
    let bobs = [login(&app, "bob").await, login(&app, "bob").await];
    let carols = login(&app, "carol").await;
    let root = principal_of(&app, "root").await;
    other.sync_revocations().await.unwrap();

    app.delete_user(&as_admin(&app, &root), bob.id).await.unwrap();

    for (i, pair) in bobs.iter().enumerate() {
        assert_session_ended(&app, pair, &format!("bob's session {i}")).await;
    }
    assert_err!(app.get_user(&as_admin(&app, &root), bob.id).await, AdminError::NotFound);
    assert_eq!(stored_user(&app, "bob").await, None);
    assert!(!ids(&all_users(&app).await).contains(&bob.id));
    assert_err!(app.login(login_request("bob", PASSWORD, None)).await, LoginError::InvalidCredentials);
    assert_session_usable(&app, &carols, "carol's session").await;
    // The revocations outlive the user: another instance learns them.
    other.parts().clock.advance(Duration::SECOND);
    assert_eq!(other.sync_revocations().await.unwrap(), 2);
    for pair in &bobs {
        assert_err!(other.authenticate(&pair.access_token), AuthError::Revoked);
    }
    // Gone is gone.
    assert_err!(app.delete_user(&as_admin(&app, &root), bob.id).await, AdminError::NotFound);
    assert_err!(app.change_user(&as_admin(&app, &root), bob.id, enable()).await, AdminError::NotFound);
}

#[tokio::test]
async fn the_last_active_admin_cannot_delete_themselves_and_stays_logged_in() {
    let app = app();
    let root = create_admin(&app, "root").await;
    insert_user(&app, "carol", Role::Admin, true).await;
    let roots = login(&app, "root").await;

    let result = app.delete_user(&as_admin(&app, &principal(&app, &roots)), root.id).await;

    assert_err!(result, AdminError::LastAdmin);
    assert_eq!(stored_user(&app, "root").await, Some(root));
    assert_session_usable(&app, &roots, "the last admin's session").await;
}

#[tokio::test]
async fn with_a_second_active_admin_an_admin_may_delete_themselves() {
    let app = app();
    let root = create_admin(&app, "root").await;
    let alice = create_admin(&app, "alice").await;
    let roots = login(&app, "root").await;

    app.delete_user(&as_admin(&app, &principal(&app, &roots)), root.id).await.unwrap();

    assert_session_ended(&app, &roots, "the deleted admin's session").await;
    assert_eq!(stored_user(&app, "root").await, None);
    assert_eq!(app.parts().users.active_admins(10).await.unwrap(), [alice.id]);
    let alice = principal_of(&app, "alice").await;
    assert_err!(app.delete_user(&as_admin(&app, &alice), alice.user_id).await, AdminError::LastAdmin);
}
