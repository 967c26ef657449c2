//! `guichet reprocess`: stored mails that were refused, held, failed,
//! stranger_held or sync_quarantined, through the pipeline again with the
//! current configuration and registry (`daemon::reprocess`).

use std::process::ExitCode;

use anyhow::Result;

use guichet::config::Settings;
use guichet::daemon::{self, Refiled, Replayed};
use guichet::pipeline::reprocess::REPROCESSABLE;
use guichet::store::MailFilter;

use super::shared::{open_store, print_json, read_since, usage_error};
use super::terminal::line;

/// What to reprocess, as given on the command line.
pub struct Selection<'a> {
    pub outcomes: &'a [String],
    pub since: Option<&'a str>,
    pub mailbox: Option<&'a str>,
    pub mail: Option<i64>,
}

pub async fn run(
    settings: &Settings,
    selection: &Selection<'_>,
    dry_run: bool,
    json: bool,
) -> Result<ExitCode> {
    let allowed: Vec<&str> = REPROCESSABLE.iter().map(|o| o.as_str()).collect();
    if let Some(wrong) = selection
        .outcomes
        .iter()
        .find(|o| !allowed.contains(&o.as_str()))
    {
        return Ok(usage_error(format_args!(
            "--outcome {}: only mails {} can be reprocessed",
            line(wrong),
            allowed.join(", ")
        )));
    }
    let since = match read_since(selection.since) {
        Ok(since) => since,
        Err(usage) => return Ok(usage),
    };
    if let Some(name) = selection.mailbox {
        if !settings.mailboxes.iter().any(|m| m.name == name) {
            return Ok(usage_error(format_args!(
                "--mailbox {}: no such mailbox in the configuration",
                line(name)
            )));
        }
    }
    let store = open_store(settings).await?;
    let outcomes = if selection.outcomes.is_empty() {
        allowed.iter().map(|o| o.to_string()).collect()
    } else {
        selection.outcomes.to_vec()
    };
    let filter = MailFilter {
        outcomes,
        since,
        mailbox: selection.mailbox.map(str::to_string),
        id: selection.mail,
    };
    let mails = store.stored_mails(&filter).await?;
    if mails.is_empty() {
        if let Some(id) = selection.mail {
            let problem = match store.stored_mail(id).await? {
                None => format!("--mail {id}: no such mail"),
                Some(mail) if mail.raw.is_empty() => {
                    format!("--mail {id}: its raw mail was deleted (retention)")
                }
                Some(mail) => format!(
                    "--mail {id}: its outcome is {}, not one that can be reprocessed ({})",
                    line(&mail.outcome),
                    allowed.join(", ")
                ),
            };
            return Ok(usage_error(problem));
        }
        return Ok(usage_error(
            "no stored mail matches these filters: nothing reprocessed",
        ));
    }
    drop(store);
    let replayed = daemon::reprocess(settings, &mails, dry_run).await?;
    if json {
        print_json(&replayed)?;
    } else {
        for replay in &replayed {
            println!("{}", render(replay, dry_run));
        }
        let changed = replayed.iter().filter(|r| r.result.changed).count();
        let verb = if dry_run { "would change" } else { "changed" };
        println!("{} mail(s) reprocessed, {verb} {changed}", replayed.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn render(replay: &Replayed, dry_run: bool) -> String {
    let r = &replay.result;
    let mut text = format!(
        "mail {} ({}): {}",
        r.mail_id,
        line(&replay.mailbox),
        r.before
    );
    if r.changed {
        let arrow = if dry_run { "would become" } else { "->" };
        text.push_str(&format!(" {arrow} {}", r.after));
    } else {
        text.push_str(" unchanged");
    }
    if let Some(ticket) = &r.ticket_id {
        text.push_str(&format!(", ticket {}", line(ticket)));
    }
    if let Some(reason) = &r.reason {
        text.push_str(&format!(" ({})", line(reason)));
    }
    if !r.withheld.is_empty() {
        text.push_str(&format!("; not sent again: {}", r.withheld.join(", ")));
    }
    match &replay.refiled {
        Refiled::Stays => {}
        Refiled::Moved { from, to } => {
            text.push_str(&format!("; moved from {} to {}", line(from), line(to)))
        }
        Refiled::NotFound { folder } => {
            text.push_str(&format!("; not found in folder {}", line(folder)))
        }
        Refiled::Failed(error) => text.push_str(&format!("; not moved: {}", line(error))),
    }
    text
}
