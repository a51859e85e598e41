package rules

import (
	"bytes"
	"runtime"
	"sync"

	"go.yaml.in/yaml/v3"
)

// chunkItems is how many cardholders are parsed at once: enough to keep the per-piece
// cost small, few enough that a piece's YAML tree is a few megabytes.
const chunkItems = 2000

// parseInChunks loads a file whose cardholder list is its last key, in the plain block
// form people and generators write, a piece of the list at a time, on every core. A
// YAML tree of a whole file of a million cardholders takes gigabytes; pieces take a few
// megabytes each and are dropped once read. It reports false, having kept nothing, when
// the file is not in that form or a piece does not parse on its own (an alias to an
// anchor elsewhere, say): the caller then parses the whole file, which gives every YAML
// error its usual message and line.
func (l *loader) parseInChunks(data []byte) (*Book, bool) {
	head, pieces, ok := splitCardholders(data)
	if !ok {
		return nil, false
	}
	b := l.parse(head)
	if b == nil || len(l.errs) > 0 || l.defaults == nil {
		return nil, false
	}
	total := 0
	for _, p := range pieces {
		total += p.items
	}
	b.holders = make(map[holderKey]*Cardholder, total)
	b.list = make([]*Cardholder, 0, total)
	type parsed struct {
		items []*yaml.Node
		ok    bool
	}
	results := make([]chan parsed, len(pieces))
	for i := range results {
		results[i] = make(chan parsed, 1)
	}
	// A few pieces ahead of the one being read, so that memory stays small.
	ahead := make(chan struct{}, runtime.GOMAXPROCS(0)+1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	wg.Go(func() {
		for i, p := range pieces {
			select {
			case ahead <- struct{}{}:
			case <-stop:
				return
			}
			wg.Go(func() {
				var doc yaml.Node
				if err := yaml.Unmarshal(p.text, &doc); err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.SequenceNode {
					results[i] <- parsed{}
					return
				}
				seq := doc.Content[0]
				shiftLines(seq, p.line-1)
				results[i] <- parsed{items: seq.Content, ok: true}
			})
		}
	})
	n := 0
	for i := range pieces {
		r := <-results[i]
		<-ahead
		if !r.ok {
			return nil, false
		}
		l.addCardholders(b, r.items, n, l.defaults)
		n += len(r.items)
	}
	return b, true
}

// piece is a run of whole cardholder items, the file line it starts on, and how many
// items it holds.
type piece struct {
	text  []byte
	line  int
	items int
}

// splitCardholders cuts a file into its head (everything before the cardholder list,
// with the list made empty) and pieces of the list's items. It reports false unless
// `cardholders:` is a line of its own, the file's last key, followed only by items of
// one indentation (`- ` at the same column), their deeper-indented lines, blank lines
// and comments.
func splitCardholders(data []byte) (head []byte, pieces []piece, ok bool) {
	// Lines are walked in place: a slice of every line of a large file would be
	// another hundred megabytes.
	listAt, offset, lineNo := -1, 0, 0
	for ln := range bytes.Lines(data) {
		lineNo++
		if string(bytes.TrimRight(ln, " \r\n")) == "cardholders:" {
			listAt = offset
			offset += len(ln)
			break
		}
		offset += len(ln)
	}
	if listAt < 0 {
		return nil, nil, false
	}
	head = append(bytes.Clone(data[:listAt]), "cardholders: []\n"...)
	var indent []byte
	start, count, startOff := -1, 0, offset
	for ln := range bytes.Lines(data[offset:]) {
		lineNo++
		trimmed := bytes.TrimLeft(ln, " ")
		blank := len(bytes.TrimSpace(ln)) == 0 || trimmed[0] == '#'
		switch {
		case blank:
		case indent == nil:
			if !bytes.HasPrefix(trimmed, []byte("- ")) {
				return nil, nil, false
			}
			indent = ln[:len(ln)-len(trimmed)]
			start, count, startOff = lineNo, 1, offset
		case bytes.HasPrefix(ln, indent) && bytes.HasPrefix(ln[len(indent):], []byte("- ")):
			if count == chunkItems {
				pieces = append(pieces, piece{text: data[startOff:offset], line: start, items: count})
				start, count, startOff = lineNo, 0, offset
			}
			count++
		case bytes.HasPrefix(ln, indent) && len(ln) > len(indent) && ln[len(indent)] == ' ':
			// A deeper line of the current item.
		default:
			return nil, nil, false
		}
		if bytes.IndexByte(ln, '\t') >= 0 {
			return nil, nil, false
		}
		offset += len(ln)
	}
	if indent == nil {
		return nil, nil, false
	}
	pieces = append(pieces, piece{text: data[startOff:offset], line: start, items: count})
	return head, pieces, true
}

// shiftLines moves the line numbers of a piece's nodes to where they are in the file.
func shiftLines(n *yaml.Node, by int) {
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}
