//! Who is acting, and what each role may do. Every use case asks here before touching data.

use jiff::{SignedDuration, Timestamp};

use crate::compliance::{AuditActor, BreakGlassGrant};
use crate::error::DomainError;
use crate::identity::{Patient, Role};
use crate::ids::{AppointmentId, ClientId, OrgId, PatientId, SiteId, UserId, VisitLinkId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User(UserId),
    Client(ClientId),
    /// The command line run by the operator on the server itself.
    Operator,
    /// A patient without an account, holding the one-time join link of one visit: they act as
    /// that visit's patient, on that appointment only (`may_see` and `require` stop the rest).
    VisitLink {
        link: VisitLinkId,
        appointment: AppointmentId,
    },
}

/// A SMART-style scope such as `system/Patient.read` or `system/*.write`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub resource: String,
    pub access: ScopeAccess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeAccess {
    Read,
    Write,
}

impl Scope {
    /// The resources a scope may name; `*` means all of them.
    pub const RESOURCES: [&'static str; 7] = [
        "*",
        "Patient",
        "Practitioner",
        "AuditEvent",
        "Appointment",
        "Slot",
        "Schedule",
    ];

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let invalid = || {
            DomainError::invalid(
                "scope",
                format!("'{raw}' is not a scope of the form system/<Resource>.<read|write>"),
            )
        };
        let rest = raw.strip_prefix("system/").ok_or_else(invalid)?;
        let (resource, access) = rest.rsplit_once('.').ok_or_else(invalid)?;
        let access = match access {
            "read" => ScopeAccess::Read,
            "write" => ScopeAccess::Write,
            _ => return Err(invalid()),
        };
        if !Self::RESOURCES.contains(&resource) {
            return Err(invalid());
        }
        Ok(Self {
            resource: resource.to_string(),
            access,
        })
    }

    /// Parses a space-separated list; an empty list is refused.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, DomainError> {
        let scopes = raw
            .split_whitespace()
            .map(Self::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if scopes.is_empty() {
            return Err(DomainError::invalid(
                "scope",
                "at least one scope is required",
            ));
        }
        Ok(scopes)
    }

    pub fn allows(&self, resource: &str, access: ScopeAccess) -> bool {
        (self.resource == "*" || self.resource == resource) && self.access == access
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let access = match self.access {
            ScopeAccess::Read => "read",
            ScopeAccess::Write => "write",
        };
        write!(f, "system/{}.{}", self.resource, access)
    }
}

/// The authenticated caller of a use case, built by the front door from a session, token or CLI.
#[derive(Debug, Clone)]
pub struct Actor {
    pub principal: Principal,
    /// The tenant the actor belongs to; `None` only for the operator, who may act on any organization.
    pub org_id: Option<OrgId>,
    /// `None` for integration clients and the operator: their rights come from scopes.
    pub role: Option<Role>,
    pub site_ids: Vec<SiteId>,
    /// For a patient, the only record they may read.
    pub own_patient: Option<PatientId>,
    pub scopes: Vec<Scope>,
    pub source_ip: Option<String>,
}

impl Actor {
    pub fn operator() -> Self {
        Self {
            principal: Principal::Operator,
            org_id: None,
            role: None,
            site_ids: Vec::new(),
            own_patient: None,
            scopes: Vec::new(),
            source_ip: None,
        }
    }

    pub fn audit_actor(&self) -> AuditActor {
        match &self.principal {
            Principal::User(id) => AuditActor::User {
                id: *id,
                role: self.role.unwrap_or(Role::Patient),
            },
            Principal::Client(id) => AuditActor::Client { id: *id },
            Principal::Operator => AuditActor::Operator,
            Principal::VisitLink { link, .. } => AuditActor::VisitLink { link: *link },
        }
    }

    pub fn user_id(&self) -> Option<UserId> {
        match self.principal {
            Principal::User(id) => Some(id),
            _ => None,
        }
    }

    /// True when the actor may act inside `org`.
    pub fn in_org(&self, org: OrgId) -> bool {
        matches!(self.principal, Principal::Operator) || self.org_id == Some(org)
    }

    /// The organization the actor works in; the operator must name one explicitly.
    pub fn org(&self) -> Result<OrgId, DomainError> {
        self.org_id.ok_or(DomainError::Forbidden {
            action: "act without an organization",
        })
    }
}

/// Things an actor may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    ReadPatient,
    WritePatient,
    ListPatients,
    ManageUsers,
    ManageSites,
    ManageClients,
    ReadAudit,
    ReviewBreakGlass,
    RequestBreakGlass,
    /// Visit types and the telehealth consent text.
    ConfigureScheduling,
    /// Clinicians' weekly hours, leave and extra hours, and publishing slots.
    ManageAvailability,
    /// See appointments and their history.
    ReadAppointments,
    /// Book, move or cancel appointments for patients.
    ManageAppointments,
    /// Search open slots.
    SearchSlots,
    /// Take the next patient from the on-demand queue.
    TakeFromQueue,
    /// Write courses, see everyone's training records, grant certification exceptions.
    ManageTraining,
    /// Follow one's own courses and take their tests.
    TakeTraining,
    /// Run the implementation program: tasks, roster, risks, site stages, goals.
    ManageProgram,
}

impl Permission {
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ReadPatient => "read this patient",
            Permission::WritePatient => "change patient records",
            Permission::ListPatients => "list patients",
            Permission::ManageUsers => "manage users",
            Permission::ManageSites => "manage sites",
            Permission::ManageClients => "manage integration clients",
            Permission::ReadAudit => "read the audit trail",
            Permission::ReviewBreakGlass => "review emergency access",
            Permission::RequestBreakGlass => "request emergency access",
            Permission::ConfigureScheduling => "configure visit types and consent texts",
            Permission::ManageAvailability => "manage clinicians' availability",
            Permission::ReadAppointments => "see appointments",
            Permission::ManageAppointments => "manage appointments",
            Permission::SearchSlots => "search open slots",
            Permission::TakeFromQueue => "take patients from the on-demand queue",
            Permission::ManageTraining => "manage training and certifications",
            Permission::TakeTraining => "take training",
            Permission::ManageProgram => "run the implementation program",
        }
    }
}

/// The role table: which role holds which permission, before any per-record rule.
pub fn role_allows(role: Role, permission: Permission) -> bool {
    use Permission as P;
    use Role as R;
    match permission {
        P::ReadPatient => matches!(
            role,
            R::Patient | R::Clinician | R::Nurse | R::FrontDesk | R::SiteAdmin | R::OrgAdmin
        ),
        P::WritePatient => matches!(
            role,
            R::Clinician | R::Nurse | R::FrontDesk | R::SiteAdmin | R::OrgAdmin
        ),
        P::ListPatients => matches!(
            role,
            R::Clinician | R::Nurse | R::FrontDesk | R::SiteAdmin | R::OrgAdmin
        ),
        P::ManageUsers => matches!(role, R::SiteAdmin | R::OrgAdmin),
        P::ManageSites | P::ManageClients => matches!(role, R::OrgAdmin),
        P::ReadAudit | P::ReviewBreakGlass => matches!(role, R::Auditor | R::OrgAdmin),
        P::RequestBreakGlass => matches!(role, R::Clinician),
        P::ConfigureScheduling => matches!(role, R::OrgAdmin),
        P::ManageAvailability => matches!(
            role,
            R::Clinician | R::FrontDesk | R::SiteAdmin | R::OrgAdmin
        ),
        P::ReadAppointments => matches!(
            role,
            R::Patient | R::Clinician | R::Nurse | R::FrontDesk | R::SiteAdmin | R::OrgAdmin
        ),
        P::ManageAppointments => matches!(
            role,
            R::Clinician | R::Nurse | R::FrontDesk | R::SiteAdmin | R::OrgAdmin
        ),
        P::SearchSlots => matches!(
            role,
            R::Patient | R::Clinician | R::Nurse | R::FrontDesk | R::SiteAdmin | R::OrgAdmin
        ),
        P::TakeFromQueue => matches!(role, R::Clinician),
        P::ManageTraining => matches!(role, R::ProgramManager | R::OrgAdmin),
        P::TakeTraining => matches!(role, R::Clinician | R::Nurse | R::FrontDesk | R::SiteAdmin),
        P::ManageProgram => matches!(role, R::ProgramManager | R::OrgAdmin),
    }
}

fn scope_for(permission: Permission) -> Option<(&'static str, ScopeAccess)> {
    match permission {
        Permission::ReadPatient | Permission::ListPatients => Some(("Patient", ScopeAccess::Read)),
        Permission::WritePatient => Some(("Patient", ScopeAccess::Write)),
        Permission::ReadAudit => Some(("AuditEvent", ScopeAccess::Read)),
        Permission::ReadAppointments => Some(("Appointment", ScopeAccess::Read)),
        Permission::ManageAppointments => Some(("Appointment", ScopeAccess::Write)),
        Permission::SearchSlots => Some(("Slot", ScopeAccess::Read)),
        Permission::ManageAvailability => Some(("Schedule", ScopeAccess::Write)),
        _ => None,
    }
}

/// How far a role reaches when administering accounts: an administrator changes only
/// accounts ranked below their own, so a site administrator cannot lock out the organization's
/// administrator, and no administrator can disable a peer.
pub fn admin_rank(role: Role) -> u8 {
    match role {
        Role::Patient => 0,
        Role::Clinician | Role::Nurse | Role::FrontDesk => 1,
        // Organization-wide roles a site administrator may not create, so may not change either.
        Role::SiteAdmin | Role::ProgramManager | Role::Auditor => 2,
        Role::OrgAdmin => 3,
    }
}

/// May the actor change (disable, enable) an account with role `target`? The operator may
/// change any; a user only accounts ranked below their own role.
pub fn check_may_change_account(actor: &Actor, target: Role) -> Result<(), DomainError> {
    let allowed = match (&actor.principal, actor.role) {
        (Principal::Operator, _) => true,
        (Principal::User(_), Some(role)) => admin_rank(target) < admin_rank(role),
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(DomainError::Forbidden {
            action: "change an account whose role is not below your own",
        })
    }
}

/// May the actor do this at all (ignoring which record)?
pub fn require(actor: &Actor, permission: Permission) -> Result<(), DomainError> {
    let allowed = match (&actor.principal, actor.role) {
        (Principal::Operator, _) => true,
        (Principal::Client(_), _) => scope_for(permission).is_some_and(|(resource, access)| {
            actor.scopes.iter().any(|s| s.allows(resource, access))
        }),
        (Principal::User(_), Some(role)) => role_allows(role, permission),
        (Principal::User(_), None) => false,
        // A join link grants no permission of its own: the patient's use cases on its one
        // appointment check the record (`may_see`), not the role table.
        (Principal::VisitLink { .. }, _) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(DomainError::Forbidden {
            action: permission.describe(),
        })
    }
}

/// How an actor came to be allowed to open a patient's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientAccess {
    /// Normal access: own record, same site, organization-wide role, or integration scope.
    Normal,
    /// In the patient's care team through an appointment or visit around now.
    CareTeam,
    /// Only through an active emergency access grant; the audit entry is flagged.
    BreakGlass,
}

/// An appointment or visit that ties a staff member (its clinician, or the visit's nurse) to a
/// patient from a while before it until a while after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareLink {
    pub user_id: UserId,
    pub patient_id: PatientId,
    pub start_at: Timestamp,
    pub end_at: Timestamp,
}

/// How long before and after an appointment its clinician and nurse are in the patient's care
/// team: long enough to prepare, write the note, answer the patient's questions afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CareTeamWindow {
    pub before: SignedDuration,
    pub after: SignedDuration,
}

impl Default for CareTeamWindow {
    /// Two days before, thirty days after.
    fn default() -> Self {
        Self {
            before: SignedDuration::from_hours(48),
            after: SignedDuration::from_hours(30 * 24),
        }
    }
}

impl CareTeamWindow {
    /// True when `link` puts `user` in `patient`'s care team at `now`.
    pub fn covers(
        &self,
        link: &CareLink,
        user: UserId,
        patient: PatientId,
        now: Timestamp,
    ) -> bool {
        link.user_id == user
            && link.patient_id == patient
            && link
                .start_at
                .saturating_sub(self.before)
                .is_ok_and(|from| now >= from)
            && link
                .end_at
                .saturating_add(self.after)
                .is_ok_and(|until| now <= until)
    }
}

/// What the per-record rule needs besides the actor and the patient: the actor's emergency
/// grants and care links for this patient, and the care-team window.
#[derive(Debug, Clone, Copy)]
pub struct AccessFacts<'a> {
    pub grants: &'a [BreakGlassGrant],
    pub care_links: &'a [CareLink],
    pub window: CareTeamWindow,
}

impl AccessFacts<'_> {
    /// No grants and no care links: only the standing rules apply.
    pub fn none() -> AccessFacts<'static> {
        AccessFacts {
            grants: &[],
            care_links: &[],
            window: CareTeamWindow::default(),
        }
    }
}

/// The per-record rule for reading or changing one patient.
///
/// Staff of the patient's home site, organization-wide roles, and the patient's care team (a
/// clinician or nurse with an appointment or visit with them, within the window) have normal
/// access; other clinicians need emergency access. Another organization's patient is reported
/// as not found, so ids cannot be probed across tenants.
pub fn check_patient_access(
    actor: &Actor,
    patient: &Patient,
    permission: Permission,
    facts: AccessFacts<'_>,
    now: Timestamp,
) -> Result<PatientAccess, DomainError> {
    if !actor.in_org(patient.org_id) {
        return Err(DomainError::NotFound {
            resource: "patient",
        });
    }
    match (&actor.principal, actor.role) {
        (Principal::User(_), Some(Role::Patient)) => {
            // A patient sees only their own record, and may not change it through staff paths.
            if actor.own_patient == Some(patient.id) && permission == Permission::ReadPatient {
                Ok(PatientAccess::Normal)
            } else {
                Err(DomainError::NotFound {
                    resource: "patient",
                })
            }
        }
        (Principal::User(user), Some(role)) => {
            require(actor, permission)?;
            let organization_wide = role == Role::OrgAdmin;
            if organization_wide || actor.site_ids.contains(&patient.primary_site_id) {
                return Ok(PatientAccess::Normal);
            }
            let treating = matches!(role, Role::Clinician | Role::Nurse)
                && facts
                    .care_links
                    .iter()
                    .any(|link| facts.window.covers(link, *user, patient.id, now));
            if treating {
                return Ok(PatientAccess::CareTeam);
            }
            let granted = facts
                .grants
                .iter()
                .any(|g| g.user_id == *user && g.patient_id == patient.id && g.is_active(now));
            if granted {
                Ok(PatientAccess::BreakGlass)
            } else if role == Role::Clinician {
                Err(DomainError::BreakGlassRequired)
            } else {
                Err(DomainError::Forbidden {
                    action: permission.describe(),
                })
            }
        }
        // A join link opens the visit, never the patient's record.
        (Principal::VisitLink { .. }, _) => Err(DomainError::NotFound {
            resource: "patient",
        }),
        _ => require(actor, permission).map(|()| PatientAccess::Normal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Address, Sex, UsState};

    fn patient(org: OrgId, site: SiteId) -> Patient {
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        Patient {
            id: PatientId::new(),
            org_id: org,
            mrn: "A-1".into(),
            given_name: "Ana".into(),
            family_name: "Ruiz".into(),
            birth_date: jiff::civil::date(1980, 1, 2),
            sex: Sex::parse("sex", "female").unwrap(),
            email: None,
            phone: None,
            address: Address {
                line1: "1 Main St".into(),
                line2: None,
                city: "Albany".into(),
                state: UsState::parse("state", "NY").unwrap(),
                postal_code: "12207".into(),
            },
            preferred_language: "en".into(),
            primary_site_id: site,
            created_at: at,
            updated_at: at,
        }
    }

    fn staff(org: OrgId, role: Role, site: SiteId) -> (Actor, UserId) {
        let user = UserId::new();
        let actor = Actor {
            principal: Principal::User(user),
            org_id: Some(org),
            role: Some(role),
            site_ids: vec![site],
            own_patient: None,
            scopes: Vec::new(),
            source_ip: None,
        };
        (actor, user)
    }

    #[test]
    fn a_clinician_with_an_appointment_is_in_the_care_team_only_inside_the_window() {
        let org = OrgId::new();
        let (albany, brooklyn) = (SiteId::new(), SiteId::new());
        let p = patient(org, albany);
        let (dr, user) = staff(org, Role::Clinician, brooklyn);
        let start = Timestamp::from_second(1_800_000_000).unwrap();
        let link = CareLink {
            user_id: user,
            patient_id: p.id,
            start_at: start,
            end_at: start + SignedDuration::from_mins(20),
        };
        let window = CareTeamWindow {
            before: SignedDuration::from_hours(2),
            after: SignedDuration::from_hours(24),
        };
        let facts = AccessFacts {
            grants: &[],
            care_links: std::slice::from_ref(&link),
            window,
        };
        let at = |mins: i64| start + SignedDuration::from_mins(mins);
        let check = |now| check_patient_access(&dr, &p, Permission::ReadPatient, facts, now);
        assert_eq!(check(at(-120)).ok(), Some(PatientAccess::CareTeam));
        assert_eq!(check(at(10)).ok(), Some(PatientAccess::CareTeam));
        assert_eq!(check(at(20 + 24 * 60)).ok(), Some(PatientAccess::CareTeam));
        assert!(matches!(
            check(at(-121)),
            Err(DomainError::BreakGlassRequired)
        ));
        assert!(matches!(
            check(at(21 + 24 * 60)),
            Err(DomainError::BreakGlassRequired)
        ));
        // Another clinician's appointment does not count.
        let (other, _) = staff(org, Role::Clinician, brooklyn);
        assert!(matches!(
            check_patient_access(&other, &p, Permission::ReadPatient, facts, at(0)),
            Err(DomainError::BreakGlassRequired)
        ));
    }

    #[test]
    fn the_visits_nurse_is_in_the_care_team_but_the_front_desk_is_not() {
        let org = OrgId::new();
        let (albany, brooklyn) = (SiteId::new(), SiteId::new());
        let p = patient(org, albany);
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        for (role, allowed) in [(Role::Nurse, true), (Role::FrontDesk, false)] {
            let (actor, user) = staff(org, role, brooklyn);
            let link = CareLink {
                user_id: user,
                patient_id: p.id,
                start_at: now,
                end_at: now,
            };
            let facts = AccessFacts {
                grants: &[],
                care_links: std::slice::from_ref(&link),
                window: CareTeamWindow::default(),
            };
            let got = check_patient_access(&actor, &p, Permission::ReadPatient, facts, now);
            assert_eq!(got.is_ok(), allowed, "{role:?}");
        }
    }

    #[test]
    fn emergency_access_is_for_clinicians_outside_the_care_team() {
        let org = OrgId::new();
        let (albany, brooklyn) = (SiteId::new(), SiteId::new());
        let p = patient(org, albany);
        let (dr, user) = staff(org, Role::Clinician, brooklyn);
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let grant = crate::compliance::grant(
            org,
            user,
            p.id,
            "Patient unconscious in the ED, no records",
            now,
            30,
        )
        .unwrap();
        let facts = AccessFacts {
            grants: std::slice::from_ref(&grant),
            care_links: &[],
            window: CareTeamWindow::default(),
        };
        assert_eq!(
            check_patient_access(&dr, &p, Permission::ReadPatient, facts, now).ok(),
            Some(PatientAccess::BreakGlass)
        );
        // Another organization's patient stays "not found" whatever the links say.
        let (stranger, _) = staff(OrgId::new(), Role::Clinician, brooklyn);
        assert!(matches!(
            check_patient_access(&stranger, &p, Permission::ReadPatient, facts, now),
            Err(DomainError::NotFound { .. })
        ));
    }

    fn user(role: Role) -> Actor {
        Actor {
            principal: Principal::User(UserId::new()),
            role: Some(role),
            ..Actor::operator()
        }
    }

    #[test]
    fn an_administrator_changes_only_accounts_below_their_own_role() {
        let site_admin = user(Role::SiteAdmin);
        let org_admin = user(Role::OrgAdmin);
        assert!(check_may_change_account(&site_admin, Role::Clinician).is_ok());
        assert!(check_may_change_account(&site_admin, Role::Patient).is_ok());
        for peer_or_above in [
            Role::SiteAdmin,
            Role::OrgAdmin,
            Role::Auditor,
            Role::ProgramManager,
        ] {
            assert!(check_may_change_account(&site_admin, peer_or_above).is_err());
        }
        assert!(check_may_change_account(&org_admin, Role::SiteAdmin).is_ok());
        assert!(check_may_change_account(&org_admin, Role::Auditor).is_ok());
        assert!(check_may_change_account(&org_admin, Role::OrgAdmin).is_err());
        assert!(check_may_change_account(&Actor::operator(), Role::OrgAdmin).is_ok());
    }
}
