package rules

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// benchHolder is ch_1001 of the example rules file, the cardholder the example event is for.
func benchHolder(b *testing.B) *Cardholder {
	b.Helper()
	book, err := Parse("rules.example.yaml", exampleRules(b))
	if err != nil {
		b.Fatal(err)
	}
	h := book.Lookup("acme", "ch_1001")
	if h == nil {
		b.Fatal("ch_1001 not in the example rules")
	}
	return h
}

// compactEvent is the example event as a bank's encoder sends it, without the pretty
// printing of the contract's copy.
func compactEvent(b *testing.B, data []byte) []byte {
	b.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, data); err != nil {
		b.Fatal(err)
	}
	return out.Bytes()
}

// BenchmarkDecodeEvaluateQuiet is the common case on the hot path: an everyday purchase
// (compact JSON) at a known merchant at home, under the limit, so no rule fires.
func BenchmarkDecodeEvaluateQuiet(b *testing.B) {
	h := benchHolder(b)
	data := editEvent(b, func(ev map[string]any) {
		obj(ev, "billing_amount")["value"] = "12.50"
		obj(ev, "merchant")["id"], obj(ev, "merchant")["country"] = "M-1001", "US"
		obj(ev, "terminal")["country"] = "US"
	})
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		t, err := DecodeTransaction(exampleBank, exampleCard, data)
		if err != nil {
			b.Fatal(err)
		}
		if rs := Evaluate(t, h, Facts{}); rs != nil {
			b.Fatalf("%d reasons, want none", len(rs))
		}
	}
}

// BenchmarkDecodeEvaluate is the per-event hot path: decode and validate the contract's
// example event, then run ch_1001's rules on it (all three fire).
func BenchmarkDecodeEvaluate(b *testing.B) {
	data, h := exampleEvent(b), benchHolder(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		t, err := DecodeTransaction(exampleBank, exampleCard, data)
		if err != nil {
			b.Fatal(err)
		}
		if rs := Evaluate(t, h, Facts{}); len(rs) != 3 {
			b.Fatalf("%d reasons, want 3", len(rs))
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for name, data := range map[string][]byte{"pretty": exampleEvent(b), "compact": compactEvent(b, exampleEvent(b))} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := DecodeTransaction(exampleBank, exampleCard, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEvaluate(b *testing.B) {
	h := benchHolder(b)
	t, err := DecodeTransaction(exampleBank, exampleCard, exampleEvent(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("all fire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if rs := Evaluate(t, h, Facts{}); len(rs) != 3 {
				b.Fatalf("%d reasons, want 3", len(rs))
			}
		}
	})
	quiet := *t
	quiet.BillingAmount = &Money{1000, "USD"}
	quiet.Terminal.Country, quiet.Merchant.Country = "US", "US"
	b.Run("none fire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if rs := Evaluate(&quiet, h, Facts{MerchantKnown: true}); rs != nil {
				b.Fatalf("%d reasons, want none", len(rs))
			}
		}
	})
}

func BenchmarkFindPANs(b *testing.B) {
	data := exampleEvent(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if hits := FindPANs(data); len(hits) != 0 {
			b.Fatalf("found %v in the example event", hits)
		}
	}
}

// BenchmarkFindPANsLongRuns is the screen on an event-sized text (MaxEventSize) of
// digit groups in a row that never make a PAN, joined by spaces and by colons (which
// make the screen ask whether they are an IP address): its cost must grow with the
// text, not with its square.
func BenchmarkFindPANsLongRuns(b *testing.B) {
	for _, sep := range []string{" ", ":"} {
		data := bytes.Repeat([]byte("1000"+sep), MaxEventSize/5)
		if hits := FindPANs(data); len(hits) != 0 {
			b.Fatalf("found %d numbers", len(hits))
		}
		b.Run(map[string]string{" ": "spaces", ":": "colons"}[sep], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				FindPANs(data)
			}
		})
	}
}

// BenchmarkScreenEvent is the pipeline's card-number screen of a payload: the example
// event (ASCII, no escape, one scan), the same with an accented merchant name (the
// Unicode reader), and with escapes (the Unicode reader and the JSON tokenizer).
func BenchmarkScreenEvent(b *testing.B) {
	ev := exampleEvent(b)
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"ascii", ev},
		{"unicode", bytes.Replace(ev, []byte("ACME ELECTRONICS"), []byte("CAFÉ ZÜRICH"), 1)},
		{"escaped", bytes.Replace(ev, []byte("ACME ELECTRONICS"), []byte(`CAF\u00c9 Z\u00dcRICH`), 1)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				if _, pans := ScreenEvent(c.data); pans != nil {
					b.Fatalf("found %q", pans)
				}
			}
		})
	}
}

// BenchmarkNewAlert builds the alert for the contract's example event, with all three
// rules fired, and its JSON as published on the alert feed.
func BenchmarkNewAlert(b *testing.B) {
	h := benchHolder(b)
	t, err := DecodeTransaction(exampleBank, exampleCard, exampleEvent(b))
	if err != nil {
		b.Fatal(err)
	}
	reasons := Evaluate(t, h, Facts{})
	now := time.Date(2026, 11, 24, 18, 22, 5, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		a := NewAlert(exampleBank, t, reasons, now)
		if _, err := json.Marshal(a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePiece reads one piece of a large rules file (2,000 cardholders), with
// the plain-form reader and with yaml.v3, for benchstat to compare.
func BenchmarkParsePiece(b *testing.B) {
	text := []byte(bigRules(chunkItems, "", false))
	text = text[bytes.Index(text, []byte("cardholders:\n"))+len("cardholders:\n"):]
	b.Run("plain", func(b *testing.B) {
		var p plainParser
		b.ReportAllocs()
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			if _, ok := p.parse(text, 1); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("yaml.v3", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			var doc yaml.Node
			if err := yaml.Unmarshal(text, &doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
