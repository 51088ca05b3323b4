//! `/`, the home page of each role, and `/me`.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use domain::Permission;
use domain::access::role_allows;
use domain::identity::Role;
use domain::identity::service::{org, patients, users};

use crate::auth::actor::{CurrentSession, SessionState, SignedIn};
use crate::state::AppState;

use super::form::PageQuery;
use super::page::{PageError, PageResult, ok, see_other};
use super::patients::{PatientView, site_names};
use super::session::PageUser;
use super::shell::{Section, Shell};

pub async fn root(CurrentSession(session): CurrentSession) -> Response {
    match session {
        SessionState::Full(_) => see_other("/app"),
        _ => see_other("/signin"),
    }
}

pub struct HomeLink {
    pub href: &'static str,
    pub label: &'static str,
    pub description: &'static str,
}

#[derive(Template)]
#[template(path = "pages/home.html")]
struct HomePage {
    shell: Shell,
    name: String,
    intro: &'static str,
    links: Vec<HomeLink>,
    return_visits: Vec<super::visit::ReturnLink>,
    /// A clinician's drafts older than the configured limit.
    unsigned: Vec<UnsignedNote>,
    unsigned_hours: i64,
    /// The program manager's glance at the implementation program.
    program: Option<ProgramGlance>,
}

/// Where the implementation program stands, in a few lines: the phase under way, what is late
/// and the risks to look at first.
pub struct ProgramGlance {
    pub started: bool,
    pub name: String,
    /// "Pilot launch and validation: 3 of 8 done (until 2027-06-30)".
    pub phase: Option<String>,
    pub late: Vec<GlanceItem>,
    pub late_more: usize,
    pub high_risks: Vec<GlanceItem>,
    pub open_risks: usize,
}

pub struct GlanceItem {
    pub href: String,
    pub text: String,
}

/// Late items and high risks a home page lists at most.
const GLANCE_ITEMS: usize = 5;
/// Risks scored this high (likelihood times impact, of 25) are shown first.
const HIGH_RISK: i64 = 15;

async fn program_glance(state: &AppState, me: &SignedIn) -> Result<ProgramGlance, PageError> {
    let plan = domain::program::service::plan(state.ctx(), &me.actor).await?;
    let today = plan.today;
    let phase = plan
        .phases
        .iter()
        .find(|p| p.starts_on <= today && today <= p.ends_on)
        .or_else(|| plan.phases.iter().find(|p| p.starts_on > today))
        .map(|p| {
            let progress = domain::program::PhaseProgress::of(p.id, &plan.tasks);
            format!(
                "{}: {} of {} done (until {})",
                p.name, progress.done, progress.total, p.ends_on
            )
        });
    let mut late: Vec<&domain::program::Task> =
        plan.tasks.iter().filter(|t| t.is_late(today)).collect();
    late.sort_by_key(|t| t.due_on);
    let mut open: Vec<&domain::program::Risk> = plan
        .risks
        .iter()
        .filter(|r| r.status != domain::program::RiskStatus::Closed)
        .collect();
    open.sort_by_key(|r| std::cmp::Reverse(r.score()));
    Ok(ProgramGlance {
        started: plan.program.is_some(),
        name: plan
            .program
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        phase,
        late_more: late.len().saturating_sub(GLANCE_ITEMS),
        late: late
            .iter()
            .take(GLANCE_ITEMS)
            .map(|t| GlanceItem {
                href: format!("/program/tasks/{}", t.id),
                text: format!("{}, due {}", t.title, t.due_on),
            })
            .collect(),
        high_risks: open
            .iter()
            .filter(|r| r.score() >= HIGH_RISK)
            .take(GLANCE_ITEMS)
            .map(|r| GlanceItem {
                href: "/program/risks".into(),
                text: format!("{} (score {})", r.title, r.score()),
            })
            .collect(),
        open_risks: open.len(),
    })
}

pub struct UnsignedNote {
    pub href: String,
    pub started: String,
}

fn intro(role: Role) -> &'static str {
    match role {
        Role::Patient => {
            "Book a visit, see your appointments, or see a clinician now for urgent care."
        }
        Role::Clinician => {
            "See your schedule, take the next patient waiting for urgent care, or find a patient. \
             Records outside your sites need emergency access."
        }
        Role::Nurse => {
            "Find a patient to open their record. Records outside your sites need emergency access."
        }
        Role::FrontDesk => {
            "Check patients in, book visits and keep clinicians' hours up to date for your sites."
        }
        Role::SiteAdmin => "Manage the patients, staff and schedules of your sites.",
        Role::OrgAdmin => {
            "Manage your organization's sites, staff, patients and scheduling, and review its audit trail."
        }
        Role::ProgramManager => {
            "Run the rollout: the program's phases and tasks, its risks, the sites' readiness and the adoption goals, and the staff's training."
        }
        Role::Auditor => "Search the audit trail and review every use of emergency access.",
    }
}

fn links(role: Role) -> Vec<HomeLink> {
    let mut links = Vec::new();
    if role == Role::Patient {
        if role_allows(role, Permission::SearchSlots) {
            links.push(HomeLink {
                href: "/book",
                label: "Book a visit",
                description: "Find a time that suits you, by video, phone or in person.",
            });
        }
        if role_allows(role, Permission::ReadAppointments) {
            links.push(HomeLink {
                href: "/appointments",
                label: "My appointments",
                description: "Check in, move or cancel your visits.",
            });
        }
        if role_allows(role, Permission::SearchSlots) {
            links.push(HomeLink {
                href: "/urgent-care",
                label: "Urgent care now",
                description: "Wait online for the next available clinician.",
            });
        }
    }
    if role == Role::Clinician && role_allows(role, Permission::ReadAppointments) {
        links.push(HomeLink {
            href: "/schedule",
            label: "My schedule",
            description: "Your visits and open times, by day or week.",
        });
    }
    if role_allows(role, Permission::TakeFromQueue) {
        links.push(HomeLink {
            href: "/queue",
            label: "Urgent-care queue",
            description: "Patients waiting now; take the next one.",
        });
    }
    if role != Role::Patient
        && role != Role::Clinician
        && role_allows(role, Permission::ManageAppointments)
    {
        links.push(HomeLink {
            href: "/front-desk",
            label: "Front desk",
            description: "Today's visits at your site: check in, cancel, mark no-shows.",
        });
    }
    if role_allows(role, Permission::ManageAvailability) {
        links.push(HomeLink {
            href: "/schedule/availability",
            label: if role == Role::Clinician {
                "My availability"
            } else {
                "Clinicians' availability"
            },
            description: "Weekly hours, leave and extra hours.",
        });
    }
    if role_allows(role, Permission::ConfigureScheduling) {
        links.push(HomeLink {
            href: "/admin/visit-types",
            label: "Visit types",
            description: "What patients and staff can book.",
        });
        links.push(HomeLink {
            href: "/admin/consent",
            label: "Telehealth consent",
            description: "The text patients agree to before virtual visits.",
        });
    }
    if role_allows(role, Permission::ListPatients) {
        links.push(HomeLink {
            href: "/patients",
            label: "Find a patient",
            description: "Search by name or medical record number.",
        });
    }
    if role_allows(role, Permission::WritePatient) {
        links.push(HomeLink {
            href: "/patients/new",
            label: "Register a patient",
            description: "Add a new patient record to one of your sites.",
        });
    }
    if role_allows(role, Permission::ManageUsers) {
        links.push(HomeLink {
            href: "/admin/users",
            label: "Users",
            description: "Add staff and patient accounts, or disable them.",
        });
    }
    if role_allows(role, Permission::ManageSites) {
        links.push(HomeLink {
            href: "/admin/sites",
            label: "Sites",
            description: "The clinics of your organization.",
        });
    }
    if role_allows(role, Permission::ReadAudit) {
        links.push(HomeLink {
            href: "/audit",
            label: "Audit trail",
            description: "Who did what, and when. Export it as CSV.",
        });
    }
    if role_allows(role, Permission::ReviewBreakGlass) {
        links.push(HomeLink {
            href: "/audit/break-glass",
            label: "Emergency access",
            description: "Review records opened outside the care team.",
        });
    }
    let (label, description) = if role == Role::Patient {
        ("My profile", "Your contact details and your clinic.")
    } else {
        ("My account", "Your name, role, sites and licenses.")
    };
    links.push(HomeLink {
        href: "/me",
        label,
        description,
    });
    links
}

pub async fn app(State(state): State<AppState>, PageUser(me): PageUser) -> PageResult {
    let role = me.user.role;
    let return_visits = super::visit::return_links(&state, &me.actor).await?;
    let drafts = domain::notes::service::unsigned(state.ctx(), &me.actor).await?;
    let mut unsigned = Vec::with_capacity(drafts.len());
    if !drafts.is_empty() {
        let sites = org::list_sites(state.ctx(), &me.actor, me.actor.org()?).await?;
        for n in drafts {
            // Times in the zone of the visit's site, as on the note itself.
            let tz = sites
                .iter()
                .find(|s| s.id == n.site_id)
                .and_then(|s| jiff::tz::TimeZone::get(s.time_zone.as_str()).ok())
                .unwrap_or(jiff::tz::TimeZone::UTC);
            unsigned.push(UnsignedNote {
                href: format!("/visits/{}/note", n.appointment_id),
                started: super::when::when(n.created_at, &tz),
            });
        }
    }
    let program = match role {
        Role::ProgramManager => Some(program_glance(&state, &me).await?),
        _ => None,
    };
    Ok(ok(&HomePage {
        program,
        return_visits,
        unsigned,
        unsigned_hours: state.config.unsigned_note_hours,
        shell: Shell::new(&me, Section::Home),
        name: me.user.display_name.clone(),
        intro: intro(role),
        links: links(role),
    }))
}

#[derive(Template)]
#[template(path = "pages/me_patient.html")]
struct MyRecordPage {
    shell: Shell,
    patient: PatientView,
    sign_in_email: String,
}

pub struct LicenseView {
    pub state: String,
    pub number: String,
    pub expires_on: String,
}

#[derive(Template)]
#[template(path = "pages/me_account.html")]
struct MyAccountPage {
    shell: Shell,
    name: String,
    email: String,
    role: &'static str,
    sites: Vec<String>,
    npi: Option<String>,
    specialties: String,
    licenses: Vec<LicenseView>,
}

#[derive(Debug, serde::Deserialize)]
pub struct MeParams {
    done: Option<String>,
}

/// The signed-in person's own page: a patient's record, or a staff member's account.
pub async fn me(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<MeParams>,
) -> PageResult {
    let shell = Shell::new(&me, Section::Profile).notice(match params.done.as_deref() {
        Some("contact") => Some("Your contact details are saved."),
        Some("password") => Some("Your password is changed. Other devices were signed out."),
        _ => None,
    });
    let actor = &me.actor;
    let names = site_names(&state, actor).await?;
    if let Some(own) = actor.own_patient {
        let patient = patients::get(state.ctx(), actor, own).await?;
        return Ok(ok(&MyRecordPage {
            shell,
            patient: PatientView::new(&patient, &names),
            sign_in_email: me.user.email.to_string(),
        }));
    }
    let user_id = actor.user_id().ok_or(PageError::NotFound)?;
    let user = users::get(state.ctx(), actor, user_id).await?;
    let clinician = user.clinician.unwrap_or_default();
    Ok(ok(&MyAccountPage {
        shell,
        name: user.display_name,
        email: user.email.to_string(),
        role: user.role.label(),
        sites: user
            .site_ids
            .iter()
            .filter_map(|id| names.get(id).cloned())
            .collect(),
        npi: Some(clinician.npi).filter(|n| !n.is_empty()),
        specialties: clinician.specialties.join(", "),
        licenses: clinician
            .licenses
            .into_iter()
            .map(|l| LicenseView {
                state: l.state.code().to_string(),
                number: l.number,
                expires_on: l.expires_on.to_string(),
            })
            .collect(),
    }))
}
