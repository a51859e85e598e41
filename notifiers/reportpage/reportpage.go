// Package reportpage serves the page behind an alert's report link: what happened, and
// two buttons, "Report fraud" and "It was me". It is served by cardwatch itself from
// files embedded in the binary, with no script and no outside asset, so it works on any
// phone browser.
package reportpage

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

//go:embed assets
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "assets/page.html"))

// Config is what the page needs.
type Config struct {
	// Links checks report link tokens.
	Links *notifiers.Links
	// Answers looks alerts up and records answers.
	Answers notifiers.Answers
	// Cardholder returns a cardholder, for their time zone; it may return nil.
	Cardholder func(bank, id string) *rules.Cardholder
	// Key derives the forms' anti-forgery values; the report link signing key will do.
	Key []byte
	Log *slog.Logger
}

// Handler serves GET and POST /r/{token} and GET /static/report.css.
type Handler struct {
	cfg  Config
	mux  *http.ServeMux
	css  []byte
	etag string
}

// New builds the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Links == nil || cfg.Answers == nil || len(cfg.Key) == 0 {
		return nil, errors.New("report page: links, answers and key are required")
	}
	css, err := assets.ReadFile("assets/report.css")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(css)
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), css: css, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
	// Browsers send Sec-Fetch-Site or Origin; a form posted from another site is refused
	// before it reaches the handler.
	cop := http.NewCrossOriginProtection()
	h.mux.HandleFunc("GET /r/{token}", h.show)
	h.mux.Handle("POST /r/{token}", cop.Handler(http.HandlerFunc(h.answer)))
	h.mux.HandleFunc("GET /static/report.css", h.style)
	return h, nil
}

// ServeHTTP serves the page with strict security headers on every answer.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.URL.Path != "/static/report.css" {
		hd.Set("Cache-Control", "no-store")
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) style(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Header().Set("ETag", h.etag)
	http.ServeContent(w, r, "report.css", time.Time{}, bytes.NewReader(h.css))
}

// view is what the template shows.
type view struct {
	Title, Message                                 string
	Card, Charged, Original, Merchant, Place, When string
	Declined                                       bool
	Reasons                                        []string
	Answer, AnswerClass                            string
	Action, CSRF                                   string
	// FraudOnly offers "Report fraud" alone, under an "it was me" answer: a cardholder
	// who finds out later must still reach the bank.
	FraudOnly bool
}

// show is the GET: it changes nothing, since link previewers, carriers and mail
// scanners fetch links before the cardholder does.
func (h *Handler) show(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	a, answer, h2, ok := h.lookup(w, r, token)
	if !ok {
		return
	}
	v := h.facts(a, h2)
	v.Action, v.CSRF = "/r/"+token, h.csrf(token)
	if answer != nil {
		v.Answer, v.AnswerClass = answered(*answer, h2, notifiers.Outcome{}), answer.Verdict
		v.FraudOnly = answer.Verdict == rules.VerdictLegit
	}
	h.render(w, http.StatusOK, v)
}

// answer is the POST of one of the two buttons.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		h.fail(w, http.StatusBadRequest, "This answer could not be read", "Open the link from your alert again and tap a button.")
		return
	}
	if !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(h.csrf(token))) {
		h.fail(w, http.StatusForbidden, "This answer could not be accepted", "Open the link from your alert again and tap a button.")
		return
	}
	verdict := r.PostForm.Get("verdict")
	if verdict != rules.VerdictFraud && verdict != rules.VerdictLegit {
		h.fail(w, http.StatusBadRequest, "This answer could not be read", "Open the link from your alert again and tap a button.")
		return
	}
	a, _, holder, ok := h.lookup(w, r, token)
	if !ok {
		return
	}
	out, err := h.cfg.Answers.Answer(r.Context(), a.ID, verdict, notifiers.ChannelWeb)
	if errors.Is(err, notifiers.ErrTooOld) {
		h.fail(w, http.StatusGone, "This alert is too old to answer here", "Please call your bank if something is wrong.")
		return
	}
	if err != nil {
		h.cfg.Log.Error("report page: answer not recorded", "alert", a.ID, "err", err)
		h.fail(w, http.StatusServiceUnavailable, "Your answer was not recorded", "Something went wrong on our side. Please try again in a minute.")
		return
	}
	v := h.facts(a, holder)
	v.Answer, v.AnswerClass = answered(out.Standing, holder, out), out.Standing.Verdict
	if out.Standing.Verdict == rules.VerdictLegit {
		v.FraudOnly, v.Action, v.CSRF = true, "/r/"+token, h.csrf(token)
	}
	h.render(w, http.StatusOK, v)
}

// lookup checks the token and finds the alert; on failure it has answered already, with
// a page that says nothing about any alert.
func (h *Handler) lookup(w http.ResponseWriter, r *http.Request, token string) (*rules.Alert, *rules.Report, *rules.Cardholder, bool) {
	id, err := h.cfg.Links.Verify(token)
	if err != nil {
		h.notFound(w)
		return nil, nil, nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	a, answer, err := h.cfg.Answers.Alert(ctx, id)
	// The link is genuine, so the alert was raised: its record follows its publication
	// by a moment, which a very quick tap can fall into.
	for try := 0; errors.Is(err, notifiers.ErrUnknownAlert) && try < 5 && ctx.Err() == nil; try++ {
		time.Sleep(100 * time.Millisecond)
		a, answer, err = h.cfg.Answers.Alert(ctx, id)
	}
	if errors.Is(err, notifiers.ErrUnknownAlert) {
		h.notFound(w)
		return nil, nil, nil, false
	}
	if err != nil {
		h.cfg.Log.Error("report page: alert lookup failed", "alert", id, "err", err)
		h.fail(w, http.StatusServiceUnavailable, "This alert cannot be shown right now", "Please try again in a minute.")
		return nil, nil, nil, false
	}
	var holder *rules.Cardholder
	if h.cfg.Cardholder != nil {
		holder = h.cfg.Cardholder(a.Bank, a.CardholderID)
	}
	return a, answer, holder, true
}

func (h *Handler) notFound(w http.ResponseWriter) {
	h.fail(w, http.StatusNotFound, "This link is not valid", "It may have expired, or been copied incompletely. Your card alerts are not affected.")
}

func (h *Handler) fail(w http.ResponseWriter, status int, title, msg string) {
	h.render(w, status, view{Title: title, Message: msg})
}

// facts are the alert's facts as the page shows them: FactsOf has passed every fact a
// bank or merchant set through notifiers.InertText (the cleaner of every channel, with
// no link or phone number left), and html/template escapes the markup, so the page shows
// the merchant's name as the SMS does (in quotes, as the merchant's words, and the city
// too), not a line break, bidi override or tap-to-call.
func (h *Handler) facts(a *rules.Alert, holder *rules.Cardholder) view {
	f := notifiers.FactsOf(notifiers.Message{Alert: a, Cardholder: holder})
	card := f.Last4
	if card == "" {
		card = "…"
	}
	return view{Title: "Was this you?", Card: card, Charged: f.Charged, Original: f.Original, Merchant: f.Labelled,
		Place: f.Place(), When: f.When, Declined: f.Declined, Reasons: f.Reasons}
}

// answered says what happens next, in the cardholder's words; out is the outcome of the
// answer just given, zero on a GET.
func answered(r rules.Report, holder *rules.Cardholder, out notifiers.Outcome) string {
	var loc *time.Location
	if holder != nil {
		loc = holder.Location
	}
	at := notifiers.AnsweredAt(r, loc)
	first := out.First
	switch {
	case out.Correction:
		return "Thank you. Your bank has been told it was not you after all; the card will be blocked. Reported as fraud at " + at + "."
	case first && r.Verdict == rules.VerdictFraud:
		return "Thank you. Your bank has been told; the card will be blocked. Reported as fraud at " + at + "."
	case first:
		return "Thank you. Noted that this was you (" + at + "); nothing else to do."
	case r.Verdict == rules.VerdictFraud:
		return "Already reported as fraud at " + at + ". Your bank has been told; the card will be blocked."
	default:
		return "Already confirmed as you at " + at + "."
	}
}

func (h *Handler) render(w http.ResponseWriter, status int, v view) {
	var b bytes.Buffer
	if err := page.Execute(&b, v); err != nil {
		h.cfg.Log.Error("report page: render", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// csrf is the form's anti-forgery value: bound to the link, so a form can only be posted
// by someone who holds the link, and only from a page cardwatch rendered.
func (h *Handler) csrf(token string) string {
	m := hmac.New(sha256.New, h.cfg.Key)
	fmt.Fprintf(m, "cardwatch report form v1\x00%s", token)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}
