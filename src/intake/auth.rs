//! What our own MTA says about a mail's sender: the `Authentication-Results`
//! fields (RFC 8601) it wrote, read purely, and whether they prove the From
//! domain. The one reader behind every check that believes a sender:
//! partners' sync mail (DKIM) and staff mail (DMARC, DKIM or SPF).
//!
//! **Which fields count.** Each hop adds its `Received:` line and its results
//! above what it received (RFC 8601 treats the field as a trace field), so a
//! mail delivered by the test stack (`scripts/stack`) reads, top first:
//!
//! ```text
//! Return-Path, Delivered-To, Received (mailbox server, LMTP)
//! Authentication-Results: mx.example; dmarc=pass … header.from=example.test
//! Authentication-Results: mx.example; dkim=pass … header.d=example.test …
//! Received: from out.example.test … by mx.example (Postfix)   ← our MX
//! DKIM-Signature: … d=example.test …
//! Received: … by out.example.test (Postfix)                  ← the sender's server
//! ```
//!
//! Only fields with our authserv-id are read, and only those of the topmost
//! hop that wrote any: the run of them down to the next `Received:` line.
//! A field with our id further down came with the mail: forged, or left by
//! an earlier pass. Our MTA must remove those on arrival (OpenDKIM's
//! `RemoveARAll`); when one is still there, nothing is believed. A field of
//! ours that cannot be read is not guessed at either.
//!
//! No crate reads these fields: `mail-auth` (Stalwart) verifies DKIM, SPF
//! and DMARC itself and only writes `Authentication-Results`, and would
//! bring mail-parser 1.x and a DNS resolver along. The grammar is small.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A way of proving the From domain, in the order the policies try them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `dmarc=pass` for the From domain: its owner's own policy, alignment
    /// included, was met.
    Dmarc,
    /// `dkim=pass` with the From domain as the signing domain (`header.d`,
    /// or the domain of `header.i`, which must lie within it), exactly:
    /// relaxed alignment needs the public suffix list, and DMARC does it.
    Dkim,
    /// `spf=pass` for an envelope sender at the From domain, exactly. Weak:
    /// anyone sending through the same provider may pass.
    Spf,
}

impl Method {
    /// Every method, strongest first.
    pub const ALL: [Method; 3] = [Method::Dmarc, Method::Dkim, Method::Spf];

    /// As Authentication-Results names it, and as a message's proof is stored.
    pub fn name(self) -> &'static str {
        match self {
            Method::Dmarc => "dmarc",
            Method::Dkim => "dkim",
            Method::Spf => "spf",
        }
    }

    /// The domains a result of this method is about.
    fn domains(self, result: &AuthResult) -> Vec<&str> {
        let properties: &[&str] = match self {
            Method::Dmarc => &["header.from"],
            Method::Dkim => &["header.d", "header.i"],
            Method::Spf => &["smtp.mailfrom"],
        };
        properties
            .iter()
            .filter_map(|property| result.property(property))
            .map(|value| value.rsplit('@').next().unwrap_or_default())
            .collect()
    }
}

/// A site's choice of what proves a sender: the weakest proof it accepts
/// (`staff_mail_proof`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// DMARC only: the From domain's owner decides what passes.
    #[default]
    Dmarc,
    /// DMARC, or a DKIM signature of the From domain (which also covers
    /// domains that publish no DMARC record).
    Dkim,
    /// Any of the three, SPF included.
    Spf,
    /// No proof asked: the From address is believed.
    None,
}

impl Policy {
    /// The methods the policy accepts, strongest first; `None` when it asks
    /// for no proof at all.
    pub fn accepted(self) -> Option<&'static [Method]> {
        match self {
            Policy::Dmarc => Some(&[Method::Dmarc]),
            Policy::Dkim => Some(&[Method::Dmarc, Method::Dkim]),
            Policy::Spf => Some(&[Method::Dmarc, Method::Dkim, Method::Spf]),
            Policy::None => None,
        }
    }
}

/// One `method=result` statement of an `Authentication-Results` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResult {
    /// Lower-cased, without its version: `dkim`, `spf`, `dmarc`…
    pub method: String,
    /// Lower-cased: `pass`, `fail`, `none`, `temperror`…
    pub result: String,
    /// `reason` and the `ptype.property` pairs (`header.d`, `smtp.mailfrom`),
    /// keys lower-cased, values as written (quotes and comments removed).
    pub properties: Vec<(String, String)>,
}

impl AuthResult {
    /// The value of a property, by its lower-cased name.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn passes(&self) -> bool {
        self.result == "pass"
    }
}

/// The From domain is proven: by which method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proven {
    pub by: Method,
    /// The From domain, lower-cased.
    pub domain: String,
}

impl std::fmt::Display for Proven {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}=pass for {}", self.by.name(), self.domain)
    }
}

/// Why the From domain is not proven.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Unproven {
    #[error("no authserv-id is configured for our own MTA")]
    NoAuthservId,
    #[error("the mail names no sender domain")]
    NoSenderDomain,
    #[error("no Authentication-Results from {authserv_id}")]
    NoResults { authserv_id: String },
    #[error("unreadable Authentication-Results from {authserv_id}")]
    Unreadable { authserv_id: String },
    #[error("Authentication-Results from {authserv_id} at several hops: one came with the mail")]
    SeveralHops { authserv_id: String },
    /// What each accepted method found instead of a pass.
    #[error("{}", join(.0, Finding::to_string))]
    Failed(Vec<Finding>),
}

impl Unproven {
    /// The same in French, for notes and reports.
    pub fn message_fr(&self) -> String {
        match self {
            Unproven::NoAuthservId => {
                "aucun authserv-id n'est configuré pour notre serveur de messagerie".to_string()
            }
            Unproven::NoSenderDomain => "le message n'indique aucun domaine d'expéditeur".into(),
            Unproven::NoResults { authserv_id } => {
                format!("aucun en-tête Authentication-Results de {authserv_id}")
            }
            Unproven::Unreadable { authserv_id } => {
                format!("en-tête Authentication-Results de {authserv_id} illisible")
            }
            Unproven::SeveralHops { authserv_id } => format!(
                "en-têtes Authentication-Results de {authserv_id} à plusieurs étapes : \
                 l'un est arrivé avec le message"
            ),
            Unproven::Failed(findings) => join(findings, Finding::message_fr),
        }
    }
}

fn join<T>(items: &[T], text: impl Fn(&T) -> String) -> String {
    items.iter().map(text).collect::<Vec<_>>().join("; ")
}

/// What one method's results say instead of a pass for the From domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Our MTA wrote no result of this method.
    Missing(Method),
    /// Its result for the From domain (or its only result) is not `pass`.
    Result { method: Method, result: String },
    /// It passed for another domain.
    OtherDomain { method: Method, domain: String },
    /// It passed, naming no domain.
    NoDomain(Method),
    /// Its results for the From domain disagree: one evaluation per mail
    /// is expected, so the safe answer is no.
    Disagree(Method),
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Missing(method) => write!(f, "no {} result", method.name()),
            Finding::Result { method, result } => write!(f, "{}={result}", method.name()),
            Finding::OtherDomain { method, domain } => {
                write!(f, "{}=pass for another domain ({domain})", method.name())
            }
            Finding::NoDomain(method) => write!(f, "{}=pass for no domain", method.name()),
            Finding::Disagree(method) => write!(f, "{} results disagree", method.name()),
        }
    }
}

impl Finding {
    fn message_fr(&self) -> String {
        match self {
            Finding::Missing(method) => format!("aucun résultat {}", method.name()),
            Finding::Result { .. } => self.to_string(),
            Finding::OtherDomain { method, domain } => {
                format!("{}=pass pour un autre domaine ({domain})", method.name())
            }
            Finding::NoDomain(method) => format!("{}=pass sans domaine", method.name()),
            Finding::Disagree(method) => format!("résultats {} contradictoires", method.name()),
        }
    }
}

/// Whether our MTA's results prove `from_domain` by one of the `accepted`
/// methods (tried in order); else what each one found.
pub fn prove(
    headers: &[(String, String)],
    authserv_id: &str,
    from_domain: &str,
    accepted: &[Method],
) -> Result<Proven, Unproven> {
    let results = our_results(headers, authserv_id)?;
    if from_domain.is_empty() {
        return Err(Unproven::NoSenderDomain);
    }
    let mut findings = Vec::new();
    for &method in accepted {
        match check(method, &results, from_domain) {
            Ok(()) => {
                return Ok(Proven {
                    by: method,
                    domain: from_domain.to_ascii_lowercase(),
                })
            }
            Err(finding) => findings.push(finding),
        }
    }
    Err(Unproven::Failed(findings))
}

/// The results of our MTA's own `Authentication-Results` fields (see the
/// module's doc for which count), in order.
pub fn our_results(
    headers: &[(String, String)],
    authserv_id: &str,
) -> Result<Vec<AuthResult>, Unproven> {
    let authserv_id = authserv_id.trim();
    if authserv_id.is_empty() {
        return Err(Unproven::NoAuthservId);
    }
    let owned = || authserv_id.to_string();
    let mut results = Vec::new();
    let mut ours_seen = false;
    let mut hop_closed = false;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("received") {
            hop_closed |= ours_seen;
            continue;
        }
        if !name.eq_ignore_ascii_case("authentication-results") {
            continue;
        }
        let mut parser = Parser::new(value);
        // A field whose authserv-id cannot be read is nobody's.
        let Ok(id) = parser.authserv_id() else {
            continue;
        };
        if !id.eq_ignore_ascii_case(authserv_id) {
            continue;
        }
        if hop_closed {
            return Err(Unproven::SeveralHops {
                authserv_id: owned(),
            });
        }
        ours_seen = true;
        let mut read = parser.results().map_err(|Malformed| Unproven::Unreadable {
            authserv_id: owned(),
        })?;
        results.append(&mut read);
    }
    if ours_seen {
        Ok(results)
    } else {
        Err(Unproven::NoResults {
            authserv_id: owned(),
        })
    }
}

/// One method's verdict on `domain`. DKIM passes with any signature of the
/// domain (each is independent proof, RFC 6376 §6.1); DMARC and SPF are
/// evaluated once per mail, so all their results for the domain must pass.
fn check(method: Method, results: &[AuthResult], domain: &str) -> Result<(), Finding> {
    let of_method: Vec<&AuthResult> = results
        .iter()
        .filter(|result| result.method == method.name())
        .collect();
    let about: Vec<&AuthResult> = of_method
        .iter()
        .copied()
        .filter(|result| {
            method
                .domains(result)
                .iter()
                .any(|named| named.eq_ignore_ascii_case(domain))
        })
        .collect();
    let passes = about.iter().filter(|result| result.passes()).count();
    let proven = match method {
        Method::Dkim => passes > 0,
        Method::Dmarc | Method::Spf => passes > 0 && passes == about.len(),
    };
    if proven {
        return Ok(());
    }
    if passes > 0 {
        return Err(Finding::Disagree(method));
    }
    if let Some(result) = about.first() {
        return Err(Finding::Result {
            method,
            result: result.result.clone(),
        });
    }
    if let Some(passed) = of_method.iter().find(|result| result.passes()) {
        return Err(match method.domains(passed).first() {
            Some(other) => Finding::OtherDomain {
                method,
                domain: other.to_string(),
            },
            None => Finding::NoDomain(method),
        });
    }
    match of_method.first() {
        Some(result) => Err(Finding::Result {
            method,
            result: result.result.clone(),
        }),
        None => Err(Finding::Missing(method)),
    }
}

/// A field that does not follow the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Malformed;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A run of characters other than blanks and `( ) " ; =`.
    Word(String),
    /// A quoted string, unescaped.
    Quoted(String),
    Semicolon,
    Equals,
}

/// A token, and whether blanks or a comment (CFWS) stood before it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lexed {
    token: Token,
    spaced: bool,
}

/// The tokens of a field value, comments and blanks dropped.
struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl<'a> Lexer<'a> {
    fn new(value: &'a str) -> Self {
        Self {
            chars: value.chars().peekable(),
        }
    }

    /// Skips blanks and (nested) comments; whether there were any.
    fn skip_cfws(&mut self) -> Result<bool, Malformed> {
        let mut skipped = false;
        loop {
            match self.chars.peek() {
                Some(c) if c.is_whitespace() => {
                    self.chars.next();
                }
                Some('(') => self.skip_comment()?,
                _ => return Ok(skipped),
            }
            skipped = true;
        }
    }

    fn skip_comment(&mut self) -> Result<(), Malformed> {
        let mut depth = 0usize;
        while let Some(c) = self.chars.next() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                '\\' => {
                    self.chars.next().ok_or(Malformed)?;
                }
                _ => {}
            }
        }
        Err(Malformed)
    }

    fn quoted(&mut self) -> Result<String, Malformed> {
        let mut text = String::new();
        while let Some(c) = self.chars.next() {
            match c {
                '"' => return Ok(text),
                '\\' => text.push(self.chars.next().ok_or(Malformed)?),
                _ => text.push(c),
            }
        }
        Err(Malformed)
    }

    fn word(&mut self) -> String {
        let mut word = String::new();
        while let Some(&c) = self.chars.peek() {
            if c.is_whitespace() || matches!(c, '(' | ')' | '"' | ';' | '=') {
                break;
            }
            word.push(c);
            self.chars.next();
        }
        word
    }
}

impl Iterator for Lexer<'_> {
    type Item = Result<Lexed, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let spaced = match self.skip_cfws() {
            Ok(spaced) => spaced,
            Err(malformed) => return Some(Err(malformed)),
        };
        let token = match self.chars.peek()? {
            ';' => {
                self.chars.next();
                Ok(Token::Semicolon)
            }
            '=' => {
                self.chars.next();
                Ok(Token::Equals)
            }
            '"' => {
                self.chars.next();
                self.quoted().map(Token::Quoted)
            }
            ')' => Err(Malformed),
            _ => Ok(Token::Word(self.word())),
        };
        Some(token.map(|token| Lexed { token, spaced }))
    }
}

/// `authserv-id [version] ( "; none" / 1*( ";" method[/version]=result
/// [reason=value] *(ptype.property=value) ) )`.
struct Parser<'a> {
    tokens: std::iter::Peekable<Lexer<'a>>,
}

impl<'a> Parser<'a> {
    fn new(value: &'a str) -> Self {
        Self {
            tokens: Lexer::new(value).peekable(),
        }
    }

    fn next(&mut self) -> Result<Option<Lexed>, Malformed> {
        self.tokens.next().transpose()
    }

    /// The next token if it continues the current value (no CFWS before it).
    fn next_adjacent_text(&mut self) -> Option<String> {
        match self.tokens.peek() {
            Some(Ok(Lexed {
                token: Token::Word(_) | Token::Quoted(_),
                spaced: false,
            })) => match self.tokens.next() {
                Some(Ok(Lexed {
                    token: Token::Word(text) | Token::Quoted(text),
                    ..
                })) => Some(text),
                _ => None,
            },
            _ => None,
        }
    }

    /// A value: a word or quoted string, with what is glued to it (the
    /// `"john doe"@example.test` of a `pvalue`).
    fn value(&mut self) -> Result<String, Malformed> {
        let mut value = match self.next()? {
            Some(Lexed {
                token: Token::Word(text) | Token::Quoted(text),
                ..
            }) => text,
            _ => return Err(Malformed),
        };
        while let Some(text) = self.next_adjacent_text() {
            value.push_str(&text);
        }
        Ok(value)
    }

    /// The authserv-id, first of the field.
    fn authserv_id(&mut self) -> Result<String, Malformed> {
        self.value()
    }

    /// After the authserv-id: its optional version and the `;` after them.
    fn version(&mut self) -> Result<(), Malformed> {
        match self.next()? {
            Some(Lexed {
                token: Token::Semicolon,
                ..
            }) => Ok(()),
            Some(Lexed {
                token: Token::Word(version),
                spaced: true,
            }) if version.bytes().all(|b| b.is_ascii_digit()) => match self.next()? {
                Some(Lexed {
                    token: Token::Semicolon,
                    ..
                }) => Ok(()),
                _ => Err(Malformed),
            },
            _ => Err(Malformed),
        }
    }

    /// Every result after the authserv-id; none for `none`.
    fn results(&mut self) -> Result<Vec<AuthResult>, Malformed> {
        self.version()?;
        let mut results = Vec::new();
        loop {
            let (statements, more) = self.statements()?;
            match statements {
                Statements::Empty => {}
                Statements::None if results.is_empty() && !more => {}
                Statements::None => return Err(Malformed),
                Statements::Result(pairs) => results.push(result(pairs)?),
            }
            if !more {
                return Ok(results);
            }
        }
    }

    /// The `key=value` pairs up to the next `;` (and whether one follows).
    fn statements(&mut self) -> Result<(Statements, bool), Malformed> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut key: Vec<String> = Vec::new();
        let more = loop {
            match self.next()? {
                None => break false,
                Some(Lexed { token, .. }) => match token {
                    Token::Semicolon => break true,
                    Token::Word(word) => key.push(word),
                    Token::Equals if !key.is_empty() => {
                        // `header . d` is allowed: CFWS around the dot.
                        let name = key.concat().to_ascii_lowercase();
                        key.clear();
                        pairs.push((name, self.value()?));
                    }
                    Token::Equals | Token::Quoted(_) => return Err(Malformed),
                },
            }
        };
        let statements = match (pairs.is_empty(), key.as_slice()) {
            (true, []) => Statements::Empty,
            (true, [word]) if word.eq_ignore_ascii_case("none") => Statements::None,
            (false, []) => Statements::Result(pairs),
            _ => return Err(Malformed),
        };
        Ok((statements, more))
    }
}

enum Statements {
    /// Nothing between two `;` (or after the last one).
    Empty,
    /// `none`: no method was applied.
    None,
    Result(Vec<(String, String)>),
}

/// `method[/version]=result` then its properties; a property named twice
/// is ambiguous, so malformed.
fn result(mut pairs: Vec<(String, String)>) -> Result<AuthResult, Malformed> {
    let (method, result) = pairs.remove(0);
    let method = method.split('/').next().unwrap_or_default().to_string();
    if method.is_empty() || method.contains('.') || result.is_empty() {
        return Err(Malformed);
    }
    for (index, (key, _)) in pairs.iter().enumerate() {
        if pairs[..index].iter().any(|(earlier, _)| earlier == key) {
            return Err(Malformed);
        }
    }
    Ok(AuthResult {
        method,
        result: result.to_ascii_lowercase(),
        properties: pairs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::mail;

    const MX: &str = "mail.example.test";

    /// The top of a mail as the test stack's Dovecot delivered it after
    /// `scripts/stack`'s signing port (an agent's own server) signed it and
    /// its MX verified it.
    const SIGNED: &str = "Return-Path: <agent@example.test>\r
Delivered-To: support@example.test\r
Received: from mail.example.test ([127.0.0.1])\r
\tby vm with LMTP\r
\tid kK0nNv2ZDmuUAQAAg+zDdQ\r
\t(envelope-from <agent@example.test>)\r
\tfor <support@example.test>; Tue, 01 Dec 2026 09:57:17 +0000\r
Authentication-Results: mail.example.test; dmarc=pass (p=reject dis=none) header.from=example.test\r
Authentication-Results: mail.example.test;\r
\tdkim=pass (2048-bit key) header.d=example.test header.i=@example.test header.a=rsa-sha256 header.s=stack header.b=gYCSj0cW;\r
\tdkim-atps=neutral\r
Received: from out.example.test (unknown [127.0.0.1])\r
\tby mail.example.test (Postfix) with ESMTP id BACEF9B052E\r
\tfor <support@example.test>; Tue,  1 Dec 2026 09:57:17 +0000 (UTC)\r
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=example.test;\r
\ts=stack; t=1796119037;\r
\tbh=rtxAygYPQqQIuU/MxbuiFtkjdQ5yBZEfbe116n48VU8=;\r
\th=Date:To:From:Subject;\r
\tb=gYCSj0cWdyzCbbToxRYI9JFTE6T2hIWR9+DwpKh78UrggjrxGo01jojrMuCEL077l\r
\t Beo6lkg3Rs6D4H0slbYHNaLJD4ILZgsWZRGv5t5+8R4igs2LovPA60HcUZkHhfZJZ+\r
Received: from vm (unknown [127.0.0.1])\r
\tby out.example.test (Postfix) with ESMTP id 9D6C99B052C\r
\tfor <support@example.test>; Tue,  1 Dec 2026 09:57:17 +0000 (UTC)\r
From: agent@example.test\r
To: support@example.test\r
Subject: #statut resolu\r
Message-Id: <20261201095717.000564@vm>\r
\r
Bonjour.\r
";

    /// Sent to the stack's MX with no signature, and with results forged in
    /// its authserv-id and another's: OpenDKIM removed ours, kept theirs.
    const FORGED: &str = "Return-Path: <agent@example.test>\r
Delivered-To: support@example.test\r
Received: from mail.example.test ([127.0.0.1])\r
\tby vm with LMTP\r
\tid AP7bDB2dDmshAwAAg+zDdQ\r
\tfor <support@example.test>; Tue, 01 Dec 2026 10:10:37 +0000\r
Authentication-Results: mail.example.test; dmarc=fail (p=reject dis=none) header.from=example.test\r
Authentication-Results: mail.example.test; dkim=none; dkim-atps=neutral\r
Received: from vm (unknown [127.0.0.1])\r
\tby mail.example.test (Postfix) with ESMTP id 2851A9B0004\r
\tfor <support@example.test>; Tue,  1 Dec 2026 10:10:37 +0000 (UTC)\r
Authentication-Results: mx.attacker.test; dkim=pass header.d=example.test\r
From: agent@example.test\r
To: support@example.test\r
Subject: #statut resolu\r
\r
Bonjour.\r
";

    /// Signed, then its body changed on the way.
    const ALTERED: &str = "Received: from mail.example.test ([127.0.0.1])\r
\tby vm with LMTP id 2K+SCB2dDmshAwAAg+zDdQ; Tue, 01 Dec 2026 10:10:37 +0000\r
Authentication-Results: mail.example.test; dmarc=fail (p=reject dis=none) header.from=example.test\r
Authentication-Results: mail.example.test;\r
\tdkim=fail reason=\"signature verification failed\" (2048-bit key) header.d=example.test header.i=@example.test header.a=rsa-sha256 header.s=stack header.b=uymtP1NK;\r
\tdkim-atps=neutral\r
Received: from vm (unknown [127.0.0.1])\r
\tby mail.example.test (Postfix) with ESMTP id 17D5A9B0004; Tue,  1 Dec 2026 10:10:37 +0000 (UTC)\r
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=example.test; s=stack;\r
\th=From:To:Subject:Date; b=uymtP1NK\r
From: agent@example.test\r
Subject: #statut resolu\r
\r
Bonjour, virement urgent.\r
";

    /// The headers as the intake hands them over (mail-parser, unfolded).
    fn delivered(raw: &str) -> Vec<(String, String)> {
        mail::parse(raw.as_bytes()).unwrap().headers
    }

    /// Bare `Authentication-Results` values, in order.
    fn fields(values: &[&str]) -> Vec<(String, String)> {
        values
            .iter()
            .map(|value| ("authentication-results".to_string(), value.to_string()))
            .collect()
    }

    fn received() -> (String, String) {
        (
            "received".to_string(),
            "from out.example.test by mail.example.test".to_string(),
        )
    }

    fn proven(by: Method) -> Result<Proven, Unproven> {
        Ok(Proven {
            by,
            domain: "example.test".to_string(),
        })
    }

    fn under(headers: &[(String, String)], policy: Policy) -> Result<Proven, Unproven> {
        prove(headers, MX, "example.test", policy.accepted().unwrap())
    }

    /// Why `headers` do not prove example.test for `accepted`, as the team
    /// would read it.
    fn why_not(headers: &[(String, String)], accepted: &[Method]) -> String {
        prove(headers, MX, "example.test", accepted)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn signed_mail_from_the_stack_is_proven_by_dmarc_and_by_dkim() {
        let headers = delivered(SIGNED);
        assert_eq!(under(&headers, Policy::Dmarc), proven(Method::Dmarc));
        assert_eq!(
            prove(&headers, MX, "Example.Test", &[Method::Dkim]),
            proven(Method::Dkim)
        );
        assert_eq!(why_not(&headers, &[Method::Spf]), "no spf result");
    }

    #[test]
    fn the_stack_results_read_in_full() {
        let results = our_results(&delivered(SIGNED), "MAIL.example.test").unwrap();
        let summary: Vec<(&str, &str)> = results
            .iter()
            .map(|r| (r.method.as_str(), r.result.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("dmarc", "pass"),
                ("dkim", "pass"),
                ("dkim-atps", "neutral")
            ]
        );
        assert_eq!(results[1].property("header.d"), Some("example.test"));
        assert_eq!(results[1].property("header.i"), Some("@example.test"));
        assert_eq!(results[1].property("header.s"), Some("stack"));
        assert_eq!(results[0].property("header.from"), Some("example.test"));
    }

    #[test]
    fn unsigned_and_altered_mail_from_the_stack_is_not_proven() {
        let all = &[Method::Dmarc, Method::Dkim, Method::Spf];
        assert_eq!(
            why_not(&delivered(FORGED), all),
            "dmarc=fail; dkim=none; no spf result"
        );
        assert_eq!(
            why_not(&delivered(ALTERED), all),
            "dmarc=fail; dkim=fail; no spf result"
        );
    }

    #[test]
    fn results_of_another_authserv_id_are_ignored() {
        let headers = fields(&["mx.attacker.test; dkim=pass header.d=example.test; dmarc=pass header.from=example.test"]);
        assert_eq!(
            prove(&headers, MX, "example.test", &[Method::Dkim]),
            Err(Unproven::NoResults {
                authserv_id: MX.to_string()
            })
        );
        assert_eq!(
            why_not(&headers, &[Method::Dkim]),
            "no Authentication-Results from mail.example.test"
        );
        // Neither a longer name nor a prefix of ours is ours.
        for other in [
            "mail.example.test.evil.test",
            "mail.example",
            "mail.example.testx",
        ] {
            let headers = fields(&[&format!("{other}; dkim=pass header.d=example.test")]);
            assert!(prove(&headers, MX, "example.test", &[Method::Dkim]).is_err());
        }
    }

    #[test]
    fn ours_further_down_than_the_first_hop_of_ours_believes_nothing() {
        let mut headers = fields(&["mail.example.test; dmarc=pass header.from=example.test"]);
        headers.push(received());
        headers.extend(fields(&[
            "mail.example.test; dmarc=pass header.from=example.test",
        ]));
        let expected = Err(Unproven::SeveralHops {
            authserv_id: MX.to_string(),
        });
        assert_eq!(under(&headers, Policy::Dmarc), expected);

        // The stack's own shape, a Received line of the mailbox server above
        // our results and others below, is one hop.
        let mut headers = vec![received()];
        headers.extend(fields(&[
            "mail.example.test; dmarc=pass header.from=example.test",
            "mail.example.test; dkim=pass header.d=example.test",
        ]));
        headers.push(received());
        headers.push(received());
        assert_eq!(under(&headers, Policy::Dmarc), proven(Method::Dmarc));
    }

    #[test]
    fn our_own_results_that_disagree_prove_nothing() {
        let headers = fields(&[
            "mail.example.test; dmarc=pass header.from=example.test",
            "mail.example.test; dmarc=fail header.from=example.test",
        ]);
        assert_eq!(
            why_not(&headers, &[Method::Dmarc]),
            "dmarc results disagree"
        );
        let headers = fields(&[
            "mail.example.test; spf=pass smtp.mailfrom=example.test; spf=softfail smtp.mailfrom=example.test",
        ]);
        assert_eq!(why_not(&headers, &[Method::Spf]), "spf results disagree");
        // Signatures are independent: one good signature of the domain is proof.
        let headers = fields(&[
            "mail.example.test; dkim=fail header.d=example.test; dkim=pass header.d=example.test",
        ]);
        assert_eq!(under(&headers, Policy::Dkim), proven(Method::Dkim));
    }

    #[test]
    fn a_pass_for_another_domain_is_no_proof() {
        let dkim = fields(&["mail.example.test; dkim=pass header.d=evil.test header.i=@evil.test"]);
        assert_eq!(
            why_not(&dkim, &[Method::Dkim]),
            "dkim=pass for another domain (evil.test)"
        );
        let dmarc = fields(&["mail.example.test; dmarc=pass header.from=evil.test"]);
        assert_eq!(
            why_not(&dmarc, &[Method::Dmarc]),
            "dmarc=pass for another domain (evil.test)"
        );
        let spf = fields(&["mail.example.test; spf=pass smtp.mailfrom=agent@evil.test"]);
        assert_eq!(
            why_not(&spf, &[Method::Spf]),
            "spf=pass for another domain (evil.test)"
        );
        // A parent or a child of the From domain is another domain too.
        let parent = fields(&["mail.example.test; dkim=pass header.d=test"]);
        assert!(prove(&parent, MX, "example.test", &[Method::Dkim]).is_err());
        assert!(prove(&dkim, MX, "sub.evil.test", &[Method::Dkim]).is_err());
        let nameless = fields(&["mail.example.test; dmarc=pass"]);
        assert_eq!(
            why_not(&nameless, &[Method::Dmarc]),
            "dmarc=pass for no domain"
        );
    }

    #[test]
    fn comments_and_quoted_strings_are_not_results() {
        let in_comment = fields(&[
            "mail.example.test; dkim=fail (dkim=pass header.d=example.test; dmarc=pass) header.d=example.test",
            "mail.example.test (dmarc=pass header.from=example.test); dmarc=none header.from=example.test",
        ]);
        assert_eq!(
            why_not(&in_comment, &[Method::Dmarc, Method::Dkim]),
            "dmarc=none; dkim=fail"
        );
        let nested = fields(&[
            "mail.example.test; dkim=none (a (nested \\) comment; dkim=pass) here) header.d=example.test",
        ]);
        assert_eq!(why_not(&nested, &[Method::Dkim]), "dkim=none");
        let in_quotes = fields(&[
            "mail.example.test; dkim=fail reason=\"; dkim=pass header.d=example.test\" header.d=example.test",
        ]);
        assert_eq!(why_not(&in_quotes, &[Method::Dkim]), "dkim=fail");
        let quoted_values = fields(&[
            "\"mail.example.test\"; spf=pass smtp.mailfrom=\"agent \\\"x\\\"\"@example.test",
        ]);
        assert_eq!(
            prove(&quoted_values, MX, "example.test", &[Method::Spf]),
            proven(Method::Spf)
        );
        let results = our_results(&quoted_values, MX).unwrap();
        assert_eq!(
            results[0].property("smtp.mailfrom"),
            Some("agent \"x\"@example.test")
        );
    }

    #[test]
    fn shapes_that_fooled_the_former_reader_prove_nothing() {
        // sync::exchange's split-on-`;` reader said dkim=pass to all four.
        let below_our_received = {
            let mut headers = fields(&["mail.example.test; dkim=fail header.d=example.test"]);
            headers.push(received());
            headers.extend(fields(&[
                "mail.example.test; dkim=pass header.d=example.test",
            ]));
            headers
        };
        for headers in [
            fields(&["mail.example.test; dkim=fail (x; dkim=pass header.d=example.test)"]),
            fields(&["mail.example.test; dkim=fail reason=\"x; dkim=pass header.d=example.test\""]),
            fields(&["mail.example.test; dkim=pass header.d=evil.test header.d=example.test"]),
            below_our_received,
        ] {
            assert!(
                prove(&headers, MX, "example.test", &[Method::Dkim]).is_err(),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn case_versions_and_blanks_are_read_as_the_grammar_allows() {
        let upper = fields(&["MAIL.EXAMPLE.TEST; DKIM=PASS HEADER.D=EXAMPLE.TEST"]);
        assert_eq!(under(&upper, Policy::Dkim), proven(Method::Dkim));
        let versions = fields(&["mail.example.test 1; dkim/1=pass header.i=agent@example.test"]);
        assert_eq!(under(&versions, Policy::Dkim), proven(Method::Dkim));
        let spaced =
            fields(&["  mail.example.test ;dmarc = pass\theader . from = example.test  ;  "]);
        assert_eq!(under(&spaced, Policy::Dmarc), proven(Method::Dmarc));
        let none = fields(&["mail.example.test; none"]);
        assert_eq!(why_not(&none, &[Method::Dmarc]), "no dmarc result");
    }

    #[test]
    fn folded_fields_are_read_unfolded() {
        let raw = "Authentication-Results: mail.example.test;\r\n\
                   \tdkim=pass\r\n (2048-bit\r\n  key)\r\n header.d=example.test;\r\n\
                   \tdmarc=pass header.from=example.test\r\n\
                   From: agent@example.test\r\n\r\nBonjour.\r\n";
        assert_eq!(under(&delivered(raw), Policy::Dmarc), proven(Method::Dmarc));
        assert_eq!(
            prove(&delivered(raw), MX, "example.test", &[Method::Dkim]),
            proven(Method::Dkim)
        );
    }

    #[test]
    fn unreadable_results_of_ours_prove_nothing() {
        for value in [
            "mail.example.test; dkim=pass (unterminated header.d=example.test",
            "mail.example.test; dkim=pass header.d=\"example.test",
            "mail.example.test; dkim=pass header.d=evil.test header.d=example.test",
            "mail.example.test; dkim=pass header.d=",
            "mail.example.test; dkim=pass header.d example.test",
            "mail.example.test; header.d=example.test",
            "mail.example.test; dkim=pass; none",
            "mail.example.test; dkim=pass header.d=example.test)",
            "mail.example.test; =pass",
            "mail.example.test",
            "mail.example.test dkim=pass header.d=example.test",
        ] {
            let mut headers = fields(&["mail.example.test; dmarc=pass header.from=example.test"]);
            headers.extend(fields(&[value]));
            assert_eq!(
                under(&headers, Policy::Dkim),
                Err(Unproven::Unreadable {
                    authserv_id: MX.to_string()
                }),
                "{value}"
            );
        }
        // A field whose authserv-id cannot be read is nobody's.
        let headers = fields(&["(mail.example.test; dkim=pass header.d=example.test"]);
        assert_eq!(
            why_not(&headers, &[Method::Dkim]),
            "no Authentication-Results from mail.example.test"
        );
    }

    #[test]
    fn each_policy_accepts_its_proof_and_the_stronger_ones() {
        let dkim_only = fields(&[
            "mail.example.test; dkim=pass header.d=example.test; dmarc=none header.from=example.test",
        ]);
        assert_eq!(
            under(&dkim_only, Policy::Dmarc).unwrap_err().to_string(),
            "dmarc=none"
        );
        assert_eq!(under(&dkim_only, Policy::Dkim), proven(Method::Dkim));
        assert_eq!(under(&dkim_only, Policy::Spf), proven(Method::Dkim));

        let spf_only = fields(&[
            "mail.example.test; spf=pass smtp.mailfrom=example.test; dkim=none; dmarc=none header.from=example.test",
        ]);
        assert_eq!(
            under(&spf_only, Policy::Dkim).unwrap_err().to_string(),
            "dmarc=none; dkim=none"
        );
        assert_eq!(
            under(&spf_only, Policy::Spf),
            Ok(Proven {
                by: Method::Spf,
                domain: "example.test".to_string()
            })
        );
        assert_eq!(Policy::None.accepted(), None);
        let policy: Policy = serde_json::from_str("\"dkim\"").unwrap();
        assert_eq!(policy, Policy::Dkim);
    }

    #[test]
    fn missing_configuration_or_sender_proves_nothing() {
        let headers = delivered(SIGNED);
        assert_eq!(
            prove(&headers, " ", "example.test", &[Method::Dmarc]),
            Err(Unproven::NoAuthservId)
        );
        assert_eq!(
            prove(&headers, MX, "", &[Method::Dmarc]),
            Err(Unproven::NoSenderDomain)
        );
        assert_eq!(
            prove(&headers, MX, "example.test", &[]),
            Err(Unproven::Failed(Vec::new()))
        );
    }

    #[test]
    fn reasons_read_in_french_too() {
        let all = &[Method::Dmarc, Method::Dkim, Method::Spf];
        let unproven = prove(&delivered(FORGED), MX, "example.test", all).unwrap_err();
        assert_eq!(
            unproven.message_fr(),
            "dmarc=fail; dkim=none; aucun résultat spf"
        );
        let other = fields(&["mail.example.test; dkim=pass header.d=evil.test"]);
        let unproven = prove(&other, MX, "example.test", &[Method::Dkim]).unwrap_err();
        assert_eq!(
            unproven.message_fr(),
            "dkim=pass pour un autre domaine (evil.test)"
        );
        assert_eq!(
            Unproven::NoResults {
                authserv_id: MX.to_string()
            }
            .message_fr(),
            "aucun en-tête Authentication-Results de mail.example.test"
        );
    }
}
