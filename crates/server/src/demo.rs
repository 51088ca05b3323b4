//! `telemed demo`: an organization with sites, staff and patients to explore, created once.

use domain::DomainError;
use domain::access::Actor;
use domain::identity::service::org::{self, SiteInput};
use domain::identity::service::patients::{self, PatientInput};
use domain::identity::service::users::{self, LicenseInput, UserInput};
use domain::identity::{Organization, Role, User};
use domain::ids::SiteId;

use crate::auth::signin::open_totp_secret;
use crate::auth::totp;
use crate::state::AppState;

pub const ORG_NAME: &str = "Riverside Health (demo)";
pub const PASSWORD: &str = "demo-password-2026";

struct StaffSpec {
    email: &'static str,
    name: &'static str,
    role: Role,
    sites: &'static [usize],
    npi: Option<&'static str>,
    licenses: &'static [&'static str],
    specialty: Option<&'static str>,
    languages: &'static [&'static str],
}

const SITES: [(&str, &str, &str); 3] = [
    ("Brooklyn Clinic", "NY", "America/New_York"),
    ("Albany Clinic", "NY", "America/New_York"),
    ("Oakland Clinic", "CA", "America/Los_Angeles"),
];

const STAFF: [StaffSpec; 10] = [
    StaffSpec {
        email: "dr.adams@riverside.example",
        name: "Dr. Maya Adams",
        role: Role::Clinician,
        sites: &[0, 1],
        npi: Some("1234567893"),
        licenses: &["NY"],
        specialty: Some("Family medicine"),
        languages: &["en"],
    },
    StaffSpec {
        email: "dr.baker@riverside.example",
        name: "Dr. Luis Baker",
        role: Role::Clinician,
        sites: &[0, 2],
        npi: Some("1245319599"),
        licenses: &["NY", "CA"],
        specialty: Some("Internal medicine"),
        languages: &["en", "es"],
    },
    StaffSpec {
        email: "dr.chen@riverside.example",
        name: "Dr. Wei Chen",
        role: Role::Clinician,
        sites: &[2],
        npi: Some("1356418420"),
        licenses: &["CA"],
        specialty: Some("Behavioral health"),
        languages: &["en", "zh"],
    },
    StaffSpec {
        email: "nurse.diaz@riverside.example",
        name: "Ana Diaz, RN",
        role: Role::Nurse,
        sites: &[0, 1],
        npi: None,
        licenses: &[],
        specialty: None,
        languages: &[],
    },
    StaffSpec {
        email: "nurse.evans@riverside.example",
        name: "Sam Evans, RN",
        role: Role::Nurse,
        sites: &[2],
        npi: None,
        licenses: &[],
        specialty: None,
        languages: &[],
    },
    StaffSpec {
        email: "desk.foster@riverside.example",
        name: "Kim Foster",
        role: Role::FrontDesk,
        sites: &[0],
        npi: None,
        licenses: &[],
        specialty: None,
        languages: &[],
    },
    StaffSpec {
        email: "site.admin@riverside.example",
        name: "Jordan Gray",
        role: Role::SiteAdmin,
        sites: &[0, 1],
        npi: None,
        licenses: &[],
        specialty: None,
        languages: &[],
    },
    StaffSpec {
        email: "org.admin@riverside.example",
        name: "Pat Hughes",
        role: Role::OrgAdmin,
        sites: &[0, 1, 2],
        npi: None,
        licenses: &[],
        specialty: None,
        languages: &[],
    },
    StaffSpec {
        email: "program@riverside.example",
        name: "Robin Ito",
        role: Role::ProgramManager,
        sites: &[],
        npi: None,
        licenses: &[],
        specialty: None,
        languages: &[],
    },
    StaffSpec {
        email: "auditor@riverside.example",
        name: "Casey James",
        role: Role::Auditor,
        sites: &[],
        npi: None,
        licenses: &[],
        specialty: None,
        languages: &[],
    },
];

const GIVEN: [&str; 12] = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sofia", "Elijah", "Amara", "Hiro", "Zoe",
    "Omar",
];
const FAMILY: [&str; 12] = [
    "Garcia", "Smith", "Nguyen", "Johnson", "Patel", "Brown", "Kim", "Williams", "Okafor", "Lopez",
    "Cohen", "Rossi",
];
const PATIENTS: usize = 36;

/// Creates the demo organization unless it exists, then prints how to sign in as each role.
pub async fn seed_and_print(state: &AppState, url: &str) -> anyhow::Result<()> {
    let org = match state.store.find_org_by_name(ORG_NAME).await? {
        Some(org) => org,
        None => seed(state).await?,
    };
    // On every run, not only the first: the demo can be tried at whatever hour it starts.
    let ready = crate::demo_now::ensure(state, &org).await?;
    let linked = crate::demo_link::ensure(state, &org).await?;
    print_sign_ins(state, &org, url).await?;
    print_ready(state, &ready, url);
    print_linked(linked.as_ref(), url);
    Ok(())
}

/// The patient without an account and the join link the clinic sent them.
fn print_linked(linked: Option<&crate::demo_link::LinkedVisit>, url: &str) {
    let Some(visit) = linked else {
        return;
    };
    let at = visit
        .start
        .to_zoned(visit.time_zone.clone())
        .strftime("%-I:%M %p %Z");
    say!();
    say!(
        "A patient without an account: {} with {} at {}, {at}.",
        visit.patient_name,
        visit.clinician_name,
        visit.site_name
    );
    say!(
        "  join link (no sign-up; works once, open it in a private window): {url}{}",
        visit.path
    );
}

/// Says which video visits are about to start, and how to reach their waiting room.
fn print_ready(state: &AppState, ready: &[crate::demo_now::ReadyVisit], url: &str) {
    say!();
    if ready.is_empty() {
        say!("No clinician can take a video visit right now, so no visit is about to start.");
        return;
    }
    let now = state.clock.now();
    let window = state.config.scheduling_policy().check_in_window_minutes;
    let local = |at: jiff::Timestamp, tz: &jiff::tz::TimeZone| {
        at.to_zoned(tz.clone()).strftime("%-I:%M %p %Z").to_string()
    };
    say!("Video visits about to start:");
    for visit in ready {
        let minutes = visit.start.duration_since(now).as_mins();
        let at = local(visit.start, &visit.time_zone);
        let when = if minutes > window {
            let opens = visit
                .start
                .saturating_sub(jiff::SignedDuration::from_mins(window))
                .unwrap_or(visit.start);
            format!(
                "{at}, in {minutes} min (check-in opens at {})",
                local(opens, &visit.time_zone)
            )
        } else if minutes > 0 {
            format!("{at}, in {minutes} min (check-in is open)")
        } else {
            format!("{at}, under way")
        };
        say!(
            "  {} ({}) with {} ({}) at {}: {when}",
            visit.patient_name,
            visit.patient_email,
            visit.clinician_name,
            visit.clinician_email,
            visit.site_name
        );
        say!("    check in: {url}/appointments/{}", visit.appointment_id);
        if let Some(nurse) = &visit.nurse {
            say!("    the visit's nurse: {nurse}, who can open the patient's record for it");
        }
    }
    say!(
        "Sign in as the patient to check in and wait; the clinician admits from {url}/waiting-room."
    );
}

async fn seed(state: &AppState) -> Result<Organization, DomainError> {
    let ctx = state.ctx();
    let operator = Actor::operator();
    let org = org::create_org(ctx, &operator, ORG_NAME).await?;
    let mut site_ids: Vec<SiteId> = Vec::new();
    for (name, us_state, tz) in SITES {
        let input = SiteInput {
            name: name.into(),
            state: us_state.into(),
            time_zone: tz.into(),
        };
        site_ids.push(org::create_site(ctx, &operator, org.id, &input).await?.id);
    }
    for spec in &STAFF {
        let input = UserInput {
            email: spec.email.into(),
            display_name: spec.name.into(),
            role: spec.role.as_str().into(),
            password: PASSWORD.into(),
            site_ids: spec
                .sites
                .iter()
                .filter_map(|i| site_ids.get(*i))
                .map(ToString::to_string)
                .collect(),
            patient_id: None,
            npi: spec.npi.map(Into::into),
            specialties: spec
                .specialty
                .map(|s| vec![s.to_string()])
                .unwrap_or_default(),
            licenses: spec
                .licenses
                .iter()
                .map(|s| LicenseInput {
                    state: (*s).into(),
                    number: format!("{s}-{}", 100_000 + s.len()),
                    expires_on: "2028-12-31".into(),
                })
                .collect(),
            languages: spec.languages.iter().map(|l| (*l).to_string()).collect(),
        };
        users::create(ctx, state, &operator, org.id, &input, true).await?;
    }
    let mut created = Vec::with_capacity(PATIENTS);
    for i in 0..PATIENTS {
        let site_index = i % SITES.len();
        let (_, us_state, _) = SITES[site_index];
        let input = PatientInput {
            mrn: format!("RH-{:06}", 1000 + i),
            given_name: GIVEN[i % GIVEN.len()].into(),
            family_name: FAMILY[(i * 7 + i / GIVEN.len() + 3) % FAMILY.len()].into(),
            birth_date: format!(
                "{}-{:02}-{:02}",
                1940 + (i * 13) % 70,
                1 + i % 12,
                1 + (i * 5) % 28
            ),
            sex: ["female", "male", "other", "unknown"][i % 4].into(),
            email: Some(format!("patient{}@mail.example", i + 1)),
            phone: Some(format!("+1 555 01{:02}", i)),
            address_line1: format!("{} Main Street", 10 + i),
            address_line2: None,
            city: if us_state == "CA" {
                "Oakland".into()
            } else {
                "Brooklyn".into()
            },
            state: us_state.into(),
            postal_code: if us_state == "CA" {
                "94607".into()
            } else {
                "11201".into()
            },
            preferred_language: ["en", "es", "en", "zh"][i % 4].into(),
            primary_site_id: site_ids[site_index].to_string(),
        };
        let patient = patients::create(ctx, &operator, org.id, &input).await?;
        created.push(patient.clone());
        // The first three patients can sign in to see their own record.
        if i < 3 {
            let account = UserInput {
                email: format!("patient{}@mail.example", i + 1),
                display_name: patient.full_name(),
                role: "patient".into(),
                password: PASSWORD.into(),
                patient_id: Some(patient.id.to_string()),
                ..UserInput::default()
            };
            users::create(ctx, state, &operator, org.id, &account, false).await?;
        }
    }
    // Training first: clinicians without a certification could not be booked for video.
    crate::demo_training::seed(state, &org).await?;
    crate::demo_schedule::seed(state, &org, &site_ids, &created).await?;
    let types = state.store.list_visit_types(org.id).await?;
    crate::demo_program::seed(state, &org, &site_ids, &created, &types).await?;
    crate::demo_notes::seed(state, &org, &site_ids, &created, &types).await?;
    Ok(org)
}

async fn print_sign_ins(state: &AppState, org: &Organization, url: &str) -> anyhow::Result<()> {
    let users: Vec<User> = state.store.list_users(org.id, None).await?;
    say!();
    say!("Telemed demo: {} at {url}", org.name);
    say!("Every demo account's password: {PASSWORD}");
    say!("Staff sign in with a one-time code: add the TOTP secret to an authenticator app");
    say!("(or run `oathtool --totp -b SECRET`). Patients need no code.");
    say!();
    say!("{:<16} {:<32} TOTP secret", "role", "email");
    for role in Role::ALL {
        for user in users.iter().filter(|u| u.role == role) {
            let stored = state.store.get_credentials(user.id).await?;
            let secret = match stored.and_then(|c| c.totp_secret) {
                Some(sealed) if role.is_staff() => open_totp_secret(state, user.id, &sealed)?,
                None if role.is_staff() => "(enrol at first sign-in)".into(),
                _ => "-".into(),
            };
            say!("{:<16} {:<32} {secret}", role.as_str(), user.email.as_str());
        }
    }
    let example = users.iter().find(|u| u.role == Role::Clinician);
    if let Some(user) = example
        && let Some(secret) = state
            .store
            .get_credentials(user.id)
            .await?
            .and_then(|c| c.totp_secret)
    {
        let secret = open_totp_secret(state, user.id, &secret)?;
        let code = totp::code_at(&secret, state.clock.now()).unwrap_or_default();
        say!();
        say!("For example, {}'s code right now is {code}.", user.email);
    }
    say!();
    say!(
        "Open {url}/signin in a browser. Patients book at {url}/book; clinicians see their day at"
    );
    say!("{url}/schedule; the front desk works from {url}/front-desk.");
    Ok(())
}
