//! Alarms: one mail when a problem starts, one when it ends, never one per
//! look. An alarm under way is a row of `alarms`, written in the
//! transaction that queues its mail, so a restart (or a second daemon)
//! sends neither again. The mails go through the outbox like every mail:
//! when SMTP itself is what fails, the alarm is logged and shown at once,
//! and its mail leaves when SMTP accepts again.

use chrono::{DateTime, Utc};

use super::report::{Problem, Report};
use crate::notify::Notifier;
use crate::store::{timestamp, QueuedMail, Store, StoreError};

/// What one look changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AlarmChanges {
    pub started: usize,
    pub ended: usize,
}

pub struct Alarms {
    store: Store,
    notifier: std::sync::Arc<Notifier>,
    to: Vec<String>,
}

impl Alarms {
    pub fn new(store: Store, notifier: std::sync::Arc<Notifier>, to: Vec<String>) -> Self {
        Self {
            store,
            notifier,
            to,
        }
    }

    /// Starts the alarms of the report's new problems and ends those of
    /// problems gone. A database that does not answer is logged; nothing
    /// can be recorded until it answers again.
    pub async fn follow(
        &self,
        report: &Report,
        now: DateTime<Utc>,
    ) -> Result<AlarmChanges, StoreError> {
        let mut changes = AlarmChanges::default();
        if !report.database.reachable {
            for problem in &report.problems {
                tracing::error!(alarm = %problem.alarm, detail = %problem.detail, "problem");
            }
            return Ok(changes);
        }
        let at = timestamp(now);
        for problem in &report.problems {
            if report.alarms.iter().any(|a| a.alarm == problem.alarm) {
                continue;
            }
            if self.start(problem, &at).await? {
                changes.started += 1;
            }
        }
        for alarm in &report.alarms {
            if report.problems.iter().any(|p| p.alarm == alarm.alarm) {
                continue;
            }
            if self.end(&alarm.alarm, &alarm.started_at, &at).await? {
                changes.ended += 1;
            }
        }
        Ok(changes)
    }

    async fn start(&self, problem: &Problem, at: &str) -> Result<bool, StoreError> {
        let mut tx = self.store.begin().await?;
        if !tx.start_alarm(&problem.alarm, &problem.detail, at).await? {
            return Ok(false);
        }
        let subject = format!(
            "[Guichet] Alarme : {} ({})",
            problem.kind.french(),
            problem.concerns
        );
        let text = format!(
            "Bonjour,\n\nUn problème a commencé le {at} (UTC) :\n\n  {} : {}\n\nDétail : {}\n\n\
             Un second message sera envoyé quand il aura pris fin.\n",
            problem.kind.french(),
            problem.concerns,
            problem.detail
        );
        self.queue(&mut tx, &subject, &text, at).await?;
        tx.commit().await?;
        tracing::error!(
            alarm = %problem.alarm,
            concerns = %problem.concerns,
            detail = %problem.detail,
            "alarm: problem started"
        );
        Ok(true)
    }

    async fn end(&self, alarm: &str, started_at: &str, at: &str) -> Result<bool, StoreError> {
        let mut tx = self.store.begin().await?;
        if !tx.end_alarm(alarm).await? {
            return Ok(false);
        }
        let subject = format!("[Guichet] Fin d'alarme : {alarm}");
        let text = format!(
            "Bonjour,\n\nLe problème « {alarm} », commencé le {started_at}, a pris fin le {at} (UTC).\n"
        );
        self.queue(&mut tx, &subject, &text, at).await?;
        tx.commit().await?;
        tracing::info!(%alarm, %started_at, "alarm: problem ended");
        Ok(true)
    }

    async fn queue(
        &self,
        tx: &mut crate::store::Batch,
        subject: &str,
        text: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        if self.to.is_empty() {
            return Ok(());
        }
        let mail = match self.notifier.notice(&self.to, subject, text) {
            Ok(mail) => mail,
            Err(error) => {
                tracing::error!(%error, subject, "alarm mail not rendered");
                return Ok(());
            }
        };
        tx.queue_mail(&QueuedMail {
            ticket_id: None,
            kind: "alarm",
            message_id: &mail.message_id,
            envelope_from: &mail.envelope_from,
            recipients: &mail.recipients,
            raw: &mail.raw,
            created_at: at,
        })
        .await
    }
}
