//! The audit trail: group commit under concurrency, search, and tamper detection by the hash chain.

use std::sync::Arc;

use domain::DomainError;
use domain::compliance::service::verify_chain;
use domain::compliance::{
    AuditAction, AuditActor, AuditEntry, AuditQuery, ChainBreak, Outcome, seal,
};
use domain::identity::Role;
use domain::ids::{OrgId, PatientId, UserId};

use crate::helpers::{TestDb, at, audit, on_every_backend};

on_every_backend!(
    concurrent_audit_records_all_land_with_contiguous_sequence_numbers_and_the_chain_verifies,
    the_audit_search_filters_and_returns_newest_first,
    altering_a_stored_record_is_detected_and_the_record_named,
    deleting_a_middle_record_is_detected_and_the_gap_named,
    inserting_a_forged_record_is_detected_and_the_record_named,
    the_audit_log_refuses_updates_and_deletes,
    a_backup_is_a_working_copy_on_sqlite_and_refused_on_postgres,
    the_audit_search_finds_a_record_the_moment_it_was_written,
    identical_list_reads_within_the_window_are_counted_against_the_first_record,
);

/// Writes `n` reads through `record_audit`, as the read paths do.
async fn fill(db: &TestDb, n: i64) {
    for i in 0..n {
        db.store
            .record_audit(audit(AuditAction::PatientRead).resource(i))
            .await
            .unwrap();
    }
}

async fn verify(db: &TestDb) -> Result<i64, ChainBreak> {
    verify_chain(db.store.as_ref())
        .await
        .unwrap()
        .map(|report| report.head_seq)
}

async fn concurrent_audit_records_all_land_with_contiguous_sequence_numbers_and_the_chain_verifies(
    db: TestDb,
) {
    let store = Arc::clone(&db.store);
    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let entry = AuditEntry::new(
                    at(i),
                    AuditActor::Operator,
                    AuditAction::PatientRead,
                    "Patient",
                )
                .resource(format!("r{i}"));
                store.record_audit(entry).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let records = db.store.audit_page(0, 1000).await.unwrap();
    assert_eq!(records.len(), 500);
    assert!(
        records
            .iter()
            .enumerate()
            .all(|(i, r)| r.seq == i as i64 + 1),
        "sequence numbers are contiguous"
    );
    let mut resources: Vec<_> = records
        .iter()
        .filter_map(|r| r.entry.resource_id.clone())
        .collect();
    resources.sort();
    resources.dedup();
    assert_eq!(resources.len(), 500, "every entry landed exactly once");
    assert_eq!(verify(&db).await, Ok(500));
    // Paging from the middle returns the rest in order.
    let tail = db.store.audit_page(498, 10).await.unwrap();
    assert_eq!(tail.iter().map(|r| r.seq).collect::<Vec<_>>(), [499, 500]);
}

async fn the_audit_search_filters_and_returns_newest_first(db: TestDb) {
    let org = OrgId::new();
    let other = OrgId::new();
    let nurse = UserId::new();
    let patient = PatientId::new();
    let as_nurse = AuditActor::User {
        id: nurse,
        role: Role::Nurse,
    };
    let entries = [
        AuditEntry::new(
            at(10),
            as_nurse.clone(),
            AuditAction::PatientRead,
            "Patient",
        )
        .org(org)
        .patient(patient),
        AuditEntry::new(
            at(20),
            AuditActor::Operator,
            AuditAction::OrgCreate,
            "Organization",
        )
        .org(org),
        AuditEntry::new(
            at(30),
            as_nurse.clone(),
            AuditAction::PatientRead,
            "Patient",
        )
        .org(org)
        .patient(patient)
        .flagged(true)
        .detail("break-glass: unconscious patient")
        .outcome(Outcome::Success)
        .from_ip(Some("192.0.2.7".into())),
        AuditEntry::new(
            at(40),
            as_nurse.clone(),
            AuditAction::PatientRead,
            "Patient",
        )
        .org(other),
        AuditEntry::new(
            at(50),
            AuditActor::Anonymous,
            AuditAction::SignInFailure,
            "User",
        )
        .org(org)
        .outcome(Outcome::Denied),
    ];
    for e in &entries {
        db.store.record_audit(e.clone()).await.unwrap();
    }
    let search = |q: AuditQuery| {
        let store = Arc::clone(&db.store);
        async move {
            store
                .search_audit(&AuditQuery { limit: 100, ..q })
                .await
                .unwrap()
        }
    };
    let seqs =
        |rs: Vec<domain::compliance::AuditRecord>| rs.iter().map(|r| r.seq).collect::<Vec<_>>();

    let all = search(AuditQuery::default()).await;
    assert_eq!(seqs(all.clone()), [5, 4, 3, 2, 1], "newest first");
    assert_eq!(all[2].entry, entries[2], "every field round-trips");
    assert_eq!(all[0].entry, entries[4]);
    assert_eq!(
        seqs(
            search(AuditQuery {
                org_id: Some(org),
                ..Default::default()
            })
            .await
        ),
        [5, 3, 2, 1]
    );
    assert_eq!(
        seqs(
            search(AuditQuery {
                actor_ids: vec![nurse.to_string()],
                ..Default::default()
            })
            .await
        ),
        [4, 3, 1]
    );
    assert_eq!(
        seqs(
            search(AuditQuery {
                patient_ids: vec![patient],
                ..Default::default()
            })
            .await
        ),
        [3, 1]
    );
    assert_eq!(
        seqs(
            search(AuditQuery {
                action: Some(AuditAction::SignInFailure),
                ..Default::default()
            })
            .await
        ),
        [5]
    );
    assert_eq!(
        seqs(
            search(AuditQuery {
                from: Some(at(20)),
                to: Some(at(40)),
                ..Default::default()
            })
            .await
        ),
        [3, 2],
        "from is inclusive, to exclusive"
    );
    assert_eq!(
        seqs(
            search(AuditQuery {
                flagged_only: true,
                ..Default::default()
            })
            .await
        ),
        [3]
    );
    let combined = AuditQuery {
        org_id: Some(org),
        actor_ids: vec![nurse.to_string()],
        action: Some(AuditAction::PatientRead),
        from: Some(at(0)),
        ..Default::default()
    };
    assert_eq!(seqs(search(combined).await), [3, 1]);
    let page = db
        .store
        .search_audit(&AuditQuery {
            limit: 2,
            offset: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(seqs(page), [4, 3]);
}

async fn altering_a_stored_record_is_detected_and_the_record_named(db: TestDb) {
    fill(&db, 10).await;
    assert_eq!(verify(&db).await, Ok(10));
    db.disable_audit_triggers().await;
    db.raw("UPDATE audit_log SET outcome = 'denied' WHERE seq = 7")
        .await;
    assert_eq!(verify(&db).await, Err(ChainBreak::Altered { seq: 7 }));
}

async fn deleting_a_middle_record_is_detected_and_the_gap_named(db: TestDb) {
    fill(&db, 10).await;
    db.disable_audit_triggers().await;
    db.raw("DELETE FROM audit_log WHERE seq = 5").await;
    assert_eq!(
        verify(&db).await,
        Err(ChainBreak::Deleted {
            missing_from: 5,
            next_present: 6
        })
    );
}

async fn inserting_a_forged_record_is_detected_and_the_record_named(db: TestDb) {
    fill(&db, 6).await;
    db.disable_audit_triggers().await;
    // Make room at 3 (in two steps, so no moment has two rows with the same seq), then forge a
    // record there whose own hash is right but which cannot link to the record before it.
    db.raw("UPDATE audit_log SET seq = -seq WHERE seq >= 3; UPDATE audit_log SET seq = 1 - seq WHERE seq < 0;").await;
    let forged = seal(
        2,
        &"f".repeat(64),
        audit(AuditAction::PatientRead).detail("forged"),
    );
    let e = &forged.entry;
    db.raw(&format!(
        "INSERT INTO audit_log (seq, at, org_id, actor_kind, actor_id, actor_role, action, resource_type, \
         resource_id, patient_id, source_ip, outcome, flagged, detail, prev_hash, hash) VALUES \
         ({}, {}, NULL, 'operator', NULL, NULL, '{}', '{}', NULL, NULL, NULL, '{}', FALSE, 'forged', '{}', '{}')",
        forged.seq,
        e.at.as_microsecond(),
        e.action.as_str(),
        e.resource_type,
        e.outcome.as_str(),
        forged.prev_hash,
        forged.hash
    ))
    .await;
    assert_eq!(verify(&db).await, Err(ChainBreak::Inserted { seq: 3 }));
}

async fn the_audit_log_refuses_updates_and_deletes(db: TestDb) {
    fill(&db, 3).await;
    let update = store::testing::execute_raw(
        &db.url,
        "UPDATE audit_log SET outcome = 'denied' WHERE seq = 2",
    )
    .await;
    assert!(update.is_err(), "update must be refused");
    let delete = store::testing::execute_raw(&db.url, "DELETE FROM audit_log WHERE seq = 2").await;
    assert!(delete.is_err(), "delete must be refused");
    assert!(format!("{}", delete.unwrap_err()).contains("append-only"));
    assert_eq!(verify(&db).await, Ok(3));
}

async fn a_backup_is_a_working_copy_on_sqlite_and_refused_on_postgres(db: TestDb) {
    fill(&db, 3).await;
    let org = db.org("Acme").await;
    if !db.is_sqlite() {
        let refused = db.store.backup_to("/tmp/telemed-backup.db").await;
        assert!(
            matches!(&refused, Err(DomainError::Invalid(e)) if e.message.contains("pg_dump")),
            "{refused:?}"
        );
        return;
    }
    let (_, dir) = store::testing::fresh_sqlite_url().await;
    std::fs::create_dir_all(dir.path()).unwrap();
    let path = dir.path().join("backup.db");
    let path = path.to_str().unwrap();
    db.store.backup_to(path).await.unwrap();
    let refused = db.store.backup_to(path).await;
    assert!(
        matches!(refused, Err(DomainError::Invalid(_))),
        "an existing file is never overwritten"
    );

    let copy = store::connect(&format!("sqlite:{path}")).await.unwrap();
    assert_eq!(copy.get_org(org.id).await.unwrap(), Some(org));
    assert_eq!(
        verify_chain(copy.as_ref())
            .await
            .unwrap()
            .map(|r| r.head_seq),
        Ok(4)
    );
}

/// Auditors ask "who opened this patient's record" right after it happened: the search must find
/// every record the moment `record_audit` returned, whatever indexing happens in the background.
async fn the_audit_search_finds_a_record_the_moment_it_was_written(db: TestDb) {
    let org = OrgId::new();
    let patients: Vec<PatientId> = (0..40).map(|_| PatientId::new()).collect();
    let reader = UserId::new();
    let store = Arc::clone(&db.store);
    // Concurrent reads, as a busy morning makes them: many land in one group commit.
    let tasks: Vec<_> = patients
        .iter()
        .enumerate()
        .map(|(i, patient)| {
            let store = Arc::clone(&store);
            let entry = AuditEntry::new(
                at(i as i64),
                AuditActor::User {
                    id: reader,
                    role: Role::Clinician,
                },
                AuditAction::PatientRead,
                "Patient",
            )
            .org(org)
            .patient(*patient)
            .resource(patient.to_string());
            tokio::spawn(async move { store.record_audit(entry).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for patient in &patients {
        let found = db
            .store
            .search_audit(&AuditQuery {
                org_id: Some(org),
                patient_ids: vec![*patient],
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "the read of {patient} is found at once");
        assert_eq!(found[0].entry.patient_id, Some(*patient));
    }
    let by_reader = db
        .store
        .search_audit(&AuditQuery {
            org_id: Some(org),
            actor_ids: vec![reader.to_string()],
            action: Some(AuditAction::PatientRead),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        by_reader.len(),
        patients.len(),
        "every read of the clinician is found"
    );
    // One more, searched for the instant it is durable.
    let last = PatientId::new();
    db.store
        .record_audit(
            audit(AuditAction::PatientRead)
                .org(org)
                .patient(last)
                .resource(last.to_string()),
        )
        .await
        .unwrap();
    let found = db
        .store
        .search_audit(&AuditQuery {
            patient_ids: vec![last],
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

async fn identical_list_reads_within_the_window_are_counted_against_the_first_record(db: TestDb) {
    let reader = UserId::new();
    let actor = AuditActor::User {
        id: reader,
        role: Role::Clinician,
    };
    let list = |seconds: i64, detail: &str| {
        AuditEntry::new(
            at(seconds),
            actor.clone(),
            AuditAction::QueueRead,
            "QueueEntry",
        )
        .detail(detail.to_string())
    };
    // A waiting room refreshing: the same list twice a second, then once more with one patient
    // more, and again after the window; alongside, reads of one record, which are never folded.
    let mut writes = Vec::new();
    for i in 0..10 {
        writes.push(list(i / 2, "2 waiting"));
    }
    writes.push(list(6, "3 waiting"));
    writes.push(list(7, "2 waiting"));
    writes.push(list(400, "2 waiting"));
    for _ in 0..3 {
        writes.push(
            AuditEntry::new(at(8), actor.clone(), AuditAction::PatientRead, "Patient")
                .resource("p"),
        );
    }
    // Some one at a time (each its own group commit), some all at once (one batch).
    let (alone, together) = writes.split_at(5);
    for entry in alone {
        db.store.record_audit(entry.clone()).await.unwrap();
    }
    let tasks: Vec<_> = together
        .iter()
        .cloned()
        .map(|entry| {
            let store = Arc::clone(&db.store);
            tokio::spawn(async move { store.record_audit(entry).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }

    let found = db
        .store
        .search_audit(&AuditQuery {
            actor_ids: vec![reader.to_string()],
            action: Some(AuditAction::QueueRead),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let mut seen: Vec<(i64, Option<String>, i64)> = found
        .iter()
        .map(|r| {
            (
                r.entry.at.as_second() - at(0).as_second(),
                r.entry.detail.clone(),
                r.repeated.map_or(0, |x| x.times),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (0, Some("2 waiting".into()), 10),
            (6, Some("3 waiting".into()), 0),
            (400, Some("2 waiting".into()), 0),
        ],
        "one record per distinct list within the window, its repeats counted: {found:#?}"
    );
    let first = found.iter().find(|r| r.entry.at == at(0)).unwrap();
    assert_eq!(first.repeated.unwrap().last_at, at(7));
    let reads = db
        .store
        .search_audit(&AuditQuery {
            action: Some(AuditAction::PatientRead),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(reads.len(), 3, "a read of one record is chained every time");
    assert!(reads.iter().all(|r| r.repeated.is_none()));
    assert_eq!(verify(&db).await, Ok(6));
}
