//! Visit storage: opening a visit with its check-in in one transaction, compare-and-set state
//! changes that move the appointment along, cancellation reaching the visit, counters, quality,
//! invitations used once, escalations acknowledged once.

use domain::compliance::{AuditAction, AuditActor};
use domain::ids::*;
use domain::scheduling::*;
use domain::visits::*;

use crate::helpers::{TestDb, at, audit, on_every_backend};
use crate::scheduling::{World, appointment, book, change, ny, publish, slot, world};

on_every_backend!(
    check_in_and_the_visit_open_together_or_not_at_all,
    a_visit_changes_only_from_the_expected_state_with_its_appointment,
    cancelling_the_appointment_cancels_the_waiting_visit,
    counters_quality_and_the_log_are_kept_per_visit,
    an_invitation_is_claimed_once_and_a_guest_admitted_once,
    an_escalation_is_acknowledged_once_and_listed_per_site,
    the_queue_ahead_holds_calls_in_progress_and_earlier_check_ins,
);

fn visit_of(a: &Appointment) -> Visit {
    Visit {
        appointment_id: a.id,
        org_id: a.org_id,
        site_id: a.site_id,
        clinician_id: a.clinician_id,
        patient_id: a.patient_id,
        state: VisitState::Waiting,
        outcome: None,
        modality: a.modality,
        audio_only: false,
        audio_only_used: false,
        location_state: ny(),
        location_text: "home".into(),
        questionnaire: None,
        checked_in_at: at(60),
        admitted_at: None,
        started_at: None,
        ended_at: None,
        drops: 0,
        updated_at: at(60),
    }
}

fn entry(a: &Appointment, kind: &str) -> VisitLogEntry {
    VisitLogEntry {
        id: VisitEventId::new(),
        appointment_id: a.id,
        at: at(60),
        kind: kind.into(),
        actor: AuditActor::Operator,
        detail: None,
    }
}

/// A booked appointment in `w` and its store.
async fn booked(db: &TestDb, w: &World, start_min: i64) -> Appointment {
    let s = slot(w, w.clinician.id, start_min, 30);
    publish(db, std::slice::from_ref(&s)).await;
    let a = appointment(w, &w.patients[0], &s);
    book(db, &a).await.unwrap();
    a
}

async fn opened(db: &TestDb, w: &World, start_min: i64) -> Appointment {
    let a = booked(db, w, start_min).await;
    let check_in = change(&a, AppointmentStatus::Booked, AppointmentStatus::CheckedIn);
    assert!(
        db.store
            .open_visit(check_in, &visit_of(&a), entry(&a, "checked_in"))
            .await
            .unwrap()
    );
    a
}

fn visit_change(a: &Appointment, from: VisitState, to: VisitState) -> VisitChange {
    VisitChange {
        org_id: a.org_id,
        appointment_id: a.id,
        from,
        to,
        at: at(120),
        outcome: None,
        appointment: Vec::new(),
        log: entry(a, to.as_str()),
        audit: vec![audit(AuditAction::VisitChange)],
    }
}

async fn check_in_and_the_visit_open_together_or_not_at_all(db: TestDb) {
    let w = world(&db, 1).await;
    let a = booked(&db, &w, 600).await;
    let before = db.audit_seq().await;
    // A stale check-in (the appointment is not checked in) writes neither.
    let stale = change(&a, AppointmentStatus::CheckedIn, AppointmentStatus::InVisit);
    assert!(
        !db.store
            .open_visit(stale, &visit_of(&a), entry(&a, "checked_in"))
            .await
            .unwrap()
    );
    assert_eq!(db.audit_seq().await, before);
    assert!(db.store.get_visit(w.org.id, a.id).await.unwrap().is_none());
    let check_in = change(&a, AppointmentStatus::Booked, AppointmentStatus::CheckedIn);
    let mut visit = visit_of(&a);
    visit.questionnaire = Some(
        QuestionnaireInput {
            phq9: vec![1, 1, 1, 1, 1, 1, 1, 1, 2],
            ..QuestionnaireInput::default()
        }
        .check(QuestionnaireKind::Phq9)
        .unwrap(),
    );
    assert!(
        db.store
            .open_visit(check_in, &visit, entry(&a, "checked_in"))
            .await
            .unwrap()
    );
    let stored = db.store.get_visit(w.org.id, a.id).await.unwrap().unwrap();
    assert_eq!(stored, visit, "round trip, questionnaire included");
    let status = db
        .store
        .get_appointment(w.org.id, a.id)
        .await
        .unwrap()
        .unwrap()
        .status;
    assert_eq!(status, AppointmentStatus::CheckedIn);
    // Another organization sees nothing.
    assert!(
        db.store
            .get_visit(OrgId::new(), a.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_visit_changes_only_from_the_expected_state_with_its_appointment(db: TestDb) {
    let w = world(&db, 1).await;
    let a = opened(&db, &w, 600).await;
    let before = db.audit_seq().await;
    let stale = visit_change(&a, VisitState::Admitted, VisitState::InCall);
    assert!(!db.store.change_visit(stale).await.unwrap());
    assert_eq!(db.audit_seq().await, before);

    // Admitting starts the appointment; if the appointment moved meanwhile nothing is written.
    let step = |from, to| AppointmentStep {
        from,
        to,
        event: change(&a, from, to).event,
        end_at: None,
    };
    let mut admit = visit_change(&a, VisitState::Waiting, VisitState::Admitted);
    admit.appointment = vec![step(AppointmentStatus::Booked, AppointmentStatus::InVisit)];
    assert!(!db.store.change_visit(admit.clone()).await.unwrap());
    assert_eq!(
        db.store
            .get_visit(w.org.id, a.id)
            .await
            .unwrap()
            .unwrap()
            .state,
        VisitState::Waiting,
        "rolled back with its appointment step"
    );
    admit.appointment = vec![step(
        AppointmentStatus::CheckedIn,
        AppointmentStatus::InVisit,
    )];
    assert!(db.store.change_visit(admit).await.unwrap());
    let v = db.store.get_visit(w.org.id, a.id).await.unwrap().unwrap();
    assert_eq!(
        (v.state, v.admitted_at),
        (VisitState::Admitted, Some(at(120)))
    );
    let status = db
        .store
        .get_appointment(w.org.id, a.id)
        .await
        .unwrap()
        .unwrap()
        .status;
    assert_eq!(status, AppointmentStatus::InVisit);

    assert!(
        db.store
            .change_visit(visit_change(&a, VisitState::Admitted, VisitState::InCall))
            .await
            .unwrap()
    );
    assert!(
        db.store
            .change_visit(visit_change(
                &a,
                VisitState::InCall,
                VisitState::Reconnecting
            ))
            .await
            .unwrap()
    );
    assert!(
        db.store
            .change_visit(visit_change(
                &a,
                VisitState::Reconnecting,
                VisitState::InCall
            ))
            .await
            .unwrap()
    );
    let mut end = visit_change(&a, VisitState::InCall, VisitState::Ended);
    end.outcome = Some(VisitOutcome::TechnicalFailure);
    end.appointment = vec![AppointmentStep {
        end_at: Some(at(900)),
        ..step(AppointmentStatus::InVisit, AppointmentStatus::Completed)
    }];
    assert!(db.store.change_visit(end).await.unwrap());
    let v = db.store.get_visit(w.org.id, a.id).await.unwrap().unwrap();
    assert_eq!(v.state, VisitState::Ended);
    assert_eq!(v.outcome, Some(VisitOutcome::TechnicalFailure));
    assert_eq!(v.drops, 1, "the reconnect counts one drop");
    assert_eq!((v.started_at, v.ended_at), (Some(at(120)), Some(at(120))));
    let stored = db
        .store
        .get_appointment(w.org.id, a.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.status, stored.end_at),
        (AppointmentStatus::Completed, at(900))
    );
    let kinds: Vec<String> = db
        .store
        .visit_log(w.org.id, a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "checked_in",
            "admitted",
            "in_call",
            "reconnecting",
            "in_call",
            "ended"
        ]
    );
}

async fn cancelling_the_appointment_cancels_the_waiting_visit(db: TestDb) {
    let w = world(&db, 1).await;
    let a = opened(&db, &w, 600).await;
    let cancel = change(
        &a,
        AppointmentStatus::CheckedIn,
        AppointmentStatus::Cancelled,
    );
    assert!(db.store.change_status(cancel).await.unwrap());
    let v = db.store.get_visit(w.org.id, a.id).await.unwrap().unwrap();
    assert_eq!(v.state, VisitState::Cancelled);
    assert_eq!(v.ended_at, Some(at(50)));
    let log = db.store.visit_log(w.org.id, a.id).await.unwrap();
    let cancelled = log
        .iter()
        .find(|e| e.kind == "cancelled")
        .map(|e| e.detail.as_deref());
    assert_eq!(
        cancelled,
        Some(Some("feeling better")),
        "logged with its reason"
    );
    let listed = db
        .store
        .list_visits(
            w.org.id,
            &VisitQuery {
                states: Some(vec![VisitState::Waiting]),
                limit: 10,
                ..VisitQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(listed.is_empty(), "no longer in the waiting room");
}

async fn counters_quality_and_the_log_are_kept_per_visit(db: TestDb) {
    let w = world(&db, 1).await;
    let a = opened(&db, &w, 600).await;
    let other = opened(&db, &w, 700).await;
    let audio = VisitCounters {
        drop: false,
        audio_only: Some(true),
    };
    db.store
        .log_visit(&entry(&a, "audio_only"), audio)
        .await
        .unwrap();
    db.store
        .log_visit(
            &entry(&a, "video"),
            VisitCounters {
                drop: false,
                audio_only: Some(false),
            },
        )
        .await
        .unwrap();
    db.store
        .log_visit(&entry(&a, "guest_joined"), VisitCounters::default())
        .await
        .unwrap();
    let v = db.store.get_visit(w.org.id, a.id).await.unwrap().unwrap();
    assert!(
        !v.audio_only && v.audio_only_used,
        "back on video, but audio-only was used"
    );
    assert_eq!(v.modality_used(), Modality::AudioOnly);
    let samples: Vec<QualitySample> = (0..13)
        .map(|i| QualitySample {
            appointment_id: a.id,
            at: at(i),
            role: ParticipantRole::Patient,
            round_trip_ms: Some(20.0 + i as f64),
            packet_loss_pct: Some(if i == 12 { 9.0 } else { 0.0 }),
            bitrate_kbps: None,
            frames_decoded: Some(i * 30),
        })
        .collect();
    db.store.record_quality(&samples).await.unwrap();
    let stored = db.store.quality(w.org.id, a.id).await.unwrap();
    assert_eq!(stored, samples);
    let summary = QualitySummary::of(&stored);
    assert_eq!(summary.max_packet_loss_pct, Some(9.0));
    assert_eq!(summary.avg_round_trip_ms, Some(26.0));
    assert!(
        db.store
            .quality(w.org.id, other.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.store
            .quality(OrgId::new(), a.id)
            .await
            .unwrap()
            .is_empty(),
        "tenants stay apart"
    );
    assert_eq!(db.store.visit_log(w.org.id, a.id).await.unwrap().len(), 4);
    assert_eq!(
        db.store.visit_log(w.org.id, other.id).await.unwrap().len(),
        1
    );
    let by_clinician = db
        .store
        .list_visits(
            w.org.id,
            &VisitQuery {
                clinician_id: Some(w.clinician.id),
                limit: 10,
                ..VisitQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        by_clinician
            .iter()
            .map(|v| v.appointment_id)
            .collect::<Vec<_>>(),
        [a.id, other.id]
    );
    let elsewhere = VisitQuery {
        site_ids: Some(vec![SiteId::new()]),
        limit: 10,
        ..VisitQuery::default()
    };
    assert!(
        db.store
            .list_visits(w.org.id, &elsewhere)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn an_invitation_is_claimed_once_and_a_guest_admitted_once(db: TestDb) {
    let w = world(&db, 1).await;
    let a = opened(&db, &w, 600).await;
    let invite = Invite {
        id: InviteId::new(),
        appointment_id: a.id,
        org_id: w.org.id,
        name: "Ana".into(),
        relation: GuestRelation::Interpreter,
        email: Some(domain::identity::Email::parse("email", "ana@example.org").unwrap()),
        token_hash: "token-hash".into(),
        created_by: w.clinician.id,
        created_at: at(70),
        expires_at: at(7000),
        delivery: InviteDelivery::LinkShown,
        used_at: None,
        session_hash: None,
        admitted_at: None,
    };
    db.store
        .create_invite(&invite, audit(AuditAction::GuestInvite))
        .await
        .unwrap();
    db.store
        .set_invite_delivery(invite.id, InviteDelivery::Emailed)
        .await
        .unwrap();
    assert!(
        !db.store
            .admit_guest(w.org.id, invite.id, at(80), audit(AuditAction::GuestAdmit))
            .await
            .unwrap(),
        "not opened yet"
    );
    assert!(
        db.store
            .claim_invite(
                invite.id,
                "session-1",
                at(90),
                audit(AuditAction::GuestJoin)
            )
            .await
            .unwrap()
    );
    let before = db.audit_seq().await;
    assert!(
        !db.store
            .claim_invite(
                invite.id,
                "session-2",
                at(91),
                audit(AuditAction::GuestJoin)
            )
            .await
            .unwrap()
    );
    assert_eq!(
        db.audit_seq().await,
        before,
        "a second claim writes nothing"
    );
    assert!(
        db.store
            .invite_by_session("session-2")
            .await
            .unwrap()
            .is_none()
    );
    let found = db
        .store
        .invite_by_session("session-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.delivery, found.used_at),
        (InviteDelivery::Emailed, Some(at(90)))
    );
    assert_eq!(
        db.store
            .invite_by_token("token-hash")
            .await
            .unwrap()
            .map(|i| i.id),
        Some(invite.id)
    );
    assert!(
        !db.store
            .admit_guest(
                OrgId::new(),
                invite.id,
                at(95),
                audit(AuditAction::GuestAdmit)
            )
            .await
            .unwrap()
    );
    assert!(
        db.store
            .admit_guest(w.org.id, invite.id, at(95), audit(AuditAction::GuestAdmit))
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .admit_guest(w.org.id, invite.id, at(96), audit(AuditAction::GuestAdmit))
            .await
            .unwrap()
    );
    let listed = db.store.list_invites(w.org.id, a.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status(at(100)), "admitted");
    assert!(
        db.store
            .list_invites(OrgId::new(), a.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn an_escalation_is_acknowledged_once_and_listed_per_site(db: TestDb) {
    let w = world(&db, 1).await;
    let a = opened(&db, &w, 600).await;
    let raised = Escalation {
        id: EscalationId::new(),
        kind: EscalationKind::Emergency,
        appointment_id: a.id,
        org_id: w.org.id,
        site_id: w.site.id,
        raised_by: Some(w.clinician.id),
        raised_at: at(100),
        location_state: ny(),
        location_text: "home".into(),
        reason: "fainted".into(),
        acknowledged_by: None,
        acknowledged_at: None,
    };
    db.store
        .create_escalation(&raised, audit(AuditAction::EscalationRaised))
        .await
        .unwrap();
    assert_eq!(
        db.store
            .open_escalations(w.org.id, &[w.site.id])
            .await
            .unwrap(),
        std::slice::from_ref(&raised)
    );
    assert!(
        db.store
            .open_escalations(w.org.id, &[SiteId::new()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.store
            .open_escalations(w.org.id, &[])
            .await
            .unwrap()
            .is_empty()
    );
    let ack = |at_s| {
        db.store.acknowledge_escalation(
            w.org.id,
            raised.id,
            w.clinician.id,
            at(at_s),
            audit(AuditAction::EscalationAcknowledged),
        )
    };
    assert!(ack(110).await.unwrap());
    assert!(!ack(111).await.unwrap());
    assert!(
        db.store
            .open_escalations(w.org.id, &[w.site.id])
            .await
            .unwrap()
            .is_empty()
    );
    let history = db.store.visit_escalations(w.org.id, a.id).await.unwrap();
    assert_eq!(history[0].acknowledged_at, Some(at(110)));
    assert_eq!(history[0].acknowledged_by, Some(w.clinician.id));
}

async fn the_queue_ahead_holds_calls_in_progress_and_earlier_check_ins(db: TestDb) {
    let w = world(&db, 1).await;
    // Three visits of one clinician, checked in one after the other.
    let mut opened_visits = Vec::new();
    for (i, start_min) in [600, 640, 680].into_iter().enumerate() {
        let a = booked(&db, &w, start_min).await;
        let mut visit = visit_of(&a);
        visit.checked_in_at = at(60 + 10 * i as i64);
        let check_in = change(&a, AppointmentStatus::Booked, AppointmentStatus::CheckedIn);
        assert!(
            db.store
                .open_visit(check_in, &visit, entry(&a, "checked_in"))
                .await
                .unwrap()
        );
        opened_visits.push((a, visit));
    }
    let planned = |rows: Vec<AheadInQueue>| {
        let mut starts: Vec<_> = rows
            .into_iter()
            .map(|r| (r.planned_start, r.in_progress))
            .collect();
        starts.sort();
        starts
    };
    let ahead = |i: usize, since: i64| {
        let visit = opened_visits[i].1.clone();
        let store = db.store.clone();
        async move { store.queue_ahead(&visit, at(since)).await.unwrap() }
    };
    let (first, second, third) = (
        &opened_visits[0].0,
        &opened_visits[1].0,
        &opened_visits[2].0,
    );
    assert!(
        ahead(0, 0).await.is_empty(),
        "the first to check in waits for no one"
    );
    assert_eq!(
        planned(ahead(2, 0).await),
        vec![(first.start_at, false), (second.start_at, false)]
    );
    // The last one admits the third patient first: that call is ahead of everyone still waiting.
    assert!(
        db.store
            .change_visit(visit_change(
                third,
                VisitState::Waiting,
                VisitState::Admitted
            ))
            .await
            .unwrap()
    );
    assert_eq!(planned(ahead(0, 0).await), vec![(third.start_at, true)]);
    assert_eq!(
        planned(ahead(1, 0).await),
        vec![(first.start_at, false), (third.start_at, true)]
    );
    // Check-ins before `since` are left out (yesterday's forgotten visits do not count).
    assert_eq!(planned(ahead(1, 65).await), vec![(third.start_at, true)]);
    // An ended visit is no longer ahead of anyone.
    assert!(
        db.store
            .change_visit(visit_change(
                first,
                VisitState::Waiting,
                VisitState::Cancelled
            ))
            .await
            .unwrap()
    );
    assert_eq!(planned(ahead(1, 0).await), vec![(third.start_at, true)]);
}
