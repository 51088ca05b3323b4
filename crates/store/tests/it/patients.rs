//! Patient records: round trips, MRN uniqueness, tenant scoping and the staff list.

use domain::DomainError;
use domain::compliance::AuditAction;
use domain::identity::PatientQuery;
use domain::ids::{PatientId, SiteId};

use crate::helpers::{TestDb, at, audit, on_every_backend, patient};

on_every_backend!(
    a_patient_round_trips_and_can_be_updated,
    an_mrn_is_unique_within_an_organization_but_may_repeat_in_another,
    another_organizations_patient_is_not_found,
    a_failed_write_leaves_no_audit_record,
    the_patient_list_matches_name_or_mrn_prefixes_and_filters_by_site,
);

async fn a_patient_round_trips_and_can_be_updated(db: TestDb) {
    let org = db.org("Acme").await;
    let site = db.site(&org, "Main").await;
    let second = db.site(&org, "Second").await;
    let p = patient(&org, &site, "MRN-1", "Ada", "Lovelace");
    db.add_patient(&p).await;
    assert_eq!(
        db.store.get_patient(org.id, p.id).await.unwrap(),
        Some(p.clone())
    );

    let mut changed = p.clone();
    changed.given_name = "Augusta".into();
    changed.email = None;
    changed.phone = None;
    changed.address.line2 = Some("Apt 2".into());
    changed.primary_site_id = second.id;
    changed.updated_at = at(99);
    db.store
        .update_patient(&changed, audit(AuditAction::PatientUpdate))
        .await
        .unwrap();
    assert_eq!(
        db.store.get_patient(org.id, p.id).await.unwrap(),
        Some(changed)
    );
    assert_eq!(db.store.count_patients(org.id).await.unwrap(), 1);
}

async fn an_mrn_is_unique_within_an_organization_but_may_repeat_in_another(db: TestDb) {
    let org = db.org("Acme").await;
    let other = db.org("Other").await;
    let site = db.site(&org, "Main").await;
    let other_site = db.site(&other, "Main").await;
    db.add_patient(&patient(&org, &site, "X1", "A", "B")).await;
    let before = db.audit_seq().await;

    let twin = patient(&org, &site, "X1", "C", "D");
    match db
        .store
        .create_patient(&twin, audit(AuditAction::PatientCreate))
        .await
    {
        Err(DomainError::Conflict { field, message }) => {
            assert_eq!(field.as_deref(), Some("mrn"));
            assert_eq!(message, "MRN X1 already exists in this organization")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(db.audit_seq().await, before);
    assert_eq!(db.store.get_patient(org.id, twin.id).await.unwrap(), None);

    // Changing another patient's MRN to a taken one is the same conflict.
    let mut second = patient(&org, &site, "X2", "E", "F");
    db.add_patient(&second).await;
    second.mrn = "X1".into();
    let refused = db
        .store
        .update_patient(&second, audit(AuditAction::PatientUpdate))
        .await;
    assert!(
        matches!(&refused, Err(DomainError::Conflict { field: Some(f), .. }) if f == "mrn"),
        "{refused:?}"
    );

    db.add_patient(&patient(&other, &other_site, "X1", "G", "H"))
        .await;
    assert_eq!(db.store.count_patients(other.id).await.unwrap(), 1);
}

async fn another_organizations_patient_is_not_found(db: TestDb) {
    let org = db.org("Acme").await;
    let other = db.org("Other").await;
    let site = db.site(&org, "Main").await;
    let p = patient(&org, &site, "X1", "A", "B");
    db.add_patient(&p).await;
    assert_eq!(db.store.get_patient(other.id, p.id).await.unwrap(), None);
    assert!(
        db.store
            .list_patients(other.id, &PatientQuery::default())
            .await
            .unwrap()
            .is_empty()
    );

    let mut stolen = p.clone();
    stolen.org_id = other.id;
    stolen.family_name = "Changed".into();
    let refused = db
        .store
        .update_patient(&stolen, audit(AuditAction::PatientUpdate))
        .await;
    assert!(
        matches!(refused, Err(DomainError::NotFound { .. })),
        "{refused:?}"
    );
    assert_eq!(db.store.get_patient(org.id, p.id).await.unwrap(), Some(p));
}

async fn a_failed_write_leaves_no_audit_record(db: TestDb) {
    let org = db.org("Acme").await;
    let site = db.site(&org, "Main").await;
    let before = db.store.audit_head().await.unwrap();
    let mut orphan = patient(&org, &site, "X1", "A", "B");
    orphan.primary_site_id = SiteId::new();
    let refused = db
        .store
        .create_patient(&orphan, audit(AuditAction::PatientCreate))
        .await;
    assert!(
        matches!(refused, Err(DomainError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(db.store.audit_head().await.unwrap(), before);
    assert_eq!(db.store.count_patients(org.id).await.unwrap(), 0);
    assert!(
        db.store
            .audit_page(0, 100)
            .await
            .unwrap()
            .iter()
            .all(|r| r.entry.action != AuditAction::PatientCreate)
    );
}

async fn the_patient_list_matches_name_or_mrn_prefixes_and_filters_by_site(db: TestDb) {
    let org = db.org("Acme").await;
    let north = db.site(&org, "North").await;
    let south = db.site(&org, "South").await;
    let smith = patient(&org, &north, "A-100", "John", "Smith");
    let smythe = patient(&org, &south, "A-200", "Jane", "Smythe");
    let jones = patient(&org, &north, "B-300", "Smitty", "Jones");
    let percent = patient(&org, &south, "C-400", "Pat", "100%Real");
    for p in [&smith, &smythe, &jones, &percent] {
        db.add_patient(p).await;
    }
    let query = |text: &str| PatientQuery {
        text: Some(text.into()),
        limit: 50,
        ..PatientQuery::default()
    };
    let names = |ps: Vec<domain::identity::Patient>| {
        ps.into_iter().map(|p| p.family_name).collect::<Vec<_>>()
    };

    let all = db
        .store
        .list_patients(
            org.id,
            &PatientQuery {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        names(all),
        ["100%Real", "Jones", "Smith", "Smythe"],
        "ordered by family then given name"
    );
    assert_eq!(
        names(db.store.list_patients(org.id, &query("sm")).await.unwrap()),
        ["Jones", "Smith", "Smythe"]
    );
    let by_ids = PatientQuery {
        ids: Some(vec![smythe.id, jones.id, PatientId::new()]),
        limit: 50,
        ..PatientQuery::default()
    };
    assert_eq!(
        names(db.store.list_patients(org.id, &by_ids).await.unwrap()),
        ["Jones", "Smythe"],
        "only the patients named, of this organization"
    );
    assert_eq!(
        names(
            db.store
                .list_patients(org.id, &query("SMITH"))
                .await
                .unwrap()
        ),
        ["Smith"]
    );
    assert_eq!(
        names(db.store.list_patients(org.id, &query("a-2")).await.unwrap()),
        ["Smythe"]
    );
    assert!(
        db.store
            .list_patients(org.id, &query("mith"))
            .await
            .unwrap()
            .is_empty(),
        "prefixes only"
    );
    assert!(
        db.store
            .list_patients(org.id, &query("1%"))
            .await
            .unwrap()
            .is_empty(),
        "% is not a wildcard"
    );
    assert_eq!(
        names(
            db.store
                .list_patients(org.id, &query("100%"))
                .await
                .unwrap()
        ),
        ["100%Real"]
    );

    let north_only = PatientQuery {
        site_ids: Some(vec![north.id]),
        limit: 50,
        ..Default::default()
    };
    assert_eq!(
        names(db.store.list_patients(org.id, &north_only).await.unwrap()),
        ["Jones", "Smith"]
    );
    let no_sites = PatientQuery {
        site_ids: Some(vec![]),
        limit: 50,
        ..Default::default()
    };
    assert!(
        db.store
            .list_patients(org.id, &no_sites)
            .await
            .unwrap()
            .is_empty()
    );
    let page = PatientQuery {
        limit: 2,
        offset: 1,
        ..Default::default()
    };
    assert_eq!(
        names(db.store.list_patients(org.id, &page).await.unwrap()),
        ["Jones", "Smith"]
    );
    assert_eq!(db.store.count_patients(org.id).await.unwrap(), 4);
}
