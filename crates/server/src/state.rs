//! The application state every handler shares: storage, clock, configuration, metrics.

use std::sync::Arc;

use domain::Ctx;
use domain::{Clock, Store};

use crate::auth::oauth::TokenCache;
use crate::auth::sealed::Sealer;
use crate::auth::throttle::Throttle;
use crate::config::ServeConfig;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<ServeConfig>,
    pub metrics: Arc<Metrics>,
    pub tokens: Arc<TokenCache>,
    /// Seals secrets the server must read back (TOTP secrets) before they are stored.
    pub sealer: Arc<Sealer>,
    pub sign_in_throttle: Arc<Throttle>,
    /// Failed token requests per client id and per source address.
    pub token_throttle: Arc<Throttle>,
    /// Who may take virtual visits (the telehealth certification rule).
    pub competency: Arc<dyn domain::scheduling::CompetencyGate>,
    /// Sends reminder emails; `None` when no SMTP server is configured.
    pub mailer: Option<Arc<crate::mail::Mailer>>,
    /// Live connections to visits and waiting rooms; tells them when a visit changes.
    pub hub: Arc<crate::signaling::hub::Hub>,
}

impl AppState {
    /// The state for `config`; an SMTP URL that cannot be used leaves reminders off (logged).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: ServeConfig,
        sealer: Arc<Sealer>,
    ) -> Self {
        let mailer = match crate::mail::Mailer::from_config(&config) {
            Ok(mailer) => mailer.map(Arc::new),
            Err(e) => {
                tracing::error!(error = %e, "reminder emails are off");
                None
            }
        };
        // The telehealth certification rule, once the organization has a certifying course.
        let competency: Arc<dyn domain::scheduling::CompetencyGate> =
            Arc::new(domain::training::CertificationGate::new(store.clone()));
        let hub = crate::signaling::hub::Hub::new(crate::signaling::hub::HubDeps {
            store: store.clone(),
            clock: clock.clone(),
            competency: competency.clone(),
            scheduling: config.scheduling_policy(),
            break_glass_minutes: config.break_glass_minutes,
            care_team: config.care_team_window(),
            clinical: config.clinical_policy(),
        });
        Self {
            mailer,
            hub,
            competency,
            store,
            clock,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            tokens: Arc::default(),
            sealer,
            sign_in_throttle: Arc::default(),
            token_throttle: Arc::default(),
        }
    }

    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            break_glass_minutes: self.config.break_glass_minutes,
            scheduling: self.config.scheduling_policy(),
            competency: self.competency.as_ref(),
            notifier: self.hub.as_ref(),
            care_team: self.config.care_team_window(),
            clinical: self.config.clinical_policy(),
            inbox: &domain::messaging::NoInboxOpen,
        }
    }
}
