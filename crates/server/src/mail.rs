//! Outgoing email over SMTP (lettre): reminders with an iCalendar attachment.

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{ServeConfig, SmtpUrl};

/// One email to send.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// An `.ics` file to attach (the visit, for the patient's calendar).
    pub calendar: Option<String>,
}

/// Sends email through the configured SMTP server.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// lettre's URL form of our `smtp+starttls://` (STARTTLS required); the others are the same.
fn lettre_url(url: &SmtpUrl) -> String {
    match url.0.strip_prefix("smtp+starttls://") {
        Some(rest) => {
            let separator = if rest.contains('?') { '&' } else { '?' };
            format!("smtp://{rest}{separator}tls=required")
        }
        None => url.0.clone(),
    }
}

impl Mailer {
    /// The mailer the configuration asks for; `None` when no SMTP server is configured.
    pub fn from_config(config: &ServeConfig) -> anyhow::Result<Option<Self>> {
        let Some(url) = &config.smtp_url else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&lettre_url(url))
            .map_err(|e| anyhow::anyhow!("TELEMED_SMTP_URL: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from: Mailbox = config
            .mail_from
            .parse()
            .map_err(|e| anyhow::anyhow!("TELEMED_MAIL_FROM '{}': {e}", config.mail_from))?;
        Ok(Some(Self { transport, from }))
    }

    /// Sends one email; the error is a sentence for the log (it never contains the message).
    pub async fn send(&self, email: &Email) -> Result<(), String> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| format!("the recipient address is not valid: {e}"))?;
        let text = SinglePart::plain(email.text.clone());
        let body = match &email.calendar {
            Some(ics) => {
                let content_type =
                    ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH")
                        .map_err(|e| e.to_string())?;
                // Base64 keeps the calendar byte for byte as written, whatever relays do to lines.
                let file = Body::new_with_encoding(ics.clone(), ContentTransferEncoding::Base64)
                    .map_err(|_| "the calendar could not be encoded".to_string())?;
                MultiPart::mixed()
                    .singlepart(text)
                    .singlepart(Attachment::new("visit.ics".into()).body(file, content_type))
            }
            None => MultiPart::mixed().singlepart(text),
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .multipart(body)
            .map_err(|e| format!("the message could not be built: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("the SMTP server refused or could not be reached: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starttls_urls_become_lettres_tls_required_form() {
        let url = SmtpUrl("smtp+starttls://u:p@mail.example.org:587".into());
        assert_eq!(
            lettre_url(&url),
            "smtp://u:p@mail.example.org:587?tls=required"
        );
        let plain = SmtpUrl("smtp://127.0.0.1:2525".into());
        assert_eq!(lettre_url(&plain), "smtp://127.0.0.1:2525");
    }
}
