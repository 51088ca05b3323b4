//! Note storage: one note per appointment read back whole, compare-and-set saves, a signed note
//! locked, addenda only on signed notes, the unsigned list, the care team's appointments, and
//! free text that never reaches the database file in the clear; key rotation.

use domain::compliance::AuditAction;
use domain::identity::Role;
use domain::ids::*;
use domain::notes::*;
use domain::scheduling::*;
use domain::visits::VisitStaff;
use jiff::Timestamp;

use crate::helpers::{TestDb, at, audit, clinician, on_every_backend};
use crate::scheduling::{World, appointment, book, ny, publish, slot, world};

on_every_backend!(
    a_note_is_stored_once_per_appointment_and_read_back_whole,
    a_save_needs_the_current_version_of_a_draft_and_a_signed_note_is_locked,
    addenda_are_added_to_signed_notes_only,
    unsigned_notes_are_listed_per_clinician_oldest_first,
    care_links_come_from_the_clinicians_and_the_nurses_appointments,
    sealed_text_never_reaches_the_database_in_the_clear,
    a_visits_chat_is_kept_in_order_sealed_and_only_for_its_organization,
    rotating_keys_rewraps_every_data_key_and_old_values_still_open,
);

async fn booked(db: &TestDb, w: &World, start_min: i64) -> Appointment {
    let s = slot(w, w.clinician.id, start_min, 30);
    publish(db, std::slice::from_ref(&s)).await;
    let a = appointment(w, &w.patients[0], &s);
    book(db, &a).await.unwrap();
    a
}

fn facts(guest: &str) -> TelehealthFacts {
    TelehealthFacts {
        modality: Modality::Video,
        modality_used: Modality::AudioOnly,
        audio_only_since: Some(at(600)),
        patient_state: Some(ny()),
        clinician_site: "Main".into(),
        clinician_site_state: ny(),
        participants: vec![NoteParticipant {
            name: guest.into(),
            relation: "Interpreter".into(),
        }],
        consent_version: Some(2),
        consent_given_at: Some(at(10)),
        planned_start: Some(at(60)),
        checked_in_at: Some(at(100)),
        call_started_at: Some(at(200)),
        call_ended_at: Some(at(1400)),
        call_minutes: Some(20),
        phq9_score: None,
        phq9_severity: None,
    }
}

fn note_for(a: &Appointment, text: &str) -> Note {
    Note {
        id: NoteId::new(),
        org_id: a.org_id,
        appointment_id: a.id,
        patient_id: a.patient_id,
        clinician_id: a.clinician_id,
        site_id: a.site_id,
        template: NoteTemplate::Soap,
        status: NoteStatus::Draft,
        facts: facts("Marisol Interpreter"),
        sections: NoteSections {
            subjective: text.into(),
            plan: "Fluids and rest.\nReturn if worse.".into(),
            ..NoteSections::default()
        },
        diagnoses: vec![
            Diagnosis {
                code: "J06.9".into(),
                description: "Acute upper respiratory infection, unspecified".into(),
            },
            Diagnosis {
                code: "R05.1".into(),
                description: "Acute cough".into(),
            },
        ],
        version: 1,
        created_by: a.clinician_id,
        created_at: at(1500),
        updated_by: a.clinician_id,
        updated_at: at(1500),
        signature: None,
        summary_notified_at: None,
        summary_read_at: None,
    }
}

fn signed(note: &Note, at_s: i64) -> Note {
    let mut s = note.clone();
    s.status = NoteStatus::Signed;
    s.version = note.version + 1;
    s.signature = Some(Signature {
        by: note.clinician_id,
        at: at(at_s),
        sha256: "ab".repeat(32),
    });
    s
}

async fn a_note_is_stored_once_per_appointment_and_read_back_whole(db: TestDb) {
    let w = world(&db, 1).await;
    let a = booked(&db, &w, 600).await;
    let note = note_for(&a, "Cough for three days.");
    let before = db.audit_seq().await;
    db.store
        .create_note(&note, audit(AuditAction::NoteWrite))
        .await
        .unwrap();
    assert_eq!(db.audit_seq().await, before + 1);
    let back = db.store.get_note(w.org.id, note.id).await.unwrap().unwrap();
    assert_eq!(back, note);
    assert_eq!(
        db.store
            .note_for_appointment(w.org.id, a.id)
            .await
            .unwrap()
            .map(|n| n.id),
        Some(note.id)
    );
    // Another organization sees nothing.
    assert!(
        db.store
            .get_note(OrgId::new(), note.id)
            .await
            .unwrap()
            .is_none()
    );
    // A second note for the same appointment is refused, naming the field; nothing written.
    let err = db
        .store
        .create_note(&note_for(&a, "again"), audit(AuditAction::NoteWrite))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("appointment_id"), "{err}");
    assert_eq!(db.audit_seq().await, before + 1);
}

async fn a_save_needs_the_current_version_of_a_draft_and_a_signed_note_is_locked(db: TestDb) {
    let w = world(&db, 1).await;
    let a = booked(&db, &w, 600).await;
    let note = note_for(&a, "v1");
    db.store
        .create_note(&note, audit(AuditAction::NoteWrite))
        .await
        .unwrap();
    let mut v2 = note.clone();
    v2.sections.subjective = "v2".into();
    v2.diagnoses.truncate(1);
    v2.version = 2;
    assert!(
        db.store
            .save_note(&v2, 1, audit(AuditAction::NoteWrite))
            .await
            .unwrap()
    );
    // A tab still on version 1 finds nothing to change.
    let mut stale = note.clone();
    stale.sections.subjective = "stale".into();
    stale.version = 2;
    let before = db.audit_seq().await;
    assert!(
        !db.store
            .save_note(&stale, 1, audit(AuditAction::NoteWrite))
            .await
            .unwrap()
    );
    assert_eq!(db.audit_seq().await, before);
    let back = db.store.get_note(w.org.id, note.id).await.unwrap().unwrap();
    assert_eq!(back.sections.subjective, "v2");
    assert_eq!(back.diagnoses.len(), 1);
    // Signed: stored with its signature, and no save changes it again.
    let s = signed(&back, 1600);
    assert!(
        db.store
            .save_note(&s, 2, audit(AuditAction::NoteSign))
            .await
            .unwrap()
    );
    let mut edit = s.clone();
    edit.sections.subjective = "changed after signing".into();
    edit.status = NoteStatus::Draft;
    edit.version = 4;
    assert!(
        !db.store
            .save_note(&edit, 3, audit(AuditAction::NoteWrite))
            .await
            .unwrap()
    );
    let back = db.store.get_note(w.org.id, note.id).await.unwrap().unwrap();
    assert_eq!(back.status, NoteStatus::Signed);
    assert_eq!(back.signature, s.signature);
    assert_eq!(back.sections.subjective, "v2");
}

async fn addenda_are_added_to_signed_notes_only(db: TestDb) {
    let w = world(&db, 1).await;
    let a = booked(&db, &w, 600).await;
    let note = note_for(&a, "text");
    db.store
        .create_note(&note, audit(AuditAction::NoteWrite))
        .await
        .unwrap();
    let addendum = |text: &str, at_s: i64| Addendum {
        id: AddendumId::new(),
        note_id: note.id,
        org_id: note.org_id,
        text: text.into(),
        signature: Signature {
            by: note.clinician_id,
            at: at(at_s),
            sha256: "cd".repeat(32),
        },
    };
    assert!(
        !db.store
            .add_addendum(
                &addendum("too early", 1550),
                audit(AuditAction::NoteAddendum)
            )
            .await
            .unwrap()
    );
    db.store
        .save_note(&signed(&note, 1600), 1, audit(AuditAction::NoteSign))
        .await
        .unwrap();
    let first = addendum("Lab result: negative.", 1700);
    let second = addendum("Spoke with the patient by phone.", 1800);
    for x in [&second, &first] {
        assert!(
            db.store
                .add_addendum(x, audit(AuditAction::NoteAddendum))
                .await
                .unwrap()
        );
    }
    let list = db.store.addenda(w.org.id, note.id).await.unwrap();
    assert_eq!(list, vec![first, second]);
}

async fn unsigned_notes_are_listed_per_clinician_oldest_first(db: TestDb) {
    let w = world(&db, 1).await;
    let a1 = booked(&db, &w, 600).await;
    let a2 = booked(&db, &w, 700).await;
    let a3 = booked(&db, &w, 800).await;
    let mut n1 = note_for(&a1, "one");
    n1.created_at = at(2000);
    let mut n2 = note_for(&a2, "two");
    n2.created_at = at(1000);
    let n3 = signed(&note_for(&a3, "three"), 900);
    for n in [&n1, &n2, &n3] {
        db.store
            .create_note(n, audit(AuditAction::NoteWrite))
            .await
            .unwrap();
    }
    let list = db
        .store
        .unsigned_notes(w.org.id, w.clinician.id, at(5000))
        .await
        .unwrap();
    assert_eq!(
        list.iter().map(|n| n.id).collect::<Vec<_>>(),
        [n2.id, n1.id]
    );
    let list = db
        .store
        .unsigned_notes(w.org.id, w.clinician.id, at(1500))
        .await
        .unwrap();
    assert_eq!(list.iter().map(|n| n.id).collect::<Vec<_>>(), [n2.id]);
    let signed_only = db
        .store
        .patient_notes(w.org.id, w.patients[0].id, true)
        .await
        .unwrap();
    assert_eq!(
        signed_only.iter().map(|n| n.id).collect::<Vec<_>>(),
        [n3.id]
    );
    let to_notify = db.store.summaries_to_notify(10).await.unwrap();
    assert_eq!(to_notify.len(), 1);
    db.store
        .mark_summary(w.org.id, n3.id, Some(at(3000)), None)
        .await
        .unwrap();
    assert!(db.store.summaries_to_notify(10).await.unwrap().is_empty());
}

async fn care_links_come_from_the_clinicians_and_the_nurses_appointments(db: TestDb) {
    let w = world(&db, 1).await;
    let patient = w.patients[0].id;
    let a = booked(&db, &w, 600).await;
    let cancelled = booked(&db, &w, 900).await;
    db.store
        .change_status(crate::scheduling::change(
            &cancelled,
            AppointmentStatus::Booked,
            AppointmentStatus::Cancelled,
        ))
        .await
        .unwrap();
    let links = db
        .store
        .care_links(w.org.id, w.clinician.id, patient)
        .await
        .unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!((links[0].start_at, links[0].end_at), (a.start_at, a.end_at));
    let mut nurse = clinician(&w.org, "nurse@example.org", &[&w.site]);
    nurse.role = Role::Nurse;
    nurse.clinician = None;
    db.add_user(&nurse).await;
    assert!(
        db.store
            .care_links(w.org.id, nurse.id, patient)
            .await
            .unwrap()
            .is_empty()
    );
    let staff = VisitStaff {
        appointment_id: a.id,
        user_id: nurse.id,
        role: Role::Nurse,
        added_at: at(5),
    };
    for _ in 0..2 {
        db.store
            .add_visit_staff(w.org.id, &staff, audit(AuditAction::CareTeamChange))
            .await
            .unwrap();
    }
    assert_eq!(
        db.store.visit_staff(w.org.id, a.id).await.unwrap(),
        vec![staff]
    );
    assert_eq!(
        db.store
            .care_links(w.org.id, nurse.id, patient)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Everything the database holds as bytes: the SQLite file and its WAL, or a `pg_dump`.
pub(crate) async fn raw_database(db: &TestDb) -> Vec<u8> {
    if db.is_sqlite() {
        let path = db.url.trim_start_matches("sqlite://").to_string();
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
            bytes.extend(wal);
        }
        bytes
    } else {
        let out = std::process::Command::new("pg_dump")
            .arg("--data-only")
            .arg(&db.url)
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn sealed_text_never_reaches_the_database_in_the_clear(db: TestDb) {
    let w = world(&db, 1).await;
    let a = booked(&db, &w, 600).await;
    let mut note = note_for(&a, "PURPLE-WALRUS-SUBJECTIVE tingling in both feet");
    note.facts = facts("ZEBRA-GUEST-NAME Okafor");
    note.sections.instructions = "TANGERINE-INSTRUCTIONS".into();
    db.store
        .create_note(&note, audit(AuditAction::NoteWrite))
        .await
        .unwrap();
    db.store
        .save_note(&signed(&note, 1600), 1, audit(AuditAction::NoteSign))
        .await
        .unwrap();
    let addendum = Addendum {
        id: AddendumId::new(),
        note_id: note.id,
        org_id: note.org_id,
        text: "MAGENTA-ADDENDUM glucose 212".into(),
        signature: Signature {
            by: note.clinician_id,
            at: at(1700),
            sha256: "ef".repeat(32),
        },
    };
    db.store
        .add_addendum(&addendum, audit(AuditAction::NoteAddendum))
        .await
        .unwrap();
    // The values open again through the store.
    let back = db.store.get_note(w.org.id, note.id).await.unwrap().unwrap();
    assert!(back.sections.subjective.starts_with("PURPLE-WALRUS"));
    assert_eq!(back.facts.participants[0].name, "ZEBRA-GUEST-NAME Okafor");
    let raw = raw_database(&db).await;
    assert!(contains(&raw, "tm1:"), "sealed values are stored");
    for phrase in [
        "PURPLE-WALRUS",
        "ZEBRA-GUEST-NAME",
        "TANGERINE-INSTRUCTIONS",
        "MAGENTA-ADDENDUM",
    ] {
        assert!(!contains(&raw, phrase), "{phrase} is in the raw database");
    }
}

async fn a_visits_chat_is_kept_in_order_sealed_and_only_for_its_organization(db: TestDb) {
    use domain::visits::{ChatLine, ParticipantRole};
    let w = world(&db, 1).await;
    let a = booked(&db, &w, 600).await;
    let line = |seconds: i64, role: ParticipantRole, text: &str| ChatLine {
        id: ChatLineId::new(),
        org_id: w.org.id,
        appointment_id: a.id,
        at: at(seconds),
        role,
        name: format!("{} name", role.as_str()),
        text: text.into(),
    };
    // Written out of order: read back by time.
    let later = line(
        20,
        ParticipantRole::Patient,
        "OCELOT-REPLY it started on Monday",
    );
    let first = line(
        10,
        ParticipantRole::Clinician,
        "HERON-QUESTION when did it start?",
    );
    for l in [&later, &first] {
        db.store
            .add_chat_line(l, audit(AuditAction::ChatSend))
            .await
            .unwrap();
    }
    let back = db.store.visit_chat(w.org.id, a.id).await.unwrap();
    assert_eq!(back, vec![first, later]);
    assert!(
        db.store
            .visit_chat(OrgId::new(), a.id)
            .await
            .unwrap()
            .is_empty()
    );
    let raw = raw_database(&db).await;
    for phrase in ["OCELOT-REPLY", "HERON-QUESTION"] {
        assert!(!contains(&raw, phrase), "{phrase} is in the raw database");
    }
}

async fn rotating_keys_rewraps_every_data_key_and_old_values_still_open(db: TestDb) {
    let w = world(&db, 1).await;
    let a = booked(&db, &w, 600).await;
    let note = note_for(&a, "before the rotation");
    db.store
        .create_note(&note, audit(AuditAction::NoteWrite))
        .await
        .unwrap();
    let key_file = db.dir().join("data.keys");
    let before = std::fs::read_to_string(&key_file).unwrap();
    let options = ::store::ConnectOptions {
        data_key_file: Some(key_file.clone()),
        ..::store::ConnectOptions::default()
    };
    let seen = std::sync::Mutex::new(Vec::new());
    let rotation = ::store::rotate_data_keys(&db.url, options.clone(), &|done, total| {
        seen.lock().unwrap().push((done, total));
    })
    .await
    .unwrap();
    // The first data key and the new one, both under the new key-encryption key.
    assert_eq!(rotation.rewrapped, 2);
    assert_eq!(rotation.retired_keks, 1);
    assert_eq!(*seen.lock().unwrap(), vec![(1, 2), (2, 2)]);
    let after = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(before, after);
    assert!(after.contains(&rotation.key_encryption_key));
    assert_eq!(after.lines().filter(|l| l.starts_with("kek-")).count(), 1);
    // The running store still opens the old value and seals new ones; so does a store that
    // starts afresh with the rotated file only.
    let mut later = note_for(&booked(&db, &w, 700).await, "after the rotation");
    later.created_at = Timestamp::from_second(1_700_100_000).unwrap();
    db.store
        .create_note(&later, audit(AuditAction::NoteWrite))
        .await
        .unwrap();
    let fresh = ::store::connect_with(&db.url, options).await.unwrap();
    for (id, text) in [
        (note.id, "before the rotation"),
        (later.id, "after the rotation"),
    ] {
        for s in [&db.store, &fresh] {
            let back = s.get_note(w.org.id, id).await.unwrap().unwrap();
            assert_eq!(back.sections.subjective, text);
        }
    }
}
