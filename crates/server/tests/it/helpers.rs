//! `TestApp`: a running server on a fresh database, and verbs that speak the domain.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{Value, json};

use domain::access::Actor;
use domain::identity::service::org::SiteInput;
use domain::identity::service::patients::PatientInput;
use domain::identity::service::users::{LicenseInput, UserInput};
use domain::identity::{Organization, Patient, Role, Site, User};
use domain::{Clock, FixedClock, Store};
use server::config::ServeConfig;
use server::state::AppState;
use store::testing::TempDirGuard;

pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body on SQLite, and on PostgreSQL when `TELEMED_TEST_POSTGRES_URL` is set
/// (`config = EXPR` first: with that configuration).
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, config = $config:expr, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app =
                    $crate::helpers::TestApp::spawn_with($crate::helpers::Backend::Sqlite, $config)
                        .await;
                ($body)(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(
                not(telemed_pg),
                ignore = "set TELEMED_TEST_POSTGRES_URL to run on PostgreSQL"
            )]
            async fn postgres() {
                let app = $crate::helpers::TestApp::spawn_with(
                    $crate::helpers::Backend::Postgres,
                    $config,
                )
                .await;
                ($body)(app).await;
            }
        }
    };
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await;
                ($body)(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(
                not(telemed_pg),
                ignore = "set TELEMED_TEST_POSTGRES_URL to run on PostgreSQL"
            )]
            async fn postgres() {
                let app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await;
                ($body)(app).await;
            }
        }
    };
    // With a configuration of its own: `on_both_backends!(name, config, body)`.
    ($name:ident, $config:expr, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app =
                    $crate::helpers::TestApp::spawn_with($crate::helpers::Backend::Sqlite, $config)
                        .await;
                ($body)(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(
                not(telemed_pg),
                ignore = "set TELEMED_TEST_POSTGRES_URL to run on PostgreSQL"
            )]
            async fn postgres() {
                let app = $crate::helpers::TestApp::spawn_with(
                    $crate::helpers::Backend::Postgres,
                    $config,
                )
                .await;
                ($body)(app).await;
            }
        }
    };
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub clock: Arc<FixedClock>,
    pub database_url: String,
    pub http: reqwest::Client,
    _dir: Option<TempDirGuard>,
}

/// An account created for a test, with what it takes to sign in.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub user: User,
    pub email: String,
    pub totp_secret: Option<String>,
}

/// An organization with two sites.
#[derive(Debug, Clone)]
pub struct TestOrg {
    pub org: Organization,
    pub sites: Vec<Site>,
}

/// A signed-in browser-like client: cookie jar plus the session's CSRF token.
pub struct Session {
    pub client: reqwest::Client,
    pub csrf: String,
}

impl Drop for TestApp {
    /// PostgreSQL test databases are dropped afterwards (SQLite ones go with their temp directory).
    fn drop(&mut self) {
        if !self.database_url.starts_with("postgres") {
            return;
        }
        let base = std::env::var("TELEMED_TEST_POSTGRES_URL").unwrap_or_default();
        let url = self.database_url.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(store::testing::drop_postgres_database(&base, &url));
            }
        })
        .join();
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, ServeConfig::for_testing()).await
    }

    pub async fn spawn_with(backend: Backend, config: ServeConfig) -> Self {
        Self::spawn_custom(backend, config, |_| {}).await
    }

    /// Like `spawn_with`, with a last change to the state before the server starts (a different
    /// competency gate, a clock set to a chosen day...).
    pub async fn spawn_custom(
        backend: Backend,
        config: ServeConfig,
        adjust: impl FnOnce(&mut AppState),
    ) -> Self {
        Self::spawn_opened(backend, config, |_, _| {}, adjust).await
    }

    /// Like `spawn_custom`, opening the store its own way: `connect` may change the URL the
    /// server connects with (through a proxy...) and the connection options (a size cap...);
    /// `database_url` stays the database's own.
    pub async fn spawn_opened(
        backend: Backend,
        config: ServeConfig,
        connect: impl FnOnce(&mut String, &mut store::ConnectOptions),
        adjust: impl FnOnce(&mut AppState),
    ) -> Self {
        let (database_url, dir) = match backend {
            Backend::Sqlite => {
                let (url, guard) = store::testing::fresh_sqlite_url().await;
                (url, Some(guard))
            }
            Backend::Postgres => {
                let base = std::env::var("TELEMED_TEST_POSTGRES_URL").unwrap_or_default();
                (
                    store::testing::fresh_postgres_url(&base)
                        .await
                        .expect("create a PostgreSQL test database"),
                    None,
                )
            }
        };
        let dir = dir.unwrap_or_else(store::testing::temp_dir);
        let mut connect_options = store::testing::options_with_keys(&dir);
        let mut connect_url = database_url.clone();
        connect(&mut connect_url, &mut connect_options);
        let store: Arc<dyn Store> = store::connect_with(&connect_url, connect_options)
            .await
            .expect("connect to the test database");
        let clock = Arc::new(FixedClock::new(domain::SystemClock.now()));
        let sealer = Arc::new(server::auth::sealed::Sealer::random());
        // Background jobs stay out of the way: tests run them with `jobs::*_once`.
        let config = ServeConfig {
            job_interval_seconds: 3600,
            ..config
        };
        let mut state = AppState::new(store, clock.clone(), config, sealer);
        adjust(&mut state);
        let addr = server::startup::spawn(state.clone())
            .await
            .expect("start the server");
        Self {
            addr,
            state,
            clock,
            database_url,
            http: reqwest::Client::new(),
            _dir: Some(dir),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn store(&self) -> &dyn Store {
        self.state.store.as_ref()
    }

    /// How many accesses the trail records for `query`: each record, and the identical list
    /// reads counted against it.
    pub async fn audited(&self, query: domain::compliance::AuditQuery) -> i64 {
        let query = domain::compliance::AuditQuery {
            limit: 100_000,
            ..query
        };
        let records = self.store().search_audit(&query).await.unwrap();
        records
            .iter()
            .map(|r| 1 + r.repeated.map_or(0, |x| x.times))
            .sum()
    }

    pub async fn org(&self, name: &str) -> TestOrg {
        let ctx = self.state.ctx();
        let operator = Actor::operator();
        let org = domain::identity::service::org::create_org(ctx, &operator, name)
            .await
            .expect("create org");
        let mut sites = Vec::new();
        for (site, state) in [("North Clinic", "NY"), ("West Clinic", "CA")] {
            let input = SiteInput {
                name: format!("{name} {site}"),
                state: state.into(),
                time_zone: "America/New_York".into(),
            };
            sites.push(
                domain::identity::service::org::create_site(ctx, &operator, org.id, &input)
                    .await
                    .expect("create site"),
            );
        }
        TestOrg { org, sites }
    }

    /// A staff member working at the given sites, with an authenticator already enrolled.
    pub async fn staff(&self, org: &TestOrg, role: Role, site_indexes: &[usize]) -> TestUser {
        let email = format!(
            "{}-{}@example.org",
            role.as_str(),
            uuid::Uuid::new_v4().simple()
        );
        let input = UserInput {
            email: email.clone(),
            display_name: format!("Test {}", role.label()),
            role: role.as_str().into(),
            password: PASSWORD.into(),
            site_ids: site_indexes
                .iter()
                .map(|i| org.sites[*i].id.to_string())
                .collect(),
            npi: (role == Role::Clinician).then(|| "1234567893".into()),
            licenses: if role == Role::Clinician {
                vec![LicenseInput {
                    state: "NY".into(),
                    number: "NY-1".into(),
                    expires_on: "2030-01-01".into(),
                }]
            } else {
                Vec::new()
            },
            ..UserInput::default()
        };
        let created = domain::identity::service::users::create(
            self.state.ctx(),
            &self.state,
            &Actor::operator(),
            org.org.id,
            &input,
            true,
        )
        .await
        .expect("create staff");
        TestUser {
            user: created.user,
            email,
            totp_secret: created.totp_secret,
        }
    }

    pub async fn patient_record(&self, org: &TestOrg, site_index: usize) -> Patient {
        let input = patient_input(&org.sites[site_index].id.to_string());
        domain::identity::service::patients::create(
            self.state.ctx(),
            &Actor::operator(),
            org.org.id,
            &input,
        )
        .await
        .expect("create patient")
    }

    /// A patient record and an account that opens it.
    pub async fn patient_account(&self, org: &TestOrg) -> (Patient, TestUser) {
        let patient = self.patient_record(org, 0).await;
        let email = format!("patient-{}@example.org", uuid::Uuid::new_v4().simple());
        let input = UserInput {
            email: email.clone(),
            display_name: patient.full_name(),
            role: "patient".into(),
            password: PASSWORD.into(),
            patient_id: Some(patient.id.to_string()),
            ..UserInput::default()
        };
        let created = domain::identity::service::users::create(
            self.state.ctx(),
            &self.state,
            &Actor::operator(),
            org.org.id,
            &input,
            false,
        )
        .await
        .expect("create patient account");
        (
            patient,
            TestUser {
                user: created.user,
                email,
                totp_secret: None,
            },
        )
    }

    /// A bearer token for a new integration client of `org`.
    pub async fn token(&self, org: &TestOrg, scope: &str) -> String {
        let (client, secret) = server::auth::oauth::create_client(
            &self.state,
            &Actor::operator(),
            org.org.id,
            "test client",
            scope,
        )
        .await
        .expect("create client");
        let response = self
            .http
            .post(self.url("/oauth/token"))
            .basic_auth(client.id.to_string(), Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 200, "token endpoint");
        let body: Value = response.json().await.expect("token json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    pub fn code_now(&self, user: &TestUser) -> String {
        let secret = user.totp_secret.as_deref().expect("user has a TOTP secret");
        server::auth::totp::code_at(secret, self.clock.now()).expect("code")
    }

    /// POST /api/v1/session with a fresh cookie jar; returns the client and the JSON answer.
    pub async fn password_step(
        &self,
        email: &str,
        password: &str,
    ) -> (reqwest::Client, reqwest::StatusCode, Value) {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client");
        let response = client
            .post(self.url("/api/v1/session"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("sign-in request");
        let status = response.status();
        (client, status, response.json().await.unwrap_or(Value::Null))
    }

    /// Signs in completely (password, then the current code for staff).
    pub async fn sign_in(&self, user: &TestUser) -> Session {
        let (client, status, body) = self.password_step(&user.email, PASSWORD).await;
        assert_eq!(status, 200, "password step: {body}");
        if body["status"] == "signed_in" {
            return Session {
                client,
                csrf: body["csrf_token"].as_str().unwrap_or_default().to_string(),
            };
        }
        assert_eq!(body["status"], "mfa_required");
        let response = client
            .post(self.url("/api/v1/session/code"))
            .json(&json!({ "code": self.code_now(user) }))
            .send()
            .await
            .expect("code request");
        assert_eq!(response.status(), 200, "code step");
        let body: Value = response.json().await.expect("json");
        Session {
            client,
            csrf: body["csrf_token"].as_str().unwrap_or_default().to_string(),
        }
    }
}

pub fn patient_input(site_id: &str) -> PatientInput {
    PatientInput {
        mrn: format!("MRN-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
        given_name: "Ada".into(),
        family_name: "Lovelace".into(),
        birth_date: "1985-12-10".into(),
        sex: "female".into(),
        email: None,
        phone: Some("+1 555 0100".into()),
        address_line1: "1 Main Street".into(),
        address_line2: None,
        city: "Brooklyn".into(),
        state: "NY".into(),
        postal_code: "11201".into(),
        preferred_language: "en".into(),
        primary_site_id: site_id.into(),
    }
}

/// The JSON body of `POST /api/v1/patients` for a site.
pub fn patient_json(site_id: &str, mrn: &str) -> Value {
    json!({
        "mrn": mrn,
        "given_name": "Grace",
        "family_name": "Hopper",
        "birth_date": "1976-12-09",
        "sex": "female",
        "email": "grace@example.org",
        "phone": "+1 555 0101",
        "address": { "line1": "2 Side Street", "city": "Brooklyn", "state": "NY", "postal_code": "11201" },
        "preferred_language": "en",
        "primary_site_id": site_id
    })
}

/// The error code of an error answer.
pub async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
            .to_string(),
    )
}
