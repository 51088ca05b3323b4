//! Patient records: create, change, open, list, and emergency access to them.

use jiff::Timestamp;
use serde::Deserialize;

use crate::Ctx;
use crate::access::{self, Actor, PatientAccess, Permission};
use crate::compliance::{self, AuditAction, AuditEntry, BreakGlassGrant, Outcome};
use crate::error::{DomainError, DomainResult};
use crate::identity::{
    Address, Email, Patient, PatientQuery, Sex, UsState, optional_text, parse_date, required_text,
};
use crate::ids::{OrgId, PatientId, SiteId};

/// A patient as a client sends it, not yet checked. Every front door converts into this.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PatientInput {
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: String,
    pub sex: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_line1: String,
    pub address_line2: Option<String>,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub preferred_language: String,
    pub primary_site_id: String,
}

/// The checked fields of a patient.
#[derive(Debug, Clone)]
pub struct PatientFields {
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: jiff::civil::Date,
    pub sex: Sex,
    pub email: Option<Email>,
    pub phone: Option<String>,
    pub address: Address,
    pub preferred_language: String,
    pub primary_site_id: SiteId,
}

impl PatientFields {
    /// The record these fields describe; `created_at` is kept from an existing record on update.
    fn into_patient(
        self,
        id: PatientId,
        org: OrgId,
        created_at: Timestamp,
        updated_at: Timestamp,
    ) -> Patient {
        Patient {
            id,
            org_id: org,
            mrn: self.mrn,
            given_name: self.given_name,
            family_name: self.family_name,
            birth_date: self.birth_date,
            sex: self.sex,
            email: self.email,
            phone: self.phone,
            address: self.address,
            preferred_language: self.preferred_language,
            primary_site_id: self.primary_site_id,
            created_at,
            updated_at,
        }
    }
}

impl PatientInput {
    pub fn validate(&self, today: jiff::civil::Date) -> DomainResult<PatientFields> {
        let mrn = required_text("mrn", &self.mrn, 64)?;
        if !mrn.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(DomainError::invalid(
                "mrn",
                "may contain only letters, digits and '-'",
            ));
        }
        let birth_date = parse_date("birth_date", &self.birth_date)?;
        if birth_date > today {
            return Err(DomainError::invalid(
                "birth_date",
                "must not be in the future",
            ));
        }
        if birth_date.year() < 1880 {
            return Err(DomainError::invalid("birth_date", "must be after 1880"));
        }
        let phone = optional_text("phone", self.phone.as_deref(), 32)?;
        if let Some(p) = &phone
            && !p
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            return Err(DomainError::invalid(
                "phone",
                "may contain only digits, spaces and + - ( ) .",
            ));
        }
        let postal_code = required_text("postal_code", &self.postal_code, 10)?;
        let zip_ok = postal_code.len() == 5 && postal_code.bytes().all(|b| b.is_ascii_digit())
            || postal_code.len() == 10
                && postal_code.as_bytes()[5] == b'-'
                && postal_code
                    .bytes()
                    .enumerate()
                    .all(|(i, b)| i == 5 || b.is_ascii_digit());
        if !zip_ok {
            return Err(DomainError::invalid(
                "postal_code",
                "must be a US ZIP code such as 10001 or 10001-1234",
            ));
        }
        let language = required_text("preferred_language", &self.preferred_language, 35)?;
        if !language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(DomainError::invalid(
                "preferred_language",
                "must be a language tag such as en or es-US",
            ));
        }
        Ok(PatientFields {
            mrn,
            given_name: required_text("given_name", &self.given_name, 100)?,
            family_name: required_text("family_name", &self.family_name, 100)?,
            birth_date,
            sex: Sex::parse("sex", &self.sex)?,
            email: match self.email.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(e) => Some(Email::parse("email", e)?),
            },
            phone,
            address: Address {
                line1: required_text("address_line1", &self.address_line1, 200)?,
                line2: optional_text("address_line2", self.address_line2.as_deref(), 200)?,
                city: required_text("city", &self.city, 100)?,
                state: UsState::parse("state", &self.state)?,
                postal_code,
            },
            preferred_language: language,
            primary_site_id: self
                .primary_site_id
                .trim()
                .parse()
                .map_err(|_| DomainError::invalid("primary_site_id", "must be the id of a site"))?,
        })
    }
}

fn today(ctx: Ctx<'_>) -> jiff::civil::Date {
    ctx.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date()
}

fn entry(
    ctx: Ctx<'_>,
    actor: &Actor,
    action: AuditAction,
    org: OrgId,
    patient: PatientId,
) -> AuditEntry {
    AuditEntry::new(ctx.clock.now(), actor.audit_actor(), action, "Patient")
        .org(org)
        .resource(patient)
        .patient(patient)
        .from_ip(actor.source_ip.clone())
}

async fn require_site(ctx: Ctx<'_>, org: OrgId, site: SiteId) -> DomainResult<()> {
    match ctx.store.get_site(org, site).await? {
        Some(_) => Ok(()),
        None => Err(DomainError::invalid(
            "primary_site_id",
            "is not a site of this organization",
        )),
    }
}

pub async fn create(
    ctx: Ctx<'_>,
    actor: &Actor,
    org: OrgId,
    input: &PatientInput,
) -> DomainResult<Patient> {
    if !actor.in_org(org) {
        return Err(DomainError::NotFound {
            resource: "organization",
        });
    }
    access::require(actor, Permission::WritePatient)?;
    let fields = input.validate(today(ctx))?;
    require_site(ctx, org, fields.primary_site_id).await?;
    if let (Some(role), false) = (actor.role, actor.site_ids.contains(&fields.primary_site_id))
        && role != crate::identity::Role::OrgAdmin
    {
        return Err(DomainError::invalid(
            "primary_site_id",
            "you may only register patients at your own sites",
        ));
    }
    let now = ctx.clock.now();
    let patient = fields.into_patient(PatientId::new(), org, now, now);
    let audit = entry(ctx, actor, AuditAction::PatientCreate, org, patient.id);
    ctx.store.create_patient(&patient, audit).await?;
    Ok(patient)
}

/// Loads a patient and applies the access rule; a denial is audited before the error returns.
async fn open(
    ctx: Ctx<'_>,
    actor: &Actor,
    org: OrgId,
    id: PatientId,
    permission: Permission,
    action: AuditAction,
) -> DomainResult<(Patient, PatientAccess)> {
    let Some(patient) = ctx.store.get_patient(org, id).await? else {
        return Err(DomainError::NotFound {
            resource: "patient",
        });
    };
    match patient_access(ctx, actor, &patient, permission).await {
        Ok(how) => Ok((patient, how)),
        Err(err @ DomainError::NotFound { .. }) => Err(err),
        Err(err) => {
            ctx.store
                .record_audit(entry(ctx, actor, action, org, id).outcome(Outcome::Denied))
                .await?;
            Err(err)
        }
    }
}

/// The per-record rule with what it needs from storage: the actor's emergency grants and their
/// appointments with this patient (the care team).
pub async fn patient_access(
    ctx: Ctx<'_>,
    actor: &Actor,
    patient: &Patient,
    permission: Permission,
) -> DomainResult<PatientAccess> {
    let now = ctx.clock.now();
    // Home-site staff, organization-wide roles and the patient themself need nothing stored.
    if let Ok(how) =
        access::check_patient_access(actor, patient, permission, access::AccessFacts::none(), now)
    {
        return Ok(how);
    }
    let (grants, care_links) = match (actor.user_id(), actor.role) {
        (Some(user), Some(role)) if role != crate::identity::Role::Patient => (
            ctx.store.active_break_glass(user, patient.id, now).await?,
            ctx.store
                .care_links(patient.org_id, user, patient.id)
                .await?,
        ),
        _ => (Vec::new(), Vec::new()),
    };
    let facts = access::AccessFacts {
        grants: &grants,
        care_links: &care_links,
        window: ctx.care_team,
    };
    access::check_patient_access(actor, patient, permission, facts, now)
}

/// Opens one patient's record; the read is audited durably before this returns.
pub async fn get(ctx: Ctx<'_>, actor: &Actor, id: PatientId) -> DomainResult<Patient> {
    get_with_access(ctx, actor, id)
        .await
        .map(|(patient, _)| patient)
}

/// [`get`], and how the actor came to open the record (emergency access shows a banner).
pub async fn get_with_access(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: PatientId,
) -> DomainResult<(Patient, PatientAccess)> {
    let org = actor.org()?;
    let (patient, how) = open(
        ctx,
        actor,
        org,
        id,
        Permission::ReadPatient,
        AuditAction::PatientRead,
    )
    .await?;
    let audit = entry(ctx, actor, AuditAction::PatientRead, org, id)
        .flagged(how == PatientAccess::BreakGlass);
    ctx.store.record_audit(audit).await?;
    Ok((patient, how))
}

pub async fn update(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: PatientId,
    input: &PatientInput,
) -> DomainResult<Patient> {
    let org = actor.org()?;
    let (existing, how) = open(
        ctx,
        actor,
        org,
        id,
        Permission::WritePatient,
        AuditAction::PatientUpdate,
    )
    .await?;
    let fields = input.validate(today(ctx))?;
    require_site(ctx, org, fields.primary_site_id).await?;
    let patient = fields.into_patient(id, org, existing.created_at, ctx.clock.now());
    let audit = entry(ctx, actor, AuditAction::PatientUpdate, org, id)
        .flagged(how == PatientAccess::BreakGlass);
    ctx.store.update_patient(&patient, audit).await?;
    Ok(patient)
}

/// Lists the patients the actor may see: their sites' patients, or all for organization-wide roles.
/// The organization's patients whose record `typed` names: each word the start of their given
/// name, family name or MRN ("ana lop" finds Ana Lopez), at most `limit`. No permission check and
/// no audit entry: the use cases that search this way (the auditor's search, linking an account)
/// check and record their own.
pub(crate) async fn matching(
    ctx: Ctx<'_>,
    org: OrgId,
    typed: &str,
    limit: i64,
) -> DomainResult<Vec<Patient>> {
    let words: Vec<String> = typed.split_whitespace().map(str::to_lowercase).collect();
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    // The store matches the first word; the others narrow what it found, so it is asked for
    // more than `limit`.
    let query = PatientQuery {
        text: Some(first.clone()),
        limit: if words.len() > 1 {
            limit.max(500)
        } else {
            limit
        },
        ..PatientQuery::default()
    };
    let found = ctx.store.list_patients(org, &query).await?;
    Ok(found
        .into_iter()
        .filter(|p| {
            let parts = [&p.given_name, &p.family_name, &p.mrn].map(|s| s.to_lowercase());
            words
                .iter()
                .all(|w| parts.iter().any(|part| part.starts_with(w.as_str())))
        })
        .take(usize::try_from(limit).unwrap_or(0))
        .collect())
}

pub async fn list(
    ctx: Ctx<'_>,
    actor: &Actor,
    mut query: PatientQuery,
) -> DomainResult<Vec<Patient>> {
    let org = actor.org()?;
    access::require(actor, Permission::ListPatients)?;
    let organization_wide = !matches!(actor.principal, access::Principal::User(_))
        || actor.role == Some(crate::identity::Role::OrgAdmin);
    if !organization_wide {
        query.site_ids = Some(actor.site_ids.clone());
    }
    query.limit = query.limit.clamp(1, 200);
    query.offset = query.offset.max(0);
    let patients = ctx.store.list_patients(org, &query).await?;
    let audit = AuditEntry::new(
        ctx.clock.now(),
        actor.audit_actor(),
        AuditAction::PatientList,
        "Patient",
    )
    .org(org)
    .from_ip(actor.source_ip.clone())
    .detail(format!("{} results", patients.len()));
    ctx.store.record_audit(audit).await?;
    Ok(patients)
}

/// Emergency access: a clinician states why they must open a record outside their care team.
pub async fn break_glass(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: PatientId,
    reason: &str,
) -> DomainResult<BreakGlassGrant> {
    let org = actor.org()?;
    access::require(actor, Permission::RequestBreakGlass)?;
    let user = actor.user_id().ok_or(DomainError::Forbidden {
        action: "request emergency access",
    })?;
    let Some(patient) = ctx.store.get_patient(org, id).await? else {
        return Err(DomainError::NotFound {
            resource: "patient",
        });
    };
    let now = ctx.clock.now();
    let grant = compliance::grant(org, user, patient.id, reason, now, ctx.break_glass_minutes)?;
    let audit = AuditEntry::new(
        now,
        actor.audit_actor(),
        AuditAction::BreakGlassGranted,
        "Patient",
    )
    .org(org)
    .resource(patient.id)
    .patient(patient.id)
    .from_ip(actor.source_ip.clone())
    .flagged(true)
    .detail(grant.reason.clone());
    ctx.store.create_break_glass(&grant, audit).await?;
    Ok(grant)
}
