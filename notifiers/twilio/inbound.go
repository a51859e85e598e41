package twilio

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

// Routes of Twilio's webhooks, under the public URL.
const (
	// InboundPath is where Twilio posts the SMS replies of cardholders.
	InboundPath = "/twilio/inbound"
	// StatusPath is where Twilio posts the delivery status of each message.
	StatusPath = "/twilio/status"
)

// Delivery statuses that only a provider's receipt gives, beside notifiers' own; a
// failed receipt is notifiers.StatusFailed.
const (
	// StatusDelivered: the carrier says the message reached the phone.
	StatusDelivered = "delivered"
	// StatusUndelivered: the carrier could not deliver the message.
	StatusUndelivered = "undelivered"
)

// MaxWebhookBody caps the body of a webhook request; Twilio's are a few hundred bytes.
const MaxWebhookBody = 64 << 10

// InboundConfig are the settings of Twilio's webhooks.
type InboundConfig struct {
	// AuthToken is the account's auth token, which signs the webhooks; a secret.
	AuthToken string
	// PublicURL is CARDWATCH_PUBLIC_URL. Signatures are checked against it plus the
	// route and query, since Twilio signs the URL it posted to, not the address
	// cardwatch listens on behind a proxy.
	PublicURL string
	// Answers records the cardholders' answers and the delivery receipts.
	Answers notifiers.Answers
	// Log gets a line per refused request and per internal error; nil is slog.Default().
	Log *slog.Logger
}

// Validate reports every problem with the settings at once, never printing the token.
func (c InboundConfig) Validate() error {
	var errs []error
	if c.AuthToken == "" {
		errs = append(errs, errors.New("the Twilio auth token is required to verify webhooks"))
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") ||
		u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		errs = append(errs, errors.New("the public URL must be an http(s) URL with no query"))
	}
	if c.Answers == nil {
		errs = append(errs, errors.New("Answers is required"))
	}
	return errors.Join(errs...)
}

// webhook is what both handlers share: reading the form and checking its signature.
type webhook struct {
	validator client.RequestValidator
	base      string // the public URL without its trailing "/"
	answers   notifiers.Answers
	log       *slog.Logger
}

func newWebhook(cfg InboundConfig) (webhook, error) {
	if err := cfg.Validate(); err != nil {
		return webhook{}, fmt.Errorf("twilio webhooks: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	return webhook{
		validator: client.NewRequestValidator(cfg.AuthToken),
		base:      strings.TrimRight(cfg.PublicURL, "/"),
		answers:   cfg.Answers,
		log:       log,
	}, nil
}

// form reads the POST parameters of a webhook and checks X-Twilio-Signature over the
// public URL of the request and those parameters. When it returns false it has answered
// the request: 405, 413, 400, or 403 for a missing or wrong signature.
func (h *webhook) form(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxWebhookBody)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return nil, false
		}
		http.Error(w, "bad form", http.StatusBadRequest)
		return nil, false
	}
	if !h.signed(r) {
		h.log.Warn("twilio webhook refused: missing or wrong X-Twilio-Signature", "path", r.URL.Path)
		http.Error(w, "invalid signature", http.StatusForbidden)
		return nil, false
	}
	return r.PostForm, true
}

// signed reports whether the request carries Twilio's signature of its URL, as Twilio
// posted to it (the public URL, the path, the query), and its POST parameters.
func (h *webhook) signed(r *http.Request) bool {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return false
	}
	u := h.base + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	params := make(map[string]string, len(r.PostForm))
	for k, v := range r.PostForm {
		// The validator signs one value a name; a second value would go unchecked, and
		// Twilio never repeats a name in its webhooks.
		if len(v) != 1 {
			return false
		}
		params[k] = v[0]
	}
	return h.validator.Validate(u, params, sig)
}

// Inbound handles POST /twilio/inbound: a cardholder's SMS reply, FRAUD or OK (9 or 1),
// with the reply code of the alert it answers ("FRAUD 7K"), or bare when the number has
// one open alert. It replies in TwiML, always with 200 once the request is Twilio's, so
// that Twilio never retries into a reply storm. Each MessageSid counts once: a repeat
// gets an empty TwiML and changes nothing.
type Inbound struct {
	webhook
}

var _ http.Handler = (*Inbound)(nil)

// NewInbound checks the settings and builds the SMS reply handler.
func NewInbound(cfg InboundConfig) (*Inbound, error) {
	h, err := newWebhook(cfg)
	if err != nil {
		return nil, err
	}
	return &Inbound{h}, nil
}

// twilioKeywords are the opt-out, opt-in and help words Twilio answers itself
// (https://help.twilio.com/articles/223134027): a reply of ours would be a second one.
// YES is among Twilio's opt-in words, which is why it is not an answer word.
var twilioKeywords = map[string]bool{
	"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "CANCEL": true, "END": true, "QUIT": true,
	"START": true, "YES": true, "UNSTOP": true,
	"HELP": true, "INFO": true,
}

// Reply texts; the facts in them come from the alert.
const (
	replyHelp    = "Reply " + notifiers.ReplyFraud + " if a purchase was not you, or " + notifiers.ReplyOK + " if it was, with the code from the alert."
	replyNoAlert = "No open alert for this number. Reply " + notifiers.ReplyFraud + " or " + notifiers.ReplyOK + " to an alert."
	// replyConfirmed is added when the open alerts are none but some were confirmed: a
	// fraud report on one of those must name it.
	replyConfirmed = " To report fraud on an alert you confirmed, reply " + notifiers.ReplyFraud + " and its code."
	replyError     = "Sorry, something went wrong. Please try again."
	replyWhich     = "; reply " + notifiers.ReplyFraud + " or " + notifiers.ReplyOK + " with the code, e.g. "
)

// messageSid reports whether s is a Twilio message SID: SM (SMS) or MM (MMS) and 32
// hex digits.
func messageSid(s string) bool {
	if len(s) != 34 || (s[:2] != "SM" && s[:2] != "MM") {
		return false
	}
	for _, c := range s[2:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// verdictOf reads a reply: FRAUD or 9, OK or 1, in any case, with spaces and a final "."
// or "!" around it, and a reply code before or after the word, with or without a space
// ("FRAUD 7K", "7k ok", "97K"). code is "" for a bare word; a second token that is not a
// code is taken as one anyway (and asked about), unless it is itself an answer word.
// word is the reply as read, for Twilio's keywords.
func verdictOf(body string) (verdict, code, word string) {
	word = strings.ToUpper(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(body), ".!")))
	fields := strings.Fields(word)
	switch len(fields) {
	case 1:
		if v := answerWord(word); v != "" {
			return v, "", word
		}
		// A code written against the word: "FRAUD7K", "97K", "OK7K".
		for _, w := range []string{notifiers.ReplyFraud, notifiers.ReplyOK, "9", "1"} {
			if rest, ok := strings.CutPrefix(word, w); ok && notifiers.IsReplyCode(rest) {
				return answerWord(w), rest, word
			}
		}
	case 2:
		for _, p := range [][2]string{{fields[0], fields[1]}, {fields[1], fields[0]}} {
			if v := answerWord(p[0]); v != "" && answerWord(p[1]) == "" && looksLikeCode(p[1]) {
				return v, p[1], word
			}
		}
	}
	return "", "", word
}

// answerWord is the verdict of one answer word, or "".
func answerWord(w string) string {
	switch w {
	case notifiers.ReplyFraud, "9":
		return rules.VerdictFraud
	case notifiers.ReplyOK, "1":
		return rules.VerdictLegit
	}
	return ""
}

// looksLikeCode reports whether s could be a mistyped reply code: one to three letters
// and digits. It is asked about, never guessed.
func looksLikeCode(s string) bool {
	if len(s) < 1 || len(s) > 3 {
		return false
	}
	for _, c := range s {
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// ServeHTTP answers one SMS reply.
func (h *Inbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	form, ok := h.form(w, r)
	if !ok {
		return
	}
	sid := form.Get("MessageSid")
	if !messageSid(sid) {
		h.log.Warn("twilio inbound refused: missing or malformed MessageSid")
		http.Error(w, "missing or malformed MessageSid", http.StatusBadRequest)
		return
	}
	from := form.Get("From")
	if from == "" {
		http.Error(w, "no From", http.StatusBadRequest)
		return
	}
	// Before anything is read or recorded: a signed request can be captured and posted
	// again, and Twilio signs no time, so the message's own id is what makes it count once.
	first, err := h.answers.FirstMessage(r.Context(), notifiers.ChannelSMS, sid)
	if err != nil {
		twiml(w, h.failed(from, "", err))
		return
	}
	if !first {
		// A replay, or Twilio's retry of a reply already answered: an empty TwiML, so that
		// a replay cannot make cardwatch text the cardholder either.
		h.log.Warn("sms reply seen before, ignored", "message", sid)
		twiml(w, "")
		return
	}
	verdict, code, word := verdictOf(form.Get("Body"))
	switch {
	case twilioKeywords[word] || form.Get("OptOutType") != "":
		// OptOutType is how a messaging service with Advanced Opt-Out says it took the
		// message as one of its (possibly custom) keywords.
		twiml(w, "")
		return
	case verdict == "":
		twiml(w, replyHelp)
		return
	}
	twiml(w, h.answer(r.Context(), from, verdict, code))
}

// answer records verdict on the alert of phone the reply means, and says what came of it:
// the alert with that code, or with no code the number's one open alert. With several
// open, or an unknown code, it asks and records nothing.
func (h *Inbound) answer(ctx context.Context, phone, verdict, code string) string {
	list, err := h.answers.PhoneAlerts(ctx, phone)
	if err != nil {
		return h.failed(phone, verdict, err)
	}
	var open, confirmed []notifiers.PhoneAlert
	stale := false
	for _, pa := range list {
		switch {
		case pa.Answer == nil && pa.Closed:
			stale = true
		case pa.Answer == nil:
			open = append(open, pa)
		case pa.Answer.Verdict == rules.VerdictLegit && !pa.Closed:
			confirmed = append(confirmed, pa)
		}
	}
	var target *notifiers.PhoneAlert
	switch {
	case code != "":
		for i := range list {
			if list[i].Code == code {
				target = &list[i]
				break
			}
		}
		if target == nil {
			return unknownCodeText(code, open)
		}
	case len(open) == 1:
		target = &open[0]
	case len(open) > 1:
		return whichText(open)
	case stale:
		return notifiers.TooOldText
	case verdict == rules.VerdictFraud && len(confirmed) > 0:
		return replyNoAlert + replyConfirmed
	default:
		return replyNoAlert
	}
	a := target.Alert
	out, err := h.answers.Answer(ctx, a.ID, verdict, notifiers.ChannelSMS)
	switch {
	case err == nil && out.Published():
		h.log.Info("sms answer recorded", "alert", a.ID, "bank", a.Bank, "verdict", verdict,
			"correction", out.Correction, "from", maskPhone(phone))
		return answeredText(a, verdict)
	case err == nil:
		return alreadyText(out.Standing)
	case errors.Is(err, notifiers.ErrTooOld):
		return notifiers.TooOldText
	case errors.Is(err, notifiers.ErrUnknownAlert):
		return replyNoAlert
	}
	return h.failed(phone, verdict, err)
}

// failed logs an internal error and says so to the cardholder.
func (h *Inbound) failed(phone, verdict string, err error) string {
	// The store's error may quote the number it looked up; the log gets its last digits only.
	msg := strings.ReplaceAll(err.Error(), phone, maskPhone(phone))
	h.log.Error("sms answer not recorded", "from", maskPhone(phone), "verdict", verdict, "err", msg)
	return replyError
}

// maxListed is how many open alerts a "which one?" reply names.
const maxListed = 4

// whichText asks which of several open alerts a bare reply meant: "You have 2 open
// alerts: 7K $12.00 at SHOP, X3 $900.00 at WATCHES; reply FRAUD or OK with the code,
// e.g. FRAUD 7K."
func whichText(open []notifiers.PhoneAlert) string {
	return "You have " + strconv.Itoa(len(open)) + " open alerts: " + listText(open) + replyWhich + example(open)
}

// unknownCodeText answers a code no alert of the number has: never a guess.
func unknownCodeText(code string, open []notifiers.PhoneAlert) string {
	// The code is the cardholder's own text: only what a code can hold is repeated.
	s := "No alert of yours has the code " + code + "."
	if len(open) > 0 {
		s += " Open alerts: " + listText(open) + replyWhich + example(open)
	}
	return s
}

// listText names open alerts by code, amount and merchant, newest first.
func listText(open []notifiers.PhoneAlert) string {
	var parts []string
	for _, pa := range open[:min(len(open), maxListed)] {
		code := pa.Code
		if code == "" {
			code = "(no code: use its link)"
		}
		parts = append(parts, code+" "+smsAmount(pa.Alert)+" at "+shortMerchant(pa.Alert, 14))
	}
	if n := len(open) - maxListed; n > 0 {
		parts = append(parts, strconv.Itoa(n)+" more")
	}
	return strings.Join(parts, ", ")
}

// example is a reply that names the newest open alert with a code.
func example(open []notifiers.PhoneAlert) string {
	for _, pa := range open {
		if pa.Code != "" {
			return notifiers.ReplyFraud + " " + pa.Code + "."
		}
	}
	return notifiers.ReplyFraud + " 7K."
}

// smsAmount is an alert's amount in GSM-7: "$12.00", or "50000.00 NGN" rather than a
// "₦" that GSM-7 lacks.
func smsAmount(a *rules.Alert) string {
	amount := a.Charged().Format()
	if notifiers.GSMSeptets(amount) < 0 {
		amount = a.Charged().String()
	}
	return amount
}

// shortMerchant is the merchant as an SMS names it, safe and quoted, its own words cut
// to n letters: notifiers.SMSMerchant.
func shortMerchant(a *rules.Alert, n int) string { return notifiers.SMSMerchant(a.Merchant, n) }

// answeredText thanks the cardholder for the first answer to a; the text, with the
// merchant's name made safe for SMS, is notifiers.AnsweredSMS.
func answeredText(a *rules.Alert, verdict string) string { return notifiers.AnsweredSMS(a, verdict) }

// alreadyText tells the cardholder which answer stands. The time is in UTC: the
// standing report does not say the cardholder's time zone.
func alreadyText(r rules.Report) string {
	what := "reported as fraud"
	if r.Verdict == rules.VerdictLegit {
		what = "confirmed as you"
	}
	return "This alert was already answered (" + what + " at " + notifiers.AnsweredAt(r, time.UTC) + " UTC)."
}

// twiml writes a TwiML response with one message, or none when text is empty.
func twiml(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	var b strings.Builder
	b.WriteString(xml.Header[:len(xml.Header)-1]) // without its newline
	if text == "" {
		b.WriteString("<Response/>")
	} else {
		b.WriteString("<Response><Message>")
		_ = xml.EscapeText(&b, []byte(text))
		b.WriteString("</Message></Response>")
	}
	_, _ = io.WriteString(w, b.String())
}

// maskPhone keeps the last four digits of a phone number, for logs.
func maskPhone(p string) string {
	if len(p) <= 4 {
		return "..."
	}
	return "..." + p[len(p)-4:]
}

// Status handles POST /twilio/status: Twilio's delivery receipts. A receipt that says
// where the message ended (delivered, undelivered, failed) is published as a delivery
// event of the alert named in the callback URL's query; the others are acknowledged.
type Status struct {
	webhook
	now func() time.Time
}

var _ http.Handler = (*Status)(nil)

// NewStatus checks the settings and builds the delivery receipt handler.
func NewStatus(cfg InboundConfig) (*Status, error) {
	h, err := newWebhook(cfg)
	if err != nil {
		return nil, err
	}
	return &Status{webhook: h, now: time.Now}, nil
}

// finalStatus maps Twilio's final message statuses to delivery statuses.
var finalStatus = map[string]string{
	"delivered":   StatusDelivered,
	"undelivered": StatusUndelivered,
	"failed":      notifiers.StatusFailed,
}

// ServeHTTP records one delivery receipt and answers 204.
func (h *Status) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	form, ok := h.form(w, r)
	if !ok {
		return
	}
	status, final := finalStatus[form.Get("MessageStatus")]
	if !final {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// The query is ours (Send puts it on the callback) and covered by the signature.
	q := r.URL.Query()
	alertID, bank := q.Get("alert"), q.Get("bank")
	if _, ok := rules.ParseAlertID(alertID); !ok || !rules.ValidBankID(bank) {
		h.log.Warn("twilio receipt without a valid alert and bank in its URL", "message", form.Get("MessageSid"))
		http.Error(w, "the callback URL has no valid alert and bank", http.StatusBadRequest)
		return
	}
	d := notifiers.Delivery{
		AlertID:    alertID,
		Bank:       bank,
		Channel:    notifiers.ChannelSMS,
		Status:     status,
		ProviderID: form.Get("MessageSid"),
		At:         h.now().UTC(),
	}
	if code := form.Get("ErrorCode"); code != "" && code != "0" {
		d.Error = "twilio error " + code
	}
	if err := h.answers.RecordDelivery(r.Context(), d); err != nil {
		h.log.Error("twilio receipt not recorded", "alert", alertID, "status", status, "err", err)
		http.Error(w, "not recorded", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
