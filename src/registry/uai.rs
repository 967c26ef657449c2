//! UAI codes (unité administrative immatriculée, formerly RNE numbers): the
//! national identifier of every French school, seven digits and a check
//! letter, `0420012K`.
//!
//! The letter is the seven-digit number modulo 23, read in an alphabet
//! without I, O and Q (the letters a hand or a scanner confuses with digits).
//! Checked against published codes: 0420012K (the issue's example), 0750655E
//! (lycée Louis-le-Grand), 0750654D (lycée Henri-IV), 0690026D (lycée du
//! Parc), 0420041S (lycée Claude-Fauriel).

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The check letters, indexed by the number modulo 23.
const CHECK_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPRSTUVWXYZ";

/// A validated UAI code. Stored as its number: the letter follows from it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uai(u32);

/// Why a text is not a UAI code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UaiError {
    #[error("`{0}` is not a UAI code (seven digits and a letter, e.g. 0420012K)")]
    Shape(String),
    #[error("`{code}` is not a valid UAI code: its check letter should be {expected}")]
    CheckLetter { code: String, expected: char },
}

impl Uai {
    /// Parses a code, ignoring surrounding spaces and the case of the letter.
    pub fn parse(text: &str) -> Result<Self, UaiError> {
        let code = text.trim();
        let shape = || UaiError::Shape(code.to_string());
        let (digits, letter) = match code.as_bytes() {
            [digits @ .., letter] if code.len() == 8 => (digits, letter.to_ascii_uppercase()),
            _ => return Err(shape()),
        };
        if !digits.iter().all(u8::is_ascii_digit) || !letter.is_ascii_uppercase() {
            return Err(shape());
        }
        let number = digits
            .iter()
            .fold(0, |n, digit| n * 10 + u32::from(digit - b'0'));
        let uai = Uai(number);
        if uai.check_letter() as u8 == letter {
            Ok(uai)
        } else {
            Err(UaiError::CheckLetter {
                code: code.to_string(),
                expected: uai.check_letter(),
            })
        }
    }

    /// The letter that must follow the digits.
    pub fn check_letter(self) -> char {
        // The index is below 23 by construction.
        char::from(CHECK_LETTERS[(self.0 % 23) as usize])
    }
}

impl fmt::Display for Uai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:07}{}", self.0, self.check_letter())
    }
}

impl fmt::Debug for Uai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uai({self})")
    }
}

impl FromStr for Uai {
    type Err = UaiError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Uai::parse(text)
    }
}

impl TryFrom<String> for Uai {
    type Error = UaiError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Uai::parse(&text)
    }
}

impl From<Uai> for String {
    fn from(uai: Uai) -> String {
        uai.to_string()
    }
}

/// Seven digits and a letter standing alone as a word: `ce.0420012k@…`
/// counts, `10420012K` or `0420012KA` do not.
static UAI_WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[0-9]{7}[A-Za-z]\b").expect("constant pattern"));

/// The UAI codes written in a text, in order, with their check letter right.
/// A wrong letter is not a code: seven digits and a letter also occur in
/// references, phone extensions and part numbers, and one in 23 of those
/// passes the check by chance, not all of them.
pub fn find_uais(text: &str) -> impl Iterator<Item = Uai> + '_ {
    UAI_WORD
        .find_iter(text)
        .filter_map(|found| Uai::parse(found.as_str()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_codes_are_valid() {
        for code in ["0420012K", "0750655E", "0750654D", "0690026D", "0420041S"] {
            let uai = Uai::parse(code).unwrap();
            assert_eq!(uai.to_string(), code);
        }
    }

    #[test]
    fn the_letter_is_the_number_modulo_23_without_i_o_q() {
        // 420012 = 23 × 18261 + 9, and the tenth letter without I is K.
        assert_eq!(420_012 % 23, 9);
        assert_eq!(Uai::parse("0420012K").unwrap().check_letter(), 'K');
        // Remainders 0 and 22 are the ends of the alphabet.
        assert_eq!(Uai::parse("0000000A").unwrap().to_string(), "0000000A");
        assert_eq!(Uai::parse("0000022Z").unwrap().to_string(), "0000022Z");
        // Remainder 8 would be I in the full alphabet: it is J.
        assert_eq!(Uai::parse("0000008J").unwrap().check_letter(), 'J');
    }

    #[test]
    fn spaces_and_case_are_forgiven() {
        let uai = Uai::parse("  0420012k \t").unwrap();
        assert_eq!(uai.to_string(), "0420012K");
        assert_eq!("0420012k".parse::<Uai>().unwrap(), uai);
    }

    #[test]
    fn a_wrong_letter_names_the_right_one() {
        let error = Uai::parse("0420012L").unwrap_err();
        assert_eq!(
            error,
            UaiError::CheckLetter {
                code: "0420012L".into(),
                expected: 'K'
            }
        );
        assert_eq!(
            error.to_string(),
            "`0420012L` is not a valid UAI code: its check letter should be K"
        );
        // I, O and Q are never check letters.
        assert!(matches!(
            Uai::parse("0000008I"),
            Err(UaiError::CheckLetter { .. })
        ));
    }

    #[test]
    fn other_shapes_are_not_codes() {
        for text in [
            "",
            "0420012",
            "04200123K",
            "042001K2",
            "042O012K",
            "0420012-",
            "０420012K",
            "042001é",
            "0420 12K",
        ] {
            assert!(
                matches!(Uai::parse(text), Err(UaiError::Shape(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn serde_goes_through_the_text() {
        let uai: Uai = serde_json::from_str("\"0420012k\"").unwrap();
        assert_eq!(serde_json::to_string(&uai).unwrap(), "\"0420012K\"");
        assert!(serde_json::from_str::<Uai>("\"0420012A\"").is_err());
    }

    #[test]
    fn codes_are_found_as_words_with_a_right_letter() {
        let text = "Collège 0420012K (ce.0420041s@ac-lyon.fr); \
                    réf 0420012A, tél 10420012K, lot 0420012KB, 0750655E.";
        let found: Vec<String> = find_uais(text).map(|u| u.to_string()).collect();
        assert_eq!(found, ["0420012K", "0420041S", "0750655E"]);
    }

    #[test]
    fn no_code_in_plain_text() {
        assert_eq!(
            find_uais("Le vidéoprojecteur de la salle 12 est en panne.").count(),
            0
        );
    }
}
