//! `guichet privacy purge|log|export|erase`: retention by hand, its record,
//! and the requester's rights (docs/privacy.md).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use guichet::config::Settings;
use guichet::privacy::{self, PersonRecord, PrivacyError, PurgeCounts, Retention};

use super::shared::{open_store, print_json, usage_error};
use super::terminal::line;
use super::zip::Zip;

/// What retention removes now (or, with `dry_run`, would remove).
pub async fn purge(settings: &Settings, dry_run: bool, json: bool) -> Result<ExitCode> {
    let store = open_store(settings).await?;
    let retention = Retention::new(
        store,
        settings.retention.policy(),
        settings.retention.batch_size,
    );
    let now = chrono::Utc::now();
    let counts = if dry_run {
        retention.due(now).await?
    } else {
        retention.purge(now, None).await?
    };
    if json {
        print_json(&counts)?;
    } else {
        print!("{}", render_counts(&counts, dry_run));
    }
    Ok(ExitCode::SUCCESS)
}

fn render_counts(counts: &PurgeCounts, dry_run: bool) -> String {
    let (anonymise, delete) = if dry_run {
        ("would anonymise", "would delete")
    } else {
        ("anonymised", "deleted")
    };
    format!(
        "{anonymise} {} closed ticket(s)\n\
         {delete} {} raw mail(s)\n\
         {delete} {} copy(ies) of sent mail\n\
         {delete} {} record(s) of robots' mail\n\
         {delete} {} record(s) of ticket views in the console\n\
         {delete} {} record(s) of console login attempts\n",
        counts.anonymised,
        counts.raw_mail,
        counts.sent_mail,
        counts.robot_mail,
        counts.ticket_views,
        counts.login_attempts
    )
}

/// Every purge batch and erasure recorded: when, what class, how many.
pub async fn log(settings: &Settings, json: bool) -> Result<ExitCode> {
    let records = open_store(settings).await?.purges().await?;
    if json {
        print_json(&records)?;
    } else {
        for record in &records {
            println!(
                "{}  {:<10}  {:<10}  {}",
                record.at, record.cause, record.class, record.count
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes everything held about `address` into the new directory `out`:
/// `export.json` and the raw mails and attachments as files.
pub async fn export(
    settings: &Settings,
    address: &str,
    out: &Path,
    json: bool,
) -> Result<ExitCode> {
    if out.exists() {
        return Ok(usage_error(format_args!(
            "{} exists: the export goes into a new directory",
            out.display()
        )));
    }
    let store = open_store(settings).await?;
    let record = match privacy::export(&store, address, chrono::Utc::now()).await {
        Ok(record) => record,
        Err(error) => return refused(error),
    };
    let as_zip = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    if as_zip {
        let file = match create_private_file(out) {
            Ok(file) => file,
            Err(error) => {
                return Ok(usage_error(format_args!(
                    "cannot create the export archive {}: {error}",
                    out.display()
                )))
            }
        };
        let mut zip = Zip::new(std::io::BufWriter::new(file), chrono::Utc::now());
        write_export(&record, |name, bytes| {
            zip.add(name, bytes)
                .with_context(|| format!("cannot write {} into {}", name, out.display()))
        })?;
        zip.finish()
            .with_context(|| format!("cannot write {}", out.display()))?;
    } else {
        if let Err(error) = create_private_dir(out) {
            return Ok(usage_error(format_args!(
                "cannot create the export directory {}: {error}",
                out.display()
            )));
        }
        write_export(&record, |name, bytes| {
            let path = out.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
        })?;
    }
    if json {
        print_json(&record)?;
    } else {
        println!(
            "{}: {} ticket(s), {} mail(s) ({} raw), {} attachment(s) written to {}",
            line(address),
            record.tickets.len(),
            record.mails.len(),
            record.mails.iter().filter(|m| m.file.is_some()).count(),
            record.attachment_files.len(),
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The export holds personal data: readable by its owner only.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The export holds personal data: readable by its owner only.
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// `export.json`, the raw mails and the attachments, each through `write`
/// (a relative name with `/`, its bytes).
fn write_export(
    record: &PersonRecord,
    mut write: impl FnMut(&str, &[u8]) -> Result<()>,
) -> Result<()> {
    write(
        "export.json",
        serde_json::to_string_pretty(record)?.as_bytes(),
    )?;
    for mail in &record.mails {
        if let (Some(file), Some(raw)) = (&mail.file, &mail.mail.raw) {
            write(file, raw)?;
        }
    }
    for attachment in &record.attachment_files {
        write(&attachment.file, &attachment.data)?;
    }
    Ok(())
}

/// Anonymises `address`'s tickets now and deletes its raw mails.
pub async fn erase(settings: &Settings, address: &str, force: bool) -> Result<ExitCode> {
    let store = open_store(settings).await?;
    match privacy::erase(&store, address, force, chrono::Utc::now()).await {
        Ok(erased) => {
            println!(
                "erased {}: {} ticket(s) anonymised{}, {} raw mail(s) deleted",
                line(address),
                erased.tickets.len(),
                if erased.tickets.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", erased.tickets.join(", "))
                },
                erased.mails
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => refused(error),
    }
}

/// A refusal is the request's fault (exit 2); the database's is an error.
fn refused(error: PrivacyError) -> Result<ExitCode> {
    if error.is_refusal() {
        Ok(usage_error(error))
    } else {
        Err(error.into())
    }
}
