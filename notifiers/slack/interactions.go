package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

// Limits of the interactions endpoint.
const (
	// MaxInteractionBody is the largest request body taken; a block_actions payload
	// is a few KiB.
	MaxInteractionBody = 64 << 10
	// MaxClockSkew is how far a request's timestamp may be from now, either way; older
	// signed requests are refused so that a captured one cannot be replayed later.
	MaxClockSkew = 5 * time.Minute
	// answerTimeout bounds recording one click and posting its outcome, so that Wait
	// returns at shutdown even when NATS or Slack hang.
	answerTimeout = 30 * time.Second
)

// The texts that replace an answered alert.
const (
	textGone  = "This alert is no longer available."
	textRetry = "Something went wrong; please try again."
	// textNotYours answers a tap by someone other than the cardholder the alert went to.
	textNotYours = "Only the cardholder this alert was sent to can answer it."
)

// InteractionsConfig are the settings of the Slack interactions endpoint.
type InteractionsConfig struct {
	// SigningSecret is the Slack app's signing secret (CARDWATCH_SLACK_SIGNING_SECRET); a secret.
	SigningSecret string
	// Answers records the cardholders' answers.
	Answers notifiers.Answers
	// Cardholder finds an alert's cardholder, for their time zone; it may be nil, and may return nil.
	Cardholder func(bank, id string) *rules.Cardholder
	// HTTPClient posts to Slack's response_url; its Timeout is 10s when zero.
	HTTPClient *http.Client
	// Log gets one line per answer and per refused request; nil means slog.Default().
	Log *slog.Logger
	// Now is the clock the request timestamps are checked against; nil means time.Now.
	Now func() time.Time
}

// String prints the settings with the signing secret as <secret>, for logs.
func (c InteractionsConfig) String() string {
	return fmt.Sprintf("{SigningSecret:<secret> Answers:%T}", c.Answers)
}

// GoString is String, so that %#v does not print the secret either.
func (c InteractionsConfig) GoString() string { return c.String() }

// InteractionsPath is where Slack posts the taps on the alert buttons; set the app's
// Interactivity Request URL to CARDWATCH_PUBLIC_URL + InteractionsPath.
const InteractionsPath = "/slack/interactions"

// Interactions is the http.Handler of POST /slack/interactions: the cardholder's taps on
// an alert's buttons. It verifies Slack's request signature, answers at once, and then
// records the answer and replaces the alert message with its outcome.
type Interactions struct {
	secret     []byte // unexported and behind a pointer: printing an Interactions shows no secret
	answers    notifiers.Answers
	cardholder func(bank, id string) *rules.Cardholder
	client     *http.Client
	log        *slog.Logger
	now        func() time.Time
	inflight   sync.WaitGroup
}

var _ http.Handler = (*Interactions)(nil)

// NewInteractions builds the handler; it refuses an empty signing secret, which would
// let anyone answer any alert.
func NewInteractions(cfg InteractionsConfig) (*Interactions, error) {
	var errs []error
	if cfg.SigningSecret == "" {
		errs = append(errs, errors.New("CARDWATCH_SLACK_SIGNING_SECRET is required to take answers from Slack"))
	}
	if cfg.Answers == nil {
		errs = append(errs, errors.New("no Answers to record answers with"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("slack interactions: %w", err)
	}
	h := &Interactions{
		secret:     []byte(cfg.SigningSecret),
		answers:    cfg.Answers,
		cardholder: cfg.Cardholder,
		client:     &http.Client{Timeout: DefaultTimeout},
		log:        cfg.Log,
		now:        cfg.Now,
	}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		if c.Timeout == 0 {
			c.Timeout = DefaultTimeout
		}
		h.client = &c
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

// Signature is Slack's v0 request signature of body sent at timestamp (the
// X-Slack-Request-Timestamp header): "v0=" and the hex HMAC-SHA256 of
// "v0:<timestamp>:<body>" under the signing secret, as X-Slack-Signature carries it.
func Signature(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// click is one answer button tapped.
// click is one tap on an answer button, by the Slack user who tapped.
type click struct{ alertID, verdict, user string }

// ServeHTTP takes one interaction payload. Slack wants an answer within 3 seconds, so it
// answers 200 before recording anything; see Wait.
func (h *Interactions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// Headers first: an unsigned or stale request is refused without reading its body.
	ts, sig := r.Header.Get("X-Slack-Request-Timestamp"), r.Header.Get("X-Slack-Signature")
	if reason := h.fresh(ts, sig); reason != "" {
		h.refuse(w, reason)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxInteractionBody))
	if err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			h.log.Warn("slack interaction refused", "reason", "body over the limit", "limit", MaxInteractionBody)
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read the request", http.StatusBadRequest)
		return
	}
	if !hmac.Equal([]byte(Signature(string(h.secret), ts, body)), []byte(sig)) {
		h.refuse(w, "wrong signature")
		return
	}

	clicks, ok := h.parse(body)
	if !ok {
		http.Error(w, "unreadable payload", http.StatusBadRequest)
		return
	}
	if len(clicks.list) > 0 {
		// The request's context ends with this response; the work must outlive it.
		ctx := context.WithoutCancel(r.Context())
		h.inflight.Go(func() { h.work(ctx, clicks.responseURL, clicks.list) })
	}
	w.WriteHeader(http.StatusOK)
}

// Wait returns once every answer taken so far has been recorded and its outcome posted
// to Slack. Call it after the HTTP server has shut down.
func (h *Interactions) Wait() { h.inflight.Wait() }

// fresh checks the signature headers are there and the timestamp is within MaxClockSkew
// of now; it returns why not, or "".
func (h *Interactions) fresh(ts, sig string) string {
	if ts == "" || sig == "" {
		return "no signature headers"
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "malformed timestamp"
	}
	if d := h.now().Sub(time.Unix(sec, 0)); d > MaxClockSkew || d < -MaxClockSkew {
		return "timestamp too far from now"
	}
	return ""
}

func (h *Interactions) refuse(w http.ResponseWriter, reason string) {
	// The reason only: headers and body are the caller's, and may be anything.
	h.log.Warn("slack interaction refused", "reason", reason)
	http.Error(w, "invalid request signature", http.StatusUnauthorized)
}

type clicks struct {
	responseURL string
	list        []click
}

// parse reads the answer buttons tapped in a signed payload. Payloads other than
// block_actions, and taps on other elements (the report link button), give none.
func (h *Interactions) parse(body []byte) (clicks, bool) {
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		h.log.Warn("slack interaction without a payload")
		return clicks{}, false
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		// err may quote the payload: only its kind is logged.
		h.log.Warn("slack interaction payload unreadable", "err_type", fmt.Sprintf("%T", err))
		return clicks{}, false
	}
	if cb.Type != slack.InteractionTypeBlockActions {
		return clicks{}, true
	}
	c := clicks{responseURL: cb.ResponseURL}
	for _, a := range cb.ActionCallback.BlockActions {
		if a == nil || a.BlockID != AnswerBlockID {
			continue
		}
		switch a.ActionID {
		case ActionFraud:
			c.list = append(c.list, click{a.Value, rules.VerdictFraud, cb.User.ID})
		case ActionLegit:
			c.list = append(c.list, click{a.Value, rules.VerdictLegit, cb.User.ID})
		}
	}
	return c, true
}

// work records the clicks and tells the cardholder how each went.
func (h *Interactions) work(ctx context.Context, responseURL string, list []click) {
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	for _, c := range list {
		h.post(ctx, responseURL, c.alertID, h.answer(ctx, c))
	}
}

// answer records one click and returns the message that tells its outcome.
func (h *Interactions) answer(ctx context.Context, c click) *slack.WebhookMessage {
	if !h.cardholderTapped(ctx, c) {
		h.log.Warn("slack answer by someone other than the cardholder refused", "alert", c.alertID)
		return &slack.WebhookMessage{ResponseType: slack.ResponseTypeEphemeral, Text: textNotYours}
	}
	out, err := h.answers.Answer(ctx, c.alertID, c.verdict, notifiers.ChannelSlack)
	switch {
	case errors.Is(err, notifiers.ErrUnknownAlert):
		h.log.Info("slack answer to an unknown alert", "alert", c.alertID)
		return &slack.WebhookMessage{ReplaceOriginal: true, Text: textGone}
	case errors.Is(err, notifiers.ErrTooOld):
		h.log.Info("slack answer to an alert past the answer age limit", "alert", c.alertID)
		return &slack.WebhookMessage{ReplaceOriginal: true, Text: notifiers.TooOldText}
	case err != nil:
		h.log.Error("slack answer not recorded", "alert", c.alertID, "verdict", c.verdict, "err", err)
		// Not replace_original: the buttons stay, so that the cardholder can try again.
		return &slack.WebhookMessage{ResponseType: slack.ResponseTypeEphemeral, Text: textRetry}
	}
	h.log.Info("slack answer", "alert", c.alertID, "verdict", c.verdict, "standing", out.Standing.Verdict,
		"first", out.First, "correction", out.Correction)

	a, _, err := h.answers.Alert(ctx, c.alertID)
	if err != nil || a == nil {
		// The answer is recorded; only the facts to show with it are missing.
		h.log.Warn("slack answer recorded, but its alert could not be read to show it", "alert", c.alertID, "err", err)
		return &slack.WebhookMessage{ReplaceOriginal: true, Text: outcomeLine(out, c.verdict, nil)}
	}
	var holder *rules.Cardholder
	if h.cardholder != nil {
		holder = h.cardholder(a.Bank, a.CardholderID)
	}
	m := notifiers.Message{Alert: a, Cardholder: holder}
	line := outcomeLine(out, c.verdict, holder)
	return &slack.WebhookMessage{
		ReplaceOriginal: true,
		Text:            answeredText(m, line),
		Blocks:          &slack.Blocks{BlockSet: answeredBlocks(m, line, out.Standing.Verdict == rules.VerdictLegit)},
	}
}

// cardholderTapped reports whether the tap may answer for the cardholder: when alerts go
// to the cardholder's own Slack user (a DM), only that user may answer; when they go to
// a channel, its members are the ones the cardholder chose to share it with.
func (h *Interactions) cardholderTapped(ctx context.Context, c click) bool {
	if h.cardholder == nil {
		return true
	}
	a, _, err := h.answers.Alert(ctx, c.alertID)
	if err != nil || a == nil {
		return true // an unknown alert is answered as such below
	}
	holder := h.cardholder(a.Bank, a.CardholderID)
	if holder == nil || holder.Notify.Slack == "" {
		return true
	}
	if id := holder.Notify.Slack; id[0] == 'U' || id[0] == 'W' {
		return c.user == id
	}
	return true
}

// answeredBlocks is the alert once answered: the same facts, and in place of the
// buttons the line that says what became of the answer. After an "it was me" the
// "Report fraud" button stays, below the line: a cardholder who finds out later must
// still reach the bank.
func answeredBlocks(m notifiers.Message, line string, offerFraud bool) []slack.Block {
	var out []slack.Block
	for _, b := range Blocks(m) {
		ab, ok := b.(*slack.ActionBlock)
		if !ok || ab.BlockID != AnswerBlockID {
			out = append(out, b)
			continue
		}
		out = append(out, slack.NewSectionBlock(plain(line), nil, nil))
		if offerFraud {
			var fraud []slack.BlockElement
			for _, e := range ab.Elements.ElementSet {
				if be, ok := e.(*slack.ButtonBlockElement); ok && be.ActionID == ActionFraud {
					fraud = append(fraud, be)
				}
			}
			out = append(out, slack.NewActionBlock(AnswerBlockID, fraud...))
		}
	}
	return out
}

// outcomeLine says what stands after a click on verdict, at the standing answer's time
// in the cardholder's time zone (UTC, said so, when it is unknown).
func outcomeLine(out notifiers.Outcome, verdict string, holder *rules.Cardholder) string {
	var loc *time.Location
	if holder != nil {
		loc = holder.Location
	}
	at := notifiers.AnsweredAt(out.Standing, loc)
	if loc == nil {
		at += " UTC"
	}
	fraud := out.Standing.Verdict == rules.VerdictFraud
	var s string
	switch {
	case out.Correction:
		s = "Reported as fraud at " + at + ", after you had confirmed it. Your bank has been told and will block the card."
	case out.First && fraud:
		s = "Reported as fraud at " + at + ". Your bank has been told and will block the card."
	case out.First:
		s = "You confirmed this was you at " + at + "."
	case fraud:
		s = "Already reported as fraud at " + at + "."
	default:
		s = "You already confirmed this was you at " + at + "."
	}
	if !out.Published() && verdict != out.Standing.Verdict {
		// A fraud report stands (the bank may already have acted on it).
		s += " To change that, contact your bank."
	}
	return s
}

// post sends msg to the interaction's response_url. Failures are logged without the
// URL: its path is a token that lets anyone post into the conversation.
func (h *Interactions) post(ctx context.Context, responseURL, alertID string, msg *slack.WebhookMessage) {
	if u, err := url.Parse(responseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		h.log.Warn("slack interaction has no usable response_url; the message keeps its buttons", "alert", alertID)
		return
	}
	err := slack.PostWebhookCustomHTTPContext(ctx, responseURL, h.client, msg)
	if err == nil {
		return
	}
	var (
		ue     *url.Error
		status slack.StatusCodeError
	)
	switch {
	case errors.As(err, &status):
		err = fmt.Errorf("HTTP %s", status.Status)
	case errors.As(err, &ue): // its text holds the URL
		err = ue.Err
	}
	h.log.Warn("slack response_url post failed", "alert", alertID, "err", err)
}
