package rules

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync"

	"go.yaml.in/yaml/v3"
)

// chunkItems is how many cardholders are parsed at once: enough to keep the per-piece
// cost small, few enough that a piece's YAML tree is a few megabytes.
const chunkItems = 2000

// parseInChunks loads a file whose cardholder list is its last key, in the plain block
// form people and generators write, a piece of the list at a time, on every core, as
// it is read from r: neither the file nor a YAML tree of all of it is ever in memory (a
// tree of a million cardholders takes gigabytes; a piece takes a few megabytes, used
// again for the next). It reports false, having kept nothing, when the file is not in
// that form or a piece does not parse on its own (an alias to an anchor elsewhere,
// say): the caller then parses the whole file, which gives every YAML error its usual
// message and line. size is the file's size, or a guess, for sizing the book.
func (l *loader) parseInChunks(r io.Reader, size int64) (*Book, bool) {
	sp := newSplitter(r)
	head, ok := sp.head()
	if !ok {
		return nil, false
	}
	b := l.parse(head)
	if b == nil || len(l.errs) > 0 || l.defaults == nil {
		return nil, false
	}
	type result struct {
		built
		ok   bool
		line int // the piece's first line
	}
	type job struct {
		piece
		first int
		done  chan result
	}
	// In file order, at most a few pieces ahead of the one being added, so that
	// memory stays small whatever the file's size.
	order := make(chan chan result, runtime.GOMAXPROCS(0)+1)
	jobs := make(chan job)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	wg.Go(func() {
		defer close(order)
		defer close(jobs)
		first := 0
		for {
			p, more, ok := sp.next()
			done := make(chan result, 1)
			if !ok {
				done <- result{}
			}
			select {
			case order <- done:
			case <-stop:
				return
			}
			if !ok {
				return
			}
			jobs <- job{piece: p, first: first, done: done}
			first += p.items
			if !more {
				return
			}
		}
	})
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			// The worker's parser reuses its memory: a piece's tree is done with
			// once its cardholders are built.
			var pp plainParser
			for j := range jobs {
				items, ok := pp.parsePiece(j.piece)
				if !ok {
					j.done <- result{}
					continue
				}
				j.done <- result{built: l.forPiece().build(items, j.first), ok: true, line: j.line}
			}
		})
	}
	n, firstLine := 0, 0
	for done := range order {
		r := <-done
		if !r.ok {
			return nil, false
		}
		if n == 0 {
			// From the first piece's bytes a cardholder, how many the file holds: a
			// million cardholders load a second faster into a map made for them. A
			// file whose first piece is unlike the rest gets a map too large or too
			// small, never by more than the file's size over a cardholder's least
			// bytes (about 50).
			b.sizeHint = int(size / int64(max(1, sp.firstPieceBytes/max(1, len(r.holders)))))
			b.list = make([]*Cardholder, 0, b.sizeHint)
		}
		if l.cache.failedDefault() {
			return nil, false // read whole, to report it as the whole-file parse does
		}
		if n == 0 {
			firstLine = r.line
		}
		if n+len(r.holders) > maxCardholders {
			// Reported here: the whole-file parse of such a file is the gigabytes
			// reading in pieces avoids.
			l.errs = []error{tooManyCardholders(l.file, firstLine)}
			return b, true
		}
		l.addBuilt(b, r.built, n)
		n += len(r.holders)
	}
	return b, true
}

// parsePiece reads a piece's items: in the plain form directly, else with yaml.v3. It
// reports false when the piece does not parse on its own.
func (pp *plainParser) parsePiece(p piece) ([]*yaml.Node, bool) {
	if seq, ok := pp.parse(p.text, p.line); ok && len(seq.Content) == p.items {
		return seq.Content, true
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(p.text, &doc); err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.SequenceNode {
		return nil, false
	}
	seq := doc.Content[0]
	if hasAliases(seq) {
		return nil, false // the whole-file parse reports them
	}
	if len(seq.Content) != p.items {
		// A "- " line the splitter took for an item is inside a quoted string: the
		// pieces' item numbers would be off.
		return nil, false
	}
	shiftLines(seq, p.line-1)
	return seq.Content, true
}

// piece is a run of whole cardholder items, the file line it starts on, and how many
// items it holds.
type piece struct {
	text  []byte
	line  int
	items int
}

// splitter cuts a file read from r into its head (everything before the cardholder
// list, with the list made empty) and pieces of the list's items. It is satisfied only
// when `cardholders:` is a line of its own, the file's last key, followed only by items
// of one indentation (`- ` at the same column), their deeper-indented lines, blank lines
// and comments.
type splitter struct {
	r       *bufio.Reader
	lineNo  int    // lines read
	pending []byte // an item's first line, read while ending the piece before it
	indent  []byte // the items' indentation
	long    []byte // a line longer than r's buffer
	err     bool
	// firstPieceBytes is the first piece's size.
	firstPieceBytes int
}

func newSplitter(r io.Reader) *splitter {
	return &splitter{r: bufio.NewReaderSize(r, 1<<16)}
}

// readLine returns the next line with its line break; it is valid until the next call.
// At the end it returns nil.
func (s *splitter) readLine() []byte {
	line, err := s.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		s.long = append(s.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = s.r.ReadSlice('\n')
			s.long = append(s.long, line...)
		}
		line = s.long
	}
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = true
		return nil
	}
	if len(line) == 0 {
		return nil
	}
	s.lineNo++
	return line
}

// head reads up to and with the `cardholders:` line.
func (s *splitter) head() ([]byte, bool) {
	var head []byte
	for {
		ln := s.readLine()
		if ln == nil {
			return nil, false
		}
		if string(bytes.TrimRight(ln, " \r\n")) == "cardholders:" {
			return append(head, "cardholders: []\n"...), true
		}
		head = append(head, ln...)
	}
}

// next reads the next piece; more is false after the last. ok is false when the text
// is not of the form the splitter takes.
func (s *splitter) next() (p piece, more, ok bool) {
	text := make([]byte, 0, s.firstPieceBytes+s.firstPieceBytes/8)
	if s.pending != nil {
		text, p.line, p.items = append(text, s.pending...), s.lineNo, 1
		s.pending = nil
	}
	defer func() {
		if ok && s.firstPieceBytes == 0 {
			s.firstPieceBytes = len(p.text)
		}
	}()
	for {
		ln := s.readLine()
		if ln == nil {
			if s.err || s.indent == nil {
				return piece{}, false, false
			}
			p.text = text
			return p, false, true
		}
		if bytes.IndexByte(ln, '\t') >= 0 || unicodeBreak(ln) {
			return piece{}, false, false
		}
		trimmed := bytes.TrimLeft(ln, " ")
		switch {
		case len(bytes.TrimSpace(ln)) == 0 || trimmed[0] == '#':
			// Blank lines and comments go with the item before them.
		case s.indent == nil:
			if !bytes.HasPrefix(trimmed, []byte("- ")) {
				return piece{}, false, false
			}
			s.indent = bytes.Clone(ln[:len(ln)-len(trimmed)])
			p.line, p.items = s.lineNo, 1
		case bytes.HasPrefix(ln, s.indent) && bytes.HasPrefix(ln[len(s.indent):], []byte("- ")):
			if p.items == chunkItems {
				s.pending = append(s.pending[:0], ln...)
				p.text = text
				return p, true, true
			}
			if p.items == 0 {
				p.line = s.lineNo
			}
			p.items++
		case s.indent != nil && bytes.HasPrefix(ln, s.indent) && len(ln) > len(s.indent) && ln[len(s.indent)] == ' ':
			// A deeper line of the current item.
		default:
			return piece{}, false, false
		}
		if p.items > 0 {
			text = append(text, ln...)
		}
	}
}

// unicodeBreak reports whether a line holds a character YAML reads as a line break
// besides '\n' (NEL, U+2028, U+2029), which would make the pieces' line numbers wrong.
func unicodeBreak(ln []byte) bool {
	return bytes.Contains(ln, []byte("\u0085")) || bytes.Contains(ln, []byte("\u2028")) || bytes.Contains(ln, []byte("\u2029"))
}

// shiftLines moves the line numbers of a piece's nodes to where they are in the file.
func shiftLines(n *yaml.Node, by int) {
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}
