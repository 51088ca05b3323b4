//! Scheduling storage: the database-enforced slot rule under races, overlap refusals, slots,
//! availability changes, status changes with their history, consent, the queue and reminders.

use std::sync::Arc;

use domain::DomainError;
use domain::compliance::{AuditAction, AuditActor, ConsentDocument, ConsentMethod, PatientConsent};
use domain::identity::{Organization, Patient, Site, UsState, User};
use domain::ids::*;
use domain::scheduling::*;
use jiff::{SignedDuration, Timestamp};

use crate::helpers::{TestDb, at, audit, clinician, on_every_backend, patient};

on_every_backend!(
    many_bookings_racing_for_one_slot_leave_exactly_one_appointment,
    a_cancelled_appointment_frees_its_slot_for_the_next_patient,
    a_patient_cannot_hold_two_overlapping_appointments,
    a_clinician_cannot_be_given_two_overlapping_visits,
    publishing_twice_adds_no_slot_and_search_applies_every_filter,
    leave_and_ended_templates_withdraw_slots_even_booked_ones,
    a_status_changes_only_from_the_expected_status_and_records_its_history,
    a_refused_booking_writes_nothing,
    consent_documents_are_versioned_and_patient_consent_recorded_once,
    the_queue_holds_one_waiting_entry_per_patient_and_is_taken_once,
    clinicians_taking_the_same_patient_at_once_are_given_them_once,
    a_reminder_is_claimed_once_and_a_failed_one_can_be_claimed_again,
    templates_and_visit_types_round_trip,
    the_database_itself_refuses_a_second_live_appointment_in_a_slot,
);

/// An organization with a site, a clinician, visit types and some patients.
pub(crate) struct World {
    pub(crate) org: Organization,
    pub(crate) site: Site,
    pub(crate) clinician: User,
    pub(crate) visit_type: VisitType,
    pub(crate) patients: Vec<Patient>,
}

pub(crate) fn ny() -> UsState {
    UsState::parse("state", "NY").unwrap()
}

pub(crate) async fn world(db: &TestDb, patients: usize) -> World {
    let org = db.org("Acme").await;
    let site = db.site(&org, "Main").await;
    let c = clinician(&org, "dr@example.org", &[&site]);
    db.add_user(&c).await;
    let visit_type = VisitType {
        id: VisitTypeId::new(),
        org_id: org.id,
        name: "Video follow-up".into(),
        service_line: ServiceLine::PrimaryCare,
        modality: Modality::Video,
        patient_kind: PatientKind::Any,
        duration_minutes: 20,
        patient_bookable: true,
        active: true,
        created_at: at(0),
    };
    db.store
        .create_visit_type(&visit_type, audit(AuditAction::VisitTypeCreate))
        .await
        .unwrap();
    let mut list = Vec::new();
    for i in 0..patients {
        let p = patient(&org, &site, &format!("MRN-{i}"), "Pat", &format!("Ient{i}"));
        db.add_patient(&p).await;
        list.push(p);
    }
    World {
        org,
        site,
        clinician: c,
        visit_type,
        patients: list,
    }
}

pub(crate) fn minutes(n: i64) -> Timestamp {
    at(n * 60)
}

pub(crate) fn slot(w: &World, clinician: UserId, start_min: i64, length: i64) -> Slot {
    Slot {
        id: SlotId::new(),
        org_id: w.org.id,
        clinician_id: clinician,
        site_id: w.site.id,
        start_at: minutes(start_min),
        end_at: minutes(start_min + length),
        service_lines: ServiceLines::of(&[ServiceLine::PrimaryCare, ServiceLine::UrgentCare]),
        template_id: None,
        exception_id: None,
        withdrawn: false,
        created_at: at(0),
    }
}

pub(crate) async fn publish(db: &TestDb, slots: &[Slot]) -> u64 {
    db.store
        .publish_slots(slots, audit(AuditAction::SlotsPublish))
        .await
        .unwrap()
}

pub(crate) fn appointment(w: &World, p: &Patient, s: &Slot) -> Appointment {
    Appointment {
        id: AppointmentId::new(),
        org_id: w.org.id,
        patient_id: p.id,
        clinician_id: s.clinician_id,
        site_id: s.site_id,
        slot_id: Some(s.id),
        visit_type_id: w.visit_type.id,
        service_line: ServiceLine::PrimaryCare,
        modality: Modality::Video,
        start_at: s.start_at,
        end_at: s
            .start_at
            .checked_add(SignedDuration::from_mins(20))
            .unwrap(),
        patient_state: ny(),
        status: AppointmentStatus::Booked,
        reason: Some("cough".into()),
        late_cancellation: false,
        cancel_reason: None,
        created_at: at(1),
        updated_at: at(1),
    }
}

pub(crate) fn booking(a: &Appointment) -> NewBooking {
    NewBooking {
        appointment: a.clone(),
        event: AppointmentEvent {
            id: AppointmentEventId::new(),
            appointment_id: a.id,
            at: at(1),
            action: AppointmentAction::Book,
            from_status: None,
            to_status: a.status,
            actor: AuditActor::Operator,
            detail: None,
        },
        consent: None,
        audit: vec![audit(AuditAction::AppointmentCreate).patient(a.patient_id)],
    }
}

pub(crate) async fn book(db: &TestDb, a: &Appointment) -> Result<(), DomainError> {
    db.store.book(booking(a)).await
}

async fn many_bookings_racing_for_one_slot_leave_exactly_one_appointment(db: TestDb) {
    let w = world(&db, 24).await;
    let s = slot(&w, w.clinician.id, 600, 30);
    publish(&db, std::slice::from_ref(&s)).await;
    let store: Arc<dyn domain::Store> = db.store.clone();
    let before = db.audit_seq().await;
    let mut tasks = Vec::new();
    for p in &w.patients {
        let store = store.clone();
        let a = appointment(&w, p, &s);
        tasks.push(tokio::spawn(async move { store.book(booking(&a)).await }));
    }
    let mut won = 0;
    let mut taken = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => won += 1,
            Err(DomainError::SlotTaken) => taken += 1,
            Err(other) => panic!("unexpected refusal: {other:?}"),
        }
    }
    assert_eq!((won, taken), (1, w.patients.len() - 1));
    let booked = db
        .store
        .list_appointments(w.org.id, &AppointmentQuery::default())
        .await
        .unwrap();
    assert_eq!(booked.len(), 1);
    assert_eq!(booked[0].slot_id, Some(s.id));
    // Only the winner's audit entry was written.
    assert_eq!(db.audit_seq().await, before + 1);
    let view = db.store.get_slot(w.org.id, s.id).await.unwrap().unwrap();
    assert!(view.taken);
}

/// Two stores on one PostgreSQL database are two servers: their writers race in separate
/// transactions, and still exactly one booking wins. (SQLite is served by one process.)
#[tokio::test]
#[cfg_attr(
    not(telemed_pg),
    ignore = "set TELEMED_TEST_POSTGRES_URL to run on PostgreSQL"
)]
async fn two_servers_racing_for_one_slot_on_postgres_leave_exactly_one_appointment() {
    let db = TestDb::postgres()
        .await
        .expect("TELEMED_TEST_POSTGRES_URL names a PostgreSQL database");
    let w = world(&db, 16).await;
    let s = slot(&w, w.clinician.id, 600, 30);
    publish(&db, std::slice::from_ref(&s)).await;
    let other: Arc<dyn domain::Store> = ::store::connect(&db.url).await.unwrap();
    let stores = [db.store.clone(), other];
    let mut tasks = Vec::new();
    for (i, p) in w.patients.iter().enumerate() {
        let store = stores[i % 2].clone();
        let a = appointment(&w, p, &s);
        tasks.push(tokio::spawn(async move { store.book(booking(&a)).await }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => won += 1,
            Err(DomainError::SlotTaken) => {}
            Err(other) => panic!("unexpected refusal: {other:?}"),
        }
    }
    assert_eq!(won, 1);
    let all = db
        .store
        .list_appointments(w.org.id, &AppointmentQuery::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    crate::helpers::drop_postgres(&db.url).await;
}

async fn the_database_itself_refuses_a_second_live_appointment_in_a_slot(db: TestDb) {
    let w = world(&db, 2).await;
    let s = slot(&w, w.clinician.id, 600, 30);
    publish(&db, std::slice::from_ref(&s)).await;
    let first = appointment(&w, &w.patients[0], &s);
    book(&db, &first).await.unwrap();
    // Behind the application's back, as a second server with a stale read would.
    let insert = |id: AppointmentId, status: &str| {
        format!(
            "INSERT INTO appointments (id, org_id, patient_id, clinician_id, site_id, slot_id, visit_type_id, \
             service_line, modality, start_at, end_at, patient_state, status, late_cancellation, created_at, updated_at) \
             SELECT '{id}', org_id, '{}', clinician_id, site_id, slot_id, visit_type_id, service_line, modality, \
             start_at, end_at, patient_state, '{status}', late_cancellation, created_at, updated_at \
             FROM appointments WHERE id = '{}'",
            w.patients[1].id, first.id
        )
    };
    let refused =
        ::store::testing::execute_raw(&db.url, &insert(AppointmentId::new(), "booked")).await;
    assert!(
        refused.is_err(),
        "the unique index must refuse a second live appointment"
    );
    // A cancelled one does not hold the slot, so the index lets it be.
    db.raw(&insert(AppointmentId::new(), "cancelled")).await;
}

async fn a_cancelled_appointment_frees_its_slot_for_the_next_patient(db: TestDb) {
    let w = world(&db, 2).await;
    let s = slot(&w, w.clinician.id, 600, 30);
    publish(&db, std::slice::from_ref(&s)).await;
    let first = appointment(&w, &w.patients[0], &s);
    book(&db, &first).await.unwrap();
    let second = appointment(&w, &w.patients[1], &s);
    assert!(matches!(
        book(&db, &second).await,
        Err(DomainError::SlotTaken)
    ));
    let cancelled = db
        .store
        .change_status(change(
            &first,
            AppointmentStatus::Booked,
            AppointmentStatus::Cancelled,
        ))
        .await
        .unwrap();
    assert!(cancelled);
    assert!(
        !db.store
            .get_slot(w.org.id, s.id)
            .await
            .unwrap()
            .unwrap()
            .taken
    );
    book(&db, &second).await.unwrap();
    let open = search(&db, &w, |_| {}).await;
    assert!(open.is_empty(), "the slot is held again");
}

pub(crate) fn change(
    a: &Appointment,
    from: AppointmentStatus,
    to: AppointmentStatus,
) -> StatusChange {
    StatusChange {
        org_id: a.org_id,
        appointment_id: a.id,
        from,
        to,
        at: at(50),
        late_cancellation: to == AppointmentStatus::Cancelled,
        cancel_reason: (to == AppointmentStatus::Cancelled).then(|| "feeling better".to_string()),
        patient_state: None,
        end_at: None,
        consent: None,
        event: AppointmentEvent {
            id: AppointmentEventId::new(),
            appointment_id: a.id,
            at: at(50),
            action: AppointmentAction::Cancel,
            from_status: Some(from),
            to_status: to,
            actor: AuditActor::Operator,
            detail: Some("test".into()),
        },
        audit: vec![audit(AuditAction::AppointmentChange)],
    }
}

async fn a_patient_cannot_hold_two_overlapping_appointments(db: TestDb) {
    let w = world(&db, 1).await;
    let other = clinician(&w.org, "dr2@example.org", &[&w.site]);
    db.add_user(&other).await;
    let mine = slot(&w, w.clinician.id, 600, 30);
    let theirs = slot(&w, other.id, 610, 30);
    let later = slot(&w, other.id, 640, 30);
    publish(&db, &[mine.clone(), theirs.clone(), later.clone()]).await;
    let p = &w.patients[0];
    book(&db, &appointment(&w, p, &mine)).await.unwrap();
    let overlapping = appointment(&w, p, &theirs);
    assert!(matches!(
        book(&db, &overlapping).await,
        Err(DomainError::PatientDoubleBooked)
    ));
    // Back to back is fine: the first visit ends at 620, the next starts at 640.
    book(&db, &appointment(&w, p, &later)).await.unwrap();
}

async fn a_clinician_cannot_be_given_two_overlapping_visits(db: TestDb) {
    let w = world(&db, 2).await;
    let second_site = db.site(&w.org, "Second").await;
    let s = slot(&w, w.clinician.id, 600, 30);
    publish(&db, std::slice::from_ref(&s)).await;
    book(&db, &appointment(&w, &w.patients[0], &s))
        .await
        .unwrap();
    // An on-demand visit (no slot) for the same clinician at another site, at the same time.
    let mut on_demand = appointment(&w, &w.patients[1], &s);
    on_demand.slot_id = None;
    on_demand.site_id = second_site.id;
    on_demand.start_at = minutes(605);
    on_demand.end_at = minutes(620);
    on_demand.status = AppointmentStatus::CheckedIn;
    assert!(matches!(
        book(&db, &on_demand).await,
        Err(DomainError::ClinicianBusy)
    ));
}

async fn search(db: &TestDb, w: &World, tweak: impl FnOnce(&mut SlotQuery)) -> Vec<SlotView> {
    let mut q = SlotQuery {
        from: minutes(0),
        to: minutes(100_000),
        service_line: None,
        min_minutes: None,
        clinician_id: None,
        site_id: None,
        slot_id: None,
        licensed_in: None,
        language: None,
        open_only: true,
        limit: 100,
    };
    tweak(&mut q);
    db.store.search_slots(w.org.id, &q).await.unwrap()
}

async fn publishing_twice_adds_no_slot_and_search_applies_every_filter(db: TestDb) {
    let w = world(&db, 1).await;
    let mut short = slot(&w, w.clinician.id, 700, 15);
    short.service_lines = ServiceLines::of(&[ServiceLine::BehavioralHealth]);
    let slots = vec![
        slot(&w, w.clinician.id, 600, 30),
        slot(&w, w.clinician.id, 630, 30),
        short,
    ];
    assert_eq!(publish(&db, &slots).await, 3);
    let again: Vec<Slot> = slots
        .iter()
        .map(|s| Slot {
            id: SlotId::new(),
            ..s.clone()
        })
        .collect();
    assert_eq!(publish(&db, &again).await, 0, "same clinician and start");
    assert_eq!(search(&db, &w, |_| {}).await.len(), 3);
    let line = search(&db, &w, |q| {
        q.service_line = Some(ServiceLine::BehavioralHealth)
    })
    .await;
    assert_eq!(line.len(), 1);
    assert_eq!(search(&db, &w, |q| q.min_minutes = Some(20)).await.len(), 2);
    assert_eq!(search(&db, &w, |q| q.from = minutes(630)).await.len(), 2);
    // The helper clinician holds licenses in CA (to 2030-01-31) and NY (to 2029-06-30).
    let in_ny = |on| move |q: &mut SlotQuery| q.licensed_in = Some((ny(), on));
    assert_eq!(
        search(&db, &w, in_ny(jiff::civil::date(2029, 6, 30)))
            .await
            .len(),
        3
    );
    assert_eq!(
        search(&db, &w, in_ny(jiff::civil::date(2029, 7, 1)))
            .await
            .len(),
        0
    );
    let tx = UsState::parse("s", "TX").unwrap();
    let in_tx = search(&db, &w, |q| {
        q.licensed_in = Some((tx, jiff::civil::date(2026, 1, 1)))
    })
    .await;
    assert!(in_tx.is_empty());
    assert_eq!(
        search(&db, &w, |q| q.language = Some("es".into()))
            .await
            .len(),
        3
    );
    assert!(
        search(&db, &w, |q| q.language = Some("fr".into()))
            .await
            .is_empty()
    );
    book(&db, &appointment(&w, &w.patients[0], &slots[0]))
        .await
        .unwrap();
    assert_eq!(search(&db, &w, |_| {}).await.len(), 2);
    let all = search(&db, &w, |q| q.open_only = false).await;
    assert_eq!(all.iter().filter(|v| v.taken).count(), 1);
    let found = db
        .store
        .find_slot(w.org.id, w.clinician.id, minutes(630))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.slot.id, slots[1].id);
    assert!(
        db.store
            .get_slot(OrgId::new(), slots[1].id)
            .await
            .unwrap()
            .is_none(),
        "tenant scoped"
    );
}

async fn leave_and_ended_templates_withdraw_slots_even_booked_ones(db: TestDb) {
    let w = world(&db, 1).await;
    let template = template(&w);
    db.store
        .create_template(&template, audit(AuditAction::AvailabilityChange))
        .await
        .unwrap();
    let mut slots = Vec::new();
    for start in [600, 630, 660, 690] {
        let mut s = slot(&w, w.clinician.id, start, 30);
        s.template_id = Some(template.id);
        slots.push(s);
    }
    publish(&db, &slots).await;
    book(&db, &appointment(&w, &w.patients[0], &slots[0]))
        .await
        .unwrap();
    let leave = AvailabilityException {
        id: ExceptionId::new(),
        org_id: w.org.id,
        clinician_id: w.clinician.id,
        kind: ExceptionKind::Leave,
        site_id: None,
        start_at: minutes(590),
        end_at: minutes(640),
        slot_minutes: 30,
        buffer_minutes: 0,
        service_lines: ServiceLines::default(),
        reason: Some("conference".into()),
        created_at: at(2),
    };
    let withdrawn = db
        .store
        .create_exception(&leave, audit(AuditAction::AvailabilityChange))
        .await
        .unwrap();
    assert_eq!(
        withdrawn, 2,
        "the booked slot at 600 and the open one at 630"
    );
    assert!(
        db.store
            .get_slot(w.org.id, slots[0].id)
            .await
            .unwrap()
            .unwrap()
            .slot
            .withdrawn
    );
    assert_eq!(search(&db, &w, |_| {}).await.len(), 2);
    let listed = db
        .store
        .list_exceptions(w.org.id, w.clinician.id, minutes(0), minutes(1000))
        .await
        .unwrap();
    assert_eq!(listed, vec![leave]);
    let ended = db
        .store
        .end_template(
            w.org.id,
            template.id,
            jiff::civil::date(2026, 1, 1),
            minutes(680),
            audit(AuditAction::AvailabilityChange),
        )
        .await
        .unwrap();
    assert_eq!(ended, 1, "only the slot at 690 starts after the cut");
    let stored = db
        .store
        .get_template(w.org.id, template.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.valid_until, Some(jiff::civil::date(2026, 1, 1)));
    // A booking that raced the leave is refused by the store itself.
    let late = appointment(&w, &w.patients[0], &slots[1]);
    assert!(matches!(
        book(&db, &late).await,
        Err(DomainError::SlotNotBookable(_))
    ));
}

fn template(w: &World) -> AvailabilityTemplate {
    AvailabilityTemplate {
        id: TemplateId::new(),
        org_id: w.org.id,
        clinician_id: w.clinician.id,
        site_id: w.site.id,
        weekday: jiff::civil::Weekday::Tuesday,
        start_time: jiff::civil::time(9, 0, 0, 0),
        end_time: jiff::civil::time(12, 30, 0, 0),
        slot_minutes: 30,
        buffer_minutes: 5,
        service_lines: ServiceLines::of(&[
            ServiceLine::PrimaryCare,
            ServiceLine::WellnessScreening,
        ]),
        valid_from: jiff::civil::date(2025, 1, 1),
        valid_until: None,
        created_at: at(3),
    }
}

async fn a_status_changes_only_from_the_expected_status_and_records_its_history(db: TestDb) {
    let w = world(&db, 1).await;
    let s = slot(&w, w.clinician.id, 600, 30);
    publish(&db, std::slice::from_ref(&s)).await;
    let a = appointment(&w, &w.patients[0], &s);
    book(&db, &a).await.unwrap();
    let before = db.audit_seq().await;
    let stale = change(
        &a,
        AppointmentStatus::CheckedIn,
        AppointmentStatus::Cancelled,
    );
    assert!(!db.store.change_status(stale).await.unwrap());
    assert_eq!(db.audit_seq().await, before, "nothing written");
    let mut check_in = change(&a, AppointmentStatus::Booked, AppointmentStatus::CheckedIn);
    check_in.patient_state = Some(UsState::parse("s", "CA").unwrap());
    check_in.late_cancellation = false;
    check_in.cancel_reason = None;
    assert!(db.store.change_status(check_in).await.unwrap());
    let mut done = change(
        &a,
        AppointmentStatus::CheckedIn,
        AppointmentStatus::Completed,
    );
    done.late_cancellation = false;
    done.cancel_reason = None;
    done.end_at = Some(minutes(612));
    assert!(db.store.change_status(done).await.unwrap());
    let stored = db
        .store
        .get_appointment(w.org.id, a.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, AppointmentStatus::Completed);
    assert_eq!(stored.patient_state.code(), "CA");
    assert_eq!(stored.end_at, minutes(612));
    assert!(!stored.late_cancellation);
    let history = db.store.appointment_events(w.org.id, a.id).await.unwrap();
    let steps: Vec<_> = history
        .iter()
        .map(|e| (e.from_status, e.to_status))
        .collect();
    assert_eq!(
        steps,
        [
            (None, AppointmentStatus::Booked),
            (
                Some(AppointmentStatus::Booked),
                AppointmentStatus::CheckedIn
            ),
            (
                Some(AppointmentStatus::CheckedIn),
                AppointmentStatus::Completed
            ),
        ]
    );
    assert!(
        db.store
            .appointment_events(OrgId::new(), a.id)
            .await
            .unwrap()
            .is_empty()
    );
    let overdue = db.store.overdue_booked(minutes(10_000), 10).await.unwrap();
    assert!(overdue.is_empty(), "completed, not booked");
}

async fn a_refused_booking_writes_nothing(db: TestDb) {
    let w = world(&db, 2).await;
    let s = slot(&w, w.clinician.id, 600, 30);
    publish(&db, std::slice::from_ref(&s)).await;
    book(&db, &appointment(&w, &w.patients[0], &s))
        .await
        .unwrap();
    let before = db.audit_seq().await;
    let mut refused = booking(&appointment(&w, &w.patients[1], &s));
    refused.consent = Some(PatientConsent {
        id: ConsentId::new(),
        org_id: w.org.id,
        patient_id: w.patients[1].id,
        version: 1,
        method: ConsentMethod::Patient,
        recorded_by: None,
        given_at: at(1),
    });
    assert!(matches!(
        db.store.book(refused).await,
        Err(DomainError::SlotTaken)
    ));
    assert_eq!(db.audit_seq().await, before);
    assert!(
        db.store
            .patient_consents(w.org.id, w.patients[1].id)
            .await
            .unwrap()
            .is_empty()
    );
    let all = db
        .store
        .list_appointments(w.org.id, &AppointmentQuery::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
}

async fn consent_documents_are_versioned_and_patient_consent_recorded_once(db: TestDb) {
    let w = world(&db, 1).await;
    assert!(db.store.consent_document(w.org.id).await.unwrap().is_none());
    let v1 = ConsentDocument::default_for(w.org.id, at(0));
    let v2 = v1
        .next(
            &"Our telehealth consent, second edition. ".repeat(3),
            at(10),
        )
        .unwrap();
    db.store
        .publish_consent(&v2, audit(AuditAction::ConsentPublish))
        .await
        .unwrap();
    assert!(matches!(
        db.store
            .publish_consent(&v2, audit(AuditAction::ConsentPublish))
            .await,
        Err(DomainError::Conflict { .. })
    ));
    assert_eq!(db.store.consent_document(w.org.id).await.unwrap(), Some(v2));
    let p = &w.patients[0];
    let consent = PatientConsent {
        id: ConsentId::new(),
        org_id: w.org.id,
        patient_id: p.id,
        version: 2,
        method: ConsentMethod::RecordedByStaff,
        recorded_by: Some(w.clinician.id),
        given_at: at(20),
    };
    db.store
        .record_consent(&consent, audit(AuditAction::ConsentGiven))
        .await
        .unwrap();
    let again = PatientConsent {
        id: ConsentId::new(),
        ..consent.clone()
    };
    db.store
        .record_consent(&again, audit(AuditAction::ConsentGiven))
        .await
        .unwrap();
    assert_eq!(
        db.store.patient_consents(w.org.id, p.id).await.unwrap(),
        vec![consent]
    );
}

/// Six clinicians press "Take next patient" at the same moment for the one patient waiting: one
/// of them gets the patient, the others are told so (taken, or the patient is now busy), and the
/// patient has exactly one visit.
async fn clinicians_taking_the_same_patient_at_once_are_given_them_once(db: TestDb) {
    let w = world(&db, 1).await;
    let mut clinicians = vec![w.clinician.clone()];
    for i in 0..5 {
        let c = clinician(&w.org, &format!("urgent{i}@example.org"), &[&w.site]);
        db.add_user(&c).await;
        clinicians.push(c);
    }
    let p = &w.patients[0];
    let waiting = QueueEntry {
        id: QueueEntryId::new(),
        org_id: w.org.id,
        patient_id: p.id,
        patient_state: ny(),
        service_line: ServiceLine::UrgentCare,
        visit_type_id: w.visit_type.id,
        reason: None,
        status: QueueStatus::Waiting,
        joined_at: at(10),
        taken_by: None,
        taken_at: None,
        appointment_id: None,
    };
    db.store
        .join_queue(&waiting, audit(AuditAction::QueueJoin))
        .await
        .unwrap();
    let takes = clinicians.iter().map(|c| {
        let mut a = appointment(&w, p, &slot(&w, c.id, 100, 20));
        a.slot_id = None;
        a.status = AppointmentStatus::CheckedIn;
        let take = QueueTake {
            org_id: w.org.id,
            entry_id: waiting.id,
            clinician_id: c.id,
            at: minutes(100),
            event: booking(&a).event,
            appointment: a,
            audit: vec![audit(AuditAction::AppointmentCreate)],
        };
        let store = db.store.clone();
        tokio::spawn(async move { store.take_from_queue(take).await })
    });
    // All started before any is awaited.
    let takes: Vec<_> = takes.collect();
    let mut given = 0;
    for take in takes {
        match take.await.unwrap() {
            Ok(true) => given += 1,
            Ok(false) | Err(DomainError::PatientDoubleBooked) => {}
            Err(other) => panic!("a take failed: {other:?}"),
        }
    }
    assert_eq!(given, 1, "the patient is given to one clinician");
    let visits = db
        .store
        .list_appointments(w.org.id, &AppointmentQuery::default())
        .await
        .unwrap();
    assert_eq!(visits.len(), 1, "one visit, whoever won");
    let taken = db
        .store
        .get_queue_entry(w.org.id, waiting.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.status, QueueStatus::Taken);
    assert_eq!(taken.appointment_id, Some(visits[0].id));
    assert_eq!(taken.taken_by, Some(visits[0].clinician_id));
}

async fn the_queue_holds_one_waiting_entry_per_patient_and_is_taken_once(db: TestDb) {
    let w = world(&db, 2).await;
    let entry = |p: &Patient, joined: i64| QueueEntry {
        id: QueueEntryId::new(),
        org_id: w.org.id,
        patient_id: p.id,
        patient_state: ny(),
        service_line: ServiceLine::UrgentCare,
        visit_type_id: w.visit_type.id,
        reason: Some("rash".into()),
        status: QueueStatus::Waiting,
        joined_at: at(joined),
        taken_by: None,
        taken_at: None,
        appointment_id: None,
    };
    let first = entry(&w.patients[0], 10);
    db.store
        .join_queue(&first, audit(AuditAction::QueueJoin))
        .await
        .unwrap();
    assert!(matches!(
        db.store
            .join_queue(&entry(&w.patients[0], 11), audit(AuditAction::QueueJoin))
            .await,
        Err(DomainError::Conflict { .. })
    ));
    let second = entry(&w.patients[1], 12);
    db.store
        .join_queue(&second, audit(AuditAction::QueueJoin))
        .await
        .unwrap();
    let waiting = db.store.waiting_queue(w.org.id).await.unwrap();
    assert_eq!(
        waiting.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![first.id, second.id]
    );

    let take = |e: &QueueEntry, start: i64| {
        let mut a = appointment(&w, &w.patients[0], &slot(&w, w.clinician.id, start, 20));
        a.patient_id = e.patient_id;
        a.slot_id = None;
        a.status = AppointmentStatus::CheckedIn;
        QueueTake {
            org_id: w.org.id,
            entry_id: e.id,
            clinician_id: w.clinician.id,
            at: minutes(start),
            event: booking(&a).event,
            appointment: a,
            audit: vec![audit(AuditAction::AppointmentCreate)],
        }
    };
    assert!(db.store.take_from_queue(take(&first, 100)).await.unwrap());
    assert!(
        !db.store.take_from_queue(take(&first, 200)).await.unwrap(),
        "already taken"
    );
    let taken = db
        .store
        .get_queue_entry(w.org.id, first.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.status, QueueStatus::Taken);
    assert_eq!(taken.taken_by, Some(w.clinician.id));
    let visits = db
        .store
        .list_appointments(w.org.id, &AppointmentQuery::default())
        .await
        .unwrap();
    assert_eq!(visits.len(), 1, "the losing take wrote no appointment");
    assert_eq!(taken.appointment_id, Some(visits[0].id));
    assert!(
        db.store
            .leave_queue(w.org.id, second.id, audit(AuditAction::QueueLeave))
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .leave_queue(w.org.id, second.id, audit(AuditAction::QueueLeave))
            .await
            .unwrap()
    );
    assert!(db.store.waiting_queue(w.org.id).await.unwrap().is_empty());
    let latest = db
        .store
        .latest_queue_entry(w.org.id, w.patients[1].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.status, QueueStatus::Left);
    let wait = db
        .store
        .average_queue_wait(w.org.id, ServiceLine::UrgentCare, at(0))
        .await
        .unwrap()
        .unwrap();
    assert!((wait - (6000.0 - 10.0) / 60.0).abs() < 0.01, "{wait}");
}

async fn a_reminder_is_claimed_once_and_a_failed_one_can_be_claimed_again(db: TestDb) {
    let w = world(&db, 1).await;
    let s = slot(&w, w.clinician.id, 600, 30);
    publish(&db, std::slice::from_ref(&s)).await;
    let a = appointment(&w, &w.patients[0], &s);
    book(&db, &a).await.unwrap();
    let due = db
        .store
        .booked_between(minutes(500), minutes(700), 10)
        .await
        .unwrap();
    assert_eq!(due.iter().map(|x| x.id).collect::<Vec<_>>(), vec![a.id]);
    assert!(
        db.store
            .claim_reminder(a.id, 60, minutes(540))
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .claim_reminder(a.id, 60, minutes(541))
            .await
            .unwrap()
    );
    db.store.finish_reminder(a.id, 60, None).await.unwrap();
    assert!(
        db.store
            .claim_reminder(a.id, 60, minutes(542))
            .await
            .unwrap(),
        "released after a failure"
    );
    db.store
        .finish_reminder(a.id, 60, Some(audit(AuditAction::ReminderSent)))
        .await
        .unwrap();
    assert!(
        !db.store
            .claim_reminder(a.id, 60, minutes(600))
            .await
            .unwrap(),
        "sent, never again"
    );
    // A claim abandoned by a sender that stopped is taken over after ten minutes.
    assert!(
        db.store
            .claim_reminder(a.id, 1440, minutes(100))
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .claim_reminder(a.id, 1440, minutes(105))
            .await
            .unwrap()
    );
    assert!(
        db.store
            .claim_reminder(a.id, 1440, minutes(111))
            .await
            .unwrap()
    );
    let overdue = db.store.overdue_booked(minutes(601), 10).await.unwrap();
    assert_eq!(overdue.len(), 1);
}

async fn templates_and_visit_types_round_trip(db: TestDb) {
    let w = world(&db, 0).await;
    let t = template(&w);
    db.store
        .create_template(&t, audit(AuditAction::AvailabilityChange))
        .await
        .unwrap();
    assert_eq!(
        db.store.get_template(w.org.id, t.id).await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(
        db.store
            .list_templates(w.org.id, Some(w.clinician.id))
            .await
            .unwrap(),
        vec![t.clone()]
    );
    assert_eq!(
        db.store
            .clinicians_with_templates(jiff::civil::date(2027, 1, 1))
            .await
            .unwrap(),
        vec![(w.org.id, w.clinician.id)]
    );
    let mut v = w.visit_type.clone();
    v.active = false;
    v.duration_minutes = 45;
    db.store
        .update_visit_type(&v, audit(AuditAction::VisitTypeUpdate))
        .await
        .unwrap();
    assert_eq!(
        db.store.list_visit_types(w.org.id).await.unwrap(),
        vec![v.clone()]
    );
    let mut twin = v.clone();
    twin.id = VisitTypeId::new();
    assert!(matches!(
        db.store.create_visit_type(&twin, audit(AuditAction::VisitTypeCreate)).await,
        Err(DomainError::Conflict { field: Some(f), .. }) if f == "name"
    ));
    let stored = db
        .store
        .get_user(w.org.id, w.clinician.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.clinician.unwrap().languages,
        vec!["en".to_string(), "es".to_string()]
    );
}
