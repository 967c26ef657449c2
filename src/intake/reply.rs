//! Cutting a reply down to its new part: quoted history (`> …`, `Le … a
//! écrit :`, `-----Message d'origine-----`, `On … wrote:`) and signatures.

// TEMPORARY until the reply cutter lands.
pub fn new_part(text: &str) -> String {
    text.trim().to_string()
}
