//! The demo's patient without a portal account: on every `telemed demo` they have a video visit
//! about to start (as the patients who can sign in do) and the clinic sends them a fresh join
//! link, printed so a newcomer can follow it in a private window: check-in and the waiting room
//! with no sign-up. Each run's link replaces the previous one (only its hash is kept).

use domain::DomainError;
use domain::identity::{Organization, PatientQuery};
use domain::visits::service::visit_link::{self, VisitLinkInput};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::auth::actor::actor_for_user;
use crate::auth::secrets::{random_token, sha256_hex};
use crate::state::AppState;

/// The record of the demo's patient without an account (the fourth patient).
pub const MRN: &str = "RH-001003";

/// What the printout says about the visit and its link.
#[derive(Debug, Clone)]
pub struct LinkedVisit {
    pub patient_name: String,
    pub clinician_name: String,
    pub site_name: String,
    pub time_zone: TimeZone,
    pub start: Timestamp,
    /// The link's address after the server's base URL: `/v/{token}`.
    pub path: String,
}

/// Books (or keeps) the patient's visit about to start and sends a new join link for it, as
/// its clinician would. `None` when no clinician can see the patient right now.
pub async fn ensure(
    state: &AppState,
    org: &Organization,
) -> Result<Option<LinkedVisit>, DomainError> {
    let query = PatientQuery {
        text: Some(MRN.into()),
        limit: 1,
        ..PatientQuery::default()
    };
    let Some(patient) = state.store.list_patients(org.id, &query).await?.pop() else {
        return Ok(None);
    };
    let Some(visit) = crate::demo_now::ensure_for(state, org, &patient).await? else {
        return Ok(None);
    };
    let Some(clinician) = state.store.get_user(org.id, visit.clinician_id).await? else {
        return Ok(None);
    };
    let token = random_token();
    visit_link::issue(
        state.ctx(),
        &actor_for_user(&clinician, None),
        visit.id,
        &VisitLinkInput::default(),
        &sha256_hex(&token),
    )
    .await?;
    let site = state.store.get_site(org.id, visit.site_id).await?;
    Ok(Some(LinkedVisit {
        patient_name: patient.full_name(),
        clinician_name: clinician.display_name,
        site_name: site.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
        time_zone: site
            .and_then(|s| TimeZone::get(s.time_zone.as_str()).ok())
            .unwrap_or(TimeZone::UTC),
        start: visit.start_at,
        path: format!("/v/{token}"),
    }))
}
