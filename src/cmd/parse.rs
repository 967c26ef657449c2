//! `guichet parse`: what the intake reads from one mail file, with no side
//! effect (no database, no network).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use guichet::config::Settings;
use guichet::intake::fields::Field;
use guichet::intake::forward::Forwarded;
use guichet::intake::mail::Address;
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
        // The reason may quote the mail (a charset's name, a header).
        Err(error) => println!("unreadable: {}", terminal::line(&error.to_string())),
    }
    Ok(ExitCode::SUCCESS)
}

/// The reading for the operator, as `--json` gives it but for the body:
/// every text from the mail escaped.
fn print_reading(reading: &Reading) {
    let value = reading.to_json();
    println!("kind:      {}", value["kind"].as_str().unwrap_or("?"));
    println!("priority:  {}", reading.priority.as_str());
    if let Some(reference) = &reading.ticket_ref {
        println!("ticket:    {reference}");
    }
    if let Some(forwarded) = &reading.forwarded {
        print_forwarded(reading.forwarder(), forwarded);
    }
    for field in Field::REQUIRED {
        println!(
            "{:<14} {}",
            field.key(),
            terminal::line(reading.fields.get(field).unwrap_or("—"))
        );
    }
    print_parts(reading);
}

/// Who forwarded the request, who wrote it, and which of the fields that
/// follow were read from what they wrote rather than from the forwarder's
/// words.
fn print_forwarded(forwarder: Option<&Address>, forwarded: &Forwarded) {
    let forwarder = forwarder.map_or("?", |address| address.email.as_str());
    println!("forwarder: {}", terminal::line(forwarder));
    let author = forwarded
        .author
        .as_ref()
        .map_or_else(|| "author unknown".to_string(), ToString::to_string);
    println!("forwarded: {}", terminal::line(&author));
    for (label, value) in [
        ("date:", &forwarded.date),
        ("subject:", &forwarded.subject),
        ("attached:", &forwarded.attachment),
    ] {
        if let Some(value) = value {
            println!("  {label:<9} {}", terminal::line(value));
        }
    }
    let fields: Vec<&str> = forwarded.fields.iter().map(|field| field.key()).collect();
    let fields = if fields.is_empty() {
        "none".to_string()
    } else {
        fields.join(", ")
    };
    println!("  fields read from it: {fields}");
}

/// The attachments kept, then what was over a limit and dropped, with why.
fn print_parts(reading: &Reading) {
    for attachment in &reading.mail.attachments {
        println!(
            "attachment {} ({}, {} bytes)",
            terminal::line(&attachment.filename),
            terminal::line(&attachment.content_type),
            attachment.data.len()
        );
    }
    for dropped in &reading.dropped {
        println!(
            "dropped {}: {}",
            terminal::line(&dropped.part),
            terminal::line(&dropped.reason)
        );
    }
}
