//! Reading the request fields the support procedure asks for out of a mail's
//! text: `Nom et prénom : …`, `Tél. : …`, HTML tables turned into text, values
//! on the next line, descriptions running over several lines.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// A field of the request form of the support procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    Role,
    Phone,
    Establishment,
    Subject,
    Population,
    Description,
    Url,
    /// `Priorité : majeure`: not a required field, read when stated.
    Priority,
}

/// The fields read from one request. `None`: not found (or empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFields {
    pub name: Option<String>,
    pub role: Option<String>,
    pub phone: Option<String>,
    pub establishment: Option<String>,
    pub subject: Option<String>,
    pub population: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    /// The priority as the requester wrote it, not yet validated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
}

/// Label synonyms per field, configurable; [`FieldLabels::default`] holds the
/// French defaults. Matching ignores case, accents, surrounding bullets and
/// punctuation. A label must be the whole text before the colon, so the
/// longest label always wins: `Etablissement / Ville :` is never read as
/// `Ville`, nor `Objet de la demande :` as `Objet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLabels {
    pub labels: Vec<(Field, Vec<String>)>,
}

impl Field {
    /// The fields the procedure requires, in form order: all but the priority.
    pub const REQUIRED: [Field; 8] = [
        Field::Name,
        Field::Role,
        Field::Phone,
        Field::Establishment,
        Field::Subject,
        Field::Population,
        Field::Description,
        Field::Url,
    ];

    /// The field's key, as serialised and in templates.
    pub fn key(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Role => "role",
            Field::Phone => "phone",
            Field::Establishment => "establishment",
            Field::Subject => "subject",
            Field::Population => "population",
            Field::Description => "description",
            Field::Url => "url",
            Field::Priority => "priority",
        }
    }

    /// The label the procedure gives the field, as the acknowledgement lists
    /// missing fields.
    pub fn label_fr(self) -> &'static str {
        match self {
            Field::Name => "Nom et prénom",
            Field::Role => "Fonction",
            Field::Phone => "Numéro de téléphone",
            Field::Establishment => "Établissement / Ville",
            Field::Subject => "Objet de la demande",
            Field::Population => "Population concernée par le problème",
            Field::Description => "Description précise",
            Field::Url => "URL de l'établissement ou fil d'Ariane",
            Field::Priority => "Priorité",
        }
    }
}

impl RequestFields {
    /// The value of a field, `None` when not found.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.slot(field).as_deref()
    }

    /// Sets a field's value, replacing any previous one.
    pub fn set(&mut self, field: Field, value: String) {
        *self.slot_mut(field) = Some(value);
    }

    fn slot(&self, field: Field) -> &Option<String> {
        match field {
            Field::Name => &self.name,
            Field::Role => &self.role,
            Field::Phone => &self.phone,
            Field::Establishment => &self.establishment,
            Field::Subject => &self.subject,
            Field::Population => &self.population,
            Field::Description => &self.description,
            Field::Url => &self.url,
            Field::Priority => &self.priority,
        }
    }

    fn slot_mut(&mut self, field: Field) -> &mut Option<String> {
        match field {
            Field::Name => &mut self.name,
            Field::Role => &mut self.role,
            Field::Phone => &mut self.phone,
            Field::Establishment => &mut self.establishment,
            Field::Subject => &mut self.subject,
            Field::Population => &mut self.population,
            Field::Description => &mut self.description,
            Field::Url => &mut self.url,
            Field::Priority => &mut self.priority,
        }
    }
}

impl Default for FieldLabels {
    fn default() -> Self {
        let labels = [
            (
                Field::Name,
                &[
                    "Nom et prénom",
                    "Nom prénom",
                    "Nom, prénom",
                    "Prénom et nom",
                    "Prénom nom",
                    "Nom",
                    "Prénom",
                    "Nom du demandeur",
                    "Demandeur",
                    "Identité",
                ][..],
            ),
            (
                Field::Role,
                &[
                    "Fonction",
                    "Fonction du demandeur",
                    "Poste",
                    "Qualité",
                    "Rôle",
                    "Statut",
                ][..],
            ),
            (
                Field::Phone,
                &[
                    "Numéro de téléphone",
                    "N° de téléphone",
                    "N° téléphone",
                    "N° de tél",
                    "N° tél",
                    "Numéro de tél",
                    "Numéro",
                    "Téléphone",
                    "Tél",
                    "Téléphone portable",
                    "Tél portable",
                    "Téléphone fixe",
                    "Portable",
                    "Mobile",
                    "Contact téléphonique",
                    "Coordonnées téléphoniques",
                    "Ligne directe",
                ][..],
            ),
            (
                Field::Establishment,
                &[
                    "Etablissement / Ville",
                    "Établissement et ville",
                    "Etablissement",
                    "Établissement scolaire",
                    "Nom de l'établissement",
                    "Ecole",
                    "Ville",
                    "Commune",
                ][..],
            ),
            (
                Field::Subject,
                &[
                    "Objet de la demande",
                    "Objet",
                    "Objet du message",
                    "Sujet",
                    "Sujet de la demande",
                    "Motif",
                    "Motif de la demande",
                ][..],
            ),
            (
                Field::Population,
                &[
                    "Population concernée par le problème",
                    "Population concernée",
                    "Population",
                    "Public concerné",
                    "Personnes concernées",
                    "Utilisateurs concernés",
                ][..],
            ),
            (
                Field::Description,
                &[
                    "Description précise",
                    "Description",
                    "Description du problème",
                    "Description précise du problème",
                    "Description de la demande",
                    "Description détaillée",
                    "Descriptif",
                    "Détail",
                    "Détails",
                    "Détail de la demande",
                    "Problème rencontré",
                ][..],
            ),
            (
                Field::Url,
                &[
                    "URL de l'établissement ou fil d'Ariane",
                    "URL de l'établissement",
                    "URL ou fil d'Ariane",
                    "URL",
                    "Fil d'Ariane",
                    "Adresse URL",
                    "Adresse du site",
                    "Lien",
                    "Chemin",
                ][..],
            ),
            (
                Field::Priority,
                &[
                    "Priorité",
                    "Niveau de priorité",
                    "Urgence",
                    "Niveau d'urgence",
                    "Criticité",
                ][..],
            ),
        ];
        FieldLabels {
            labels: labels
                .iter()
                .map(|(field, names)| (*field, names.iter().map(|n| n.to_string()).collect()))
                .collect(),
        }
    }
}

impl FieldLabels {
    /// Adds a site's own synonyms for a field (from the configuration).
    pub fn with_extra(mut self, field: Field, labels: impl IntoIterator<Item = String>) -> Self {
        match self.labels.iter_mut().find(|(f, _)| *f == field) {
            Some((_, names)) => names.extend(labels),
            None => self.labels.push((field, labels.into_iter().collect())),
        }
        self
    }

    /// The labels folded for lookup. When two fields share a label, the one
    /// listed first keeps it.
    fn index(&self) -> LabelIndex {
        let mut index = LabelIndex::default();
        for (field, names) in &self.labels {
            for name in names {
                let folded = fold(name);
                if !folded.is_empty() {
                    index.longest = index.longest.max(alphanumeric_count(&folded));
                    index.fields.entry(folded).or_insert(*field);
                }
            }
        }
        index
    }
}

/// Folded label → field.
#[derive(Default)]
struct LabelIndex {
    fields: HashMap<String, Field>,
    /// Letters and digits in the longest label: longer text is no label,
    /// known without folding it.
    longest: usize,
}

impl LabelIndex {
    fn get(&self, text: &str) -> Option<(Field, String)> {
        if alphanumeric_count(text) > self.longest {
            return None;
        }
        let label = fold(&without_parentheses(text));
        self.fields.get(&label).map(|field| (*field, label))
    }
}

/// Letters and digits outside parentheses.
fn alphanumeric_count(text: &str) -> usize {
    let mut depth = 0usize;
    text.chars()
        .filter(|&c| {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            depth == 0 && c.is_alphanumeric()
        })
        .count()
}

/// The required fields not found, in form order.
pub fn missing(fields: &RequestFields) -> Vec<Field> {
    Field::REQUIRED
        .into_iter()
        .filter(|f| fields.get(*f).is_none())
        .collect()
}

/// Reads the request fields out of the new part of a mail (quotes already
/// cut by [`crate::intake::reply::new_part`]).
///
/// A label line starts with a known label followed by `:` (`Tél. : 01…`,
/// `- **Nom** : Dupont`), or is a label alone, its value on the next
/// non-empty line (HTML tables render that way, see
/// [`crate::intake::html::to_text`]), or a table row `Nom<tab>Dupont`. The
/// label must be the whole text before the colon, so prose such as
/// `Le téléphone ne marche plus : …` is never taken for a label. Values take
/// one line, except the description, which runs until the next label, a
/// signature delimiter or a closing formula (`Cordialement`…). The first
/// non-empty value of a field wins.
pub fn read_fields(text: &str, labels: &FieldLabels) -> RequestFields {
    let index = labels.index();
    let lines: Vec<&str> = text.lines().collect();
    let mut builder = FieldsBuilder::default();
    let mut i = 0;
    while i < lines.len() {
        let Some(mut found) = label_line(lines[i], &index) else {
            i += 1;
            continue;
        };
        let (value, next) = if found.field == Field::Description {
            description_value(&lines, i + 1, found.value.take(), &index)
        } else {
            single_value(&lines, i + 1, found.value.take(), &index)
        };
        if let Some(value) = value {
            builder.offer(&found, value);
        }
        i = next;
    }
    builder.fields
}

/// A label line: its field, the folded label as written, and the value on
/// the same line if any.
struct LabelLine {
    field: Field,
    label: String,
    value: Option<String>,
}

/// Collects values, first one wins, and joins a separate `Nom :` and
/// `Prénom :` into one name.
#[derive(Default)]
struct FieldsBuilder {
    fields: RequestFields,
    /// The folded label that gave the name, to recognise `Nom` + `Prénom`.
    name_label: Option<String>,
}

impl FieldsBuilder {
    fn offer(&mut self, found: &LabelLine, value: String) {
        if let Some(existing) = self.fields.get(found.field) {
            if let Some(joined) = self.joined_name(found, existing, &value) {
                self.fields.name = Some(joined);
                self.name_label = None;
            }
            return;
        }
        if found.field == Field::Name {
            self.name_label = Some(found.label.clone());
        }
        self.fields.set(found.field, value);
    }

    /// `Nom : Dupont` then `Prénom : Jean` (either order) → `Jean Dupont`.
    fn joined_name(&self, found: &LabelLine, existing: &str, value: &str) -> Option<String> {
        if found.field != Field::Name {
            return None;
        }
        match (self.name_label.as_deref()?, found.label.as_str()) {
            ("nom", "prenom") => Some(format!("{value} {existing}")),
            ("prenom", "nom") => Some(format!("{existing} {value}")),
            _ => None,
        }
    }
}

/// The value of a one-line field: on the label's line, or else the next
/// non-blank line unless that line is another label or the end of the form.
fn single_value(
    lines: &[&str],
    from: usize,
    inline: Option<String>,
    index: &LabelIndex,
) -> (Option<String>, usize) {
    if inline.is_some() {
        return (inline, from);
    }
    let Some(offset) = lines[from..].iter().position(|l| has_content(l)) else {
        return (None, lines.len());
    };
    let at = from + offset;
    if label_line(lines[at], index).is_some() || ends_form(lines[at]) {
        return (None, at);
    }
    (clean_value(lines[at]), at + 1)
}

/// The description: its line's value and every following line, blank ones
/// included, until the next label, a signature delimiter or a closing.
fn description_value(
    lines: &[&str],
    from: usize,
    inline: Option<String>,
    index: &LabelIndex,
) -> (Option<String>, usize) {
    let mut parts: Vec<&str> = Vec::new();
    let mut next = lines.len();
    for (offset, line) in lines[from..].iter().enumerate() {
        if label_line(line, index).is_some() || ends_form(line) {
            next = from + offset;
            break;
        }
        parts.push(line.trim_end());
    }
    let mut text = inline.unwrap_or_default();
    for part in parts {
        text.push('\n');
        text.push_str(part);
    }
    (clean_value(&collapse_blank_runs(&text)), next)
}

/// Longest line considered as a closing: closings are short.
const MAX_CLOSING_LINE: usize = 200;

/// Reads a line as a label line, trying in turn `label : value`, a label
/// alone, and a table row (`label<tab>value`, `label   value`, `| l | v |`).
fn label_line(line: &str, index: &LabelIndex) -> Option<LabelLine> {
    let line = strip_bullets(line);
    let lookup = |head: &str, value: Option<&str>| -> Option<LabelLine> {
        let (field, label) = index.get(head)?;
        Some(LabelLine {
            field,
            label,
            value: value.and_then(clean_value),
        })
    };
    if let Some((head, value)) = line.split_once([':', '：']) {
        if let Some(found) = lookup(head, Some(value)) {
            return Some(found);
        }
    }
    let alone = line.trim_end_matches([':', '：', ' ', '\u{a0}', '\u{202f}']);
    if let Some(found) = lookup(alone, None) {
        return Some(found);
    }
    let (head, value) = table_cells(line)?;
    lookup(head.trim_end_matches([':', ' ']), Some(&value))
}

/// Splits a table row into its first cell and the rest: cells separated by
/// `|`/`│`, a tab, or two spaces or more. Only rows of two cells or more.
fn table_cells(line: &str) -> Option<(&str, String)> {
    if line.contains(['|', '│']) {
        let mut cells = line
            .split(['|', '│'])
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let first = cells.next()?;
        let rest: Vec<&str> = cells.collect();
        return (!rest.is_empty()).then(|| (first, rest.join(" ")));
    }
    let split_at = line
        .find('\t')
        .or_else(|| line.find("  "))
        .or_else(|| line.find(" \u{a0}"))
        .or_else(|| line.find("\u{a0} "))?;
    let (head, value) = line.split_at(split_at);
    let value = value.trim();
    (!value.is_empty()).then(|| (head, value.to_string()))
}

/// Removes list bullets, numbering and emphasis markers before a label:
/// `- `, `* `, `• `, `1. `, `2) `, `**`.
fn strip_bullets(line: &str) -> &str {
    let mut rest = line.trim();
    loop {
        let before = rest;
        rest = rest
            .trim_start_matches(['-', '*', '•', '–', '—', '·', '◦', '▪', '►', '_', '#'])
            .trim_start();
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 && digits <= 2 {
            if let Some(after) = rest[digits..].strip_prefix(['.', ')']) {
                if after.starts_with(char::is_whitespace) {
                    rest = after.trim_start();
                }
            }
        }
        if rest == before {
            return rest;
        }
    }
}

/// `Téléphone (fixe ou portable)` → `Téléphone `.
fn without_parentheses(head: &str) -> String {
    let mut depth = 0usize;
    head.chars()
        .filter(|&c| match c {
            '(' => {
                depth += 1;
                false
            }
            ')' => {
                depth = depth.saturating_sub(1);
                false
            }
            _ => depth == 0,
        })
        .collect()
}

/// A value without surrounding spaces and emphasis markers; `None` when
/// nothing meaningful is left (`-`, `…`, `/`).
fn clean_value(value: &str) -> Option<String> {
    let mut value = value.trim();
    for marker in ["**", "__"] {
        value = value.strip_prefix(marker).unwrap_or(value).trim_start();
        value = value.strip_suffix(marker).unwrap_or(value).trim_end();
    }
    value
        .chars()
        .any(char::is_alphanumeric)
        .then(|| value.to_string())
}

fn has_content(line: &str) -> bool {
    line.chars().any(char::is_alphanumeric)
}

/// Closings after which nothing belongs to the description. `merci` alone
/// only as a whole line: `Merci de réinitialiser…` is a request.
const CLOSINGS: [&str; 25] = [
    "cordialement",
    "bien cordialement",
    "tres cordialement",
    "bien a vous",
    "salutations",
    "meilleures salutations",
    "sinceres salutations",
    "merci d avance",
    "merci par avance",
    "en vous remerciant",
    "avec mes remerciements",
    "merci pour votre aide",
    "merci de votre aide",
    "merci pour votre retour",
    "merci de votre retour",
    "merci pour votre reponse",
    "merci beaucoup",
    "je vous remercie",
    "dans l attente de votre",
    "veuillez agreer",
    "bonne journee",
    "bonne fin de journee",
    "best regards",
    "kind regards",
    "regards",
];

/// A line that ends the form: a signature delimiter or a closing formula.
fn ends_form(line: &str) -> bool {
    if line.trim_end() == "--" {
        return true;
    }
    if line.len() > MAX_CLOSING_LINE {
        return false;
    }
    let folded = fold(line);
    folded == "merci"
        || CLOSINGS.iter().any(|closing| {
            folded
                .strip_prefix(closing)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        })
}

/// Lower case, accents stripped, every run of punctuation and spaces made a
/// single space: `N° de Téléphone :` → `n de telephone`.
fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue; // combining accent of a decomposed letter
        }
        if !c.is_alphanumeric() {
            pending_space = true;
            continue;
        }
        if pending_space && !folded.is_empty() {
            folded.push(' ');
        }
        pending_space = false;
        match fold_letter(c) {
            Some(ascii) => folded.push_str(ascii),
            None => folded.push(c),
        }
    }
    folded
}

/// The unaccented form of the accented letters French uses.
fn fold_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' => "a",
        'ç' => "c",
        'é' | 'è' | 'ê' | 'ë' => "e",
        'î' | 'ï' | 'í' | 'ì' => "i",
        'ô' | 'ö' | 'ó' | 'ò' | 'õ' => "o",
        'ù' | 'û' | 'ü' | 'ú' => "u",
        'ÿ' | 'ý' => "y",
        'ñ' => "n",
        'œ' => "oe",
        'æ' => "ae",
        _ => return None,
    })
}

/// Keeps at most one blank line between paragraphs.
fn collapse_blank_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{html, reply};

    fn read(text: &str) -> RequestFields {
        read_fields(text, &FieldLabels::default())
    }

    fn some(value: &str) -> Option<String> {
        Some(value.to_string())
    }

    const CANONICAL: &str = "Bonjour,\n\nVeuillez trouver ma demande.\n\n\
        Nom et prénom : Dupont Jean\n\
        Fonction : Professeur de mathématiques\n\
        Numéro de téléphone : 01 23 45 67 89\n\
        Etablissement / Ville : Collège Jean Moulin, Lyon\n\
        Objet de la demande : Impossible de se connecter à Pronote\n\
        Population concernée par le problème : Enseignants\n\
        Description précise : Depuis lundi, les enseignants ne peuvent plus se connecter.\n\
        Le message « identifiant inconnu » s'affiche.\n\
        URL de l'établissement ou fil d'Ariane : https://ent.example.fr/jean-moulin\n\n\
        Cordialement,\nJean Dupont\n";

    #[test]
    fn canonical_form_is_read_whole() {
        let fields = read(CANONICAL);
        assert_eq!(
            fields,
            RequestFields {
                name: some("Dupont Jean"),
                role: some("Professeur de mathématiques"),
                phone: some("01 23 45 67 89"),
                establishment: some("Collège Jean Moulin, Lyon"),
                subject: some("Impossible de se connecter à Pronote"),
                population: some("Enseignants"),
                description: some(
                    "Depuis lundi, les enseignants ne peuvent plus se connecter.\n\
                     Le message « identifiant inconnu » s'affiche."
                ),
                url: some("https://ent.example.fr/jean-moulin"),
                priority: None,
            }
        );
        assert!(missing(&fields).is_empty());
    }

    #[test]
    fn colon_with_no_space_or_no_break_spaces() {
        let fields = read(
            "Nom et prénom: Dupont Jean\nFonction\u{a0}: CPE\n\
             Téléphone\u{202f}:\u{a0}04 78 00 00 00\nObjet :Wifi\n",
        );
        assert_eq!(fields.name, some("Dupont Jean"));
        assert_eq!(fields.role, some("CPE"));
        assert_eq!(fields.phone, some("04 78 00 00 00"));
        assert_eq!(fields.subject, some("Wifi"));
    }

    #[test]
    fn capitals_missing_accents_and_abbreviations() {
        let fields = read(
            "NOM ET PRENOM : DUPONT Jean\nFONCTION : Principal adjoint\nTel. : 01 02\n\
             ETABLISSEMENT : Lycée Victor Hugo\nObjet De La Demande : Imprimante\n\
             POPULATION CONCERNEE : Élèves de 3e\nfil d'ariane : Accueil > Vie scolaire\n",
        );
        assert_eq!(fields.name, some("DUPONT Jean"));
        assert_eq!(fields.role, some("Principal adjoint"));
        assert_eq!(fields.phone, some("01 02"));
        assert_eq!(fields.establishment, some("Lycée Victor Hugo"));
        assert_eq!(fields.subject, some("Imprimante"));
        assert_eq!(fields.population, some("Élèves de 3e"));
        assert_eq!(fields.url, some("Accueil > Vie scolaire"));
        for phone in [
            "Tél. : 05",
            "TEL: 05",
            "N° de téléphone : 05",
            "telephone : 05",
        ] {
            assert_eq!(read(phone).phone, some("05"), "{phone}");
        }
        for name in [
            "Nom/Prénom : X",
            "Nom - Prénom : X",
            "Nom : X",
            "Prénom Nom : X",
        ] {
            assert_eq!(read(name).name, some("X"), "{name}");
        }
        for place in [
            "Établissement / Ville : X",
            "Etablissement : X",
            "Ville : X",
        ] {
            assert_eq!(read(place).establishment, some("X"), "{place}");
        }
    }

    #[test]
    fn decomposed_accents_fold_like_composed_ones() {
        assert_eq!(fold("Te\u{301}le\u{301}phone"), "telephone");
        assert_eq!(fold("  N° de Téléphone :"), "n de telephone");
        assert_eq!(
            fold("URL de l’établissement ou fil d’Ariane"),
            "url de l etablissement ou fil d ariane"
        );
        assert_eq!(fold("Œuvre"), "oeuvre");
    }

    #[test]
    fn bullets_numbering_and_bold_markers() {
        let fields = read(
            "- Nom et prénom : Dupont Jean\n* Fonction : CPE\n• Téléphone : 01\n\
             – Objet : Wifi\n1. Population : Élèves\n2) Etablissement : Collège X\n\
             **Description** : Plus de réseau.\n- **URL :** https://x.fr\n",
        );
        assert_eq!(fields.name, some("Dupont Jean"));
        assert_eq!(fields.role, some("CPE"));
        assert_eq!(fields.phone, some("01"));
        assert_eq!(fields.subject, some("Wifi"));
        assert_eq!(fields.population, some("Élèves"));
        assert_eq!(fields.establishment, some("Collège X"));
        assert_eq!(fields.description, some("Plus de réseau."));
        assert_eq!(fields.url, some("https://x.fr"));
    }

    #[test]
    fn label_alone_takes_the_next_non_empty_line() {
        let fields = read(
            "Nom et prénom\nDupont Jean\n\nFonction :\n\nCPE\nTéléphone :\nEtablissement\nLycée X\n",
        );
        assert_eq!(fields.name, some("Dupont Jean"));
        assert_eq!(fields.role, some("CPE"));
        assert_eq!(fields.phone, None, "next line is another label");
        assert_eq!(fields.establishment, some("Lycée X"));
    }

    #[test]
    fn label_alone_before_a_closing_has_no_value() {
        let fields = read("Téléphone :\n\nCordialement,\nJean");
        assert_eq!(fields.phone, None);
    }

    #[test]
    fn description_runs_over_lines_until_the_next_label() {
        let fields = read(
            "Description précise :\nLe TBI de la salle 12 ne s'allume plus.\n\n\
             Nous avons essayé de le redémarrer.\nRemarque : le voyant clignote.\n\
             URL : https://x.fr\n",
        );
        assert_eq!(
            fields.description,
            some(
                "Le TBI de la salle 12 ne s'allume plus.\n\nNous avons essayé de le redémarrer.\n\
                 Remarque : le voyant clignote."
            )
        );
        assert_eq!(fields.url, some("https://x.fr"));
    }

    #[test]
    fn description_last_runs_until_the_closing() {
        let fields = read(
            "Objet : Pronote\nDescription : Les notes ne s'enregistrent pas.\n\n\n\n\
             Merci de vérifier le serveur.\n\nBien cordialement,\nJean Dupont\nCPE",
        );
        assert_eq!(
            fields.description,
            some("Les notes ne s'enregistrent pas.\n\nMerci de vérifier le serveur.")
        );
        let signed = read("Description : Panne.\nSuite.\n-- \nJean Dupont");
        assert_eq!(signed.description, some("Panne.\nSuite."));
        let thanks = read("Description : Panne.\nMerci d'avance pour votre aide.\nJean");
        assert_eq!(thanks.description, some("Panne."));
    }

    #[test]
    fn html_table_through_to_text() {
        let html = "<html><body><p>Bonjour,</p><table>\
            <tr><td><b>Nom et prénom</b></td><td>Dupont Jean</td></tr>\
            <tr><td>Fonction</td><td>CPE</td></tr>\
            <tr><td>Numéro de téléphone</td><td>01&nbsp;23&nbsp;45&nbsp;67&nbsp;89</td></tr>\
            <tr><td>Etablissement / Ville</td><td>Collège Jean Moulin, Lyon</td></tr>\
            <tr><td>Objet de la demande</td><td>Pronote</td></tr>\
            <tr><td>Population concernée par le problème</td><td></td></tr>\
            <tr><td>Description précise</td><td><p>Connexion impossible.</p><p>Depuis lundi.</p></td></tr>\
            <tr><td>URL de l'établissement ou fil d'Ariane</td><td><a href=\"https://ent.example.fr/\">https://ent.example.fr/</a></td></tr>\
            </table><p>Cordialement</p></body></html>";
        let fields = read(&html::to_text(html));
        assert_eq!(
            fields,
            RequestFields {
                name: some("Dupont Jean"),
                role: some("CPE"),
                phone: some("01 23 45 67 89"),
                establishment: some("Collège Jean Moulin, Lyon"),
                subject: some("Pronote"),
                population: None,
                description: some("Connexion impossible.\n\nDepuis lundi."),
                url: some("https://ent.example.fr/"),
                priority: None,
            }
        );
        assert_eq!(missing(&fields), vec![Field::Population]);
    }

    #[test]
    fn html_paragraphs_with_bold_labels() {
        let html = "<p><b>Nom :</b> Dupont</p><p><strong>Fonction&nbsp;:</strong> CPE</p>\
            <p>Tél&nbsp;: 01 02<br>Objet : Wifi</p>";
        let fields = read(&html::to_text(html));
        assert_eq!(fields.name, some("Dupont"));
        assert_eq!(fields.role, some("CPE"));
        assert_eq!(fields.phone, some("01 02"));
        assert_eq!(fields.subject, some("Wifi"));
    }

    #[test]
    fn quoted_form_in_history_is_not_read() {
        let text = "Bonjour,\nObjet : Toujours en panne\n\n\
            Le lun. 3 nov. 2025 à 10:12, Jean Dupont <j@x.fr> a écrit :\n\
            > Nom et prénom : Dupont Jean\n> Fonction : CPE\n> Objet : Wifi\n";
        let fields = read(&reply::new_part(text));
        assert_eq!(fields.subject, some("Toujours en panne"));
        assert_eq!(fields.name, None);
        assert_eq!(fields.role, None);
        let outlook =
            "Voir ci-dessous.\n\nDe : Jean\nEnvoyé : lundi\nÀ : Support\n\nNom : Dupont\n";
        assert_eq!(read(&reply::new_part(outlook)), RequestFields::default());
    }

    #[test]
    fn free_form_mail_has_no_fields() {
        let text = "Bonjour,\n\nLe téléphone de la vie scolaire ne marche plus depuis hier.\n\
            Pouvez-vous nous aider ? Notre établissement est fermé mercredi.\n\nCordialement";
        let fields = read(text);
        assert_eq!(fields, RequestFields::default());
        assert_eq!(missing(&fields), Field::REQUIRED.to_vec());
    }

    #[test]
    fn label_words_inside_sentences_are_not_labels() {
        let text = "Le téléphone ne marche plus : merci de regarder.\n\
            Mon nom : vous le connaissez.\nJ'ai changé l'objet : voir plus bas.\n\
            La description  est dans la pièce jointe.";
        assert_eq!(read(text), RequestFields::default());
    }

    #[test]
    fn priority_is_read_when_stated() {
        let fields = read("Objet : ENT\nPriorité : Bloquante\n");
        assert_eq!(fields.priority, some("Bloquante"));
        assert_eq!(read("URGENCE : majeure").priority, some("majeure"));
        assert_eq!(
            read("Priorité (à choisir parmi bloquante / majeure / mineure) : mineure").priority,
            some("mineure")
        );
        assert!(!missing(&read("Objet : x")).contains(&Field::Priority));
    }

    #[test]
    fn longest_label_is_the_whole_label_part() {
        let fields = read("Etablissement / Ville : Collège X, Lyon\nObjet de la demande : Wifi\n");
        assert_eq!(fields.establishment, some("Collège X, Lyon"));
        assert_eq!(fields.subject, some("Wifi"));
        assert_eq!(
            read("Nom et prénom : Jean Dupont").name,
            some("Jean Dupont")
        );
    }

    #[test]
    fn table_rows_with_tabs_spaces_or_pipes() {
        let fields =
            read("Nom\tDupont Jean\nFonction     CPE\n| Téléphone | 01 02 |\n│Objet│Wifi│\n");
        assert_eq!(fields.name, some("Dupont Jean"));
        assert_eq!(fields.role, some("CPE"));
        assert_eq!(fields.phone, some("01 02"));
        assert_eq!(fields.subject, some("Wifi"));
        assert_eq!(read("Nom de famille  inconnu").name, None);
    }

    #[test]
    fn parenthetical_qualifier_in_a_label() {
        assert_eq!(
            read("Téléphone (fixe ou portable) : 06 00").phone,
            some("06 00")
        );
    }

    #[test]
    fn first_non_empty_occurrence_wins() {
        let fields = read("Fonction :\nNom : A\nFonction : CPE\nNom : B\nFonction : Professeur\n");
        assert_eq!(fields.name, some("A"));
        assert_eq!(fields.role, some("CPE"));
    }

    #[test]
    fn separate_nom_and_prenom_are_joined() {
        assert_eq!(
            read("Nom : Dupont\nPrénom : Jean\n").name,
            some("Jean Dupont")
        );
        assert_eq!(
            read("Prénom : Jean\nNom : Dupont\n").name,
            some("Jean Dupont")
        );
        assert_eq!(
            read("Nom et prénom : Jean Dupont\nNom : X\n").name,
            some("Jean Dupont")
        );
    }

    #[test]
    fn placeholder_values_are_empty() {
        let fields = read("Fonction : -\nTéléphone : …\nObjet : **\n");
        assert_eq!(fields, RequestFields::default());
    }

    #[test]
    fn site_synonyms_extend_the_defaults() {
        let labels = FieldLabels::default()
            .with_extra(Field::Establishment, ["Code RNE".to_string()])
            .with_extra(Field::Role, ["Emploi".to_string()]);
        let text = "Code RNE : 0690001A\nEmploi : CPE\nFonction : X";
        assert_eq!(read(text).establishment, None);
        let fields = read_fields(text, &labels);
        assert_eq!(fields.establishment, some("0690001A"));
        assert_eq!(fields.role, some("CPE"));
    }

    #[test]
    fn field_keys_labels_and_accessors() {
        assert_eq!(Field::Name.key(), "name");
        assert_eq!(
            Field::Url.label_fr(),
            "URL de l'établissement ou fil d'Ariane"
        );
        assert!(!Field::REQUIRED.contains(&Field::Priority));
        for field in Field::REQUIRED.into_iter().chain([Field::Priority]) {
            assert_eq!(serde_json::to_value(field).unwrap(), field.key());
            let mut fields = RequestFields::default();
            fields.set(field, format!("v-{}", field.key()));
            assert_eq!(
                fields.get(field),
                Some(format!("v-{}", field.key()).as_str())
            );
            assert!(!missing(&fields).contains(&field));
        }
    }

    #[test]
    fn missing_lists_required_fields_in_form_order() {
        let fields = read("Objet : Wifi\nNom : Dupont\nPriorité : majeure");
        assert_eq!(
            missing(&fields),
            vec![
                Field::Role,
                Field::Phone,
                Field::Establishment,
                Field::Population,
                Field::Description,
                Field::Url
            ]
        );
    }

    /// `read_fields` is total: every corpus file, through `new_part` and raw.
    #[test]
    fn read_fields_never_panics_on_the_corpus() {
        let Some(corpus) = crate::test_support::corpus() else {
            return;
        };
        let labels = FieldLabels::default();
        let mut count = 0;
        for path in reply::tests::corpus_files(&corpus) {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            let _ = read_fields(&text, &labels);
            let _ = read_fields(&reply::new_part(&text), &labels);
            count += 1;
        }
        assert!(count > 400, "corpus not found: {count} files");
    }

    #[test]
    fn long_lines_stay_linear() {
        let line = "Description : ".to_string() + &"mot ".repeat(200_000);
        let text = format!("{line}\n{}", "Nom\n".repeat(50_000));
        let fields = read(&text);
        assert_eq!(fields.description.map(|d| d.len()), Some(4 * 200_000 - 1));
        assert_eq!(
            fields.name, None,
            "each label alone is followed by another label"
        );
    }
}
