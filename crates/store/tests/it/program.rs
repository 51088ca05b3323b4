//! Program storage: the program with its template written at once, tasks changed by
//! compare-and-set, risks, site rollouts, and the meetings adoption goals are counted from.

use domain::compliance::AuditAction;
use domain::ids::*;
use domain::program::*;
use domain::scheduling::*;
use jiff::civil::Date;

use crate::helpers::{TestDb, at, audit, on_every_backend};
use crate::scheduling::{appointment, book, change, publish, slot, world};

on_every_backend!(
    a_program_is_written_whole_once_per_organization_and_tasks_change_by_compare_and_set,
    risks_rollouts_goals_and_evaluations_round_trip,
    goals_count_only_meetings_that_took_place,
);

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

async fn a_program_is_written_whole_once_per_organization_and_tasks_change_by_compare_and_set(
    db: TestDb,
) {
    let org = db.org("Acme").await;
    let program = Program {
        id: ProgramId::new(),
        org_id: org.id,
        name: "Telehealth rollout".into(),
        starts_on: d("2026-01-05"),
        ends_on: program_end(d("2026-01-05")),
        created_at: at(0),
    };
    let (phases, tasks) = template(program.id, program.starts_on, at(0));
    db.store
        .create_program(&program, &phases, &tasks, audit(AuditAction::ProgramChange))
        .await
        .unwrap();
    assert_eq!(
        db.store.get_program(org.id).await.unwrap().unwrap(),
        program
    );
    assert_eq!(db.store.list_phases(&program).await.unwrap(), phases);
    let mut stored = db.store.list_tasks(&program).await.unwrap();
    let mut expected = tasks.clone();
    stored.sort_by_key(|t| t.id);
    expected.sort_by_key(|t| t.id);
    assert_eq!(stored, expected, "dependencies included");
    // A second program for the organization is refused, and nothing of it is written.
    let before = db.audit_seq().await;
    let again = Program {
        id: ProgramId::new(),
        ..program.clone()
    };
    let err = db
        .store
        .create_program(&again, &[], &[], audit(AuditAction::ProgramChange))
        .await
        .unwrap_err();
    assert!(matches!(err, domain::DomainError::Conflict { .. }), "{err}");
    assert_eq!(db.audit_seq().await, before);
    // Compare-and-set: a change made from a stale read writes nothing.
    let first = tasks[0].clone();
    let done = Task {
        status: TaskStatus::Done,
        updated_at: at(10),
        ..first.clone()
    };
    assert!(
        db.store
            .update_task(&done, first.updated_at, audit(AuditAction::ProgramChange))
            .await
            .unwrap()
    );
    let stale = Task {
        status: TaskStatus::Blocked,
        updated_at: at(11),
        ..first.clone()
    };
    assert!(
        !db.store
            .update_task(&stale, first.updated_at, audit(AuditAction::ProgramChange))
            .await
            .unwrap()
    );
    assert_eq!(
        db.store
            .get_task(org.id, first.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        TaskStatus::Done
    );
    assert!(
        db.store
            .get_task(OrgId::new(), first.id)
            .await
            .unwrap()
            .is_none(),
        "tenant isolation"
    );
}

async fn risks_rollouts_goals_and_evaluations_round_trip(db: TestDb) {
    let w = world(&db, 0).await;
    let risk = |title: &str, l, i| Risk {
        id: RiskId::new(),
        org_id: w.org.id,
        title: title.into(),
        category: RiskCategory::Adoption,
        likelihood: l,
        impact: i,
        owner_id: Some(w.clinician.id),
        mitigation: "Super-users at every site".into(),
        status: RiskStatus::Open,
        next_review_on: d("2026-02-01"),
        updated_at: at(1),
    };
    let low = risk("Low", 1, 2);
    let high = risk("High", 4, 5);
    for r in [&low, &high] {
        db.store
            .save_risk(r, audit(AuditAction::RiskChange))
            .await
            .unwrap();
    }
    let closed = Risk {
        status: RiskStatus::Closed,
        ..low.clone()
    };
    db.store
        .save_risk(&closed, audit(AuditAction::RiskChange))
        .await
        .unwrap();
    assert_eq!(
        db.store.list_risks(w.org.id).await.unwrap(),
        vec![high.clone(), closed],
        "highest score first; saved again in place"
    );
    assert!(db.store.list_risks(OrgId::new()).await.unwrap().is_empty());

    let rollout = SiteRollout {
        site_id: w.site.id,
        org_id: w.org.id,
        stage: SiteStage::Preparing,
        checklist: default_checklist(),
        updated_at: at(5),
    };
    assert!(
        db.store
            .save_rollout(&rollout, None, audit(AuditAction::SiteStageChange))
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .save_rollout(&rollout, None, audit(AuditAction::SiteStageChange))
            .await
            .unwrap(),
        "written once as new"
    );
    let pilot = SiteRollout {
        stage: SiteStage::Pilot,
        updated_at: at(6),
        ..rollout.clone()
    };
    assert!(
        db.store
            .save_rollout(&pilot, Some(at(5)), audit(AuditAction::SiteStageChange))
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .save_rollout(&pilot, Some(at(5)), audit(AuditAction::SiteStageChange))
            .await
            .unwrap(),
        "stale"
    );
    assert_eq!(db.store.list_rollouts(w.org.id).await.unwrap(), vec![pilot]);

    let goal = AdoptionGoal {
        id: GoalId::new(),
        org_id: w.org.id,
        site_id: Some(w.site.id),
        target_pct: 30,
        by: d("2028-11-30"),
        created_at: at(7),
    };
    db.store
        .create_goal(&goal, audit(AuditAction::GoalCreate))
        .await
        .unwrap();
    assert_eq!(db.store.list_goals(w.org.id).await.unwrap(), vec![goal]);
    let evaluation = PilotEvaluation {
        id: EvaluationId::new(),
        org_id: w.org.id,
        site_id: w.site.id,
        target_digital_pct: 30,
        measured_digital_pct: 41,
        target_no_show_pct: 10,
        measured_no_show_pct: 6,
        decision: Decision::Go,
        notes: "Clinicians ask for more audio-only slots".into(),
        decided_by: w.clinician.id,
        decided_at: at(8),
    };
    db.store
        .record_evaluation(&evaluation, audit(AuditAction::PilotEvaluated))
        .await
        .unwrap();
    assert_eq!(
        db.store
            .list_evaluations(w.org.id, Some(w.site.id))
            .await
            .unwrap(),
        vec![evaluation]
    );
}

/// Hand-counted: of five appointments, two took place (one video, one in person), one was a
/// no-show, one is still booked and one was cancelled.
async fn goals_count_only_meetings_that_took_place(db: TestDb) {
    let w = world(&db, 5).await;
    let mut outcomes = Vec::new();
    for (i, (modality, status)) in [
        (Modality::Video, AppointmentStatus::Completed),
        (Modality::InPerson, AppointmentStatus::Completed),
        (Modality::Video, AppointmentStatus::NoShow),
        (Modality::Video, AppointmentStatus::Booked),
        (Modality::AudioOnly, AppointmentStatus::Cancelled),
    ]
    .into_iter()
    .enumerate()
    {
        let s = slot(&w, w.clinician.id, 600 + 60 * i as i64, 30);
        publish(&db, std::slice::from_ref(&s)).await;
        let mut a = appointment(&w, &w.patients[i], &s);
        a.modality = modality;
        book(&db, &a).await.unwrap();
        if status != AppointmentStatus::Booked {
            assert!(
                db.store
                    .change_status(change(&a, AppointmentStatus::Booked, status))
                    .await
                    .unwrap()
            );
        }
        outcomes.push(a);
    }
    let meetings = db
        .store
        .meetings(w.org.id, None, at(0), at(86_400))
        .await
        .unwrap();
    let mut digital: Vec<bool> = meetings.iter().map(|m| m.digital).collect();
    digital.sort();
    assert_eq!(digital, [false, true]);
    assert_eq!(
        db.store
            .meetings(w.org.id, Some(w.site.id), at(0), at(86_400))
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        db.store
            .meetings(w.org.id, Some(SiteId::new()), at(0), at(86_400))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.store
            .meetings(w.org.id, None, at(86_400), at(2 * 86_400))
            .await
            .unwrap()
            .is_empty(),
        "outside the range"
    );
    assert_eq!(
        db.store
            .attendance(w.org.id, w.site.id, at(0), at(86_400))
            .await
            .unwrap(),
        (1, 2)
    );
}
