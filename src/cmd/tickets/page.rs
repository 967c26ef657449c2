//! The page `tickets show` prints for the operator: every text that came
//! from a mail escaped for the terminal.

use guichet::store::{HistoryView, MessageView, TicketView};

use super::terminal;

pub fn print(t: &TicketView) {
    print_handling(t);
    print_requester(t);
    print_fields(t);
    print_history(&t.history);
    print_messages(&t.messages);
}

/// Who works the ticket, and its deadlines.
fn print_handling(t: &TicketView) {
    println!("{}  [{}] {}", t.id, t.priority, terminal::line(&t.subject));
    println!("status:    {}", t.status);
    println!(
        "team:      {}{}",
        t.team.as_deref().unwrap_or("-"),
        t.category
            .as_ref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default()
    );
    if let Some(agent) = &t.agent {
        println!("agent:     {agent}");
    }
    for (label, value) in [
        ("take by:", &t.take_charge_by),
        ("taken:", &t.taken_at),
        ("solve by:", &t.resolve_by),
        ("resolved:", &t.resolved_at),
    ] {
        if let Some(value) = value {
            println!("{label:<10} {value}");
        }
    }
}

/// Who asked, for which school, and whether our mail reaches them.
fn print_requester(t: &TicketView) {
    println!(
        "requester: {}{}",
        terminal::line(&t.requester),
        t.requester_name
            .as_ref()
            .map(|n| format!(" ({})", terminal::line(n)))
            .unwrap_or_default()
    );
    println!("created:   {}", t.created_at);
    match (&t.establishment, &t.verification) {
        (Some(place), Some(how)) => println!(
            "school:    {} — {} ({how})",
            terminal::line(place),
            t.sender_role.as_deref().unwrap_or("?")
        ),
        (None, Some(how)) => println!("school:    not placed by the registry ({how})"),
        _ => {}
    }
    if let Some(failing) = &t.requester_failing {
        println!("requester address failing {}", terminal::line(failing));
    }
}

/// The request's fields (the first line of each) and its attachments.
fn print_fields(t: &TicketView) {
    if !t.missing_fields.is_empty() {
        println!("missing:   {}", t.missing_fields.join(", "));
    }
    println!("fields:");
    if let Some(fields) = t.fields.as_object() {
        for (key, value) in fields {
            if let Some(text) = value.as_str() {
                let first_line = text.lines().next().unwrap_or_default();
                println!("  {key:<14} {}", terminal::line(first_line));
            }
        }
    }
    for a in &t.attachments {
        println!(
            "attachment: {} ({}, {} bytes)",
            terminal::line(&a.filename),
            terminal::line(&a.content_type),
            a.size
        );
    }
}

fn print_history(history: &[HistoryView]) {
    println!("history:");
    for h in history {
        // `to` may name a mail's author or address (`forwarded`, `mail_out`).
        let change = match (&h.from, &h.to) {
            (Some(from), Some(to)) => format!(" {} → {}", terminal::line(from), terminal::line(to)),
            (None, Some(to)) => format!(" → {}", terminal::line(to)),
            _ => String::new(),
        };
        println!(
            "  {}  {:<28} {}{}{}",
            h.at,
            terminal::line(&h.actor),
            h.action,
            change,
            h.note
                .as_ref()
                .map(|n| format!(" ({})", terminal::line(n)))
                .unwrap_or_default()
        );
    }
}

/// Each message with who sent it and what proved it, its body indented.
fn print_messages(messages: &[MessageView]) {
    println!("messages:");
    for m in messages {
        let proof = match (m.direction.as_str(), &m.authenticated) {
            ("in" | "held", Some(method)) => format!(" ({method}=pass)"),
            ("in" | "held", None) => " (From not proven)".to_string(),
            _ => String::new(),
        };
        println!(
            "  --- {} {} {}{proof} ---",
            m.created_at,
            m.direction,
            terminal::line(m.from.as_deref().unwrap_or("?"))
        );
        println!("  {}", terminal::lines(&m.body).replace('\n', "\n  "));
    }
}
