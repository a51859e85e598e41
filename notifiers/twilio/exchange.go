package twilio

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
)

// maxErrorBody is how much of an error response is kept for twilio-go to decode.
const maxErrorBody = 64 << 10

// exchange is the transport of one Send's HTTP exchange with Twilio.
//
// twilio-go builds every request with context.Background(), has no base-URL setting and
// drops the response headers when it turns an answer into an error. Its only hook is the
// *http.Client it is given, so that client's transport, one per Send, does the three:
// it sends the request under Send's context, to the scheme and host of APIURL, and it
// records the status and the Retry-After header for failure to classify the answer.
// RoundTrip runs on Send's goroutine, so the fields need no lock.
type exchange struct {
	ctx  context.Context
	base http.RoundTripper
	api  *url.URL

	status     int    // the HTTP status of the answer, 0 if none came
	retryAfter string // its Retry-After header
}

// RoundTrip sends req as described on exchange.
func (x *exchange) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(x.ctx)
	out.URL.Scheme, out.URL.Host = x.api.Scheme, x.api.Host
	out.Host = ""
	res, err := x.base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	x.status, x.retryAfter = res.StatusCode, res.Header.Get("Retry-After")
	if res.StatusCode >= 300 {
		// twilio-go never closes an error response's body, which would hold the
		// connection: read it here, so the connection goes back to the pool.
		b, err := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		res.Body = io.NopCloser(bytes.NewReader(b))
	}
	return res, nil
}
