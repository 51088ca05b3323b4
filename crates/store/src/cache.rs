//! Short-lived, in-process caches of lookups that every request repeats: a session with its
//! account, slots already taken, accounts (a clinician's licenses at each booking), and an
//! organization's reference data (sites, visit types, the consent text).
//!
//! Why: on a busy morning most requests are refusals of a slot that was just taken, and on two
//! cores every database round trip is two thread hand-offs. Why it stays correct:
//! - this process's own writes update or clear the entries they touch, so one server (SQLite)
//!   always sees its own changes at once;
//! - entries expire after a few seconds, which bounds how stale another server's change (on
//!   PostgreSQL) can look here: a sign-out or a disabled account elsewhere takes effect within
//!   `SESSION_TTL`;
//! - nothing here decides anything: a slot cached as free is still refused by the database if it
//!   was taken, and a cached "taken" only answers 409 sooner.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use domain::compliance::{ConsentDocument, PatientConsent};
use domain::identity::SessionRecord;
use domain::identity::{Patient, Site, User};
use domain::ids::{OrgId, PatientId, SlotId, UserId};
use domain::scheduling::{SlotView, VisitType};

/// How long another server's sign-out or account change may take to reach this one.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(5);
/// How long a slot seen taken is believed taken without asking (a cancellation elsewhere frees it
/// for this server after at most this long).
pub(crate) const TAKEN_SLOT_TTL: Duration = Duration::from_secs(2);
/// Sites, visit types and the consent text change rarely and only by administrators.
pub(crate) const REFERENCE_TTL: Duration = Duration::from_secs(5);

/// A map whose entries expire; bounded, so a flood of distinct keys cannot grow it without end.
/// Expired entries are swept out once per `ttl` as entries are added, so the map holds about what
/// was used in the last two periods (ten thousand patients who signed in once do not stay).
pub(crate) struct TtlMap<K, V> {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<Entries<K, V>>,
}

struct Entries<K, V> {
    map: HashMap<K, (V, Instant)>,
    next_sweep: Instant,
}

impl<K, V> std::ops::Deref for Entries<K, V> {
    type Target = HashMap<K, (V, Instant)>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<K, V> std::ops::DerefMut for Entries<K, V> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.map
    }
}

impl<K: Eq + Hash + Clone, V: Clone> TtlMap<K, V> {
    pub(crate) fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                next_sweep: Instant::now() + ttl,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<K, V>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let entries = self.lock();
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    pub(crate) fn put(&self, key: K, value: V) {
        let mut entries = self.lock();
        let now = Instant::now();
        let ttl = self.ttl;
        if entries.len() >= self.max_entries || now >= entries.next_sweep {
            entries.retain(|_, (_, at)| now.duration_since(*at) < ttl);
            entries.next_sweep = now + ttl;
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key, (value, now));
    }

    pub(crate) fn remove(&self, key: &K) {
        self.lock().remove(key);
    }

    pub(crate) fn remove_where(&self, mut doomed: impl FnMut(&K, &V) -> bool) {
        self.lock().retain(|k, (v, _)| !doomed(k, v));
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}

/// Every cache of the store.
pub(crate) struct Caches {
    /// Session token hash → the session and its account.
    pub(crate) sessions: TtlMap<String, (SessionRecord, User)>,
    /// Slots seen taken, with what they hold (their data never changes but `withdrawn`).
    pub(crate) taken_slots: TtlMap<SlotId, SlotView>,
    pub(crate) sites: TtlMap<OrgId, Vec<Site>>,
    pub(crate) visit_types: TtlMap<OrgId, Vec<VisitType>>,
    pub(crate) consent: TtlMap<OrgId, Option<ConsentDocument>>,
    /// Accounts by id, with their sites and clinician profile (licenses): asked for at every
    /// booking. Changed only by `update_user`, which clears the entry.
    pub(crate) users: TtlMap<UserId, User>,
    /// Patients' telehealth consents. They only ever grow (each write here clears the entry), so
    /// a stale list can only ask a patient to agree again, never skip the question.
    pub(crate) consents: TtlMap<(OrgId, PatientId), Vec<PatientConsent>>,
    /// Patient records by id, asked at every audited read (the audit entry is what must be
    /// durable, not the read). Cleared by `update_patient`; another server's change shows here
    /// within `REFERENCE_TTL`.
    pub(crate) patients: TtlMap<PatientId, Patient>,
    /// Whether an organization requires a certification of a role (asked at every virtual
    /// booking); cleared when a course is written.
    pub(crate) certifying: TtlMap<(OrgId, domain::identity::Role), bool>,
}

impl Default for Caches {
    fn default() -> Self {
        Self {
            sessions: TtlMap::new(SESSION_TTL, 100_000),
            taken_slots: TtlMap::new(TAKEN_SLOT_TTL, 200_000),
            sites: TtlMap::new(REFERENCE_TTL, 10_000),
            visit_types: TtlMap::new(REFERENCE_TTL, 10_000),
            consent: TtlMap::new(REFERENCE_TTL, 10_000),
            users: TtlMap::new(REFERENCE_TTL, 100_000),
            consents: TtlMap::new(REFERENCE_TTL, 100_000),
            certifying: TtlMap::new(REFERENCE_TTL, 10_000),
            patients: TtlMap::new(REFERENCE_TTL, 100_000),
        }
    }
}

impl Caches {
    /// Forgets every session of a user (their account changed: role, sites, disabled).
    pub(crate) fn forget_user(&self, user: UserId) {
        self.users.remove(&user);
        self.sessions.remove_where(|_, (s, _)| s.user_id == user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_a_full_map_starts_over() {
        let map: TtlMap<u32, u32> = TtlMap::new(Duration::from_millis(30), 2);
        map.put(1, 10);
        assert_eq!(map.get(&1), Some(10));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(map.get(&1), None, "expired");
        map.put(1, 10);
        map.put(2, 20);
        map.put(3, 30);
        assert_eq!(map.get(&3), Some(30));
        assert_eq!(
            (map.get(&1), map.get(&2)),
            (None, None),
            "a full map of fresh entries starts over"
        );
        map.remove_where(|k, _| *k == 3);
        assert_eq!(map.get(&3), None);
    }

    #[test]
    fn expired_entries_are_swept_out_as_new_ones_arrive() {
        let map: TtlMap<u32, u32> = TtlMap::new(Duration::from_millis(20), 1000);
        for k in 0..100 {
            map.put(k, k);
        }
        std::thread::sleep(Duration::from_millis(30));
        map.put(1000, 0);
        assert_eq!(map.lock().len(), 1, "the hundred expired entries are gone");
    }
}
