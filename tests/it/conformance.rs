//! The AWS-recorded ASL conformance corpus, run through `invoices states run`.
