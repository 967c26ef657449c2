//! Routing rules: which team and category a new request goes to.
//!
//! Like a support centre's responsibility matrix: ordered rules, each a
//! case-insensitive pattern over some request fields, naming a team and a
//! category. The first matching rule decides; no match goes to the default
//! team, without a category, for a person to sort.

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::fields::RequestFields;

/// A request field a routing rule can look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteField {
    Subject,
    Description,
    Population,
    Establishment,
}

impl RouteField {
    /// The fields a rule with no `fields` looks at.
    pub const ALL: [RouteField; 4] = [
        RouteField::Subject,
        RouteField::Description,
        RouteField::Population,
        RouteField::Establishment,
    ];

    fn value(self, fields: &RequestFields) -> Option<&str> {
        match self {
            RouteField::Subject => fields.subject.as_deref(),
            RouteField::Description => fields.description.as_deref(),
            RouteField::Population => fields.population.as_deref(),
            RouteField::Establishment => fields.establishment.as_deref(),
        }
    }
}

/// One routing rule as configured.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct RouteSettings {
    /// A regular expression, matched case-insensitively.
    pub pattern: String,
    pub team: String,
    #[serde(default)]
    pub category: Option<String>,
    /// The fields the pattern is matched against; empty means all four.
    #[serde(default)]
    pub fields: Vec<RouteField>,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub team: String,
    pub category: Option<String>,
    /// Index of the rule that decided; `None` for the default team.
    pub rule: Option<usize>,
}

/// Compiled routing rules plus the team that gets what no rule matches.
#[derive(Debug, Clone)]
pub struct Router {
    rules: Vec<CompiledRoute>,
    default_team: String,
}

#[derive(Debug, Clone)]
struct CompiledRoute {
    regex: Regex,
    team: String,
    category: Option<String>,
    fields: Vec<RouteField>,
}

impl Router {
    /// Compiles the rules, case-insensitively. On error, gives the index of
    /// the bad rule so the configuration error can point at it.
    pub fn new(
        routes: &[RouteSettings],
        default_team: &str,
    ) -> Result<Self, (usize, regex::Error)> {
        let rules = routes
            .iter()
            .enumerate()
            .map(|(i, route)| CompiledRoute::new(route).map_err(|e| (i, e)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            rules,
            default_team: default_team.to_string(),
        })
    }

    /// The team of what no rule matches.
    pub fn default_team(&self) -> &str {
        &self.default_team
    }

    /// The team and category of a request: the first rule whose pattern
    /// matches one of its fields, else the default team.
    pub fn route(&self, fields: &RequestFields) -> Route {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.matches(fields))
            .map(|(i, rule)| Route {
                team: rule.team.clone(),
                category: rule.category.clone(),
                rule: Some(i),
            })
            .unwrap_or_else(|| Route {
                team: self.default_team.clone(),
                category: None,
                rule: None,
            })
    }
}

impl CompiledRoute {
    fn new(route: &RouteSettings) -> Result<Self, regex::Error> {
        let regex = regex::RegexBuilder::new(&route.pattern)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()?;
        let fields = if route.fields.is_empty() {
            RouteField::ALL.to_vec()
        } else {
            route.fields.clone()
        };
        Ok(Self {
            regex,
            team: route.team.clone(),
            category: route.category.clone(),
            fields,
        })
    }

    fn matches(&self, fields: &RequestFields) -> bool {
        self.fields
            .iter()
            .filter_map(|field| field.value(fields))
            .any(|value| self.regex.is_match(value))
    }
}

/// ENT: access, accounts, ENT services. Checked first within a field, since
/// a request naming the ENT is about the ENT even when it mentions a device
/// or Pronote (the ENT's link to Pronote is the ENT's business).
const ENT_PATTERN: &str = concat!(
    r"\bENT\b|\bespace num[ée]rique de travail\b|\b[ée]duconnect\b",
    r"|\bmots? de passe\b|\bidentifiants?\b",
    r"|\bcahiers? de textes?\b|\bmessagerie\b",
);

/// Pronote is the vie scolaire product of an editor (Index Éducation): the
/// ENT team cannot fix it, so it goes to the team dealing with editors.
const PRONOTE_PATTERN: &str = r"\bpronote\b";

/// Software and pedagogical resources. Checked before hardware because a
/// device is often only where a software problem shows up ("Pix ne se lance
/// pas sur les PC de la salle 12").
const SOFTWARE_PATTERN: &str = concat!(
    r"\blogiciels?\b|\bapplications?\b|\bapplis?\b",
    r"|\bmanuels? (num[ée]riques?|scolaires? num[ée]riques?)\b|\bressources? num[ée]riques?\b",
    r"|\bpix\b|\blicences?\b|\bGAR\b",
);

/// Devices and the network. Some words only count in a device's sense:
/// "écran" with a word that makes it a device ("capture d'écran" is common
/// in any request), "poste" not before a number ("joignable au poste 214"),
/// "internet" only as a connection ("le site internet du collège" is ENT).
const HARDWARE_PATTERN: &str = concat!(
    r"\bimprimantes?\b|\bphotocopieu(r|se)s?\b|\bscanners?\b",
    r"|\bvid[ée]o-?projecteurs?\b|\bTBI\b|\bVPI\b|\btableaux? (blancs? )?interactifs?\b",
    r"|\b[ée]crans? (noirs?|bleus?|interactifs?|tactiles?|reste|ne |n'|s'[ée]teint|clignote)",
    r"|\bordinateurs?\b|\bpostes?\b(\s*[^\d\s]|$)|\bPCs?\b|\bsouris\b|\bclaviers?\b|\bc[âa]bles?\b",
    r"|\bwi-?fi\b|\br[ée]seaux?\b|\bswitch(s|es)?\b|\bbornes?\b|\btablettes?\b",
    r"|\b(pas|plus) d'internet\b|\b(connexion|acc[èe]s) (à |a )?internet\b",
);

/// The shipped responsibility matrix.
///
/// Every category is tried on the subject first, then on the description:
/// the subject states what the request is about, while a description
/// mentions context ("l'imprimante n'imprime plus les documents de l'ENT" is
/// a printer problem when the subject says "Imprimante"). Within a field the
/// order is ENT, Pronote, software, hardware (see each pattern's comment).
/// Establishment and population are not looked at: they hold names ("Lycée
/// Jean Clavier"), not the problem.
pub fn default_routes() -> Vec<RouteSettings> {
    let matrix = [
        (ENT_PATTERN, "ent", "ent"),
        (PRONOTE_PATTERN, "editeur", "vie_scolaire"),
        (SOFTWARE_PATTERN, "pedagogie", "logiciel"),
        (HARDWARE_PATTERN, "maintenance", "materiel"),
    ];
    [RouteField::Subject, RouteField::Description]
        .into_iter()
        .flat_map(|field| {
            matrix
                .iter()
                .map(move |(pattern, team, category)| RouteSettings {
                    pattern: pattern.to_string(),
                    team: team.to_string(),
                    category: Some(category.to_string()),
                    fields: vec![field],
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(subject: &str, description: &str) -> RequestFields {
        RequestFields {
            subject: Some(subject.to_string()),
            description: Some(description.to_string()),
            ..RequestFields::default()
        }
    }

    fn default_router() -> Router {
        Router::new(&default_routes(), "support").unwrap()
    }

    fn team_and_category(
        router: &Router,
        subject: &str,
        description: &str,
    ) -> (String, Option<String>) {
        let route = router.route(&request(subject, description));
        (route.team, route.category)
    }

    fn assert_routes(cases: &[(&str, &str)], team: &str, category: &str) {
        let router = default_router();
        for (subject, description) in cases {
            assert_eq!(
                team_and_category(&router, subject, description),
                (team.to_string(), Some(category.to_string())),
                "{subject}: {description}"
            );
        }
    }

    #[test]
    fn hardware_goes_to_maintenance() {
        assert_routes(
            &[
                (
                    "Imprimante en panne",
                    "L'imprimante de la salle des professeurs affiche un bourrage papier.",
                ),
                (
                    "Salle 104",
                    "Le vidéoprojecteur ne s'allume plus depuis lundi.",
                ),
                ("Video-projecteur", "Plus d'image au démarrage."),
                ("TBI", "Le stylet du TBI ne répond plus en salle B12."),
                (
                    "Problème matériel",
                    "L'écran reste noir au démarrage du poste de l'accueil.",
                ),
                (
                    "Ordinateurs de la salle info",
                    "Trois ordinateurs ne démarrent plus.",
                ),
                ("Demande", "Mon PC est très lent depuis la mise à jour."),
                ("Souris et clavier", "Il manque une souris en salle 3."),
                (
                    "Câble HDMI",
                    "Il faudrait un câble plus long pour la salle 8.",
                ),
                ("Wifi", "Le wi-fi ne passe pas au CDI."),
                (
                    "Coupure",
                    "Plus de réseau dans le bâtiment B, la borne clignote orange.",
                ),
                (
                    "Tablettes",
                    "La classe mobile : 6 tablettes ne chargent plus.",
                ),
            ],
            "maintenance",
            "materiel",
        );
    }

    #[test]
    fn software_goes_to_pedagogie() {
        assert_routes(
            &[
                (
                    "Installation de logiciel",
                    "Pouvez-vous installer GeoGebra sur les postes de la salle 12 ?",
                ),
                (
                    "Pix",
                    "Les élèves de 3e n'arrivent pas à lancer leur session de certification.",
                ),
                (
                    "Question",
                    "Le manuel numérique de mathématiques ne s'ouvre pas.",
                ),
                (
                    "Licences",
                    "Nous n'avons plus assez de licences pour la classe de 4e B.",
                ),
                (
                    "Application",
                    "L'application de lecture ne se lance pas sur les tablettes.",
                ),
            ],
            "pedagogie",
            "logiciel",
        );
    }

    #[test]
    fn ent_goes_to_ent() {
        assert_routes(
            &[
                (
                    "ENT inaccessible",
                    "Depuis ce matin plus personne ne peut se connecter.",
                ),
                (
                    "Connexion",
                    "Impossible de me connecter à l'ENT avec mes identifiants ÉduConnect.",
                ),
                (
                    "Mot de passe oublié",
                    "Un élève de 6e A a perdu son mot de passe.",
                ),
                (
                    "Cahier de textes",
                    "Les devoirs saisis hier n'apparaissent plus.",
                ),
                ("Messagerie", "Je ne reçois plus les messages des parents."),
                (
                    "Bonjour",
                    "Le lien vers Pronote dans l'ENT renvoie une erreur.",
                ),
            ],
            "ent",
            "ent",
        );
    }

    #[test]
    fn pronote_goes_to_the_editor_team() {
        assert_routes(
            &[
                ("Pronote", "Impossible de saisir les notes du 2e trimestre."),
                (
                    "Bulletins",
                    "Les appréciations ne s'impriment pas dans PRONOTE.",
                ),
            ],
            "editeur",
            "vie_scolaire",
        );
    }

    #[test]
    fn subject_outweighs_context_in_the_description() {
        let router = default_router();
        assert_eq!(
            team_and_category(
                &router,
                "Imprimante",
                "Elle n'imprime plus les documents téléchargés depuis l'ENT."
            ),
            ("maintenance".to_string(), Some("materiel".to_string()))
        );
        assert_eq!(
            team_and_category(
                &router,
                "Cahier de textes",
                "Il ne s'affiche plus sur les ordinateurs du CDI."
            ),
            ("ent".to_string(), Some("ent".to_string()))
        );
    }

    #[test]
    fn screenshot_is_not_a_screen() {
        let router = default_router();
        let route = router.route(&request("Question", "Voir la capture d'écran jointe."));
        assert_eq!(route.team, "support");
        assert_eq!(route.category, None);
    }

    #[test]
    fn phone_extension_and_website_are_not_hardware() {
        let router = default_router();
        let route = router.route(&request(
            "Site du collège",
            "Le site internet du collège affiche l'ancien calendrier. Joignable au poste 214.",
        ));
        assert_eq!(route.rule, None);
        let route = router.route(&request(
            "Salle 12",
            "Pas d'internet sur les postes du fond.",
        ));
        assert_eq!(route.team, "maintenance");
    }

    #[test]
    fn names_in_the_establishment_do_not_route() {
        let router = default_router();
        let fields = RequestFields {
            subject: Some("Question".to_string()),
            establishment: Some("Collège Jean Clavier / Tournon".to_string()),
            ..RequestFields::default()
        };
        assert_eq!(router.route(&fields).rule, None);
    }

    #[test]
    fn unmatched_goes_to_the_default_team() {
        let router = default_router();
        let route = router.route(&request(
            "Question",
            "Comment ajouter un enseignant à un groupe ?",
        ));
        assert_eq!(
            route,
            Route {
                team: "support".to_string(),
                category: None,
                rule: None
            }
        );
        assert_eq!(router.route(&RequestFields::default()).team, "support");
    }

    fn settings(pattern: &str, team: &str, fields: Vec<RouteField>) -> RouteSettings {
        RouteSettings {
            pattern: pattern.to_string(),
            team: team.to_string(),
            category: None,
            fields,
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let router = Router::new(
            &[
                settings(r"\bimprimante\b", "first", vec![]),
                settings(r"\bpapier\b", "second", vec![]),
            ],
            "support",
        )
        .unwrap();
        let both = router.route(&request("Bourrage papier", "L'imprimante bloque."));
        assert_eq!((both.team.as_str(), both.rule), ("first", Some(0)));
        let second = router.route(&request("Papier", "Plus de papier en salle 2."));
        assert_eq!((second.team.as_str(), second.rule), ("second", Some(1)));
    }

    #[test]
    fn rules_look_only_at_their_fields() {
        let router = Router::new(
            &[settings(
                "lyc[ée]e",
                "lycees",
                vec![RouteField::Establishment],
            )],
            "support",
        )
        .unwrap();
        let in_subject = request("Lycée", "");
        assert_eq!(router.route(&in_subject).rule, None);
        let in_establishment = RequestFields {
            establishment: Some("Lycée Honoré d'Urfé".to_string()),
            ..RequestFields::default()
        };
        assert_eq!(router.route(&in_establishment).team, "lycees");
    }

    #[test]
    fn empty_fields_list_means_all_four() {
        let router = Router::new(&[settings("enseignants", "profs", vec![])], "support").unwrap();
        let fields = RequestFields {
            population: Some("Tous les enseignants".to_string()),
            ..RequestFields::default()
        };
        assert_eq!(router.route(&fields).team, "profs");
    }

    #[test]
    fn bad_rule_is_reported_by_index() {
        let err = Router::new(
            &[
                settings("ok", "a", vec![]),
                settings("(unclosed", "b", vec![]),
            ],
            "support",
        )
        .unwrap_err();
        assert_eq!(err.0, 1);
    }

    #[test]
    fn settings_read_from_toml() {
        #[derive(Deserialize)]
        struct Config {
            routes: Vec<RouteSettings>,
        }
        let config: Config = toml::from_str(
            r#"routes = [
                { pattern = "imprimante", team = "maintenance", category = "materiel", fields = ["subject", "description"] },
                { pattern = "pronote", team = "editeur" },
            ]"#,
        )
        .unwrap();
        assert_eq!(
            config.routes[0].fields,
            vec![RouteField::Subject, RouteField::Description]
        );
        assert_eq!(config.routes[1].category, None);
        assert!(config.routes[1].fields.is_empty());
    }
}
