//! The priority class of a request: stated in the mail, else decided by
//! ordered rules over subject and description, else `mineure`.
