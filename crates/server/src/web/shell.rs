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
    if role_allows(role, Permission::ListPatients) {
        nav.push((Section::Patients, "/patients", "Patients"));
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
        assert_eq!(labels(Role::Patient), ["Home", "My profile"]);
        assert_eq!(labels(Role::Clinician), ["Home", "Patients", "My account"]);
        assert_eq!(
            labels(Role::SiteAdmin),
            ["Home", "Patients", "Users", "My account"]
        );
        assert_eq!(
            labels(Role::OrgAdmin),
            [
                "Home",
                "Patients",
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
        assert_eq!(labels(Role::ProgramManager), ["Home", "My account"]);
    }
}
