package rules

// Facts is what cardwatch knows about a card beyond the transaction itself. The caller
// looks it up (from the JetStream key-value store, through a local cache) so that the
// rules stay pure functions.
type Facts struct {
	// MerchantKnown is true when this card has used the transaction's merchant before,
	// or the cardholder said "it was me" to an alert there.
	MerchantKnown bool
}

// Rule is one check a cardholder turned on.
type Rule interface {
	// Name is the rule's key in the rules file, "amount_over".
	Name() string
	// Check reports whether t should alert the cardholder, and why in their words.
	// It must not block or do I/O: it runs for every transaction.
	Check(t *Transaction, h *Cardholder, f Facts) (Reason, bool)
}

// Reason is why one rule fired, as the cardholder reads it.
type Reason struct {
	// Rule is the rule's name, "amount_over".
	Rule string `json:"rule"`
	// Detail is a sentence: "$1,342.10 is over your $500.00 limit".
	Detail string `json:"detail"`
	// Summary is two or three words for an SMS, where space is short: "over limit".
	Summary string `json:"summary"`
}

// Kind is a kind of rule the rules file can turn on. Adding a rule is one file that
// declares its Kind plus its line in kinds.
type Kind struct {
	// Name is the key under `rules:`.
	Name string
	// Build makes the rule for one cardholder from its YAML value. It returns a nil Rule
	// when the value turns the rule off (`false`).
	Build func(v Value, h *Cardholder) (Rule, error)
}

// kinds is every rule cardwatch knows, in the order their reasons are listed.
var kinds = []Kind{
	amountOverKind,
	unknownMerchantKind,
	foreignTerminalKind,
}

// Kinds returns every rule kind, in evaluation order.
func Kinds() []Kind { return append([]Kind(nil), kinds...) }

// Evaluate runs the cardholder's rules on t and returns the reasons of those that fired,
// nil when none did. It allocates only when a rule fires.
func Evaluate(t *Transaction, h *Cardholder, f Facts) []Reason {
	var out []Reason
	for _, r := range h.Rules {
		if reason, ok := r.Check(t, h, f); ok {
			out = append(out, reason)
		}
	}
	return out
}
