//! Dialect `remedy`: the mails BMC Remedy AR System's Email Engine reads
//! and sends (the academy's ITSM).
//!
//! Out: a `Submit` instruction when a ticket is created
//! ([`render_submit`]), then `Modify` instructions that answer the ITSM's
//! last modify template for the incident ([`render_modify`]). In: the
//! ITSM's notifications ([`parse_notification`]), checked against the
//! shared `Key`, giving a [`RemedyUpdate`]. Labels, field names, the
//! status and priority tables are settings ([`RemedySettings`]) whose
//! defaults fit a standard ITSM 7 incident form.
//!
//! One file each: `settings` (the settings and their tables, checked),
//! `submit` and `modify` (rendering out), `notification` (reading in, with
//! the dates the Email Engine writes). Here: the Email Engine's fixed
//! labels and what every instruction starts with.

mod modify;
mod notification;
mod settings;
mod submit;

pub use modify::{render_modify, ModifyTemplate, TicketChange, WorkInfo};
pub use notification::{parse_date, parse_notification, Note, RemedyUpdate};
pub use settings::{
    DateOrder, ModifyFields, NotificationLabels, PriorityTable, RemedySettings, RemedyStatus,
    StatusOut, SubmitFields, UrgencyImpact,
};
pub use submit::{render_submit, NewTicket};

use super::grammar::Pair;
use super::SharedKey;

/// The Email Engine's own instruction labels: fixed by BMC, not settings.
const ACTION: &str = "Action";
const SCHEMA: &str = "Schema";
const FORM: &str = "Form";
const SERVER: &str = "Server";
const REQUEST_ID: &str = "Request ID";
const KEY: &str = "Key";

/// A rendered instruction: plain text only, since the Email Engine reads
/// the HTML part first when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemedyMail {
    pub subject: String,
    pub body: String,
}

/// `Action`, `Schema`, `Server` and `Key`: what every instruction starts
/// with.
fn instruction(action: &str, form: &str, server: Option<&str>, key: &SharedKey) -> Vec<Pair> {
    let mut pairs = vec![Pair::plain(ACTION, action), Pair::plain(SCHEMA, form)];
    if let Some(server) = server {
        pairs.push(Pair::plain(SERVER, server));
    }
    pairs.push(Pair::plain(KEY, key.expose()));
    pairs
}

/// `text` on one line (line breaks become spaces), at most `max` characters,
/// the last being `…` when cut.
fn one_line(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::desk::status::Status;
    use crate::intake::fields::RequestFields;
    use crate::intake::priority::Priority;
    use crate::sync::grammar::Pairs;
    use crate::sync::SyncError;

    fn key() -> SharedKey {
        SharedKey::new("0123456789abcdef0123456789abcdef").unwrap()
    }

    fn settings() -> RemedySettings {
        RemedySettings::default()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn fields() -> RequestFields {
        RequestFields {
            name: Some("Jean Dupont".into()),
            role: Some("Principal".into()),
            phone: Some("04 77 00 00 00".into()),
            establishment: Some("Collège Jean-Moulin / Saint-Étienne".into()),
            subject: Some("ENT inaccessible".into()),
            population: Some("Tous les élèves".into()),
            description: Some("Depuis ce matin : erreur 503.\nMerci de traiter.".into()),
            url: None,
            priority: None,
        }
    }

    fn pairs_of(body: &str) -> Vec<(String, String)> {
        Pairs::parse(body)
            .unwrap()
            .iter()
            .map(|l| (l.pair.label.to_string(), l.pair.value.clone()))
            .collect()
    }

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let defaults = settings();
        defaults.validate().unwrap();
        let text = toml::to_string(&defaults).unwrap();
        let back: RemedySettings = toml::from_str(&text).unwrap();
        assert_eq!(back, defaults);
        let empty: RemedySettings = toml::from_str("").unwrap();
        assert_eq!(empty, defaults);
    }

    #[test]
    fn partial_settings_keep_the_other_defaults_and_refuse_typos() {
        let site: RemedySettings = toml::from_str(
            r#"
            date_order = "mdy"
            [submit.extra]
            First_Name = "Support"
            Last_Name = "Département"
            [status_out.escalade]
            status = "Pending"
            reason = "Third Party Vendor Action Reqd"
            [status_in]
            "En cours" = "en_cours"
            "#,
        )
        .unwrap();
        assert_eq!(site.date_order, DateOrder::Mdy);
        assert_eq!(site.status_out.escalade.status, "Pending");
        assert_eq!(site.status_out.resolu.status, "Resolved");
        assert_eq!(site.submit.constants["z1D_Action"], "CREATE");
        assert_eq!(
            site.status_in.len(),
            1,
            "a given table replaces the default one"
        );
        site.validate().unwrap();

        let typo = toml::from_str::<RemedySettings>("[labels]\nincident = \"Incident\"");
        assert!(typo.unwrap_err().to_string().contains("unknown field"));
        let unknown_status = toml::from_str::<RemedySettings>("[status_in]\nNew = \"neuf\"");
        assert!(unknown_status.is_err());
    }

    #[test]
    fn validate_names_the_bad_setting() {
        let mut bad = settings();
        bad.modify.work_info_notes = "z1D:Details".into();
        assert_eq!(
            bad.validate().unwrap_err(),
            SyncError::Setting {
                key: "modify.work_info_notes".into(),
                problem: "not a field name: no `:`, `!`, line break or surrounding blanks".into()
            }
        );
        let mut bad = settings();
        bad.submit.extra.insert("Bad!Name".into(), "x".into());
        assert!(
            matches!(bad.validate(), Err(SyncError::Setting { key, .. }) if key == "submit.extra.Bad!Name")
        );
        let mut bad = settings();
        bad.labels.status = "Status:".into();
        assert!(
            matches!(bad.validate(), Err(SyncError::Setting { key, .. }) if key == "labels.status")
        );
        let mut bad = settings();
        bad.priorities.majeure.impact = String::new();
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "setting `priorities.majeure.impact`: must not be empty"
        );
        assert!(
            matches!(bad.validate(), Err(SyncError::Setting { key, .. }) if key == "priorities.majeure.impact")
        );
        let mut bad = settings();
        bad.status_in.clear();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn submit_carries_the_ticket_in_the_default_form() {
        let fields = fields();
        let ticket = NewTicket {
            number: "CG42N1-000123",
            priority: Priority::Bloquante,
            requester: "jean.dupont@ac-lyon.fr",
            subject: "Objet du mail",
            fields: &fields,
        };
        let mail = render_submit(&ticket, &settings(), &key());
        assert_eq!(mail.subject, "[CG42N1-000123] ENT inaccessible");
        let details = "Ticket Guichet : CG42N1-000123 (priorité bloquante)\n\
                       Adresse du demandeur : jean.dupont@ac-lyon.fr\n\
                       Nom et prénom : Jean Dupont\n\
                       Fonction : Principal\n\
                       Numéro de téléphone : 04 77 00 00 00\n\
                       Établissement / Ville : Collège Jean-Moulin / Saint-Étienne\n\
                       Objet de la demande : ENT inaccessible\n\
                       Population concernée par le problème : Tous les élèves\n\
                       \n\
                       Description précise :\n\
                       Depuis ce matin : erreur 503.\n\
                       Merci de traiter.";
        let expected: Vec<(String, String)> = [
            ("Action", "Submit"),
            ("Schema", "HPD:IncidentInterface_Create"),
            ("Key", "0123456789abcdef0123456789abcdef"),
            ("!Reported Source!", "Email"),
            ("!Service_Type!", "User Service Restoration"),
            ("!Status!", "New"),
            ("!z1D_Action!", "CREATE"),
            ("!Description!", "ENT inaccessible"),
            ("!Detailed_Decription!", details),
            ("!Urgency!", "1-Critical"),
            ("!Impact!", "1-Extensive/Widespread"),
            ("!Vendor Ticket Number!", "CG42N1-000123"),
        ]
        .iter()
        .map(|(l, v)| (l.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs_of(&mail.body), expected);
        assert!(mail
            .body
            .starts_with("Action: Submit\nSchema: HPD:IncidentInterface_Create\n"));
    }

    #[test]
    fn submit_maps_each_priority_and_honours_site_fields() {
        let mut site = settings();
        site.server = Some("ar.ac-lyon.fr".into());
        site.submit.requester = Some("Contact_Name".into());
        site.submit.establishment = Some("536870913".into());
        site.submit
            .extra
            .insert("First_Name".into(), "Support".into());
        site.submit.extra.insert("Status".into(), "Assigned".into());
        let fields = RequestFields {
            subject: None,
            ..fields()
        };
        for (priority, urgency, impact) in [
            (Priority::Bloquante, "1-Critical", "1-Extensive/Widespread"),
            (Priority::Majeure, "2-High", "2-Significant/Large"),
            (Priority::Mineure, "3-Medium", "4-Minor/Localized"),
        ] {
            let ticket = NewTicket {
                number: "CG42N1-000124",
                priority,
                requester: "a@b.fr",
                subject: "Cahier de textes",
                fields: &fields,
            };
            let body = render_submit(&ticket, &site, &key()).body;
            let pairs = Pairs::parse(&body).unwrap();
            let value = |name: &str| pairs.require(name).unwrap().pair.value.clone();
            assert_eq!(value("Urgency"), urgency);
            assert_eq!(value("Impact"), impact);
            assert_eq!(value("Server"), "ar.ac-lyon.fr");
            assert_eq!(value("Description"), "Cahier de textes");
            assert_eq!(value("Contact_Name"), "Jean Dupont");
            assert_eq!(value("536870913"), "Collège Jean-Moulin / Saint-Étienne");
            assert_eq!(value("First_Name"), "Support");
            assert_eq!(value("Status"), "Assigned", "extra overrides a constant");
        }
    }

    #[test]
    fn long_summaries_are_cut_on_one_line() {
        let fields = RequestFields {
            subject: Some(format!("Très {}\nlong", "é".repeat(200))),
            ..RequestFields::default()
        };
        let ticket = NewTicket {
            number: "CG42N1-000125",
            priority: Priority::Mineure,
            requester: "a@b.fr",
            subject: "",
            fields: &fields,
        };
        let body = render_submit(&ticket, &settings(), &key()).body;
        let pairs = Pairs::parse(&body).unwrap();
        let summary = &pairs.require("Description").unwrap().pair.value;
        assert_eq!(summary.chars().count(), 100);
        assert!(summary.starts_with("Très éé") && summary.ends_with('…'));
        let details = &pairs.require("Detailed_Decription").unwrap().pair.value;
        assert!(!details.contains("Description précise"), "{details}");

        let nothing = RequestFields::default();
        let blank = NewTicket {
            fields: &nothing,
            subject: "  ",
            ..ticket
        };
        let body = render_submit(&blank, &settings(), &key()).body;
        assert!(
            body.contains("!Description!: Demande CG42N1-000125\n"),
            "{body}"
        );
    }

    fn template() -> ModifyTemplate {
        ModifyTemplate {
            request_id: "000000000000430".into(),
            form: Some("HPD:Help Desk Classic".into()),
            server: Some("ar-prod".into()),
            echo: vec![("Modify Key".into(), "#A8F3…9C#".into())],
        }
    }

    #[test]
    fn modify_answers_the_template_with_status_resolution_and_work_info() {
        let change = TicketChange {
            number: "CG42N1-000123",
            status: Some(Status::Resolu),
            resolution: Some("Serveur redémarré.\nCause : disque plein."),
            note: Some(WorkInfo {
                author: "agent:alice",
                text: "Redémarrage fait à 10 h.",
                public: true,
            }),
        };
        let mail = render_modify(&template(), &change, &settings(), &key()).unwrap();
        assert_eq!(mail.subject, "[CG42N1-000123] Modify 000000000000430");
        let expected: Vec<(String, String)> = [
            ("Action", "Modify"),
            ("Schema", "HPD:Help Desk Classic"),
            ("Server", "ar-prod"),
            ("Key", "0123456789abcdef0123456789abcdef"),
            ("Request ID", "000000000000430"),
            ("Modify Key", "#A8F3…9C#"),
            ("!Status!", "Resolved"),
            ("!Status_Reason!", "No Further Action Required"),
            ("!Resolution!", "Serveur redémarré.\nCause : disque plein."),
            ("!z1D_Activity_Type!", "General Information"),
            (
                "!z1D_WorklogDetails!",
                "Guichet CG42N1-000123 — agent:alice",
            ),
            ("!z1D_Details!", "Redémarrage fait à 10 h."),
            ("!z1D_View_Access!", "Public"),
        ]
        .iter()
        .map(|(l, v)| (l.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs_of(&mail.body), expected);
    }

    #[test]
    fn modify_falls_back_to_settings_and_says_nothing_when_nothing_changed() {
        let bare = ModifyTemplate {
            request_id: "000000000000431".into(),
            form: None,
            server: None,
            echo: Vec::new(),
        };
        let internal = TicketChange {
            number: "CG42N1-000123",
            note: Some(WorkInfo {
                author: "agent:bob",
                text: "À voir avec le rectorat",
                public: false,
            }),
            ..TicketChange::default()
        };
        let body = render_modify(&bare, &internal, &settings(), &key())
            .unwrap()
            .body;
        let pairs = Pairs::parse(&body).unwrap();
        assert_eq!(pairs.require("Schema").unwrap().pair.value, "HPD:Help Desk");
        assert_eq!(pairs.value("Server").unwrap(), None);
        assert_eq!(pairs.value("Status").unwrap(), None);
        assert_eq!(
            pairs.require("z1D_View_Access").unwrap().pair.value,
            "Internal"
        );

        let pending = TicketChange {
            number: "CG42N1-000123",
            status: Some(Status::EnAttente),
            ..TicketChange::default()
        };
        let body = render_modify(&bare, &pending, &settings(), &key())
            .unwrap()
            .body;
        assert!(body.contains("!Status!: Pending\n!Status_Reason!: Client Action Required\n"));

        let unsent = TicketChange {
            number: "CG42N1-000123",
            status: Some(Status::Nouveau),
            ..TicketChange::default()
        };
        assert_eq!(render_modify(&bare, &unsent, &settings(), &key()), None);
    }

    const NOTIFICATION: &str = "Bonjour,\r\n\
        \r\n\
        L'incident ci-dessous a été mis à jour.\r\n\
        \r\n\
        Incident Number: INC000000000430\r\n\
        Vendor Ticket Number: CG42N1-000123\r\n\
        Status: Resolved\r\n\
        Status Reason: No Further Action Required\r\n\
        Assigned Group: N2 ENT Rectorat\r\n\
        Assignee: Marie Curie\r\n\
        Priority: High\r\n\
        Resolution: [$$Le serveur de l'ENT a été redémarré.\r\n\
        Cause : disque plein.$$]\r\n\
        Last Modified Date: 25/10/2026 14:03:22\r\n\
        Key: 0123456789abcdef0123456789abcdef\r\n\
        \r\n\
        Cordialement,\r\n\
        Le centre de services\r\n";

    #[test]
    fn reads_a_resolved_notification() {
        let update = parse_notification(NOTIFICATION, &settings(), &key()).unwrap();
        assert_eq!(
            update,
            RemedyUpdate {
                incident: "INC000000000430".into(),
                vendor_ticket: Some("CG42N1-000123".into()),
                status: Some(Status::Resolu),
                itsm_status: Some("Resolved".into()),
                status_reason: Some("No Further Action Required".into()),
                assigned_group: Some("N2 ENT Rectorat".into()),
                assignee: Some("Marie Curie".into()),
                priority: Some("High".into()),
                work_info: None,
                resolution: Some(
                    "Le serveur de l'ENT a été redémarré.\nCause : disque plein.".into()
                ),
                // 14:03:22 in Paris on 25 October 2026 (CET, after the change).
                last_modified: utc(2026, 10, 25, 13, 3, 22),
                modify_template: None,
            }
        );
    }

    #[test]
    fn reads_a_modify_template_with_public_work_info() {
        let body = "Action: Modify\n\
                    Form: HPD:Help Desk\n\
                    Server: ar-prod\n\
                    Request ID: 000000000000430\n\
                    Key: 0123456789abcdef0123456789abcdef\n\
                    !Incident Number!: INC000000000430\n\
                    !Status!: in progress\n\
                    !Work Info!: [$$Nous intervenons : merci de patienter.$$]\n\
                    !Work Info View Access!: public\n\
                    !Last Modified Date!: 1792937002\n\
                    !Assignee!:\n";
        let update = parse_notification(body, &settings(), &key()).unwrap();
        assert_eq!(update.status, Some(Status::EnCours));
        assert_eq!(update.itsm_status.as_deref(), Some("in progress"));
        assert_eq!(
            update.work_info,
            Some(Note {
                text: "Nous intervenons : merci de patienter.".into(),
                public: true
            })
        );
        assert_eq!(update.assignee, None);
        assert_eq!(update.vendor_ticket, None);
        assert_eq!(
            update.last_modified,
            DateTime::from_timestamp(1792937002, 0).unwrap()
        );
        assert_eq!(
            update.modify_template,
            Some(ModifyTemplate {
                request_id: "000000000000430".into(),
                form: Some("HPD:Help Desk".into()),
                server: Some("ar-prod".into()),
                echo: Vec::new(),
            })
        );
        let json = serde_json::to_string(&update.modify_template).unwrap();
        assert_eq!(
            serde_json::from_str::<Option<ModifyTemplate>>(&json).unwrap(),
            update.modify_template
        );
    }

    #[test]
    fn echo_labels_are_kept_from_the_template_and_checked() {
        let mut site = settings();
        site.modify.echo_labels = vec!["Modify Key".into()];
        site.validate().unwrap();
        let template = NOTIFICATION.replace(
            "Priority: High",
            "Action: Modify\nRequest ID: 000000000000430\nmodify key: #A8F3…9C#",
        );
        let update = parse_notification(&template, &site, &key()).unwrap();
        assert_eq!(
            update.modify_template.unwrap().echo,
            [("Modify Key".to_string(), "#A8F3…9C#".to_string())]
        );
        let without = NOTIFICATION.replace("Priority: High", "Action: Modify\nRequest ID: 1");
        assert_eq!(
            parse_notification(&without, &site, &key()),
            Err(SyncError::MissingLabel {
                label: "Modify Key".into()
            })
        );
        // Not a modify template: nothing to echo, nothing required.
        assert!(parse_notification(NOTIFICATION, &site, &key()).is_ok());

        site.modify.echo_labels = vec!["KEY".into()];
        assert!(matches!(
            site.validate(),
            Err(SyncError::Setting { key, .. }) if key == "modify.echo_labels"
        ));
    }

    #[test]
    fn work_info_is_internal_unless_said_public() {
        let body = NOTIFICATION.replace(
            "Priority: High",
            "Work Info: [$$Escaladé au niveau 3$$]\nWork Info View Access: Internal",
        );
        let update = parse_notification(&body, &settings(), &key()).unwrap();
        assert_eq!(update.work_info.map(|n| n.public), Some(false));
        let body = NOTIFICATION.replace("Priority: High", "Work Info: vu");
        let update = parse_notification(&body, &settings(), &key()).unwrap();
        assert_eq!(update.work_info.map(|n| n.public), Some(false));
    }

    #[test]
    fn the_key_is_checked_before_anything_else() {
        let wrong = NOTIFICATION.replace(
            "0123456789abcdef0123456789abcdef",
            "ffffffffffffffffffffffffffffffff",
        );
        let missing = NOTIFICATION.replace("Key: ", "Clé : ");
        // Malformed as well as forged: the key decides first.
        let forged_and_broken = wrong.replace("Status: Resolved", "Status: Reopened");
        let repeated = format!("{NOTIFICATION}\nKey: something else\n");
        assert_eq!(
            parse_notification(&wrong, &settings(), &key()),
            Err(SyncError::BadKey)
        );
        assert_eq!(
            parse_notification(&forged_and_broken, &settings(), &key()),
            Err(SyncError::BadKey)
        );
        assert_eq!(
            parse_notification(&repeated, &settings(), &key()),
            Err(SyncError::BadKey)
        );
        assert_eq!(
            parse_notification(&missing, &settings(), &key()),
            Err(SyncError::MissingCredential {
                label: "Key".into()
            })
        );
        let mut site = settings();
        site.labels.key = "Clé".into();
        assert!(parse_notification(&missing, &site, &key()).is_ok());
    }

    #[test]
    fn malformed_notifications_name_the_problem() {
        let cases = [
            (
                NOTIFICATION.replace("Status: Resolved", "Status: Reopened"),
                SyncError::BadValue {
                    label: "Status".into(),
                    line: 7,
                    value: "Reopened".into(),
                    expected: "Assigned, Cancelled, Closed, In Progress, New, Pending, Resolved"
                        .into(),
                },
            ),
            (
                NOTIFICATION.replace(
                    "Incident Number: INC000000000430",
                    "Numéro: INC000000000430",
                ),
                SyncError::MissingLabel {
                    label: "Incident Number".into(),
                },
            ),
            (
                NOTIFICATION.replace("INC000000000430", "430-INC"),
                SyncError::BadValue {
                    label: "Incident Number".into(),
                    line: 5,
                    value: "430-INC".into(),
                    expected: "INC000000000430".into(),
                },
            ),
            (
                NOTIFICATION.replace("Cause : disque plein.$$]", "Cause : disque plein."),
                SyncError::UnterminatedBlock {
                    label: "Resolution".into(),
                    line: 12,
                },
            ),
            (
                format!("{NOTIFICATION}Status: Closed\n"),
                SyncError::DuplicateLabel {
                    label: "Status".into(),
                    first_line: 7,
                    line: 19,
                },
            ),
            (
                NOTIFICATION.replace(
                    "Last Modified Date: 25/10/2026 14:03:22",
                    "Last Modified Date: hier",
                ),
                SyncError::BadValue {
                    label: "Last Modified Date".into(),
                    line: 14,
                    value: "hier".into(),
                    expected:
                        "25/10/2026 14:03:22, 2026-10-25 14:03:22, 2026-10-25T12:03:22Z, 1792929802"
                            .into(),
                },
            ),
        ];
        for (body, expected) in cases {
            let err = parse_notification(&body, &settings(), &key()).unwrap_err();
            assert_eq!(err, expected);
            assert_eq!(err.kind(), super::super::ErrorKind::Malformed);
        }
        let modify_without_id = NOTIFICATION.replace("Priority: High", "Action: Modify");
        assert_eq!(
            parse_notification(&modify_without_id, &settings(), &key()),
            Err(SyncError::MissingLabel {
                label: "Request ID".into()
            })
        );
    }

    #[test]
    fn bad_status_message_in_french_lists_the_known_values() {
        let body = NOTIFICATION.replace("Status: Resolved", "Status: Reopened");
        let err = parse_notification(&body, &settings(), &key()).unwrap_err();
        assert_eq!(
            err.message_fr(),
            "Ligne 7 : la valeur « Reopened » de « Status » n'est pas valable ; attendu : \
             Assigned, Cancelled, Closed, In Progress, New, Pending, Resolved."
        );
    }

    #[test]
    fn site_labels_and_status_table_are_used() {
        let mut site = settings();
        site.labels.incident_number = "Numéro d'incident".into();
        site.labels.last_modified = "Modifié le".into();
        site.status_in = [("Résolu".to_string(), Status::Resolu)].into();
        let body = "Numéro d'incident: INC000000000431\n\
                    Status: RÉSOLU\n\
                    Modifié le: 2026-03-29 02:30:00\n\
                    Key: 0123456789abcdef0123456789abcdef\n";
        let update = parse_notification(body, &site, &key()).unwrap();
        assert_eq!(update.incident, "INC000000000431");
        assert_eq!(update.status, Some(Status::Resolu));
        // 02:30 does not exist in Paris that night: shifted like desk::sla does.
        assert_eq!(update.last_modified, utc(2026, 3, 29, 1, 30, 0));
    }

    #[test]
    fn the_incident_number_format_is_a_setting() {
        let rt = NOTIFICATION.replace("INC000000000430", "42");
        assert!(
            parse_notification(&rt, &settings(), &key()).is_err(),
            "letters then digits by default"
        );
        let mut site = settings();
        site.incident_format = "[0-9]+".into();
        site.validate().unwrap();
        assert_eq!(
            parse_notification(&rt, &site, &key()).unwrap().incident,
            "42"
        );
        // The whole number must match, not a part of it.
        let err = parse_notification(NOTIFICATION, &site, &key()).unwrap_err();
        assert_eq!(
            err,
            SyncError::BadValue {
                label: "Incident Number".into(),
                line: 5,
                value: "INC000000000430".into(),
                expected: "a value matching [0-9]+".into(),
            }
        );
        site.incident_format = "INC(".into();
        match site.validate() {
            Err(SyncError::Setting { key, .. }) => assert_eq!(key, "incident_format"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn remedy_date_formats() {
        let summer = utc(2026, 6, 15, 12, 3, 22); // 14:03:22 in Paris
        let dmy = [
            "15/06/2026 14:03:22",
            " 15/06/2026 02:03:22 PM ",
            "15/06/2026 02:03:22 pm",
            "2026-06-15 14:03:22",
            "2026-06-15T14:03:22",
            "2026-06-15T12:03:22Z",
            "2026-06-15 14:03:22+02:00",
            "2026-06-15T14:03:22+02:00",
            "1781525002",
        ];
        for text in dmy {
            assert_eq!(parse_date(text, DateOrder::Dmy), Some(summer), "{text}");
        }
        assert_eq!(
            parse_date("06/15/2026 14:03:22", DateOrder::Mdy),
            Some(summer)
        );
        assert_eq!(
            parse_date("06/15/2026 2:03:22 PM", DateOrder::Mdy),
            Some(summer)
        );
        assert_eq!(
            parse_date("15/06/2026 14:03", DateOrder::Dmy),
            Some(utc(2026, 6, 15, 12, 3, 0))
        );
        // Ambiguous dates follow the setting.
        assert_eq!(
            parse_date("03/04/2026 10:00:00", DateOrder::Dmy),
            Some(utc(2026, 4, 3, 8, 0, 0))
        );
        assert_eq!(
            parse_date("03/04/2026 10:00:00", DateOrder::Mdy),
            Some(utc(2026, 3, 4, 9, 0, 0))
        );
        for bad in [
            "",
            "hier",
            "15/06/26 14:03:22",
            "06/15/2026 14:03:22",
            "32/01/2026 10:00",
            "12345",
        ] {
            assert_eq!(parse_date(bad, DateOrder::Dmy), None, "{bad:?}");
        }
    }
}
