//! The frame around every signed-in page: who is signed in, the sign-out button, and navigation.

use domain::Permission;
use domain::access::role_allows;
use domain::identity::Role;

use crate::auth::actor::SignedIn;

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Profile,
    Patients,
    Users,
    Sites,
    Audit,
    BreakGlass,
    Book,
    MyAppointments,
    UrgentCare,
    FrontDesk,
    Schedule,
    Availability,
    Queue,
    WaitingRoom,
    SchedulingSetup,
    Training,
    TrainingRecords,
    Program,
    Summaries,
    Messages,
}

#[derive(Debug, Clone)]
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What the app layout needs; every signed-in page struct carries one as `shell`.
#[derive(Debug, Clone)]
pub struct Shell {
    pub user_name: String,
    pub role_label: &'static str,
    pub csrf: String,
    pub nav: Vec<NavLink>,
    /// A one-line confirmation after a form ("Patient saved."), shown once after the redirect.
    pub notice: Option<&'static str>,
}

impl Shell {
    pub fn new(signed_in: &SignedIn, section: Section) -> Self {
        let role = signed_in.user.role;
        Self {
            user_name: signed_in.user.display_name.clone(),
            role_label: role.label(),
            csrf: signed_in.session.csrf_token.clone(),
            nav: nav_for(role)
                .into_iter()
                .map(|(s, href, label)| NavLink {
                    href,
                    label,
                    current: s == section,
                })
                .collect(),
            notice: None,
        }
    }

    pub fn notice(mut self, notice: Option<&'static str>) -> Self {
        self.notice = notice;
        self
    }
}

/// Navigation follows the domain's role table, so a link is shown exactly when its page is allowed.
pub fn nav_for(role: Role) -> Vec<(Section, &'static str, &'static str)> {
    let mut nav = vec![(Section::Home, "/app", "Home")];
    // A patient books and sees their own visits; staff reach booking through a patient's record.
    if role == Role::Patient {
        if role_allows(role, Permission::SearchSlots) {
            nav.push((Section::Book, "/book", "Book a visit"));
        }
        if role_allows(role, Permission::ReadAppointments) {
            nav.push((Section::MyAppointments, "/appointments", "My appointments"));
        }
        if role_allows(role, Permission::SearchSlots) {
            nav.push((Section::UrgentCare, "/urgent-care", "Urgent care"));
        }
        nav.push((Section::Summaries, "/summaries", "Visit summaries"));
        nav.push((Section::Messages, "/messages", "Messages"));
    }
    if role_allows(role, Permission::ListPatients) {
        nav.push((Section::Patients, "/patients", "Patients"));
    }
    // Clinicians work from their own calendar; the rest of the staff from the site's day.
    if role == Role::Clinician && role_allows(role, Permission::ReadAppointments) {
        nav.push((Section::Schedule, "/schedule", "My schedule"));
    } else if role != Role::Patient && role_allows(role, Permission::ManageAppointments) {
        nav.push((Section::FrontDesk, "/front-desk", "Front desk"));
    }
    // Video visits: patients checked in and waiting, and the alerts staff must see now.
    if role != Role::Patient && role_allows(role, Permission::ReadAppointments) {
        nav.push((Section::WaitingRoom, "/waiting-room", "Waiting room"));
    }
    // The site's inbox: staff who open patients' records.
    if role != Role::Patient && role_allows(role, Permission::ListPatients) {
        nav.push((Section::Messages, "/messages", "Messages"));
    }
    if role != Role::Clinician && role_allows(role, Permission::ManageAvailability) {
        nav.push((
            Section::Availability,
            "/schedule/availability",
            "Availability",
        ));
    }
    if role_allows(role, Permission::TakeFromQueue) {
        nav.push((Section::Queue, "/queue", "Queue"));
    }
    if role_allows(role, Permission::ConfigureScheduling) {
        nav.push((
            Section::SchedulingSetup,
            "/admin/visit-types",
            "Scheduling setup",
        ));
    }
    if role_allows(role, Permission::TakeTraining) {
        nav.push((Section::Training, "/training", "My training"));
    }
    if role_allows(role, Permission::ManageProgram) {
        nav.push((Section::Program, "/program", "Program"));
    }
    if role_allows(role, Permission::ManageTraining) {
        nav.push((Section::TrainingRecords, "/training/records", "Training"));
    }
    if role_allows(role, Permission::ManageUsers) {
        nav.push((Section::Users, "/admin/users", "Users"));
    }
    if role_allows(role, Permission::ManageSites) {
        nav.push((Section::Sites, "/admin/sites", "Sites"));
    }
    if role_allows(role, Permission::ReadAudit) {
        nav.push((Section::Audit, "/audit", "Audit trail"));
    }
    if role_allows(role, Permission::ReviewBreakGlass) {
        nav.push((
            Section::BreakGlass,
            "/audit/break-glass",
            "Emergency access",
        ));
    }
    let profile = if role == Role::Patient {
        "My profile"
    } else {
        "My account"
    };
    nav.push((Section::Profile, "/me", profile));
    nav
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(role: Role) -> Vec<&'static str> {
        nav_for(role).into_iter().map(|(_, _, l)| l).collect()
    }

    #[test]
    fn each_role_sees_only_its_pages() {
        assert_eq!(
            labels(Role::Patient),
            [
                "Home",
                "Book a visit",
                "My appointments",
                "Urgent care",
                "Visit summaries",
                "Messages",
                "My profile"
            ]
        );
        assert_eq!(
            labels(Role::Clinician),
            [
                "Home",
                "Patients",
                "My schedule",
                "Waiting room",
                "Messages",
                "Queue",
                "My training",
                "My account"
            ]
        );
        assert_eq!(
            labels(Role::Nurse),
            [
                "Home",
                "Patients",
                "Front desk",
                "Waiting room",
                "Messages",
                "My training",
                "My account"
            ]
        );
        assert_eq!(
            labels(Role::FrontDesk),
            [
                "Home",
                "Patients",
                "Front desk",
                "Waiting room",
                "Messages",
                "Availability",
                "My training",
                "My account"
            ]
        );
        assert_eq!(
            labels(Role::SiteAdmin),
            [
                "Home",
                "Patients",
                "Front desk",
                "Waiting room",
                "Messages",
                "Availability",
                "My training",
                "Users",
                "My account"
            ]
        );
        assert_eq!(
            labels(Role::OrgAdmin),
            [
                "Home",
                "Patients",
                "Front desk",
                "Waiting room",
                "Messages",
                "Availability",
                "Scheduling setup",
                "Program",
                "Training",
                "Users",
                "Sites",
                "Audit trail",
                "Emergency access",
                "My account"
            ]
        );
        assert_eq!(
            labels(Role::Auditor),
            ["Home", "Audit trail", "Emergency access", "My account"]
        );
        assert_eq!(
            labels(Role::ProgramManager),
            ["Home", "Program", "Training", "My account"]
        );
    }
}
