package rules

import "time"

// Cardholder is one person who signed up for alerts, with their rules resolved against
// the file's defaults.
type Cardholder struct {
	// ID is the bank's cardholder id, as in the transaction's cardholder_id.
	ID string
	// Bank is the bank id the cardholder belongs to.
	Bank string
	// Name is how messages greet the cardholder; may be empty.
	Name string
	// Notify is where alerts go.
	Notify Notify
	// HomeCountry is the ISO 3166-1 alpha-2 country the card is at home in.
	HomeCountry string
	// Currency is the ISO 4217 currency thresholds are in.
	Currency string
	// Location is the cardholder's time zone; times in messages are local to it.
	Location *time.Location
	// Rules are the cardholder's rules in evaluation order.
	Rules []Rule
	// Line is where the cardholder is in the rules file, for messages about it.
	Line int
}

// Notify is where a cardholder wants alerts. Empty fields are channels they don't use.
type Notify struct {
	// SMS is an E.164 phone number.
	SMS string
	// Slack is a Slack user or channel id.
	Slack string
}

// HasRule reports whether the cardholder has the named rule turned on.
func (h *Cardholder) HasRule(name string) bool {
	for _, r := range h.Rules {
		if r.Name() == name {
			return true
		}
	}
	return false
}

// ListsMerchant reports whether the merchant is on the cardholder's known list, which
// makes remembering it for the card pointless.
func (h *Cardholder) ListsMerchant(m Merchant) bool {
	for _, r := range h.Rules {
		if l, ok := r.(interface{ lists(string) bool }); ok && l.lists(m.ID) {
			return true
		}
	}
	return false
}

// Book is a loaded, valid rules file: every cardholder by bank and id. It is never
// changed once built, so a running cardwatch swaps whole Books on reload.
type Book struct {
	// byBank holds a map by id for each bank: keyed by id alone, a million
	// cardholders' entries take half the memory of entries keyed by bank and id.
	byBank map[string]map[string]*Cardholder
	list   []*Cardholder
	// sizeHint is how many cardholders the first bank's map is made for.
	sizeHint int
}

// Lookup returns the cardholder with that id at that bank, or nil when they have not
// signed up (a normal case: not every cardholder wants alerts).
func (b *Book) Lookup(bank, id string) *Cardholder {
	if b == nil {
		return nil
	}
	return b.byBank[bank][id]
}

// add adds h, or returns the cardholder already there with the same bank and id.
func (b *Book) add(h *Cardholder) (already *Cardholder) {
	ids, ok := b.byBank[h.Bank]
	if !ok {
		if b.byBank == nil {
			b.byBank = map[string]map[string]*Cardholder{}
		}
		ids = make(map[string]*Cardholder, b.sizeHint)
		b.sizeHint = 0
		b.byBank[h.Bank] = ids
	}
	if prev, dup := ids[h.ID]; dup {
		return prev
	}
	ids[h.ID] = h
	b.list = append(b.list, h)
	return nil
}

// Cardholders returns every cardholder in file order.
func (b *Book) Cardholders() []*Cardholder {
	if b == nil {
		return nil
	}
	return b.list
}

// Len is the number of cardholders.
func (b *Book) Len() int {
	if b == nil {
		return 0
	}
	return len(b.list)
}
