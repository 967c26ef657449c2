//! Moving mail to its outcome folder once its outcome is committed: MOVE
//! when the server has it, else COPY, `\Deleted` and expunge; the folder
//! created on first use.

use super::command::{quoted_mailbox, uid_set};
use super::{ImapError, ImapSource};

impl ImapSource {
    /// Moves `uids` to `folder` (created if missing) with one command when
    /// the server has MOVE, else COPY + `\Deleted` + expunge.
    pub async fn move_to(&mut self, uids: &[u32], folder: &str) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        self.ensure_folder(folder).await?;
        let set = uid_set(uids);
        let target = quoted_mailbox(folder);
        if self.features.move_command {
            return self
                .execute(&format!("UID MOVE {set} {target}"), "UID MOVE", |_| {})
                .await;
        }
        self.execute(&format!("UID COPY {set} {target}"), "UID COPY", |_| {})
            .await?;
        self.execute(
            &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
            "UID STORE",
            |_| {},
        )
        .await?;
        if self.features.uidplus {
            self.execute(&format!("UID EXPUNGE {set}"), "UID EXPUNGE", |_| {})
                .await
        } else {
            tracing::warn!(
                "IMAP server has neither MOVE nor UIDPLUS: plain EXPUNGE also removes \
                 messages another client marked \\Deleted"
            );
            self.execute("EXPUNGE", "EXPUNGE", |_| {}).await
        }
    }

    async fn ensure_folder(&mut self, folder: &str) -> Result<(), ImapError> {
        if self.known_folders.contains(folder) {
            return Ok(());
        }
        let created = self
            .execute(
                &format!("CREATE {}", quoted_mailbox(folder)),
                "CREATE",
                |_| {},
            )
            .await;
        match created {
            Ok(()) => {}
            Err(ImapError::Protocol { detail, .. }) if detail.contains("ALREADYEXISTS") => {}
            Err(error) => return Err(error),
        }
        self.known_folders.insert(folder.to_owned());
        Ok(())
    }
}
