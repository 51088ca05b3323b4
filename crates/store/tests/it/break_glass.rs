//! Emergency access grants: the active window and the auditor's review.

use domain::DomainError;
use domain::compliance::{AuditAction, grant};
use domain::identity::Role;
use domain::ids::BreakGlassId;

use crate::helpers::{TestDb, at, audit, clinician, on_every_backend, patient, user};

on_every_backend!(
    a_grant_is_active_from_its_start_until_just_before_it_expires,
    a_grant_is_reviewed_once_and_only_within_its_organization,
);

async fn a_grant_is_active_from_its_start_until_just_before_it_expires(db: TestDb) {
    let org = db.org("Acme").await;
    let site = db.site(&org, "Main").await;
    let doc = clinician(&org, "doc@example.org", &[]);
    db.add_user(&doc).await;
    let p = patient(&org, &site, "X1", "A", "B");
    db.add_patient(&p).await;
    let g = grant(
        org.id,
        doc.id,
        p.id,
        "unconscious patient in the ER",
        at(100),
        60,
    )
    .unwrap();
    db.store
        .create_break_glass(&g, audit(AuditAction::BreakGlassGranted))
        .await
        .unwrap();

    assert!(
        db.store
            .active_break_glass(doc.id, p.id, at(99))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.store
            .active_break_glass(doc.id, p.id, at(100))
            .await
            .unwrap(),
        vec![g.clone()]
    );
    assert_eq!(
        db.store
            .active_break_glass(doc.id, p.id, at(100 + 3599))
            .await
            .unwrap(),
        vec![g.clone()]
    );
    assert!(
        db.store
            .active_break_glass(doc.id, p.id, at(100 + 3600))
            .await
            .unwrap()
            .is_empty()
    );
    let other_patient = patient(&org, &site, "X2", "C", "D");
    db.add_patient(&other_patient).await;
    assert!(
        db.store
            .active_break_glass(doc.id, other_patient.id, at(200))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_grant_is_reviewed_once_and_only_within_its_organization(db: TestDb) {
    let org = db.org("Acme").await;
    let other = db.org("Other").await;
    let site = db.site(&org, "Main").await;
    let doc = clinician(&org, "doc@example.org", &[]);
    db.add_user(&doc).await;
    let auditor = user(&org, "aud@example.org", Role::Auditor);
    db.add_user(&auditor).await;
    let p = patient(&org, &site, "X1", "A", "B");
    db.add_patient(&p).await;
    let g = grant(
        org.id,
        doc.id,
        p.id,
        "unconscious patient in the ER",
        at(100),
        60,
    )
    .unwrap();
    db.store
        .create_break_glass(&g, audit(AuditAction::BreakGlassGranted))
        .await
        .unwrap();
    assert_eq!(
        db.store.list_break_glass(org.id, true).await.unwrap(),
        vec![g.clone()]
    );

    let review = audit(AuditAction::BreakGlassReviewed);
    let elsewhere = db
        .store
        .review_break_glass(other.id, g.id, auditor.id, at(500), review.clone())
        .await;
    assert!(
        matches!(elsewhere, Err(DomainError::NotFound { .. })),
        "{elsewhere:?}"
    );
    let unknown = db
        .store
        .review_break_glass(
            org.id,
            BreakGlassId::new(),
            auditor.id,
            at(500),
            review.clone(),
        )
        .await;
    assert!(
        matches!(unknown, Err(DomainError::NotFound { .. })),
        "{unknown:?}"
    );

    let before = db.audit_seq().await;
    db.store
        .review_break_glass(org.id, g.id, auditor.id, at(500), review.clone())
        .await
        .unwrap();
    assert_eq!(db.audit_seq().await, before + 1);
    assert!(
        db.store
            .list_break_glass(org.id, true)
            .await
            .unwrap()
            .is_empty()
    );
    let reviewed = db.store.list_break_glass(org.id, false).await.unwrap();
    assert_eq!(reviewed.len(), 1);
    assert_eq!(
        (reviewed[0].reviewed_by, reviewed[0].reviewed_at),
        (Some(auditor.id), Some(at(500)))
    );

    let again = db
        .store
        .review_break_glass(org.id, g.id, auditor.id, at(600), review)
        .await;
    assert!(
        matches!(again, Err(DomainError::Conflict { .. })),
        "{again:?}"
    );
    assert!(
        db.store
            .list_break_glass(other.id, false)
            .await
            .unwrap()
            .is_empty()
    );
}
