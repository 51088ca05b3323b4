//! Patients' join links: a new link replaces the visit's earlier ones (and their sessions) in
//! the transaction that stores it; a link is opened once, even by two requests at the same
//! moment; a replaced or expired link opens nothing and records nothing.

use domain::compliance::{AuditAction, AuditQuery};
use domain::ids::*;
use domain::scheduling::*;
use domain::visits::*;

use crate::helpers::{TestDb, at, audit, on_every_backend};
use crate::scheduling::{World, appointment, book, publish, slot, world};

on_every_backend!(
    a_new_link_replaces_the_earlier_ones_of_its_visit_and_is_found_by_its_hash,
    a_link_is_opened_once_even_by_two_requests_at_the_same_moment,
    a_replaced_or_expired_link_opens_nothing_and_records_nothing,
);

async fn booked(db: &TestDb, w: &World, start_min: i64) -> Appointment {
    let s = slot(w, w.clinician.id, start_min, 30);
    publish(db, std::slice::from_ref(&s)).await;
    let a = appointment(w, &w.patients[0], &s);
    book(db, &a).await.unwrap();
    a
}

fn link(w: &World, a: &Appointment, token: &str, created: i64) -> VisitLink {
    VisitLink {
        id: VisitLinkId::new(),
        org_id: a.org_id,
        appointment_id: a.id,
        patient_id: a.patient_id,
        token_hash: token.into(),
        email: None,
        delivery: InviteDelivery::LinkShown,
        created_by: w.clinician.id,
        created_at: at(created),
        expires_at: at(created + 3600),
        used_at: None,
        session_hash: None,
        revoked_at: None,
    }
}

async fn recorded(db: &TestDb, action: AuditAction) -> usize {
    db.store
        .search_audit(&AuditQuery {
            action: Some(action),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .len()
}

async fn a_new_link_replaces_the_earlier_ones_of_its_visit_and_is_found_by_its_hash(db: TestDb) {
    let w = world(&db, 1).await;
    let a = booked(&db, &w, 600).await;
    let other = booked(&db, &w, 700).await;
    let first = link(&w, &a, "h1", 0);
    db.store
        .create_visit_link(&first, audit(AuditAction::VisitLinkIssue))
        .await
        .unwrap();
    let elsewhere = link(&w, &other, "h-other", 0);
    db.store
        .create_visit_link(&elsewhere, audit(AuditAction::VisitLinkIssue))
        .await
        .unwrap();
    let second = link(&w, &a, "h2", 60);
    db.store
        .create_visit_link(&second, audit(AuditAction::VisitLinkIssue))
        .await
        .unwrap();
    assert_eq!(recorded(&db, AuditAction::VisitLinkIssue).await, 3);

    let listed = db.store.list_visit_links(w.org.id, a.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, second.id, "newest first");
    assert_eq!(listed[0].revoked_at, None);
    assert_eq!(listed[1].id, first.id);
    assert_eq!(
        listed[1].revoked_at,
        Some(at(60)),
        "replaced when the new one was sent"
    );
    // Another visit's link is untouched.
    let kept = db
        .store
        .visit_link_by_token("h-other")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.revoked_at, None);
    assert_eq!(kept.appointment_id, other.id);

    let found = db.store.visit_link_by_token("h2").await.unwrap().unwrap();
    assert_eq!(found, second);
    assert!(
        db.store
            .visit_link_by_token("nope")
            .await
            .unwrap()
            .is_none()
    );
    db.store
        .set_visit_link_delivery(second.id, InviteDelivery::Emailed)
        .await
        .unwrap();
    let emailed = db.store.visit_link_by_token("h2").await.unwrap().unwrap();
    assert_eq!(emailed.delivery, InviteDelivery::Emailed);
    // Another organization sees none of them.
    let stranger = db.org("Elsewhere").await;
    assert!(
        db.store
            .list_visit_links(stranger.id, a.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_link_is_opened_once_even_by_two_requests_at_the_same_moment(db: TestDb) {
    let w = world(&db, 1).await;
    let a = booked(&db, &w, 600).await;
    let l = link(&w, &a, "h1", 0);
    db.store
        .create_visit_link(&l, audit(AuditAction::VisitLinkIssue))
        .await
        .unwrap();
    let (one, two) = tokio::join!(
        db.store
            .claim_visit_link(l.id, "s1", at(10), audit(AuditAction::VisitLinkUse)),
        db.store
            .claim_visit_link(l.id, "s2", at(10), audit(AuditAction::VisitLinkUse)),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert!(one ^ two, "exactly one of them opens it: {one} {two}");
    assert_eq!(recorded(&db, AuditAction::VisitLinkUse).await, 1);
    let winner = if one { "s1" } else { "s2" };
    let loser = if one { "s2" } else { "s1" };
    let held = db
        .store
        .visit_link_by_session(winner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.id, l.id);
    assert_eq!(held.used_at, Some(at(10)));
    assert!(
        db.store
            .visit_link_by_session(loser)
            .await
            .unwrap()
            .is_none()
    );

    // Sending a new link ends the session the old one opened.
    let next = link(&w, &a, "h2", 20);
    db.store
        .create_visit_link(&next, audit(AuditAction::VisitLinkIssue))
        .await
        .unwrap();
    let ended = db
        .store
        .visit_link_by_session(winner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.revoked_at, Some(at(20)));
}

async fn a_replaced_or_expired_link_opens_nothing_and_records_nothing(db: TestDb) {
    let w = world(&db, 1).await;
    let a = booked(&db, &w, 600).await;
    let old = link(&w, &a, "h1", 0);
    db.store
        .create_visit_link(&old, audit(AuditAction::VisitLinkIssue))
        .await
        .unwrap();
    let new = link(&w, &a, "h2", 30);
    db.store
        .create_visit_link(&new, audit(AuditAction::VisitLinkIssue))
        .await
        .unwrap();
    let before = db.audit_seq().await;
    assert!(
        !db.store
            .claim_visit_link(old.id, "s1", at(40), audit(AuditAction::VisitLinkUse))
            .await
            .unwrap(),
        "a replaced link"
    );
    assert!(
        !db.store
            .claim_visit_link(
                new.id,
                "s2",
                at(30 + 3600),
                audit(AuditAction::VisitLinkUse)
            )
            .await
            .unwrap(),
        "an expired link"
    );
    assert_eq!(db.audit_seq().await, before);
    assert!(
        db.store
            .visit_link_by_session("s1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.store
            .visit_link_by_session("s2")
            .await
            .unwrap()
            .is_none()
    );
    let unused = db.store.visit_link_by_token("h2").await.unwrap().unwrap();
    assert_eq!(unused.used_at, None);
}
