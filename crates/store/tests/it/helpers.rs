//! Fresh databases per test, fixtures that speak the domain, and the macro that runs a test on each backend.

use std::sync::Arc;

use domain::Store;
use domain::compliance::{AuditAction, AuditActor, AuditEntry};
use domain::identity::{
    Address, ClinicianProfile, Email, Organization, Patient, Role, Sex, Site, StateLicense,
    TimeZoneName, UsState, User,
};
use domain::ids::{OrgId, PatientId, SiteId, UserId};
use domain::store::NewUser;
use jiff::Timestamp;
use store::testing::{self, TempDirGuard};

/// Runs each listed `async fn name(db: TestDb)` as `name::sqlite` and `name::postgres`.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(crate::helpers::TestDb::sqlite().await).await;
                }

                #[tokio::test]
                #[cfg_attr(not(telemed_pg), ignore = "set TELEMED_TEST_POSTGRES_URL to run on PostgreSQL")]
                async fn postgres() {
                    if let Some(db) = crate::helpers::TestDb::postgres().await {
                        let url = db.url.clone();
                        super::$name(db).await;
                        // Reached only when the test passed: a failed test keeps its database for inspection.
                        crate::helpers::drop_postgres(&url).await;
                    }
                }
            }
        )*
    };
}
pub(crate) use on_every_backend;

pub struct TestDb {
    pub store: Arc<dyn Store>,
    pub url: String,
    _dir: Option<TempDirGuard>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let (url, dir) = testing::fresh_sqlite_url().await;
        let store = store::connect_with(&url, testing::options_with_keys(&dir))
            .await
            .unwrap();
        Self {
            store,
            url,
            _dir: Some(dir),
        }
    }

    /// `None` (with a note) when no PostgreSQL server is configured.
    pub async fn postgres() -> Option<Self> {
        let Ok(base) = std::env::var("TELEMED_TEST_POSTGRES_URL") else {
            eprintln!("skipped: set TELEMED_TEST_POSTGRES_URL to run this test on PostgreSQL");
            return None;
        };
        let url = testing::fresh_postgres_url(&base).await.unwrap();
        let dir = testing::temp_dir();
        let store = store::connect_with(&url, testing::options_with_keys(&dir))
            .await
            .unwrap();
        Some(Self {
            store,
            url,
            _dir: Some(dir),
        })
    }

    /// The temporary directory of this database (its data key file lives there).
    pub fn dir(&self) -> &std::path::Path {
        self._dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or(std::path::Path::new("."))
    }

    pub fn is_sqlite(&self) -> bool {
        self.url.starts_with("sqlite")
    }

    pub async fn raw(&self, sql: &str) {
        testing::execute_raw(&self.url, sql).await.unwrap();
    }

    /// What a tamperer with database access does first.
    pub async fn disable_audit_triggers(&self) {
        if self.is_sqlite() {
            self.raw("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
                .await;
        } else {
            self.raw("ALTER TABLE audit_log DISABLE TRIGGER USER").await;
        }
    }

    pub async fn audit_seq(&self) -> i64 {
        self.store.audit_head().await.unwrap().0
    }

    pub async fn org(&self, name: &str) -> Organization {
        let org = Organization {
            id: OrgId::new(),
            name: name.into(),
            created_at: at(0),
        };
        self.store
            .create_org(&org, audit(AuditAction::OrgCreate).org(org.id))
            .await
            .unwrap();
        org
    }

    pub async fn site(&self, org: &Organization, name: &str) -> Site {
        let site = Site {
            id: SiteId::new(),
            org_id: org.id,
            name: name.into(),
            state: UsState::parse("state", "NY").unwrap(),
            time_zone: TimeZoneName::parse("tz", "America/New_York").unwrap(),
            created_at: at(1),
        };
        self.store
            .create_site(&site, audit(AuditAction::SiteCreate).org(org.id))
            .await
            .unwrap();
        site
    }

    pub async fn add_patient(&self, p: &Patient) {
        self.store
            .create_patient(
                p,
                audit(AuditAction::PatientCreate)
                    .org(p.org_id)
                    .patient(p.id),
            )
            .await
            .unwrap();
    }

    pub async fn add_user(&self, user: &User) {
        let new = NewUser {
            user: user.clone(),
            password_hash: "$argon2id$hash".into(),
            totp_secret: None,
        };
        self.store
            .create_user(&new, audit(AuditAction::UserCreate).org(user.org_id))
            .await
            .unwrap();
    }
}

pub async fn drop_postgres(url: &str) {
    let base = std::env::var("TELEMED_TEST_POSTGRES_URL").unwrap();
    testing::drop_postgres_database(&base, url).await.unwrap();
}

/// A fixed instant plus `seconds`: tests never read the wall clock.
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

pub fn audit(action: AuditAction) -> AuditEntry {
    AuditEntry::new(at(0), AuditActor::Operator, action, "Test")
}

pub fn patient(org: &Organization, site: &Site, mrn: &str, given: &str, family: &str) -> Patient {
    Patient {
        id: PatientId::new(),
        org_id: org.id,
        mrn: mrn.into(),
        given_name: given.into(),
        family_name: family.into(),
        birth_date: jiff::civil::date(1980, 2, 29),
        sex: Sex::Female,
        email: Some(Email::parse("email", &format!("{}@example.org", mrn.to_lowercase())).unwrap()),
        phone: Some("+1 212 555 0100".into()),
        address: Address {
            line1: "1 Main St".into(),
            line2: None,
            city: "Albany".into(),
            state: UsState::parse("state", "NY").unwrap(),
            postal_code: "12207".into(),
        },
        preferred_language: "en".into(),
        primary_site_id: site.id,
        created_at: at(10),
        updated_at: at(10),
    }
}

pub fn user(org: &Organization, email: &str, role: Role) -> User {
    User {
        id: UserId::new(),
        org_id: org.id,
        email: Email::parse("email", email).unwrap(),
        display_name: format!("User {email}"),
        role,
        site_ids: Vec::new(),
        patient_id: None,
        clinician: None,
        active: true,
        created_at: at(5),
    }
}

pub fn clinician(org: &Organization, email: &str, sites: &[&Site]) -> User {
    let mut u = user(org, email, Role::Clinician);
    u.site_ids = sites.iter().map(|s| s.id).collect();
    u.site_ids.sort();
    u.clinician = Some(ClinicianProfile {
        npi: "1234567893".into(),
        specialties: vec!["family medicine".into(), "geriatrics".into()],
        languages: vec!["en".into(), "es".into()],
        licenses: vec![
            StateLicense {
                state: UsState::parse("state", "CA").unwrap(),
                number: "A123".into(),
                expires_on: jiff::civil::date(2030, 1, 31),
            },
            StateLicense {
                state: UsState::parse("state", "NY").unwrap(),
                number: "N-9".into(),
                expires_on: jiff::civil::date(2029, 6, 30),
            },
        ],
    });
    u
}
