// Package subscribers is cardwatch's way in and its feeds out: the NATS connection and
// the embedded server, the JetStream streams and key-value buckets, the pipeline that
// takes a bank's transaction through the rules to an alert, the deliverer that hands
// alerts to the notifiers, the providers' limits the fleet shares, and the publishers of
// the bank feeds (alerts, deliveries, DLQ).
package subscribers
