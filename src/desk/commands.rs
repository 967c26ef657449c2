//! Commands an agent writes at the top of a mail answering a ticket:
//!
//! ```text
//! #statut resolu
//! #priorite majeure
//! #equipe maintenance
//! #agent alice
//! #interne
//! Le copieur a été remplacé ce matin.
//! ```
//!
//! Leading lines starting with `#` are commands; the rest is the answer,
//! relayed to the requester unless `#interne` keeps it for the team. Only
//! mail from a staff address is read for commands.

use crate::intake::priority::Priority;

use super::change::Change;
use super::status::Status;

/// One command line, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status(Status),
    Priority(Priority),
    Team(String),
    Agent(String),
    /// The answer stays with the staff: an internal note.
    Internal,
}

/// The commands and answer of an agent's mail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentMail {
    pub commands: Vec<Command>,
    /// The answer after the command lines, trimmed; may be empty.
    pub text: String,
    /// One French message per command line not understood.
    pub errors: Vec<String>,
}

impl AgentMail {
    pub fn is_internal(&self) -> bool {
        self.commands.contains(&Command::Internal)
    }

    /// The changes the mail asks of a ticket in `team` (else
    /// `default_team`, when only an agent is named): the assignment first,
    /// then statuses and priority in the order written, then the answer —
    /// as the note of the last status change when there is one (one mail
    /// to the requester), else as a note of its own.
    pub fn changes<'m>(&'m self, team: Option<&'m str>, default_team: &'m str) -> Vec<Change<'m>> {
        let text = Some(self.text.as_str()).filter(|t| !t.is_empty());
        let internal = self.is_internal();
        let last_status = self
            .commands
            .iter()
            .rposition(|c| matches!(c, Command::Status(_)));
        let named_team = self.commands.iter().find_map(|c| match c {
            Command::Team(team) => Some(team.as_str()),
            _ => None,
        });
        let agent = self.commands.iter().find_map(|c| match c {
            Command::Agent(agent) => Some(agent.as_str()),
            _ => None,
        });
        let mut changes: Vec<Change> = Vec::new();
        if named_team.is_some() || agent.is_some() {
            let team = named_team.or(team).unwrap_or(default_team);
            changes.push(Change::Assign { team, agent });
        }
        for (i, command) in self.commands.iter().enumerate() {
            match command {
                Command::Status(to) => changes.push(Change::Status {
                    to: *to,
                    note: text.filter(|_| Some(i) == last_status),
                    internal,
                }),
                Command::Priority(priority) => changes.push(Change::Priority(*priority)),
                Command::Team(_) | Command::Agent(_) | Command::Internal => {}
            }
        }
        if let (Some(text), None) = (text, last_status) {
            changes.push(Change::Note { text, internal });
        }
        changes
    }
}

/// Splits the new part of an agent's mail into commands and answer.
pub fn read_agent_mail(body: &str) -> AgentMail {
    let mut mail = AgentMail::default();
    let mut lines = body.lines().peekable();
    while let Some(line) = lines.peek() {
        let line = line.trim();
        if line.is_empty() {
            lines.next();
            continue;
        }
        let Some(command) = line.strip_prefix('#') else {
            break;
        };
        match read_command(command) {
            Ok(command) => mail.commands.push(command),
            Err(error) => mail.errors.push(error),
        }
        lines.next();
    }
    mail.text = lines.collect::<Vec<_>>().join("\n").trim().to_string();
    mail
}

fn read_command(line: &str) -> Result<Command, String> {
    let (verb, argument) = line
        .trim()
        .split_once(char::is_whitespace)
        .map_or((line.trim(), ""), |(v, a)| (v, a.trim()));
    let needs = |what: &str| format!("« #{verb} » attend {what}");
    match fold(verb).as_str() {
        "statut" | "status" | "etat" => Status::from_text(argument)
            .map(Command::Status)
            .ok_or_else(|| {
                format!(
                    "statut inconnu « {argument} » (statuts : {})",
                    Status::ALL.map(Status::as_str).join(", ")
                )
            }),
        "priorite" | "priority" => Priority::from_text(argument)
            .map(Command::Priority)
            .ok_or_else(|| {
                format!("priorité inconnue « {argument} » (bloquante, majeure ou mineure)")
            }),
        "equipe" | "team" if is_name(argument) => Ok(Command::Team(argument.to_string())),
        "equipe" | "team" => Err(needs("un nom d'équipe")),
        "agent" if is_name(argument) => Ok(Command::Agent(argument.to_string())),
        "agent" => Err(needs("un nom d'agent")),
        "interne" | "internal" if argument.is_empty() => Ok(Command::Internal),
        "interne" | "internal" => Err(needs("rien d'autre sur la ligne")),
        _ => Err(format!(
            "commande inconnue « #{verb} » (commandes : #statut, #priorite, #equipe, #agent, #interne)"
        )),
    }
}

/// A team or agent name: one word of letters, digits, `-`, `_`, `.`.
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Lower case without the accents a French keyboard puts on command words.
fn fold(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' => 'e',
            'î' => 'i',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer goes with the last status change, so that the requester
    /// gets one mail; an agent alone is assigned in the ticket's team.
    #[test]
    fn commands_become_changes_in_order() {
        let mail =
            read_agent_mail("#agent bob\n#statut en_attente\n#priorite majeure\nQuel modèle ?");
        assert_eq!(
            mail.changes(Some("ent"), "support"),
            [
                Change::Assign {
                    team: "ent",
                    agent: Some("bob")
                },
                Change::Status {
                    to: Status::EnAttente,
                    note: Some("Quel modèle ?"),
                    internal: false
                },
                Change::Priority(Priority::Majeure),
            ]
        );
        let note = read_agent_mail("#interne\nVu avec le rectorat.");
        assert_eq!(
            note.changes(None, "support"),
            [Change::Note {
                text: "Vu avec le rectorat.",
                internal: true
            }]
        );
    }

    #[test]
    fn leading_command_lines_then_the_answer() {
        let mail = read_agent_mail(
            "#statut résolu\n#Priorité majeure\n#equipe maintenance\n\nLe copieur a été remplacé.\n#pas une commande\n",
        );
        assert_eq!(
            mail.commands,
            vec![
                Command::Status(Status::Resolu),
                Command::Priority(Priority::Majeure),
                Command::Team("maintenance".into()),
            ]
        );
        assert_eq!(mail.text, "Le copieur a été remplacé.\n#pas une commande");
        assert!(mail.errors.is_empty());
        assert!(!mail.is_internal());
    }

    #[test]
    fn status_is_read_as_agents_write_it() {
        for (line, status) in [
            ("#statut en_cours", Status::EnCours),
            ("#statut En cours", Status::EnCours),
            ("#STATUT pris en charge", Status::PrisEnCharge),
            ("#état sans suite", Status::SansSuite),
            ("#status resolved", Status::Resolu),
        ] {
            assert_eq!(
                read_agent_mail(line).commands,
                vec![Command::Status(status)],
                "{line}"
            );
        }
    }

    #[test]
    fn internal_note_and_no_commands() {
        let mail = read_agent_mail("#interne\nVu avec le principal.");
        assert!(mail.is_internal());
        assert_eq!(mail.text, "Vu avec le principal.");
        let plain = read_agent_mail("Bonjour,\n#statut resolu");
        assert!(plain.commands.is_empty());
        assert_eq!(plain.text, "Bonjour,\n#statut resolu");
    }

    #[test]
    fn bad_commands_are_explained_in_french() {
        let mail = read_agent_mail("#statut fini\n#priorite urgente\n#equipe\n#supprimer\nTexte");
        assert!(mail.commands.is_empty());
        assert_eq!(mail.errors.len(), 4, "{:?}", mail.errors);
        assert!(mail.errors[0].contains("statut inconnu « fini »"));
        assert!(mail.errors[0].contains("pris_en_charge"));
        assert!(mail.errors[1].contains("priorité inconnue"));
        assert!(mail.errors[2].contains("nom d'équipe"));
        assert!(mail.errors[3].contains("commande inconnue « #supprimer »"));
        assert_eq!(mail.text, "Texte");
    }
}
