//! Cutting a reply down to its new part: quoted history (`> …`, `Le … a
//! écrit :`, `-----Message d'origine-----`, `On … wrote:`) and signatures.
