//! Messaging storage: threads with their first message, compare-and-set replies keeping the
//! counters, read receipts, the inbox's filters and counts, attachments sealed and read back,
//! and sealed text never in the database file in the clear.

use domain::compliance::AuditAction;
use domain::ids::*;
use domain::messaging::*;
use jiff::{SignedDuration, Timestamp};

use crate::helpers::{TestDb, at, audit, on_every_backend};
use crate::scheduling::world;

on_every_backend!(
    a_thread_keeps_its_counters_with_each_message_and_refuses_a_stale_change,
    read_receipts_mark_the_other_sides_messages_and_clear_the_unread_count,
    the_inbox_filters_pages_and_counts_unread_and_overdue_threads,
    attachments_and_messages_are_sealed_and_read_back_whole,
);

const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3];

fn thread(w: &crate::scheduling::World, patient_user: UserId, last: Timestamp) -> Thread {
    Thread {
        id: ThreadId::new(),
        org_id: w.org.id,
        site_id: w.site.id,
        patient_id: w.patients[0].id,
        clinician_id: None,
        subject: "Question about my prescription".into(),
        status: ThreadStatus::Open,
        assigned_to: None,
        created_by: patient_user,
        created_at: last,
        last_message_at: last,
        reply_due_at: Some(last + SignedDuration::from_hours(48)),
        staff_unread: 1,
        patient_unread: 0,
        message_count: 1,
    }
}

fn message(t: &Thread, author: UserId, from_patient: bool, body: &str, sent: Timestamp) -> Message {
    Message {
        id: MessageId::new(),
        thread_id: t.id,
        org_id: t.org_id,
        author_id: author,
        from_patient,
        staff_only: false,
        body: body.into(),
        sent_at: sent,
        read_at: None,
        read_by: None,
        attachments: Vec::new(),
    }
}

fn change(
    t: &Thread,
    from: ThreadStatus,
    to: ThreadStatus,
    due: Option<Timestamp>,
    last: Timestamp,
) -> ThreadChange {
    ThreadChange {
        org_id: t.org_id,
        thread_id: t.id,
        from,
        to,
        assigned_to: t.assigned_to,
        reply_due_at: due,
        last_message_at: last,
    }
}

async fn a_thread_keeps_its_counters_with_each_message_and_refuses_a_stale_change(db: TestDb) {
    let w = world(&db, 1).await;
    let patient = w.clinician.id; // any existing user works as an author here
    let t = thread(&w, patient, at(100));
    db.store
        .create_thread(
            &t,
            &message(&t, patient, true, "Can I take it with food?", at(100)),
            &[],
            audit(AuditAction::MessageSend),
        )
        .await
        .unwrap();
    assert_eq!(
        db.store.get_thread(w.org.id, t.id).await.unwrap().unwrap(),
        t
    );
    // Staff reply: waiting on the patient, nothing due, one unread for the patient.
    let reply = message(&t, w.clinician.id, false, "Yes, with breakfast.", at(200));
    let c = change(
        &t,
        ThreadStatus::Open,
        ThreadStatus::WaitingOnPatient,
        None,
        at(200),
    );
    assert!(
        db.store
            .add_message(&reply, &[], &c, audit(AuditAction::MessageSend))
            .await
            .unwrap()
    );
    let after = db.store.get_thread(w.org.id, t.id).await.unwrap().unwrap();
    assert_eq!(
        (
            after.status,
            after.reply_due_at,
            after.staff_unread,
            after.patient_unread,
            after.message_count
        ),
        (ThreadStatus::WaitingOnPatient, None, 1, 1, 2)
    );
    // A second tab still thinking the thread is open writes nothing.
    let before = db.audit_seq().await;
    let stale = message(&t, w.clinician.id, false, "Twice", at(210));
    assert!(
        !db.store
            .add_message(&stale, &[], &c, audit(AuditAction::MessageSend))
            .await
            .unwrap()
    );
    assert_eq!(db.audit_seq().await, before);
    assert_eq!(
        db.store
            .thread_messages(w.org.id, t.id, true)
            .await
            .unwrap()
            .len(),
        2
    );
    // A staff-only note is hidden from the patient's view of the thread.
    let mut note = message(
        &t,
        w.clinician.id,
        false,
        "Check her renal function first",
        at(300),
    );
    note.staff_only = true;
    let c = change(
        &after,
        ThreadStatus::WaitingOnPatient,
        ThreadStatus::WaitingOnPatient,
        None,
        at(300),
    );
    assert!(
        db.store
            .add_message(&note, &[], &c, audit(AuditAction::MessageSend))
            .await
            .unwrap()
    );
    let patient_view = db
        .store
        .thread_messages(w.org.id, t.id, false)
        .await
        .unwrap();
    assert!(patient_view.iter().all(|m| !m.staff_only));
    assert_eq!(patient_view.len(), 2);
    assert_eq!(
        db.store
            .get_thread(w.org.id, t.id)
            .await
            .unwrap()
            .unwrap()
            .patient_unread,
        1
    );
}

async fn read_receipts_mark_the_other_sides_messages_and_clear_the_unread_count(db: TestDb) {
    let w = world(&db, 1).await;
    let author = w.clinician.id;
    let t = thread(&w, author, at(100));
    db.store
        .create_thread(
            &t,
            &message(&t, author, true, "Hello", at(100)),
            &[],
            audit(AuditAction::MessageSend),
        )
        .await
        .unwrap();
    db.store
        .mark_read(w.org.id, t.id, false, w.clinician.id, at(150))
        .await
        .unwrap();
    let messages = db
        .store
        .thread_messages(w.org.id, t.id, true)
        .await
        .unwrap();
    assert_eq!(messages[0].read_at, Some(at(150)));
    assert_eq!(messages[0].read_by, Some(w.clinician.id));
    assert_eq!(
        db.store
            .get_thread(w.org.id, t.id)
            .await
            .unwrap()
            .unwrap()
            .staff_unread,
        0
    );
    // The patient reading their own side changes nothing on the patient's messages.
    db.store
        .mark_read(w.org.id, t.id, true, author, at(160))
        .await
        .unwrap();
    let messages = db
        .store
        .thread_messages(w.org.id, t.id, true)
        .await
        .unwrap();
    assert_eq!(messages[0].read_at, Some(at(150)));
}

async fn the_inbox_filters_pages_and_counts_unread_and_overdue_threads(db: TestDb) {
    let w = world(&db, 1).await;
    let author = w.clinician.id;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut t = thread(&w, author, at(1000 + i * 100));
        // Two are overdue at at(100_000), one was read already.
        t.reply_due_at = Some(at(if i < 2 { 50_000 } else { 500_000 }));
        t.staff_unread = i64::from(i != 4);
        db.store
            .create_thread(
                &t,
                &message(&t, author, true, "hi", t.created_at),
                &[],
                audit(AuditAction::MessageSend),
            )
            .await
            .unwrap();
        ids.push(t.id);
    }
    let query = |q: InboxQuery| {
        let store = db.store.clone();
        let org = w.org.id;
        async move {
            store
                .inbox(org, &q)
                .await
                .unwrap()
                .iter()
                .map(|t| t.id)
                .collect::<Vec<_>>()
        }
    };
    let site = Some(w.site.id);
    let first = query(InboxQuery {
        site_id: site,
        limit: 2,
        ..InboxQuery::default()
    })
    .await;
    assert_eq!(first, [ids[4], ids[3]]);
    let next = query(InboxQuery {
        site_id: site,
        limit: 2,
        before: Some(at(1300)),
        ..InboxQuery::default()
    })
    .await;
    assert_eq!(next, [ids[2], ids[1]]);
    let overdue = query(InboxQuery {
        site_id: site,
        limit: 10,
        overdue_at: Some(at(100_000)),
        ..InboxQuery::default()
    })
    .await;
    assert_eq!(overdue, [ids[1], ids[0]]);
    let unread = query(InboxQuery {
        site_id: site,
        limit: 10,
        unread_only: true,
        ..InboxQuery::default()
    })
    .await;
    assert_eq!(unread.len(), 4);
    let counts = db
        .store
        .inbox_counts(w.org.id, w.site.id, at(100_000))
        .await
        .unwrap();
    assert_eq!(
        counts,
        InboxCounts {
            unread: 4,
            overdue: 2
        }
    );
    let other_site = db
        .store
        .inbox_counts(w.org.id, SiteId::new(), at(100_000))
        .await
        .unwrap();
    assert_eq!(other_site, InboxCounts::default());
    assert!(
        db.store
            .inbox(
                OrgId::new(),
                &InboxQuery {
                    site_id: site,
                    limit: 10,
                    ..InboxQuery::default()
                }
            )
            .await
            .unwrap()
            .is_empty()
    );
}

async fn attachments_and_messages_are_sealed_and_read_back_whole(db: TestDb) {
    let w = world(&db, 1).await;
    let author = w.clinician.id;
    let mut t = thread(&w, author, at(100));
    t.subject = "OCTOPUS-SUBJECT rash on arm".into();
    let mut first = message(&t, author, true, "WALNUT-BODY itchy since Monday", at(100));
    let mut bytes = PNG.to_vec();
    bytes.extend_from_slice(b"GINGER-PIXELS");
    let meta =
        domain::messaging::rules::check_attachment("files[0]", "ORCHID-NAME.png", &bytes, 1 << 20)
            .unwrap();
    first.attachments = vec![meta.clone()];
    let file = Attachment {
        meta: meta.clone(),
        org_id: w.org.id,
        patient_id: t.patient_id,
        owner_kind: "message",
        owner_id: first.id.to_string(),
        uploaded_by: author,
        uploaded_at: at(100),
        bytes: bytes.clone(),
    };
    db.store
        .create_thread(
            &t,
            &first,
            std::slice::from_ref(&file),
            audit(AuditAction::MessageSend),
        )
        .await
        .unwrap();
    let back = db
        .store
        .get_attachment(w.org.id, meta.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.bytes, bytes);
    assert_eq!(back.meta, meta);
    assert_eq!(
        db.store
            .thread_of_message(w.org.id, first.id)
            .await
            .unwrap(),
        Some(t.id)
    );
    let messages = db
        .store
        .thread_messages(w.org.id, t.id, false)
        .await
        .unwrap();
    assert_eq!(messages[0].attachments, vec![meta]);
    assert_eq!(messages[0].body, "WALNUT-BODY itchy since Monday");
    let raw = crate::notes::raw_database(&db).await;
    for phrase in [
        "OCTOPUS-SUBJECT",
        "WALNUT-BODY",
        "GINGER-PIXELS",
        "ORCHID-NAME",
    ] {
        assert!(
            !crate::notes::contains(&raw, phrase),
            "{phrase} is in the raw database"
        );
    }
}
