//! The `[retention]` section: how long personal data are kept
//! (docs/privacy.md), and how many rows one purge transaction handles.

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};
use crate::desk::privacy::RetentionPolicy;

/// Documented defaults a data-protection officer can sign: raw mails 90
/// days after their ticket is closed, closed tickets anonymised after 24
/// months, robots' mail records 30 days, the console's access records a
/// year (the CNIL's recommendation for access logs: six months to a year).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    #[serde(default = "default_raw_mail_days")]
    pub raw_mail_days: u32,
    #[serde(default = "default_anonymise_after_months")]
    pub anonymise_after_months: u32,
    #[serde(default = "default_robot_mail_days")]
    pub robot_mail_days: u32,
    #[serde(default = "default_access_log_days")]
    pub access_log_days: u32,
    /// Rows per purge transaction: a purge of any size holds the database
    /// for one batch at a time, so intake goes on between batches.
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
}

fn default_raw_mail_days() -> u32 {
    90
}

fn default_anonymise_after_months() -> u32 {
    24
}

fn default_robot_mail_days() -> u32 {
    30
}

fn default_access_log_days() -> u32 {
    365
}

fn default_batch_size() -> u32 {
    500
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            raw_mail_days: default_raw_mail_days(),
            anonymise_after_months: default_anonymise_after_months(),
            robot_mail_days: default_robot_mail_days(),
            access_log_days: default_access_log_days(),
            batch_size: default_batch_size(),
        }
    }
}

impl RetentionSettings {
    /// Every value must be a positive number: a zero would delete data the
    /// moment it is written.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("raw_mail_days", self.raw_mail_days),
            ("anonymise_after_months", self.anonymise_after_months),
            ("robot_mail_days", self.robot_mail_days),
            ("access_log_days", self.access_log_days),
            ("batch_size", self.batch_size),
        ] {
            if value == 0 {
                return Err(invalid(
                    format!("retention.{key}"),
                    "must be a positive number",
                ));
            }
        }
        Ok(())
    }

    pub fn policy(&self) -> RetentionPolicy {
        RetentionPolicy {
            raw_mail_days: self.raw_mail_days,
            anonymise_after_months: self.anonymise_after_months,
            robot_mail_days: self.robot_mail_days,
            access_log_days: self.access_log_days,
        }
    }
}
