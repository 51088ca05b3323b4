//! The rollout across sites: readiness, stages, the pilot's evaluation and the adoption goals.

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};

use super::{Plan, at_most, optional_site, org_of, parse_date, plan};
use crate::Ctx;
use crate::access::Actor;
use crate::compliance::AuditAction;
use crate::error::{AllFields, DomainError, DomainResult};
use crate::identity::{Role, Site};
use crate::ids::{EvaluationId, GoalId, OrgId, SiteId, UserId};
use crate::program::*;
use crate::scheduling::service::shared::entry;

/// A site's rollout with the computed readiness items filled in.
#[derive(Debug, Clone)]
pub struct SiteReadiness {
    pub site: Site,
    pub rollout: SiteRollout,
    /// Share of the site's clinicians and nurses with a current certification.
    pub certified_pct: i64,
    pub certified: usize,
    pub trained_staff: usize,
    /// Stored rollout's `updated_at`, for the compare-and-set; `None` if never written.
    pub stored_at: Option<Timestamp>,
}

/// Every site with its stage and checklist (computed items from training and the roster).
pub async fn sites(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Vec<SiteReadiness>> {
    let org = org_of(actor)?;
    let now = ctx.clock.now();
    let stored = ctx.store.list_rollouts(org).await?;
    let roster = match ctx.store.get_program(org).await? {
        Some(p) => ctx.store.list_roster(&p).await?,
        None => Vec::new(),
    };
    let users = ctx.store.list_users(org, None).await?;
    // Certified now: a certification valid today (an exception lets someone work, but does not
    // count as certified).
    let certified_now: HashSet<UserId> = ctx
        .store
        .list_certifications(org, None)
        .await?
        .iter()
        .filter(|c| c.valid_at(now))
        .map(|c| c.user_id)
        .collect();
    let mut out = Vec::new();
    for site in ctx.store.list_sites(org).await? {
        let found = stored.iter().find(|r| r.site_id == site.id);
        let mut rollout = found.cloned().unwrap_or_else(|| SiteRollout {
            site_id: site.id,
            org_id: org,
            stage: SiteStage::NotStarted,
            checklist: default_checklist(),
            updated_at: now,
        });
        let staff: Vec<_> = users
            .iter()
            .filter(|u| {
                u.active
                    && u.site_ids.contains(&site.id)
                    && matches!(u.role, Role::Clinician | Role::Nurse)
            })
            .collect();
        let certified = staff
            .iter()
            .filter(|u| certified_now.contains(&u.id))
            .count();
        let certified_pct = (certified as i64 * 100)
            .checked_div(staff.len() as i64)
            .unwrap_or(0);
        let super_user = roster
            .iter()
            .any(|e| e.role == GovernanceRole::SuperUser && e.site_id == Some(site.id));
        for item in &mut rollout.checklist {
            match item.key.as_str() {
                "staff_certified" => {
                    item.done = !staff.is_empty() && certified_pct >= CERTIFIED_SHARE_REQUIRED_PCT
                }
                "super_user_named" => item.done = super_user,
                _ => {}
            }
        }
        out.push(SiteReadiness {
            site,
            rollout,
            certified_pct,
            certified,
            trained_staff: staff.len(),
            stored_at: found.map(|r| r.updated_at),
        });
    }
    Ok(out)
}

async fn site_readiness(ctx: Ctx<'_>, actor: &Actor, site: SiteId) -> DomainResult<SiteReadiness> {
    sites(ctx, actor)
        .await?
        .into_iter()
        .find(|s| s.site.id == site)
        .ok_or(DomainError::NotFound { resource: "site" })
}

fn next_stamp(now: Timestamp, previous: Option<Timestamp>) -> Timestamp {
    match previous {
        Some(p) if p >= now => p.checked_add(SignedDuration::from_micros(1)).unwrap_or(p),
        _ => now,
    }
}

/// Ticks or unticks a checklist item the program manager owns (computed items cannot be set).
pub async fn set_readiness(
    ctx: Ctx<'_>,
    actor: &Actor,
    site: SiteId,
    key: &str,
    done: bool,
) -> DomainResult<SiteRollout> {
    let org = org_of(actor)?;
    let current = site_readiness(ctx, actor, site).await?;
    if matches!(key, "staff_certified" | "super_user_named") {
        return Err(DomainError::invalid(
            "item",
            "this item follows training records and the roster; it cannot be ticked by hand",
        ));
    }
    let mut rollout = current.rollout.clone();
    let item = rollout
        .checklist
        .iter_mut()
        .find(|i| i.key == key)
        .ok_or_else(|| {
            DomainError::invalid("item", format!("'{key}' is not an item of the checklist"))
        })?;
    item.done = done;
    rollout.updated_at = next_stamp(ctx.clock.now(), current.stored_at);
    let audit = entry(ctx, actor, AuditAction::SiteStageChange, "Site", org)
        .resource(site)
        .detail(format!("{key}: {}", if done { "done" } else { "not done" }));
    if !ctx
        .store
        .save_rollout(&rollout, current.stored_at, audit)
        .await?
    {
        return Err(DomainError::conflict(
            "the site's rollout changed meanwhile; reload it",
        ));
    }
    Ok(rollout)
}

/// Moves a site to another stage (and returns its readiness as it now is). Pilot and live wait for the required readiness items, unless
/// the program manager overrides the gate with a written reason (audited as an override).
pub async fn move_site(
    ctx: Ctx<'_>,
    actor: &Actor,
    site: SiteId,
    to: &str,
    override_reason: Option<&str>,
) -> DomainResult<SiteReadiness> {
    let org = org_of(actor)?;
    let to = SiteStage::parse("stage", to)?;
    let current = site_readiness(ctx, actor, site).await?;
    let reason = override_reason.map(str::trim).filter(|r| !r.is_empty());
    check_stage_move(to, &current.rollout.checklist, reason)?;
    let unmet: Vec<String> = unmet_items(&current.rollout.checklist)
        .into_iter()
        .map(String::from)
        .collect();
    let overridden = matches!(to, SiteStage::Pilot | SiteStage::Live) && !unmet.is_empty();
    let mut rollout = current.rollout.clone();
    let from = rollout.stage;
    rollout.stage = to;
    rollout.updated_at = next_stamp(ctx.clock.now(), current.stored_at);
    let audit = if overridden {
        entry(ctx, actor, AuditAction::SiteGateOverride, "Site", org)
            .resource(site)
            .detail(format!(
                "{} to {} with unmet items ({}): {}",
                from.as_str(),
                to.as_str(),
                unmet.join("; "),
                reason.unwrap_or_default()
            ))
    } else {
        entry(ctx, actor, AuditAction::SiteStageChange, "Site", org)
            .resource(site)
            .detail(format!("{} to {}", from.as_str(), to.as_str()))
    };
    if !ctx
        .store
        .save_rollout(&rollout, current.stored_at, audit)
        .await?
    {
        return Err(DomainError::conflict(
            "the site's rollout changed meanwhile; reload it",
        ));
    }
    Ok(SiteReadiness {
        stored_at: Some(rollout.updated_at),
        rollout,
        ..current
    })
}

/// The site's measured figures over the last `days`: digital share of meetings held, and the
/// no-show rate, in percent.
pub async fn measured(
    ctx: Ctx<'_>,
    org: OrgId,
    site: SiteId,
    days: i64,
) -> DomainResult<(i64, i64)> {
    let now = ctx.clock.now();
    let from = now
        .checked_sub(SignedDuration::from_hours(24 * days))
        .unwrap_or(now);
    let meetings = ctx.store.meetings(org, Some(site), from, now).await?;
    let digital = meetings.iter().filter(|m| m.digital).count() as i64;
    let digital_pct = (digital * 100)
        .checked_div(meetings.len() as i64)
        .unwrap_or(0);
    let (no_shows, held) = ctx.store.attendance(org, site, from, now).await?;
    let no_show_pct = (no_shows as i64 * 100)
        .checked_div((no_shows + held) as i64)
        .unwrap_or(0);
    Ok((digital_pct, no_show_pct))
}

/// Records a pilot evaluation: the site's measured figures (last 90 days) against the targets,
/// and the go / no-go decision. Only a site in pilot is evaluated.
pub async fn evaluate_pilot(
    ctx: Ctx<'_>,
    actor: &Actor,
    site: SiteId,
    target_digital_pct: i64,
    target_no_show_pct: i64,
    decision: &str,
    notes: &str,
) -> DomainResult<PilotEvaluation> {
    let org = org_of(actor)?;
    let decided_by = actor.user_id().ok_or(DomainError::Forbidden {
        action: "decide on a pilot",
    })?;
    let percent = |field: &str, v: i64| {
        if (0..=100).contains(&v) {
            Ok(())
        } else {
            Err(DomainError::invalid(field, "must be between 0 and 100"))
        }
    };
    let ((), (), decision, notes) = (
        percent("target_digital_pct", target_digital_pct),
        percent("target_no_show_pct", target_no_show_pct),
        Decision::parse("decision", decision),
        at_most("notes", notes, 2000),
    )
        .all_fields()?;
    let current = site_readiness(ctx, actor, site).await?;
    if current.rollout.stage != SiteStage::Pilot {
        return Err(DomainError::conflict(format!(
            "only a site in pilot is evaluated; {} is {}",
            current.site.name,
            current.rollout.stage.label().to_lowercase()
        )));
    }
    let (measured_digital_pct, measured_no_show_pct) = measured(ctx, org, site, 90).await?;
    let evaluation = PilotEvaluation {
        id: EvaluationId::new(),
        org_id: org,
        site_id: site,
        target_digital_pct,
        measured_digital_pct,
        target_no_show_pct,
        measured_no_show_pct,
        decision,
        notes,
        decided_by,
        decided_at: ctx.clock.now(),
    };
    let audit = entry(ctx, actor, AuditAction::PilotEvaluated, "Site", org)
        .resource(site)
        .detail(format!(
            "{}: digital {}% (target {}%), no-shows {}% (target {}%)",
            decision.as_str(),
            measured_digital_pct,
            target_digital_pct,
            measured_no_show_pct,
            target_no_show_pct
        ));
    ctx.store.record_evaluation(&evaluation, audit).await?;
    Ok(evaluation)
}

pub async fn add_goal(
    ctx: Ctx<'_>,
    actor: &Actor,
    site: Option<&str>,
    target_pct: i64,
    by: &str,
) -> DomainResult<AdoptionGoal> {
    let org = org_of(actor)?;
    let target = if (1..=100).contains(&target_pct) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "target_pct",
            "must be between 1 and 100",
        ))
    };
    let today = ctx.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let by = match parse_date("by", by) {
        Ok(by) if by <= today => Err(DomainError::invalid("by", "must be in the future")),
        other => other,
    };
    let site_id = optional_site(ctx, org, "site_id", site).await;
    let ((), by, site_id) = (target, by, site_id).all_fields()?;
    let goal = AdoptionGoal {
        id: GoalId::new(),
        org_id: org,
        site_id,
        target_pct,
        by,
        created_at: ctx.clock.now(),
    };
    let audit = entry(ctx, actor, AuditAction::GoalCreate, "Goal", org)
        .resource(goal.id)
        .detail(format!("{}% digital by {}", goal.target_pct, goal.by));
    ctx.store.create_goal(&goal, audit).await?;
    Ok(goal)
}

/// Progress of a goal: monthly digital share over the last 24 months, the projection to its
/// date, on track or not. Months are counted in UTC.
pub async fn goal_progress_of(ctx: Ctx<'_>, goal: &AdoptionGoal) -> DomainResult<GoalProgress> {
    let now = ctx.clock.now();
    let from = now
        .checked_sub(SignedDuration::from_hours(24 * 731))
        .unwrap_or(now);
    let meetings = ctx
        .store
        .meetings(goal.org_id, goal.site_id, from, now)
        .await?;
    Ok(goal_progress(goal, &meetings, &jiff::tz::TimeZone::UTC))
}

/// The sites' rollout: stages, readiness and pilot evaluations (newest first).
#[derive(Debug, Clone)]
pub struct Rollout {
    pub sites: Vec<SiteReadiness>,
    pub evaluations: Vec<PilotEvaluation>,
}

pub async fn rollout(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Rollout> {
    let org = org_of(actor)?;
    Ok(Rollout {
        sites: sites(ctx, actor).await?,
        evaluations: ctx.store.list_evaluations(org, None).await?,
    })
}

/// What the program manager's home page shows: the plan, the rollout, and the adoption goals
/// with their progress (the one view that reads the meetings behind the goals).
#[derive(Debug, Clone)]
pub struct Overview {
    pub plan: Plan,
    pub rollout: Rollout,
    pub goals: Vec<(AdoptionGoal, GoalProgress)>,
}

pub async fn overview(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Overview> {
    let org = org_of(actor)?;
    let mut goals = Vec::new();
    for g in ctx.store.list_goals(org).await? {
        let progress = goal_progress_of(ctx, &g).await?;
        goals.push((g, progress));
    }
    Ok(Overview {
        plan: plan(ctx, actor).await?,
        rollout: rollout(ctx, actor).await?,
        goals,
    })
}
