//! When a mail reached our mail server: the date of its topmost `Received`
//! header, the one our own server added last (Dovecot's LMTP, or Postfix).
//! Read from the raw header block only; a mail without a readable one has
//! no arrival time, and is left out of the latency histogram.

use chrono::{DateTime, Utc};

/// The date of the first `Received:` header of `raw`, if it parses.
pub fn received_at(raw: &[u8]) -> Option<DateTime<Utc>> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    let header = String::from_utf8_lossy(&raw[..end]);
    let mut value: Option<String> = None;
    for line in header.lines() {
        if let Some(text) = &mut value {
            if !line.starts_with([' ', '\t']) {
                break;
            }
            // A folded continuation of the Received header.
            text.push_str(line);
        } else if let Some((name, rest)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("received") {
                value = Some(rest.to_string());
            }
        }
    }
    let date = value?.rsplit_once(';')?.1.trim().to_string();
    DateTime::parse_from_rfc2822(&date)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topmost_received_date_is_the_arrival() {
        let raw = b"Return-Path: <a@b.example>\r\n\
            Received: from mx.example by imap.example with LMTP\r\n\
            \tid abc; Tue, 01 Dec 2026 14:05:06 +0100\r\n\
            Received: from elsewhere; Tue, 01 Dec 2026 12:00:00 +0000\r\n\
            Subject: x\r\n\r\nReceived: in the body; Mon, 30 Nov 2026 00:00:00 +0000\r\n";
        let at = received_at(raw).unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-01T13:05:06+00:00");
    }

    #[test]
    fn no_readable_received_header_is_no_arrival() {
        assert_eq!(received_at(b"Subject: x\r\n\r\nbody"), None);
        assert_eq!(received_at(b"Received: from x; not a date\r\n\r\n"), None);
        assert_eq!(received_at(b""), None);
    }
}
