package subscribers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishJSON publishes v to a JetStream subject and waits for the stream to store it.
// msgID is the Nats-Msg-Id, so that a retry within the duplicate window is dropped by
// JetStream itself.
func publishJSON(ctx context.Context, js jetstream.JetStream, subject, msgID string, v any) error {
	return publishSealed(ctx, js, nil, subject, msgID, v)
}

// publishSealed publishes v as publishJSON does, with the seal of the message in
// SealHeader when seal is not nil.
func publishSealed(ctx context.Context, js jetstream.JetStream, seal *Sealer, subject, msgID string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", subject, err)
	}
	msg := &nats.Msg{Subject: subject, Data: b}
	if seal != nil {
		msg.Header = nats.Header{SealHeader: {seal.messageSeal(subject, b)}}
	}
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID)); err != nil {
		return fmt.Errorf("publish to %s: %w", subject, err)
	}
	return nil
}

// DeadLetter is an event cardwatch refused, published to cardwatch.dlq.<bank> for
// operators. Card numbers in it are masked; it is kept no longer than the retention.
type DeadLetter struct {
	// Bank is the subject's bank, or "_unrouted" when the subject named none.
	Bank string `json:"bank"`
	// Subject is the subject the event came on (card numbers masked).
	Subject string `json:"subject"`
	// Reason says what is wrong, in words an operator can act on.
	Reason string `json:"reason"`
	// Kind is a short machine-readable class: "pan", "invalid", "oversize", "subject",
	// "undelivered" for an alert no channel could deliver, or "forged_alert" for a message
	// on the alert feed that cardwatch did not raise.
	Kind string `json:"kind"`
	// Payload is the event as received when it is UTF-8 (card numbers masked).
	Payload string `json:"payload,omitempty"`
	// PayloadBase64 is the event when it is not UTF-8.
	PayloadBase64 []byte `json:"payload_base64,omitempty"`
	// Size is the event's size in bytes.
	Size int `json:"size"`
	// StreamSeq is the event's sequence in CARDWATCH_TXN, to find it while it is kept
	// (events of kind "pan", "oversize" and "subject" are erased from there once refused).
	StreamSeq uint64 `json:"stream_seq"`
	// ReceivedAt is when JetStream stored the event; RefusedAt when cardwatch refused it.
	ReceivedAt time.Time `json:"received_at"`
	RefusedAt  time.Time `json:"refused_at"`
}

// KindForgedAlert is the DLQ kind of a message on the alert feed that cardwatch did not
// raise: it reached no cardholder.
const KindForgedAlert = "forged_alert"

// erase reports whether the refused event must not stay in the transaction stream: it
// carries a card number, is too large to have been screened for one, or has a subject
// that may hide one split across its tokens (its DLQ entry keeps the payload).
func (d *DeadLetter) erase() bool {
	return d.Kind == "pan" || d.Kind == "oversize" || d.Kind == "subject"
}

// setPayload keeps the payload in the readable field when it can.
func (d *DeadLetter) setPayload(b []byte) {
	d.Size = len(b)
	if utf8.Valid(b) {
		d.Payload = string(b)
	} else {
		d.PayloadBase64 = b
	}
}
