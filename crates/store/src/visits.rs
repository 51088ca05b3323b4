//! Visit storage: the visit opened at check-in, its log, quality reports, guest invitations and
//! escalations.
//!
//! A visit's state changes are compare-and-set (`WHERE state = from`), like appointments': of two
//! clinicians' tabs admitting at once, one wins and the other is told the visit changed. The
//! appointment's own steps (started, completed) are applied in the same transaction.

use async_trait::async_trait;
use domain::DomainError;
use domain::compliance::AuditEntry;
use domain::identity::{Email, UsState};
use domain::ids::{AppointmentId, EscalationId, InviteId, OrgId, SiteId, UserId};
use domain::scheduling::{Modality, StatusChange};
use domain::visits::{
    AheadInQueue, Escalation, EscalationKind, GuestRelation, Invite, InviteDelivery,
    ParticipantRole, QualitySample, QuestionnaireAnswers, Visit, VisitChange, VisitCounters,
    VisitLogEntry, VisitOutcome, VisitQuery, VisitState, VisitStore,
};
use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::db::{self, Arg, DbResult, Filter, Insert, Query, R};
use crate::scheduling::appointments::apply_status_change;
use crate::scheduling::insert_event;
use crate::sql_store::SqlStore;
use crate::visit_log;

const VISIT_COLUMNS: &str = "appointment_id, org_id, site_id, clinician_id, patient_id, state, outcome, modality, \
                             audio_only, audio_only_used, location_state, location_text, questionnaire, \
                             checked_in_at, admitted_at, started_at, ended_at, drops, updated_at";
const QUALITY_COLUMNS: &str =
    "appointment_id, at, role, round_trip_ms, packet_loss_pct, bitrate_kbps, frames_decoded";
const INVITE_COLUMNS: &str = "id, appointment_id, org_id, name, relation, email, token_hash, created_by, created_at, \
                              expires_at, delivery, used_at, session_hash, admitted_at";
const ESCALATION_COLUMNS: &str = "id, kind, appointment_id, org_id, site_id, raised_by, raised_at, location_state, \
                                  location_text, reason, acknowledged_by, acknowledged_at";

const QUALITY: Insert = Insert {
    into: "visit_quality (appointment_id, at, role, round_trip_ms, packet_loss_pct, bitrate_kbps, frames_decoded)",
    columns: 7,
    suffix: "",
};

fn bind_quality<'q>(query: Query<'q>, s: &'q QualitySample) -> Query<'q> {
    query
        .bind(s.appointment_id.to_string())
        .bind(s.at.as_microsecond())
        .bind(s.role.as_str())
        .bind(s.round_trip_ms)
        .bind(s.packet_loss_pct)
        .bind(s.bitrate_kbps)
        .bind(s.frames_decoded)
}

fn unreadable(column: &str) -> DomainError {
    DomainError::Storage(format!("stored {column} is unreadable"))
}

fn visit_from_row(row: &AnyRow) -> R<Visit> {
    let questionnaire = match db::opt_text(row, "questionnaire")? {
        Some(json) => Some(
            serde_json::from_str::<QuestionnaireAnswers>(&json)
                .map_err(|_| unreadable("questionnaire"))?,
        ),
        None => None,
    };
    Ok(Visit {
        appointment_id: db::parsed(row, "appointment_id")?,
        org_id: db::parsed(row, "org_id")?,
        site_id: db::parsed(row, "site_id")?,
        clinician_id: db::parsed(row, "clinician_id")?,
        patient_id: db::parsed(row, "patient_id")?,
        state: db::domain_value(row, "state", VisitState::parse)?,
        outcome: match db::opt_text(row, "outcome")? {
            Some(o) => Some(VisitOutcome::parse("outcome", &o)?),
            None => None,
        },
        modality: db::domain_value(row, "modality", Modality::parse)?,
        audio_only: db::flag(row, "audio_only")?,
        audio_only_used: db::flag(row, "audio_only_used")?,
        location_state: db::domain_value(row, "location_state", UsState::parse)?,
        location_text: db::text(row, "location_text")?,
        questionnaire,
        checked_in_at: db::ts(row, "checked_in_at")?,
        admitted_at: db::opt_ts(row, "admitted_at")?,
        started_at: db::opt_ts(row, "started_at")?,
        ended_at: db::opt_ts(row, "ended_at")?,
        drops: db::int(row, "drops")?,
        updated_at: db::ts(row, "updated_at")?,
    })
}

fn role_of(raw: &str) -> R<ParticipantRole> {
    match raw {
        "patient" => Ok(ParticipantRole::Patient),
        "clinician" => Ok(ParticipantRole::Clinician),
        "guest" => Ok(ParticipantRole::Guest),
        _ => Err(unreadable("role")),
    }
}

fn quality_from_row(row: &AnyRow) -> R<QualitySample> {
    Ok(QualitySample {
        appointment_id: db::parsed(row, "appointment_id")?,
        at: db::ts(row, "at")?,
        role: role_of(&db::text(row, "role")?)?,
        round_trip_ms: db::float(row, "round_trip_ms")?,
        packet_loss_pct: db::float(row, "packet_loss_pct")?,
        bitrate_kbps: db::float(row, "bitrate_kbps")?,
        frames_decoded: db::opt_int(row, "frames_decoded")?,
    })
}

fn invite_from_row(row: &AnyRow) -> R<Invite> {
    Ok(Invite {
        id: db::parsed(row, "id")?,
        appointment_id: db::parsed(row, "appointment_id")?,
        org_id: db::parsed(row, "org_id")?,
        name: db::text(row, "name")?,
        relation: db::domain_value(row, "relation", GuestRelation::parse)?,
        email: match db::opt_text(row, "email")? {
            Some(e) => Some(Email::parse("email", &e)?),
            None => None,
        },
        token_hash: db::text(row, "token_hash")?,
        created_by: db::parsed(row, "created_by")?,
        created_at: db::ts(row, "created_at")?,
        expires_at: db::ts(row, "expires_at")?,
        delivery: db::domain_value(row, "delivery", InviteDelivery::parse)?,
        used_at: db::opt_ts(row, "used_at")?,
        session_hash: db::opt_text(row, "session_hash")?,
        admitted_at: db::opt_ts(row, "admitted_at")?,
    })
}

fn escalation_from_row(row: &AnyRow) -> R<Escalation> {
    Ok(Escalation {
        id: db::parsed(row, "id")?,
        kind: db::domain_value(row, "kind", EscalationKind::parse)?,
        appointment_id: db::parsed(row, "appointment_id")?,
        org_id: db::parsed(row, "org_id")?,
        site_id: db::parsed(row, "site_id")?,
        raised_by: db::opt_parsed(row, "raised_by")?,
        raised_at: db::ts(row, "raised_at")?,
        location_state: db::domain_value(row, "location_state", UsState::parse)?,
        location_text: db::text(row, "location_text")?,
        reason: db::text(row, "reason")?,
        acknowledged_by: db::opt_parsed(row, "acknowledged_by")?,
        acknowledged_at: db::opt_ts(row, "acknowledged_at")?,
    })
}

impl SqlStore {
    async fn fetch_invites(&self, condition: &str, args: Vec<Arg>) -> R<Vec<Invite>> {
        let sql = format!(
            "SELECT {INVITE_COLUMNS} FROM visit_invites WHERE {condition} ORDER BY created_at"
        );
        let rows = db::bind_args(sqlx::query(AssertSqlSafe(sql)), args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(invite_from_row).collect()
    }

    async fn fetch_escalations(&self, condition: &str, args: Vec<Arg>) -> R<Vec<Escalation>> {
        let sql = format!(
            "SELECT {ESCALATION_COLUMNS} FROM visit_escalations WHERE {condition} ORDER BY raised_at DESC LIMIT 200"
        );
        let rows = db::bind_args(sqlx::query(AssertSqlSafe(sql)), args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(escalation_from_row).collect()
    }
}

#[async_trait]
impl VisitStore for SqlStore {
    async fn open_visit(&self, check_in: StatusChange, v: &Visit, log: VisitLogEntry) -> R<bool> {
        let questionnaire = v
            .questionnaire
            .as_ref()
            .map(|q| serde_json::to_string(q).map_err(|e| DomainError::Storage(e.to_string())))
            .transpose()?;
        let opened = self
            .audited_if(check_in.audit.clone(), async |tx| {
                if !apply_status_change(&mut *tx, &check_in).await? {
                    return Ok(false);
                }
                let sql = AssertSqlSafe(format!(
                    "INSERT INTO visits ({VISIT_COLUMNS}) VALUES ({})",
                    db::placeholders(1, 19)
                ));
                sqlx::query(sql)
                    .bind(v.appointment_id.to_string())
                    .bind(v.org_id.to_string())
                    .bind(v.site_id.to_string())
                    .bind(v.clinician_id.to_string())
                    .bind(v.patient_id.to_string())
                    .bind(v.state.as_str())
                    .bind(v.outcome.map(|o| o.as_str()))
                    .bind(v.modality.as_str())
                    .bind(v.audio_only)
                    .bind(v.audio_only_used)
                    .bind(v.location_state.code())
                    .bind(v.location_text.clone())
                    .bind(questionnaire)
                    .bind(v.checked_in_at.as_microsecond())
                    .bind(v.admitted_at.map(|t| t.as_microsecond()))
                    .bind(v.started_at.map(|t| t.as_microsecond()))
                    .bind(v.ended_at.map(|t| t.as_microsecond()))
                    .bind(v.drops)
                    .bind(v.updated_at.as_microsecond())
                    .execute(&mut *tx)
                    .await
                    .db()?;
                visit_log::insert(&mut *tx, &log).await?;
                Ok(true)
            })
            .await?;
        if opened {
            self.after_status_change(&check_in);
        }
        Ok(opened)
    }

    async fn get_visit(&self, org: OrgId, id: AppointmentId) -> R<Option<Visit>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {VISIT_COLUMNS} FROM visits WHERE org_id = $1 AND appointment_id = $2"
        ));
        let row = sqlx::query(sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .db()?;
        row.as_ref().map(visit_from_row).transpose()
    }

    async fn list_visits(&self, org: OrgId, q: &VisitQuery) -> R<Vec<Visit>> {
        let mut filter = Filter::default();
        filter.push("org_id = ?", Arg::Text(org.to_string()));
        if let Some(sites) = &q.site_ids {
            if sites.is_empty() {
                return Ok(Vec::new());
            }
            filter.any_of("site_id", sites.iter().map(ToString::to_string).collect());
        }
        if let Some(c) = q.clinician_id {
            filter.push("clinician_id = ?", Arg::Text(c.to_string()));
        }
        if let Some(states) = &q.states {
            if states.is_empty() {
                return Ok(Vec::new());
            }
            filter.any_of(
                "state",
                states.iter().map(|s| s.as_str().to_string()).collect(),
            );
        }
        if let Some(since) = q.since {
            filter.push("checked_in_at >= ?", Arg::Int(since.as_microsecond()));
        }
        let limit = q.limit.clamp(1, 1000);
        let sql = format!(
            "SELECT {VISIT_COLUMNS} FROM visits {} ORDER BY checked_in_at, appointment_id LIMIT {limit}",
            filter.where_clause()
        );
        let rows = db::bind_args(sqlx::query(AssertSqlSafe(sql)), filter.args)
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(visit_from_row).collect()
    }

    async fn queue_ahead(&self, v: &Visit, since: Timestamp) -> R<Vec<AheadInQueue>> {
        // Small rows, and only those ahead: a join of every waiting room asks this.
        let rows = sqlx::query(
            "SELECT v.state, a.start_at, a.end_at FROM visits v \
             JOIN appointments a ON a.id = v.appointment_id \
             WHERE v.org_id = $1 AND v.clinician_id = $2 AND v.checked_in_at >= $3 \
             AND v.appointment_id <> $4 \
             AND (v.state IN ('admitted', 'in_call', 'reconnecting') \
                  OR (v.state = 'waiting' AND (v.checked_in_at < $5 \
                      OR (v.checked_in_at = $5 AND v.appointment_id < $4)))) \
             LIMIT 500",
        )
        .bind(v.org_id.to_string())
        .bind(v.clinician_id.to_string())
        .bind(since.as_microsecond())
        .bind(v.appointment_id.to_string())
        .bind(v.checked_in_at.as_microsecond())
        .fetch_all(&self.reader)
        .await
        .db()?;
        rows.iter()
            .map(|row| {
                let state = db::domain_value(row, "state", VisitState::parse)?;
                Ok(AheadInQueue {
                    in_progress: state.in_progress(),
                    planned_start: db::ts(row, "start_at")?,
                    planned_end: db::ts(row, "end_at")?,
                })
            })
            .collect()
    }

    async fn change_visit(&self, c: VisitChange) -> R<bool> {
        let at = c.at.as_microsecond();
        self.audited_if(c.audit, async |tx| {
            let done = sqlx::query(
                "UPDATE visits SET state = $3, updated_at = $4, outcome = COALESCE($5, outcome), \
                 admitted_at = CASE WHEN $6 THEN $4 ELSE admitted_at END, \
                 started_at = CASE WHEN $7 AND started_at IS NULL THEN $4 ELSE started_at END, \
                 ended_at = CASE WHEN $8 THEN $4 ELSE ended_at END, \
                 drops = drops + $9 \
                 WHERE appointment_id = $1 AND org_id = $2 AND state = $10",
            )
            .bind(c.appointment_id.to_string())
            .bind(c.org_id.to_string())
            .bind(c.to.as_str())
            .bind(at)
            .bind(c.outcome.map(|o| o.as_str()))
            .bind(c.to == VisitState::Admitted)
            .bind(c.to == VisitState::InCall)
            .bind(c.to.is_over())
            .bind(i64::from(c.to == VisitState::Reconnecting))
            .bind(c.from.as_str())
            .execute(&mut *tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            for step in &c.appointment {
                let moved = sqlx::query(
                    "UPDATE appointments SET status = $3, updated_at = $4, end_at = COALESCE($6, end_at) \
                     WHERE id = $1 AND org_id = $2 AND status = $5",
                )
                .bind(c.appointment_id.to_string())
                .bind(c.org_id.to_string())
                .bind(step.to.as_str())
                .bind(at)
                .bind(step.from.as_str())
                .bind(step.end_at.map(|t| t.as_microsecond()))
                .execute(&mut *tx)
                .await
                .db()?;
                if moved.rows_affected() == 0 {
                    // The appointment moved meanwhile (staff at the front desk): nothing is written.
                    return Ok(false);
                }
                insert_event(&mut *tx, &step.event).await?;
            }
            visit_log::insert(&mut *tx, &c.log).await?;
            Ok(true)
        })
        .await
    }

    async fn log_visit(&self, entry: &VisitLogEntry, counters: VisitCounters) -> R<()> {
        self.unaudited(async |tx| {
            visit_log::insert(&mut *tx, entry).await?;
            if counters != VisitCounters::default() {
                sqlx::query(
                    "UPDATE visits SET drops = drops + $2, \
                     audio_only = COALESCE($3, audio_only), \
                     audio_only_used = CASE WHEN $4 THEN $4 ELSE audio_only_used END, updated_at = $5 \
                     WHERE appointment_id = $1",
                )
                .bind(entry.appointment_id.to_string())
                .bind(i64::from(counters.drop))
                .bind(counters.audio_only)
                .bind(counters.audio_only == Some(true))
                .bind(entry.at.as_microsecond())
                .execute(&mut *tx)
                .await
                .db()?;
            }
            Ok(())
        })
        .await
    }

    async fn visit_log(&self, org: OrgId, id: AppointmentId) -> R<Vec<VisitLogEntry>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {} FROM visit_log l WHERE appointment_id = $2 AND EXISTS \
             (SELECT 1 FROM visits v WHERE v.appointment_id = l.appointment_id AND v.org_id = $1) \
             ORDER BY at, id",
            visit_log::COLUMNS
        ));
        let rows = sqlx::query(sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(visit_log::from_row).collect()
    }

    async fn record_quality(&self, samples: &[QualitySample]) -> R<()> {
        if samples.is_empty() {
            return Ok(());
        }
        self.unaudited(async |tx| {
            db::insert_rows(tx, &QUALITY, samples, bind_quality)
                .await
                .db()?;
            Ok(())
        })
        .await
    }

    async fn quality(&self, org: OrgId, id: AppointmentId) -> R<Vec<QualitySample>> {
        let sql = AssertSqlSafe(format!(
            "SELECT {QUALITY_COLUMNS} FROM visit_quality q WHERE appointment_id = $2 AND EXISTS \
             (SELECT 1 FROM visits v WHERE v.appointment_id = q.appointment_id AND v.org_id = $1) \
             ORDER BY at"
        ));
        let rows = sqlx::query(sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_all(&self.reader)
            .await
            .db()?;
        rows.iter().map(quality_from_row).collect()
    }

    async fn create_invite(&self, i: &Invite, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let sql = AssertSqlSafe(format!(
                "INSERT INTO visit_invites ({INVITE_COLUMNS}) VALUES ({})",
                db::placeholders(1, 14)
            ));
            sqlx::query(sql)
                .bind(i.id.to_string())
                .bind(i.appointment_id.to_string())
                .bind(i.org_id.to_string())
                .bind(i.name.clone())
                .bind(i.relation.as_str())
                .bind(i.email.as_ref().map(|e| e.as_str().to_string()))
                .bind(i.token_hash.clone())
                .bind(i.created_by.to_string())
                .bind(i.created_at.as_microsecond())
                .bind(i.expires_at.as_microsecond())
                .bind(i.delivery.as_str())
                .bind(i.used_at.map(|t| t.as_microsecond()))
                .bind(i.session_hash.clone())
                .bind(i.admitted_at.map(|t| t.as_microsecond()))
                .execute(&mut *tx)
                .await
                .db()?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn set_invite_delivery(&self, id: InviteId, delivery: InviteDelivery) -> R<()> {
        sqlx::query("UPDATE visit_invites SET delivery = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(delivery.as_str())
            .execute(&self.writer)
            .await
            .db()?;
        Ok(())
    }

    async fn invite_by_token(&self, token_hash: &str) -> R<Option<Invite>> {
        Ok(self
            .fetch_invites("token_hash = $1", vec![Arg::Text(token_hash.to_string())])
            .await?
            .pop())
    }

    async fn invite_by_session(&self, session_hash: &str) -> R<Option<Invite>> {
        Ok(self
            .fetch_invites(
                "session_hash = $1",
                vec![Arg::Text(session_hash.to_string())],
            )
            .await?
            .pop())
    }

    async fn claim_invite(
        &self,
        id: InviteId,
        session_hash: &str,
        at: Timestamp,
        audit: AuditEntry,
    ) -> R<bool> {
        self.audited_if(audit, async |tx| {
            let done = sqlx::query(
                "UPDATE visit_invites SET used_at = $2, session_hash = $3 \
                 WHERE id = $1 AND used_at IS NULL",
            )
            .bind(id.to_string())
            .bind(at.as_microsecond())
            .bind(session_hash.to_string())
            .execute(&mut *tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            Ok(true)
        })
        .await
    }

    async fn admit_guest(
        &self,
        org: OrgId,
        id: InviteId,
        at: Timestamp,
        audit: AuditEntry,
    ) -> R<bool> {
        self.audited_if(audit, async |tx| {
            let done = sqlx::query(
                "UPDATE visit_invites SET admitted_at = $3 \
                 WHERE id = $1 AND org_id = $2 AND used_at IS NOT NULL AND admitted_at IS NULL",
            )
            .bind(id.to_string())
            .bind(org.to_string())
            .bind(at.as_microsecond())
            .execute(&mut *tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            Ok(true)
        })
        .await
    }

    async fn list_invites(&self, org: OrgId, appointment: AppointmentId) -> R<Vec<Invite>> {
        self.fetch_invites(
            "org_id = $1 AND appointment_id = $2",
            vec![
                Arg::Text(org.to_string()),
                Arg::Text(appointment.to_string()),
            ],
        )
        .await
    }

    async fn create_escalation(&self, e: &Escalation, audit: AuditEntry) -> R<()> {
        self.audited(audit, async |tx| {
            let sql = AssertSqlSafe(format!(
                "INSERT INTO visit_escalations ({ESCALATION_COLUMNS}) VALUES ({})",
                db::placeholders(1, 12)
            ));
            sqlx::query(sql)
                .bind(e.id.to_string())
                .bind(e.kind.as_str())
                .bind(e.appointment_id.to_string())
                .bind(e.org_id.to_string())
                .bind(e.site_id.to_string())
                .bind(e.raised_by.map(|u| u.to_string()))
                .bind(e.raised_at.as_microsecond())
                .bind(e.location_state.code())
                .bind(e.location_text.clone())
                .bind(e.reason.clone())
                .bind(e.acknowledged_by.map(|u| u.to_string()))
                .bind(e.acknowledged_at.map(|t| t.as_microsecond()))
                .execute(&mut *tx)
                .await
                .db()?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn open_escalations(&self, org: OrgId, sites: &[SiteId]) -> R<Vec<Escalation>> {
        if sites.is_empty() {
            return Ok(Vec::new());
        }
        let mut filter = Filter::default();
        filter.push("org_id = ?", Arg::Text(org.to_string()));
        filter.raw("acknowledged_at IS NULL");
        filter.any_of("site_id", sites.iter().map(ToString::to_string).collect());
        let condition = filter.conditions.join(" AND ");
        self.fetch_escalations(&condition, filter.args).await
    }

    async fn visit_escalations(&self, org: OrgId, id: AppointmentId) -> R<Vec<Escalation>> {
        self.fetch_escalations(
            "org_id = $1 AND appointment_id = $2",
            vec![Arg::Text(org.to_string()), Arg::Text(id.to_string())],
        )
        .await
    }

    async fn acknowledge_escalation(
        &self,
        org: OrgId,
        id: EscalationId,
        by: UserId,
        at: Timestamp,
        audit: AuditEntry,
    ) -> R<bool> {
        self.audited_if(audit, async |tx| {
            let done = sqlx::query(
                "UPDATE visit_escalations SET acknowledged_by = $3, acknowledged_at = $4 \
                 WHERE id = $1 AND org_id = $2 AND acknowledged_at IS NULL",
            )
            .bind(id.to_string())
            .bind(org.to_string())
            .bind(by.to_string())
            .bind(at.as_microsecond())
            .execute(&mut *tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            Ok(true)
        })
        .await
    }
}
