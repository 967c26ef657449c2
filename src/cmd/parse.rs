//! `guichet parse`: what the intake reads from one mail file, with no side
//! effect (no database, no network).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use guichet::config::Settings;
use guichet::intake::fields::Field;
use guichet::intake::Reading;

use super::shared::print_json;
use super::terminal;

/// A mail the intake cannot read is an answer, not an error: it says why,
/// and exits 0 as for any other mail.
pub fn run(settings: &Settings, file: &Path, json: bool) -> Result<ExitCode> {
    let raw = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let reader = settings.reader()?;
    match reader.read(&raw) {
        Ok(reading) if json => print_json(&reading.to_json())?,
        Ok(reading) => print_reading(&reading),
        Err(error) if json => println!(
            "{}",
            serde_json::json!({"kind": "failed", "reason": error.to_string()})
        ),
        Err(error) => println!("unreadable: {error}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The reading for the operator: every text from the mail escaped.
fn print_reading(reading: &Reading) {
    let value = reading.to_json();
    println!("kind:      {}", value["kind"].as_str().unwrap_or("?"));
    println!("priority:  {}", reading.priority.as_str());
    if let Some(reference) = &reading.ticket_ref {
        println!("ticket:    {reference}");
    }
    for field in Field::REQUIRED {
        println!(
            "{:<14} {}",
            field.key(),
            terminal::line(reading.fields.get(field).unwrap_or("—"))
        );
    }
    for attachment in &reading.mail.attachments {
        println!(
            "attachment {} ({}, {} bytes)",
            terminal::line(&attachment.filename),
            terminal::line(&attachment.content_type),
            attachment.data.len()
        );
    }
}
