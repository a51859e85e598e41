// Package rules is cardwatch's domain core: the transaction a bank publishes, the
// cardholder and the rules they chose, the alert and the report, the rules themselves
// (pure functions of a transaction and what is known of the card, no I/O), and the
// rules file loader and validator.
//
// It imports nothing else of cardwatch, so every other package can depend on it.
package rules
