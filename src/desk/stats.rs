//! The indicators partners ask for, computed from ticket records.
