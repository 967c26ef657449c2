//! Routing rules: which team and category a new request goes to.
