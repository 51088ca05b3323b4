//! Organizations, sites, users and sign-in credentials.

use domain::DomainError;
use domain::compliance::AuditAction;
use domain::identity::Role;
use domain::ids::OrgId;
use domain::store::{NewUser, RecoveryCodeUse};

use crate::helpers::{TestDb, at, audit, clinician, on_every_backend, user};

on_every_backend!(
    organizations_and_sites_round_trip_and_sites_are_scoped_to_their_organization,
    users_round_trip_with_their_sites_and_clinician_profile,
    a_duplicate_email_is_a_conflict_even_across_organizations_and_writes_nothing,
    failed_sign_ins_are_counted_and_lock_the_account_at_the_limit,
    a_totp_step_can_be_claimed_once_and_never_replayed,
    recovery_codes_are_single_use_and_only_an_accepted_code_is_audited,
    credentials_round_trip_and_the_password_hash_can_be_replaced,
);

async fn organizations_and_sites_round_trip_and_sites_are_scoped_to_their_organization(db: TestDb) {
    let org = db.org("Acme Health").await;
    let other = db.org("Other Health").await;
    assert_eq!(db.store.get_org(org.id).await.unwrap(), Some(org.clone()));
    assert_eq!(
        db.store.find_org_by_name("Acme Health").await.unwrap(),
        Some(org.clone())
    );
    assert_eq!(db.store.get_org(OrgId::new()).await.unwrap(), None);

    let b = db.site(&org, "Brooklyn").await;
    let a = db.site(&org, "Albany").await;
    assert_eq!(
        db.store.list_sites(org.id).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        db.store.get_site(org.id, a.id).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(db.store.get_site(other.id, a.id).await.unwrap(), None);
    assert!(db.store.list_sites(other.id).await.unwrap().is_empty());
    assert_eq!(
        db.audit_seq().await,
        4,
        "each write records its audit entry"
    );
}

async fn users_round_trip_with_their_sites_and_clinician_profile(db: TestDb) {
    let org = db.org("Acme").await;
    let other = db.org("Other").await;
    let s1 = db.site(&org, "One").await;
    let s2 = db.site(&org, "Two").await;
    let doc = clinician(&org, "doc@example.org", &[&s1, &s2]);
    db.add_user(&doc).await;
    let desk = user(&org, "desk@example.org", Role::FrontDesk);
    db.add_user(&desk).await;

    assert_eq!(
        db.store.get_user(org.id, doc.id).await.unwrap(),
        Some(doc.clone())
    );
    assert_eq!(
        db.store.get_user(other.id, doc.id).await.unwrap(),
        None,
        "scoped by organization"
    );
    assert_eq!(
        db.store
            .find_user_by_email(" DOC@example.org")
            .await
            .unwrap(),
        Some(doc.clone())
    );
    assert_eq!(
        db.store
            .list_users(org.id, Some(Role::Clinician))
            .await
            .unwrap(),
        vec![doc.clone()]
    );
    assert_eq!(db.store.list_users(org.id, None).await.unwrap().len(), 2);

    let mut changed = doc.clone();
    changed.display_name = "Dr. Changed".into();
    changed.site_ids = vec![s2.id];
    changed.active = false;
    if let Some(profile) = changed.clinician.as_mut() {
        profile.licenses.pop();
        profile.specialties = vec!["cardiology".into()];
    }
    db.store
        .update_user(&changed, audit(AuditAction::UserUpdate))
        .await
        .unwrap();
    assert_eq!(
        db.store.get_user(org.id, doc.id).await.unwrap(),
        Some(changed.clone())
    );

    let mut stranger = changed.clone();
    stranger.org_id = other.id;
    let refused = db
        .store
        .update_user(&stranger, audit(AuditAction::UserUpdate))
        .await;
    assert!(
        matches!(refused, Err(DomainError::NotFound { .. })),
        "{refused:?}"
    );
}

async fn a_duplicate_email_is_a_conflict_even_across_organizations_and_writes_nothing(db: TestDb) {
    let org = db.org("Acme").await;
    let other = db.org("Other").await;
    db.add_user(&user(&org, "same@example.org", Role::Nurse))
        .await;
    let before = db.audit_seq().await;

    let twin = user(&other, "same@example.org", Role::Nurse);
    let new = NewUser {
        user: twin.clone(),
        password_hash: "h".into(),
        totp_secret: None,
    };
    match db
        .store
        .create_user(&new, audit(AuditAction::UserCreate))
        .await
    {
        Err(DomainError::Conflict { field, message }) => {
            assert_eq!(field.as_deref(), Some("email"), "{message}");
            assert!(message.contains("same@example.org"), "{message}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        db.audit_seq().await,
        before,
        "no audit record for a write that failed"
    );
    assert_eq!(db.store.get_user(other.id, twin.id).await.unwrap(), None);
    assert!(db.store.get_credentials(twin.id).await.unwrap().is_none());
}

async fn failed_sign_ins_are_counted_and_lock_the_account_at_the_limit(db: TestDb) {
    let org = db.org("Acme").await;
    let u = user(&org, "n@example.org", Role::Nurse);
    db.add_user(&u).await;
    let lock = at(900);
    let before = db.audit_seq().await;

    for expected in 1..=2 {
        let c = db
            .store
            .record_failed_sign_in(u.id, 3, lock, audit(AuditAction::SignInFailure))
            .await
            .unwrap();
        assert_eq!(c.failed_attempts, expected);
        assert_eq!(c.locked_until, None);
    }
    let c = db
        .store
        .record_failed_sign_in(u.id, 3, lock, audit(AuditAction::SignInFailure))
        .await
        .unwrap();
    assert_eq!(c.failed_attempts, 3);
    assert_eq!(c.locked_until, Some(lock));
    assert_eq!(
        db.store
            .get_credentials(u.id)
            .await
            .unwrap()
            .unwrap()
            .locked_until,
        Some(lock)
    );
    assert_eq!(db.audit_seq().await, before + 3);

    db.store
        .record_successful_sign_in(u.id, audit(AuditAction::SignInSuccess))
        .await
        .unwrap();
    let c = db.store.get_credentials(u.id).await.unwrap().unwrap();
    assert_eq!((c.failed_attempts, c.locked_until), (0, None));
    assert_eq!(db.audit_seq().await, before + 4);
}

async fn a_totp_step_can_be_claimed_once_and_never_replayed(db: TestDb) {
    let org = db.org("Acme").await;
    let u = user(&org, "n@example.org", Role::Nurse);
    db.add_user(&u).await;
    assert!(db.store.claim_totp_step(u.id, 100).await.unwrap());
    assert!(
        !db.store.claim_totp_step(u.id, 100).await.unwrap(),
        "the same step is a replay"
    );
    assert!(
        !db.store.claim_totp_step(u.id, 99).await.unwrap(),
        "an earlier step is a replay"
    );
    assert!(db.store.claim_totp_step(u.id, 101).await.unwrap());
    assert_eq!(
        db.store
            .get_credentials(u.id)
            .await
            .unwrap()
            .unwrap()
            .last_totp_step,
        Some(101)
    );
}

async fn recovery_codes_are_single_use_and_only_an_accepted_code_is_audited(db: TestDb) {
    let org = db.org("Acme").await;
    let u = user(&org, "n@example.org", Role::Nurse);
    db.add_user(&u).await;
    db.store
        .set_totp_secret(u.id, "JBSWY3DPEHPK3PXP", false)
        .await
        .unwrap();
    let codes = vec!["hash-a".to_string(), "hash-b".to_string()];
    db.store
        .confirm_totp(u.id, &codes, audit(AuditAction::MfaEnrolled))
        .await
        .unwrap();
    let c = db.store.get_credentials(u.id).await.unwrap().unwrap();
    assert_eq!(c.totp_secret.as_deref(), Some("JBSWY3DPEHPK3PXP"));
    assert!(c.totp_confirmed);

    let before = db.audit_seq().await;
    let used = audit(AuditAction::RecoveryCodeUsed);
    assert_eq!(
        db.store
            .use_recovery_code(u.id, "hash-a", used.clone())
            .await
            .unwrap(),
        RecoveryCodeUse::Accepted
    );
    assert_eq!(
        db.store
            .use_recovery_code(u.id, "hash-a", used.clone())
            .await
            .unwrap(),
        RecoveryCodeUse::Unknown
    );
    assert_eq!(
        db.store
            .use_recovery_code(u.id, "nope", used.clone())
            .await
            .unwrap(),
        RecoveryCodeUse::Unknown
    );
    assert_eq!(db.audit_seq().await, before + 1);

    // Enrolling again replaces the codes: the old unused one no longer works.
    db.store
        .confirm_totp(
            u.id,
            &["hash-c".to_string()],
            audit(AuditAction::MfaEnrolled),
        )
        .await
        .unwrap();
    assert_eq!(
        db.store
            .use_recovery_code(u.id, "hash-b", used.clone())
            .await
            .unwrap(),
        RecoveryCodeUse::Unknown
    );
    assert_eq!(
        db.store
            .use_recovery_code(u.id, "hash-c", used)
            .await
            .unwrap(),
        RecoveryCodeUse::Accepted
    );
}

async fn credentials_round_trip_and_the_password_hash_can_be_replaced(db: TestDb) {
    let org = db.org("Acme").await;
    let u = user(&org, "p@example.org", Role::Patient);
    let new = NewUser {
        user: u.clone(),
        password_hash: "old-hash".into(),
        totp_secret: Some("SECRET".into()),
    };
    db.store
        .create_user(&new, audit(AuditAction::UserCreate))
        .await
        .unwrap();
    let c = db.store.get_credentials(u.id).await.unwrap().unwrap();
    assert_eq!(
        (c.user_id, c.org_id, c.role, c.active),
        (u.id, org.id, Role::Patient, true)
    );
    assert_eq!(
        (
            c.password_hash.as_str(),
            c.totp_secret.as_deref(),
            c.totp_confirmed
        ),
        // A secret given at creation was handed over by the operator: it counts as enrolled.
        ("old-hash", Some("SECRET"), true)
    );
    assert_eq!(
        (c.failed_attempts, c.locked_until, c.last_totp_step),
        (0, None, None)
    );

    db.store.set_password_hash(u.id, "new-hash").await.unwrap();
    assert_eq!(
        db.store
            .get_credentials(u.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "new-hash"
    );
}
