//! The staff screens of this server watching waiting rooms and alerts: which sites (or which
//! clinician's patients) each one follows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::ids::{OrgId, SiteId, UserId};

use super::outbox::{Frame, Outbox, lock};

/// What one staff screen follows.
pub struct Watch {
    pub org: OrgId,
    /// `None`: every site of the organization.
    pub sites: Option<Vec<SiteId>>,
    /// A clinician also follows their own patients, whatever the site.
    pub clinician: Option<UserId>,
}

impl Watch {
    fn covers(&self, org: OrgId, site: SiteId, clinician: Option<UserId>) -> bool {
        self.org == org
            && (self.sites.as_ref().is_none_or(|s| s.contains(&site))
                || clinician.is_some() && self.clinician == clinician)
    }
}

#[derive(Default)]
pub struct Watchers {
    screens: Mutex<HashMap<u64, (Watch, Arc<Outbox>)>>,
}

impl Watchers {
    pub fn add(&self, id: u64, watch: Watch, outbox: Arc<Outbox>) {
        lock(&self.screens).insert(id, (watch, outbox));
    }

    pub fn remove(&self, id: u64) {
        lock(&self.screens).remove(&id);
    }

    pub fn count(&self) -> usize {
        lock(&self.screens).len()
    }

    /// Sends `frame` to the screens following `site` (or `clinician`'s patients).
    pub fn tell(&self, org: OrgId, site: SiteId, clinician: Option<UserId>, frame: &str) {
        let mut shared: Option<Frame> = None;
        for (watch, outbox) in lock(&self.screens).values() {
            if watch.covers(org, site, clinician) {
                outbox.push(shared.get_or_insert_with(|| frame.into()).clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_screen_sees_its_sites_and_a_clinician_also_their_own_patients_elsewhere() {
        let (org, here, there) = (OrgId::new(), SiteId::new(), SiteId::new());
        let clinician = UserId::new();
        let watchers = Watchers::default();
        let desk = Arc::new(Outbox::default());
        let doctor = Arc::new(Outbox::default());
        let admin = Arc::new(Outbox::default());
        let org_sites = |sites| Watch {
            org,
            sites,
            clinician: None,
        };
        watchers.add(1, org_sites(Some(vec![here])), desk.clone());
        watchers.add(
            2,
            Watch {
                org,
                sites: Some(vec![here]),
                clinician: Some(clinician),
            },
            doctor.clone(),
        );
        watchers.add(3, org_sites(None), admin.clone());
        watchers.tell(org, there, Some(clinician), "q");
        assert_eq!(
            (desk.take().len(), doctor.take().len(), admin.take().len()),
            (0, 1, 1)
        );
        watchers.tell(OrgId::new(), here, None, "q");
        assert_eq!(desk.take().len() + admin.take().len(), 0, "other tenants");
        watchers.remove(1);
        watchers.tell(org, here, None, "q");
        assert_eq!((desk.take().len(), watchers.count()), (0, 2));
    }
}
