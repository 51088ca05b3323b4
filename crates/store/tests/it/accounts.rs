//! Password changes and reset links: single use decided by the database, sessions ended, and
//! the audit entry only with a write that happened.

use domain::compliance::{AuditAction, AuditQuery};
use domain::identity::{PasswordReset, Role};
use domain::store::SessionRecord;

use crate::helpers::{TestDb, at, audit, on_every_backend, user};

on_every_backend!(
    a_reset_link_is_used_once_even_by_two_requests_at_the_same_moment,
    an_expired_link_changes_nothing_and_records_nothing,
    a_password_change_keeps_only_the_session_in_use_and_voids_open_links,
);

fn reset(token: &str, u: &domain::identity::User, created: i64, minutes: i64) -> PasswordReset {
    PasswordReset {
        token_hash: token.into(),
        user_id: u.id,
        org_id: u.org_id,
        created_at: at(created),
        expires_at: at(created + minutes * 60),
        used_at: None,
    }
}

fn session(token: &str, u: &domain::identity::User) -> SessionRecord {
    SessionRecord {
        token_hash: token.into(),
        user_id: u.id,
        org_id: u.org_id,
        mfa_pending: false,
        csrf_token: format!("csrf-{token}"),
        created_at: at(0),
        last_seen_at: at(0),
        source_ip: None,
    }
}

async fn completed(db: &TestDb) -> usize {
    db.store
        .search_audit(&AuditQuery {
            action: Some(AuditAction::PasswordResetCompleted),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .len()
}

async fn a_reset_link_is_used_once_even_by_two_requests_at_the_same_moment(db: TestDb) {
    let org = db.org("Acme").await;
    let u = user(&org, "p@example.org", Role::Patient);
    db.add_user(&u).await;
    db.store
        .create_password_reset(
            &reset("h1", &u, 0, 30),
            audit(AuditAction::PasswordResetRequested),
        )
        .await
        .unwrap();
    db.store.create_session(&session("s1", &u)).await.unwrap();
    assert_eq!(
        db.store.count_password_resets(u.id, at(0)).await.unwrap(),
        1
    );
    assert_eq!(
        db.store.count_password_resets(u.id, at(1)).await.unwrap(),
        0
    );
    let (a, b) = tokio::join!(
        db.store.use_password_reset(
            "h1",
            at(60),
            "$argon2id$first",
            audit(AuditAction::PasswordResetCompleted)
        ),
        db.store.use_password_reset(
            "h1",
            at(60),
            "$argon2id$second",
            audit(AuditAction::PasswordResetCompleted)
        ),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a ^ b, "exactly one use: {a} {b}");
    let creds = db.store.get_credentials(u.id).await.unwrap().unwrap();
    let winner = if a {
        "$argon2id$first"
    } else {
        "$argon2id$second"
    };
    assert_eq!(creds.password_hash, winner);
    assert_eq!(
        completed(&db).await,
        1,
        "one entry, for the use that happened"
    );
    assert!(db.store.get_session("s1").await.unwrap().is_none());
    let stored = db.store.get_password_reset("h1").await.unwrap().unwrap();
    assert_eq!(stored.used_at, Some(at(60)));
}

async fn an_expired_link_changes_nothing_and_records_nothing(db: TestDb) {
    let org = db.org("Acme").await;
    let u = user(&org, "p@example.org", Role::Patient);
    db.add_user(&u).await;
    db.store
        .create_password_reset(
            &reset("h1", &u, 0, 30),
            audit(AuditAction::PasswordResetRequested),
        )
        .await
        .unwrap();
    let used = db
        .store
        .use_password_reset(
            "h1",
            at(30 * 60),
            "$argon2id$late",
            audit(AuditAction::PasswordResetCompleted),
        )
        .await
        .unwrap();
    assert!(!used);
    let creds = db.store.get_credentials(u.id).await.unwrap().unwrap();
    assert_eq!(creds.password_hash, "$argon2id$hash");
    assert_eq!(completed(&db).await, 0);
    assert!(
        !db.store
            .use_password_reset(
                "unknown",
                at(0),
                "$argon2id$x",
                audit(AuditAction::PasswordResetCompleted)
            )
            .await
            .unwrap()
    );
}

async fn a_password_change_keeps_only_the_session_in_use_and_voids_open_links(db: TestDb) {
    let org = db.org("Acme").await;
    let u = user(&org, "n@example.org", Role::Nurse);
    db.add_user(&u).await;
    let other = user(&org, "o@example.org", Role::Nurse);
    db.add_user(&other).await;
    for s in ["here", "there"] {
        db.store.create_session(&session(s, &u)).await.unwrap();
    }
    db.store
        .create_session(&session("someone-else", &other))
        .await
        .unwrap();
    db.store
        .create_password_reset(
            &reset("open", &u, 0, 30),
            audit(AuditAction::PasswordResetRequested),
        )
        .await
        .unwrap();
    db.store
        .change_password(
            u.id,
            "$argon2id$new",
            Some("here"),
            audit(AuditAction::PasswordChanged),
        )
        .await
        .unwrap();
    assert!(db.store.get_session("here").await.unwrap().is_some());
    assert!(db.store.get_session("there").await.unwrap().is_none());
    assert!(
        db.store
            .get_session("someone-else")
            .await
            .unwrap()
            .is_some()
    );
    let creds = db.store.get_credentials(u.id).await.unwrap().unwrap();
    assert_eq!(creds.password_hash, "$argon2id$new");
    assert!(
        !db.store
            .use_password_reset(
                "open",
                at(60),
                "$argon2id$undo",
                audit(AuditAction::PasswordResetCompleted)
            )
            .await
            .unwrap(),
        "a link asked for before the change would undo it"
    );
}
