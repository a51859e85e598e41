// Package natsauth makes NATS decentralized auth for a cardwatch cluster: an operator, a
// system account, an account for cardwatch and one for each bank, as JWTs a nats-server
// config includes, and a credentials file for each account's user.
//
// Each bank's account is its own subject space: it sees nothing of cardwatch's or another
// bank's traffic, streams, buckets or JetStream API. What crosses between accounts is
// only what cardwatch's account exports to that bank alone (an export that needs an
// activation token, issued to that bank's account):
//   - services, which the bank calls: <prefix>.txn.<bank>.* (its transactions, into
//     cardwatch's CARDWATCH_TXN stream, whose publish acks flow back) and
//     <prefix>.cardholders.<bank> (its cardholder profiles);
//   - streams, which the bank receives: <prefix>.alerts.<bank>, .reports.<bank>,
//     .deliveries.<bank> and .dlq.<bank>. A bank keeps them durably with a stream of its
//     own account on those subjects. Sourcing from cardwatch's streams instead would need
//     cardwatch's consumer API exported to the bank, and that API takes the consumer's
//     name and filter from the caller: a bank could then read another bank's subjects or
//     rewrite one of cardwatch's own consumers.
package natsauth

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/cardwatch/cardwatch/rules"
	"github.com/cardwatch/cardwatch/subscribers"
)

// Names of the accounts that are not banks. A bank may not take one of them: its
// credentials file would be the same file.
const (
	AccountCardwatch = "cardwatch"
	AccountSystem    = "sys"
)

// JetStream limits of each bank's account, for the streams a bank keeps its feeds in.
// Usage counts every replica: one R3 stream of 1 GiB uses 3 GiB of BankDiskBytes.
const (
	BankDiskBytes   = 10 << 30
	BankMemoryBytes = 512 << 20
	BankStreams     = 32
	BankConsumers   = 256
)

// Config says what Provision makes.
type Config struct {
	// Dir holds everything: auth.conf, the credentials files and keys/.
	Dir string
	// Prefix is the first token(s) of every cardwatch subject; CARDWATCH_SUBJECT_PREFIX.
	Prefix string
	// Banks are the bank ids to give an account each. Every bank already in Dir must be
	// listed: Provision never removes one.
	Banks []string
}

// Report says what Provision did, naming files relative to Config.Dir.
type Report struct {
	// Written are the files made or rewritten in this run.
	Written []string
	// Kept are the credentials files that were already there and are still valid.
	Kept []string
}

// File names in Config.Dir.
const (
	AuthConfFile = "auth.conf"
	keysDir      = "keys"
	prefixFile   = "keys/subject-prefix"
	operatorSeed = "keys/operator.nk"
	operatorJWT  = "keys/operator.jwt"
)

// CredsFile is the credentials file of an account's user: cardwatch, sys or a bank id.
func CredsFile(account string) string { return account + ".creds" }

// accountSeedFile is where an account's seed is kept: it signs the account's users
// (and, for cardwatch's, the banks' activation tokens).
func accountSeedFile(account string, bank bool) string {
	if bank {
		return "keys/bank." + account + ".nk"
	}
	return "keys/account." + account + ".nk"
}

// Provision writes Config.Dir, or adds to it: keys and credentials already there are
// kept, so the users they sign stay valid, and auth.conf is written anew with every
// account. Errors never carry a seed.
func Provision(cfg Config) (Report, error) {
	if err := cfg.validate(); err != nil {
		return Report{}, err
	}
	d := dir(cfg.Dir)
	if err := d.prepare(cfg); err != nil {
		return Report{}, err
	}
	var rep Report
	ks, err := loadKeys(d, cfg.Banks, &rep)
	if err != nil {
		return rep, err
	}
	accts, err := ks.accounts(cfg.Prefix, cfg.Banks)
	if err != nil {
		return rep, err
	}
	for _, a := range accts {
		if err := d.ensureCreds(a, cfg.Prefix, &rep); err != nil {
			return rep, err
		}
	}
	if err := d.write(AuthConfFile, renderAuthConf(ks.operatorJWT, ks.pub(ks.sys), accts)); err != nil {
		return rep, err
	}
	rep.Written = append(rep.Written, AuthConfFile)
	return rep, nil
}

// validate reports every bad bank id and the prefix at once.
func (cfg Config) validate() error {
	var errs []error
	if cfg.Dir == "" {
		errs = append(errs, errors.New("no output folder (--out DIR)"))
	}
	if !server.IsValidLiteralSubject(cfg.Prefix) {
		errs = append(errs, fmt.Errorf("prefix %q is not a NATS subject prefix (tokens separated by '.', no wildcards or spaces)", cfg.Prefix))
	}
	if len(cfg.Banks) == 0 {
		errs = append(errs, errors.New("no bank (--banks acme,globex)"))
	}
	seen := map[string]bool{}
	for _, b := range cfg.Banks {
		switch {
		case !rules.ValidBankID(b):
			errs = append(errs, fmt.Errorf("bank %q is not a bank id (lowercase letters, digits, '-' and '_')", b))
		case b == AccountCardwatch || b == AccountSystem || b == subscribers.UnroutedBank:
			errs = append(errs, fmt.Errorf("bank %q is a name cardwatch keeps for itself", b))
		case seen[b]:
			errs = append(errs, fmt.Errorf("bank %q is listed twice", b))
		}
		seen[b] = true
	}
	return errors.Join(errs...)
}

// dir is the output folder.
type dir string

func (d dir) path(name string) string { return filepath.Join(string(d), filepath.FromSlash(name)) }

// prepare makes the folder private and checks that this run extends the one before
// it: the same prefix (the users' permissions name it) and every bank it made.
func (d dir) prepare(cfg Config) error {
	for _, sub := range []string{".", keysDir} {
		p := d.path(sub)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
		if err := os.Chmod(p, 0o700); err != nil {
			return fmt.Errorf("make %s private: %w", p, err)
		}
	}
	old, err := os.ReadFile(d.path(prefixFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := d.write(prefixFile, []byte(cfg.Prefix+"\n")); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("read %s: %w", d.path(prefixFile), err)
	case strings.TrimSpace(string(old)) != cfg.Prefix:
		return fmt.Errorf("%s was made with --prefix %s: run with that prefix, or make a new folder", d, strings.TrimSpace(string(old)))
	}
	made, err := filepath.Glob(d.path(accountSeedFile("*", true)))
	if err != nil {
		return fmt.Errorf("list banks in %s: %w", d, err)
	}
	var missing []string
	for _, f := range made {
		b := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "bank."), ".nk")
		if !slices.Contains(cfg.Banks, b) {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s already has bank(s) %s: list them in --banks too (nats-auth never removes a bank)", d, strings.Join(missing, ", "))
	}
	return nil
}

// write replaces a file as a whole (a reader or a crash sees the old or the new one),
// readable by its owner only.
func (d dir) write(name string, data []byte) error {
	p := d.path(name)
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// keys are the operator's and the accounts' key pairs.
type keys struct {
	operator    nkeys.KeyPair
	operatorJWT string
	sys         nkeys.KeyPair
	cardwatch   nkeys.KeyPair
	banks       map[string]nkeys.KeyPair
}

func (ks *keys) pub(kp nkeys.KeyPair) string {
	p, err := kp.PublicKey()
	if err != nil {
		// A key pair made from a seed always has a public key.
		panic(fmt.Sprintf("nkey without public key: %v", err))
	}
	return p
}

// loadKeys reads the keys in d and makes the missing ones. The operator JWT is kept as
// it was first written: nats-server cannot reload a changed operator.
func loadKeys(d dir, banks []string, rep *Report) (*keys, error) {
	ks := &keys{banks: map[string]nkeys.KeyPair{}}
	var err error
	if ks.operator, err = d.key(operatorSeed, nkeys.PrefixByteOperator, rep); err != nil {
		return nil, err
	}
	if ks.sys, err = d.key(accountSeedFile(AccountSystem, false), nkeys.PrefixByteAccount, rep); err != nil {
		return nil, err
	}
	if ks.cardwatch, err = d.key(accountSeedFile(AccountCardwatch, false), nkeys.PrefixByteAccount, rep); err != nil {
		return nil, err
	}
	for _, b := range banks {
		if ks.banks[b], err = d.key(accountSeedFile(b, true), nkeys.PrefixByteAccount, rep); err != nil {
			return nil, err
		}
	}
	b, err := os.ReadFile(d.path(operatorJWT))
	if err == nil {
		ks.operatorJWT = strings.TrimSpace(string(b))
		oc, err := jwt.DecodeOperatorClaims(ks.operatorJWT)
		if err != nil || oc.Subject != ks.pub(ks.operator) || oc.SystemAccount != ks.pub(ks.sys) {
			return nil, fmt.Errorf("%s is not the operator of %s and %s", d.path(operatorJWT), d.path(operatorSeed), d.path(accountSeedFile(AccountSystem, false)))
		}
		return ks, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", d.path(operatorJWT), err)
	}
	oc := jwt.NewOperatorClaims(ks.pub(ks.operator))
	oc.Name = AccountCardwatch
	oc.SystemAccount = ks.pub(ks.sys)
	if ks.operatorJWT, err = encode(oc, ks.operator); err != nil {
		return nil, err
	}
	if err := d.write(operatorJWT, []byte(ks.operatorJWT+"\n")); err != nil {
		return nil, err
	}
	rep.Written = append(rep.Written, operatorJWT)
	return ks, nil
}

// key reads a seed file, or makes the key and writes it when there is none.
func (d dir) key(name string, kind nkeys.PrefixByte, rep *Report) (nkeys.KeyPair, error) {
	b, err := os.ReadFile(d.path(name))
	if err == nil {
		kp, err := nkeys.FromSeed(bytes.TrimSpace(b))
		if err != nil {
			return nil, fmt.Errorf("%s: not an nkey seed", d.path(name))
		}
		if p, err := kp.PublicKey(); err != nil || nkeys.Prefix(p) != kind {
			return nil, fmt.Errorf("%s: not the seed of %s key", d.path(name), kind)
		}
		return kp, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", d.path(name), err)
	}
	kp, err := nkeys.CreatePair(kind)
	if err != nil {
		return nil, fmt.Errorf("make %s key: %w", kind, err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, fmt.Errorf("make %s key: %w", kind, err)
	}
	if err := d.write(name, append(seed, '\n')); err != nil {
		return nil, err
	}
	rep.Written = append(rep.Written, name)
	return kp, nil
}

// account is one account as the server loads it, with the key that signs its users.
type account struct {
	Name string
	Pub  string
	JWT  string
	key  nkeys.KeyPair
	bank bool
}

// crossing is one subject that crosses from cardwatch's account to a bank's.
type crossing struct {
	subject string
	typ     jwt.ExportType
}

// crossings are what cardwatch's account exports to one bank: the services the bank
// calls and the feeds it receives.
func crossings(prefix, bank string) []crossing {
	s := subscribers.Subjects{Prefix: prefix}
	return []crossing{
		{s.Txn(bank, "*"), jwt.Service},
		{cardholders(prefix, bank), jwt.Service},
		{s.Alerts(bank), jwt.Stream},
		{s.Reports(bank), jwt.Stream},
		{s.Deliveries(bank), jwt.Stream},
		{s.DLQ(bank), jwt.Stream},
	}
}

// cardholders is where a bank publishes its cardholder profiles (the contract).
func cardholders(prefix, bank string) string { return prefix + ".cardholders." + bank }

// accounts builds every account's JWT: the system account, cardwatch's with its exports
// to each bank, and each bank's with its imports and their activation tokens.
func (ks *keys) accounts(prefix string, banks []string) ([]account, error) {
	sys := jwt.NewAccountClaims(ks.pub(ks.sys))
	sys.Name = "SYS"

	cw := jwt.NewAccountClaims(ks.pub(ks.cardwatch))
	cw.Name = AccountCardwatch
	// cardwatch's streams are bounded by CARDWATCH_RETENTION, and the account is the
	// operator's own: the server's max_file_store is its limit.
	cw.Limits.JetStreamLimits = jwt.JetStreamLimits{DiskStorage: jwt.NoLimit, MemoryStorage: jwt.NoLimit, Streams: jwt.NoLimit, Consumer: jwt.NoLimit}

	sorted := slices.Sorted(slices.Values(banks))
	var bankAccts []account
	for _, b := range sorted {
		bankPub := ks.pub(ks.banks[b])
		ba := jwt.NewAccountClaims(bankPub)
		ba.Name = b
		ba.Limits.JetStreamLimits = jwt.JetStreamLimits{DiskStorage: BankDiskBytes, MemoryStorage: BankMemoryBytes, Streams: BankStreams, Consumer: BankConsumers}
		for _, c := range crossings(prefix, b) {
			cw.Exports.Add(&jwt.Export{Name: c.subject, Subject: jwt.Subject(c.subject), Type: c.typ, TokenReq: true})
			act := jwt.NewActivationClaims(bankPub)
			act.Name = c.subject
			act.ImportSubject = jwt.Subject(c.subject)
			act.ImportType = c.typ
			tok, err := encode(act, ks.cardwatch)
			if err != nil {
				return nil, fmt.Errorf("bank %s: %w", b, err)
			}
			ba.Imports.Add(&jwt.Import{Name: c.subject, Subject: jwt.Subject(c.subject), Account: ks.pub(ks.cardwatch), Token: tok, Type: c.typ})
		}
		tok, err := encode(ba, ks.operator)
		if err != nil {
			return nil, fmt.Errorf("bank %s: %w", b, err)
		}
		bankAccts = append(bankAccts, account{Name: b, Pub: bankPub, JWT: tok, key: ks.banks[b], bank: true})
	}
	sysJWT, err := encode(sys, ks.operator)
	if err != nil {
		return nil, fmt.Errorf("system account: %w", err)
	}
	cwJWT, err := encode(cw, ks.operator)
	if err != nil {
		return nil, fmt.Errorf("cardwatch account: %w", err)
	}
	return append([]account{
		{Name: AccountSystem, Pub: ks.pub(ks.sys), JWT: sysJWT, key: ks.sys},
		{Name: AccountCardwatch, Pub: ks.pub(ks.cardwatch), JWT: cwJWT, key: ks.cardwatch},
	}, bankAccts...), nil
}

// claims is what encode signs.
type claims interface {
	Validate(*jwt.ValidationResults)
	Encode(nkeys.KeyPair) (string, error)
}

// encode signs claims after checking them: Encode alone signs claims the server would
// refuse.
func encode(c claims, kp nkeys.KeyPair) (string, error) {
	vr := jwt.CreateValidationResults()
	c.Validate(vr)
	if vr.IsBlocking(true) {
		return "", fmt.Errorf("invalid claims: %w", errors.Join(vr.Errors()...))
	}
	tok, err := c.Encode(kp)
	if err != nil {
		return "", fmt.Errorf("sign claims: %w", err)
	}
	return tok, nil
}

// bankPermissions are what a bank's user may publish. Subscribing is left open: all a
// bank's account sees is its own, and its consumers deliver where it chooses. Its own
// feed subjects are not here, so that no bank user can forge what cardwatch says to it.
func bankPermissions(prefix, bank string) jwt.Permissions {
	var p jwt.Permissions
	p.Pub.Allow.Add(
		subscribers.Subjects{Prefix: prefix}.Txn(bank, "*"),
		cardholders(prefix, bank),
		"$JS.API.>", // the JetStream API of the bank's own account
		"$JS.ACK.>", // acks to its own consumers
		"$JS.FC.>",  // flow control replies of its own push consumers
		"_INBOX.>",
	)
	return p
}

// ensureCreds keeps the account's credentials file when it is a valid user of the
// account, and writes a new user when there is none.
func (d dir) ensureCreds(a account, prefix string, rep *Report) error {
	name := CredsFile(a.Name)
	b, err := os.ReadFile(d.path(name))
	if err == nil {
		if !credsOf(b, a.Pub) {
			return fmt.Errorf("%s is not a user of the %s account in %s: move it away to make a new one", d.path(name), a.Name, d.path(keysDir))
		}
		rep.Kept = append(rep.Kept, name)
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", d.path(name), err)
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		return fmt.Errorf("make user of %s: %w", a.Name, err)
	}
	upub, err := user.PublicKey()
	if err != nil {
		return fmt.Errorf("make user of %s: %w", a.Name, err)
	}
	uc := jwt.NewUserClaims(upub)
	uc.Name = a.Name
	if a.bank {
		uc.Permissions = bankPermissions(prefix, a.Name)
	}
	tok, err := encode(uc, a.key)
	if err != nil {
		return fmt.Errorf("user of %s: %w", a.Name, err)
	}
	seed, err := user.Seed()
	if err != nil {
		return fmt.Errorf("user of %s: %w", a.Name, err)
	}
	creds, err := jwt.FormatUserConfig(tok, seed)
	if err != nil {
		return fmt.Errorf("user of %s: %w", a.Name, err)
	}
	if err := d.write(name, creds); err != nil {
		return err
	}
	rep.Written = append(rep.Written, name)
	return nil
}

// credsOf reports whether creds holds a user JWT issued by the account and the seed of
// that user.
func credsOf(creds []byte, accountPub string) bool {
	tok, err := jwt.ParseDecoratedJWT(creds)
	if err != nil {
		return false
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil || uc.Issuer != accountPub {
		return false
	}
	kp, err := jwt.ParseDecoratedNKey(creds)
	if err != nil {
		return false
	}
	p, err := kp.PublicKey()
	return err == nil && p == uc.Subject
}

// renderAuthConf is the nats-server config fragment: the operator, the system account
// and every account's JWT for the memory resolver, which a config reload updates.
func renderAuthConf(operatorJWT, sysPub string, accts []account) []byte {
	var b bytes.Buffer
	b.WriteString("# NATS decentralized auth for cardwatch, written by `cardwatch nats-auth`.\n")
	b.WriteString("# Include it from every server's config (the same file on each node), with\n")
	b.WriteString("# JetStream on:  include ./auth.conf\n")
	b.WriteString("# No seed is in this file. Reload the servers after replacing it.\n\n")
	fmt.Fprintf(&b, "operator: %q\n", operatorJWT)
	fmt.Fprintf(&b, "system_account: %s\n", sysPub)
	b.WriteString("resolver: MEMORY\n")
	b.WriteString("resolver_preload: {\n")
	for _, a := range accts {
		fmt.Fprintf(&b, "  # %s\n  %s: %q\n", a.Name, a.Pub, a.JWT)
	}
	b.WriteString("}\n")
	return b.Bytes()
}
