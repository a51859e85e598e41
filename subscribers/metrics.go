package subscribers

import "github.com/prometheus/client_golang/prometheus"

// Metrics are cardwatch's Prometheus metrics. Labels are bounded sets (outcomes, rule
// names, channels), never a bank's card token, a phone number or an id.
type Metrics struct {
	// Transactions counts transactions by outcome (the Outcome constants).
	Transactions *prometheus.CounterVec
	// Alerts counts the rules that fired in alerts, by rule.
	Alerts *prometheus.CounterVec
	// Deliveries counts delivery events by channel and status.
	Deliveries *prometheus.CounterVec
	// DLQ counts DLQ entries by kind.
	DLQ *prometheus.CounterVec
	// Erased counts refused events erased from the transaction stream (card numbers,
	// oversize events), by result: "erased", or "failed" when the server refused.
	Erased *prometheus.CounterVec
	// Unsealed counts values read from cardwatch's buckets that it did not seal, by bucket:
	// someone else writes there.
	Unsealed *prometheus.CounterVec
	// RefusedAlerts counts messages on the alert feed that cardwatch did not raise, and
	// so did not deliver, by why (the Refused constants).
	RefusedAlerts *prometheus.CounterVec
	// Reports counts first answers by verdict and channel.
	Reports *prometheus.CounterVec
	// TxnToAlert is the time from a transaction being stored to its alert published.
	TxnToAlert prometheus.Histogram
	// AlertToSent is the time from an alert to a provider accepting its message.
	AlertToSent *prometheus.HistogramVec
	// Pending is what a consumer has not yet been given, by consumer: the backlog.
	Pending *prometheus.GaugeVec
	// RulesLoaded is the number of cardholders in the rules in force.
	RulesLoaded prometheus.Gauge
	// FleetMembers is how many cardwatch instances this one sees alive, itself included.
	FleetMembers prometheus.Gauge
	// PartitionsOwned is how many partitions of the transaction stream this instance
	// works on.
	PartitionsOwned prometheus.Gauge
	// Partitions is how many partitions the fleet works on now: the current count, or
	// the older ones while they are emptied. Summed PartitionsOwned below it for long
	// means partitions nobody works on.
	Partitions prometheus.Gauge
	// Takeovers counts partitions this instance started work on, by how it got them:
	// "free" (given back by its last owner, or never owned), "own" (this instance's
	// again after it had stopped), "dead" (its owner stopped answering).
	Takeovers *prometheus.CounterVec
	// LeaseLapses counts the times this instance's heartbeat was not stored in time and
	// it stopped its partitions to restart them.
	LeaseLapses prometheus.Counter
	// Throttled counts sends held back to keep to a provider's rate (they go back to
	// JetStream and are sent at their turn), by limit name.
	Throttled *prometheus.CounterVec
	// PausedSeconds counts the seconds providers were paused (a 429's Retry-After), by
	// channel, as this instance saw it: every instance sees every pause, so take the max
	// over instances, not the sum.
	PausedSeconds *prometheus.CounterVec
	// PausedUntil is when a provider's pause ends (Unix seconds), by channel.
	PausedUntil *prometheus.GaugeVec
	// PausesCapped counts pauses longer than notifiers.MaxPause that were cut to it, by
	// channel: a provider never asks that much, so someone writes to the bucket.
	PausesCapped *prometheus.CounterVec
	// LimitOps counts the key-value operations of the fleet's limits, by op ("read",
	// "write", "conflict"): writes per sent message is their cost.
	LimitOps *prometheus.CounterVec
}

// Transaction outcomes, the values of the outcome label.
const (
	OutcomeNoAlert           = "no_alert"
	OutcomeAlert             = "alert"
	OutcomeDuplicate         = "duplicate"
	OutcomeUnknownCardholder = "unknown_cardholder"
	OutcomeDLQ               = "dlq"
	OutcomeError             = "error"
)

// Results of erasing a refused event, the values of Erased's result label.
const (
	ErasedOK     = "erased"
	ErasedFailed = "failed"
)

// Why an alert-feed message was refused, the values of RefusedAlerts' why label.
const (
	RefusedUnreadable = "unreadable" // not an alert at all
	RefusedUnknown    = "unknown"    // no alert of that id was raised
	RefusedUnsealed   = "unsealed"   // a record cardwatch did not write
	RefusedBank       = "bank"       // the alert of another bank, or on another bank's subject
	RefusedAltered    = "altered"    // the id of a real alert with other contents
)

// NewMetrics makes the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardwatch_transactions_total", Help: "Transactions handled, by outcome.",
		}, []string{"outcome"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardwatch_alerts_total", Help: "Rules that fired in alerts raised, by rule.",
		}, []string{"rule"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardwatch_deliveries_total", Help: "Alert delivery outcomes, by channel and status.",
		}, []string{"channel", "status"}),
		DLQ: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardwatch_dlq_total", Help: "Events refused to the DLQ, by kind of problem.",
		}, []string{"reason"}),
		Erased: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardwatch_txn_erased_total",
			Help: "Refused events (card numbers, oversize) erased from the transaction stream, by result; failed ones need an operator.",
		}, []string{"result"}),
		Unsealed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardwatch_unsealed_values_total",
			Help: "Values in cardwatch's key-value buckets that cardwatch did not write (or wrote under another signing key), ignored, by bucket.",
		}, []string{"bucket"}),
		RefusedAlerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardwatch_alerts_refused_total",
			Help: "Messages on the alert feed that cardwatch did not raise (forged, altered, or on another bank's subject), not delivered, by why.",
		}, []string{"why"}),
		Reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardwatch_reports_total", Help: "Cardholders' first answers to alerts, by verdict and channel.",
		}, []string{"verdict", "channel"}),
		TxnToAlert: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cardwatch_txn_to_alert_seconds",
			Help:    "Time from a transaction being stored in JetStream to its alert being published.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		AlertToSent: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cardwatch_alert_to_sent_seconds",
			Help:    "Time from an alert being raised to a provider accepting its message, by channel.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
		}, []string{"channel"}),
		Pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cardwatch_consumer_pending", Help: "Messages in the stream not yet delivered to the consumer (consumer lag).",
		}, []string{"consumer"}),
		RulesLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cardwatch_rules_cardholders", Help: "Cardholders in the rules in force.",
		}),
		FleetMembers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cardwatch_fleet_members", Help: "cardwatch instances this one sees alive, itself included.",
		}),
		Partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cardwatch_partitions", Help: "Partitions the fleet works on now (the current count, or the older ones while they are emptied).",
		}),
		PartitionsOwned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cardwatch_partitions_owned", Help: "Partitions of the transaction stream this instance works on.",
		}),
		Takeovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardwatch_partition_starts_total",
			Help: "Partitions this instance started work on, by how: free (handed over or never owned), own (again), dead (resumed from an owner that stopped answering).",
		}, []string{"how"}),
		LeaseLapses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cardwatch_fleet_lease_lapses_total",
			Help: "Times this instance's fleet heartbeat was not stored in time, so that it stopped and restarted its partitions.",
		}),
		Throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardwatch_sends_throttled_total",
			Help: "Sends held back to keep to a provider's rate (CARDWATCH_TWILIO_MPS, Slack's per-channel pace), sent later at their turn, by limit.",
		}, []string{"limit"}),
		PausedSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardwatch_provider_paused_seconds_total",
			Help: "Seconds a provider was paused at its request (429 Retry-After, Slack ratelimited), by channel, as this instance saw the fleet's pauses (take the max over instances).",
		}, []string{"channel"}),
		PausedUntil: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cardwatch_provider_paused_until_timestamp_seconds", Help: "When the provider's current or last pause ends, by channel (Unix time).",
		}, []string{"channel"}),
		PausesCapped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardwatch_provider_pauses_capped_total",
			Help: "Provider pauses longer than cardwatch's maximum (15 minutes), cut to it, by channel: no provider asks for that much.",
		}, []string{"channel"}),
		LimitOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cardwatch_limit_kv_ops_total", Help: "Key-value operations of the fleet-wide provider limits, by op (read, write, conflict).",
		}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.Transactions, m.Alerts, m.Deliveries, m.DLQ, m.Erased, m.Unsealed, m.RefusedAlerts, m.Reports, m.TxnToAlert, m.AlertToSent, m.Pending, m.RulesLoaded,
			m.FleetMembers, m.Partitions, m.PartitionsOwned, m.Takeovers, m.LeaseLapses,
			m.Throttled, m.PausedSeconds, m.PausedUntil, m.PausesCapped, m.LimitOps)
	}
	return m
}
