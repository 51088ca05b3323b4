//! The role table checked against a grid written here, independently of `access.rs`: a change
//! to who may do what must change both, on purpose.

// A test fails loudly on purpose: a panic with the reason is the clearest failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::access::{Actor, Permission, Principal, Scope, require, role_allows};
use domain::identity::Role;
use domain::ids::{ClientId, OrgId, UserId};

/// Columns: Patient, Clinician, Nurse, FrontDesk, SiteAdmin, OrgAdmin, ProgramManager, Auditor.
const GRID: &str = "
    ReadPatient          P C N F S O . .
    WritePatient         . C N F S O . .
    ListPatients         . C N F S O . .
    ManageUsers          . . . . S O . .
    ManageSites          . . . . . O . .
    ManageClients        . . . . . O . .
    ReadAudit            . . . . . O . A
    ReviewBreakGlass     . . . . . O . A
    RequestBreakGlass    . C . . . . . .
    ConfigureScheduling  . . . . . O . .
    ManageAvailability   . C . F S O . .
    ReadAppointments     P C N F S O . .
    ManageAppointments   . C N F S O . .
    SearchSlots          P C N F S O . .
    TakeFromQueue        . C . . . . . .
    ManageTraining       . . . . . O M .
    TakeTraining         . C N F S . . .
    ManageProgram        . . . . . O M .
";

const COLUMNS: [Role; 8] = [
    Role::Patient,
    Role::Clinician,
    Role::Nurse,
    Role::FrontDesk,
    Role::SiteAdmin,
    Role::OrgAdmin,
    Role::ProgramManager,
    Role::Auditor,
];

/// The row name of a permission; exhaustive, so a new permission fails to compile until the
/// grid has a row for it.
fn row_name(permission: Permission) -> &'static str {
    use Permission as P;
    match permission {
        P::ReadPatient => "ReadPatient",
        P::WritePatient => "WritePatient",
        P::ListPatients => "ListPatients",
        P::ManageUsers => "ManageUsers",
        P::ManageSites => "ManageSites",
        P::ManageClients => "ManageClients",
        P::ReadAudit => "ReadAudit",
        P::ReviewBreakGlass => "ReviewBreakGlass",
        P::RequestBreakGlass => "RequestBreakGlass",
        P::ConfigureScheduling => "ConfigureScheduling",
        P::ManageAvailability => "ManageAvailability",
        P::ReadAppointments => "ReadAppointments",
        P::ManageAppointments => "ManageAppointments",
        P::SearchSlots => "SearchSlots",
        P::TakeFromQueue => "TakeFromQueue",
        P::ManageTraining => "ManageTraining",
        P::TakeTraining => "TakeTraining",
        P::ManageProgram => "ManageProgram",
    }
}

const PERMISSIONS: [Permission; 18] = [
    Permission::ReadPatient,
    Permission::WritePatient,
    Permission::ListPatients,
    Permission::ManageUsers,
    Permission::ManageSites,
    Permission::ManageClients,
    Permission::ReadAudit,
    Permission::ReviewBreakGlass,
    Permission::RequestBreakGlass,
    Permission::ConfigureScheduling,
    Permission::ManageAvailability,
    Permission::ReadAppointments,
    Permission::ManageAppointments,
    Permission::SearchSlots,
    Permission::TakeFromQueue,
    Permission::ManageTraining,
    Permission::TakeTraining,
    Permission::ManageProgram,
];

fn grid_rows() -> Vec<(&'static str, Vec<bool>)> {
    GRID.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut cells = line.split_whitespace();
            let name = cells.next().unwrap();
            let marks: Vec<bool> = cells.map(|c| c != ".").collect();
            assert_eq!(marks.len(), COLUMNS.len(), "row {name}");
            (name, marks)
        })
        .collect()
}

fn user(role: Role) -> Actor {
    Actor {
        principal: Principal::User(UserId::new()),
        org_id: Some(OrgId::new()),
        role: Some(role),
        ..Actor::operator()
    }
}

#[test]
fn every_role_holds_exactly_the_permissions_of_the_grid() {
    let rows = grid_rows();
    assert_eq!(rows.len(), PERMISSIONS.len(), "one row per permission");
    let mut wrong = Vec::new();
    for permission in PERMISSIONS {
        let name = row_name(permission);
        let (_, marks) = rows
            .iter()
            .find(|(row, _)| *row == name)
            .unwrap_or_else(|| panic!("the grid has no row {name}"));
        for (role, expected) in COLUMNS.iter().zip(marks) {
            let table = role_allows(*role, permission);
            let asked = require(&user(*role), permission).is_ok();
            if table != *expected || asked != *expected {
                wrong.push(format!(
                    "{role:?} × {name}: grid {expected}, table {table}, require {asked}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn columns_are_every_role() {
    assert_eq!(COLUMNS.len(), Role::ALL.len());
    for role in Role::ALL {
        assert!(COLUMNS.contains(&role), "{role:?} has no column");
    }
}

#[test]
fn a_user_without_a_role_may_do_nothing_and_the_operator_everything() {
    let no_role = Actor {
        principal: Principal::User(UserId::new()),
        org_id: Some(OrgId::new()),
        ..Actor::operator()
    };
    for permission in PERMISSIONS {
        assert!(
            require(&no_role, permission).is_err(),
            "{}",
            row_name(permission)
        );
        assert!(
            require(&Actor::operator(), permission).is_ok(),
            "{}",
            row_name(permission)
        );
    }
}

/// Integration clients hold only what their scopes name, and only for FHIR-shaped permissions.
#[test]
fn an_integration_client_holds_what_its_scopes_name() {
    let client = |scopes: &str| Actor {
        principal: Principal::Client(ClientId::new()),
        org_id: Some(OrgId::new()),
        scopes: Scope::parse_list(scopes).unwrap(),
        ..Actor::operator()
    };
    let expected = [
        ("system/Patient.read", vec!["ReadPatient", "ListPatients"]),
        ("system/Patient.write", vec!["WritePatient"]),
        ("system/AuditEvent.read", vec!["ReadAudit"]),
        ("system/Appointment.read", vec!["ReadAppointments"]),
        ("system/Appointment.write", vec!["ManageAppointments"]),
        ("system/Slot.read", vec!["SearchSlots"]),
        ("system/Schedule.write", vec!["ManageAvailability"]),
        (
            "system/*.read",
            vec![
                "ReadPatient",
                "ListPatients",
                "ReadAudit",
                "ReadAppointments",
                "SearchSlots",
            ],
        ),
        (
            "system/*.write",
            vec!["WritePatient", "ManageAppointments", "ManageAvailability"],
        ),
    ];
    for (scopes, allowed) in expected {
        let actor = client(scopes);
        for permission in PERMISSIONS {
            let name = row_name(permission);
            assert_eq!(
                require(&actor, permission).is_ok(),
                allowed.contains(&name),
                "{scopes} × {name}"
            );
        }
    }
}
