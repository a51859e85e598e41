package subscribers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// testPKI is a CA with a server and a client certificate, as PEM files in a folder.
type testPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey string
	// otherCA is a CA that signed neither.
	otherCA string
	// keyPEM is the client key's PEM, which no error may contain.
	keyPEM string
}

func newTestPKI(t *testing.T, serverName string) testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	issue := func(tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, []byte) {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, der
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	caTmpl := func(name string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	}
	var p testPKI
	caKey := newKey()
	ca, caDER := issue(caTmpl("cardwatch test CA"), caKey, nil, nil)
	p.ca = write("ca.pem", "CERTIFICATE", caDER)
	_, otherDER := issue(caTmpl("some other CA"), newKey(), nil, nil)
	p.otherCA = write("other-ca.pem", "CERTIFICATE", otherDER)

	// The server's certificate names it by DNS only, so that connecting by IP address
	// needs the server name setting.
	sk := newKey()
	_, sDER := issue(&x509.Certificate{Subject: pkix.Name{CommonName: serverName}, DNSNames: []string{serverName},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, sk, ca, caKey)
	p.serverCert = write("server.pem", "CERTIFICATE", sDER)
	p.serverKey = write("server-key.pem", "PRIVATE KEY", keyDER(sk))

	ck := newKey()
	_, cDER := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "cardwatch"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ck, ca, caKey)
	p.clientCert = write("client.pem", "CERTIFICATE", cDER)
	p.clientKey = write("client-key.pem", "PRIVATE KEY", keyDER(ck))
	b, _ := os.ReadFile(p.clientKey)
	p.keyPEM = string(b)
	return p
}

// startTLSServer starts a NATS server that requires TLS and a client certificate signed
// by the test CA.
func startTLSServer(t *testing.T, p testPKI) *server.Server {
	t.Helper()
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p.serverCert, KeyFile: p.serverKey, CaFile: p.ca, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		TLS: true, TLSVerify: true, TLSConfig: tc, TLSTimeout: 5, JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("TLS NATS server did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func TestConnectOverTLSWithAClientCertificate(t *testing.T) {
	const name = "nats.cardwatch.internal"
	p := newTestPKI(t, name)
	ns := startTLSServer(t, p)
	url := ns.ClientURL()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	nc, err := Connect(ConnConfig{URLs: url, Name: "cardwatch", TLSCA: p.ca, TLSCert: p.clientCert, TLSKey: p.clientKey,
		TLSServerName: name}, log)
	if err != nil {
		t.Fatalf("with the CA, the client certificate and the server name: %v", err)
	}
	state, err := nc.TLSConnectionState()
	if err != nil || state.Version < tls.VersionTLS12 || len(state.PeerCertificates) == 0 {
		t.Errorf("TLS state %+v, %v", state, err)
	}
	nc.Close()

	for _, c := range []struct {
		name string
		cfg  ConnConfig
		want []string // in the error
	}{
		{"no client certificate", ConnConfig{TLSCA: p.ca, TLSServerName: name},
			[]string{"CARDWATCH_NATS_TLS_CERT", "CARDWATCH_NATS_TLS_KEY"}},
		{"a CA that signed neither", ConnConfig{TLSCA: p.otherCA, TLSCert: p.clientCert, TLSKey: p.clientKey, TLSServerName: name},
			[]string{"unknown authority", "CARDWATCH_NATS_TLS_CA"}},
		{"the wrong server name", ConnConfig{TLSCA: p.ca, TLSCert: p.clientCert, TLSKey: p.clientKey},
			[]string{"127.0.0.1", "CARDWATCH_NATS_TLS_SERVER_NAME"}},
		{"the key for the certificate missing", ConnConfig{TLSCA: p.ca, TLSCert: p.clientCert, TLSKey: p.clientKey + ".missing", TLSServerName: name},
			[]string{p.clientKey + ".missing", "CARDWATCH_NATS_TLS_KEY"}},
		{"a key that is not the certificate's", ConnConfig{TLSCA: p.ca, TLSCert: p.clientCert, TLSKey: p.serverKey, TLSServerName: name},
			[]string{"does not match", "CARDWATCH_NATS_TLS_CERT"}},
		{"a CA file that holds a key", ConnConfig{TLSCA: p.clientKey, TLSCert: p.clientCert, TLSKey: p.clientKey, TLSServerName: name},
			[]string{"no PEM certificate", "CARDWATCH_NATS_TLS_CA"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.URLs, c.cfg.Name = url, "cardwatch"
			nc, err := Connect(c.cfg, log)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			key := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(p.keyPEM),
				"-----BEGIN PRIVATE KEY-----"), "-----END PRIVATE KEY-----"))
			if strings.Contains(err.Error(), key[:40]) || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error shows the key: %q", err)
			}
		})
	}
}

// startOperatorServer starts a NATS server in operator mode (decentralized JWT auth) that
// trusts one account, and returns it with a credentials file for a user of that account.
func startOperatorServer(t *testing.T) (ns *server.Server, creds, seed string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	ojwt, err := oc.Encode(okp)
	must(err)
	akp, err := nkeys.CreateAccount()
	must(err)
	apub, _ := akp.PublicKey()
	ac := jwt.NewAccountClaims(apub)
	ajwt, err := ac.Encode(okp)
	must(err)
	ukp, err := nkeys.CreateUser()
	must(err)
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.IssuerAccount = apub
	ujwt, err := uc.Encode(akp)
	must(err)
	seedBytes, err := ukp.Seed()
	must(err)
	file, err := jwt.FormatUserConfig(ujwt, seedBytes)
	must(err)
	creds = filepath.Join(t.TempDir(), "cardwatch.creds")
	must(os.WriteFile(creds, file, 0o600))

	operator, err := jwt.DecodeOperatorClaims(ojwt)
	must(err)
	resolver := &server.MemAccResolver{}
	must(resolver.Store(apub, ajwt))
	ns, err = server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		TrustedOperators: []*jwt.OperatorClaims{operator}, AccountResolver: resolver})
	must(err)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server in operator mode did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns, creds, string(seedBytes)
}

// CARDWATCH_NATS_CREDS: with the credentials file cardwatch is let in; without it, or
// with a broken one, it is refused with an error that shows no part of the seed.
func TestConnectWithACredentialsFile(t *testing.T) {
	ns, creds, seed := startOperatorServer(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	nc, err := Connect(ConnConfig{URLs: ns.ClientURL(), Name: "cardwatch", Creds: creds}, log)
	if err != nil {
		t.Fatalf("with the credentials file: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Errorf("flush: %v", err)
	}
	nc.Close()

	raw, _ := os.ReadFile(creds)
	broken := filepath.Join(t.TempDir(), "broken.creds")
	if err := os.WriteFile(broken, []byte(strings.Replace(string(raw), seed[:20], "SUAAAAAAAAAAAAAAAAAA", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"no credentials": "", "a broken seed": broken} {
		nc, err := Connect(ConnConfig{URLs: ns.ClientURL(), Name: "cardwatch", Creds: path}, log)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
			continue
		}
		if strings.Contains(err.Error(), seed[2:20]) {
			t.Errorf("%s: the error shows the seed: %v", name, err)
		}
	}
}
