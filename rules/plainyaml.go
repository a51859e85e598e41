package rules

import (
	"bytes"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// parse reads a YAML block sequence written in the plain form that rules files
// of many cardholders are written in, and gives the same tree yaml.v3 gives for it,
// several times faster. The plain form is block mappings and sequences, one key per
// line, values on the key's line as plain or quoted scalars (no escapes) or one-line
// flow lists and mappings of such scalars. Anything else (comments, anchors, tags,
// escapes, multi-line scalars, tabs, an unusual character) makes it report false, and
// the caller hands the text to yaml.v3, which is the reference: FuzzPlainYAML holds the
// two to the same trees. Loading a large file is mostly YAML parsing, and yaml.v3
// spends most of it on a general-purpose token machine and a node per token; this
// walks the lines once and takes the nodes from a few large blocks.
//
// firstLine is the file line text starts on, for the nodes' Line.
//
// The parser's last tree must no longer be in use: one parser reads piece after piece
// of a large file with the same few megabytes.
func (p *plainParser) parse(text []byte, firstLine int) (*yaml.Node, bool) {
	p.text, p.lineBase, p.i, p.depth, p.colLine = text, firstLine, 0, 0, -1
	p.nodes.reset()
	p.ptrs.reset()
	// A refused text leaves its unfinished collections' children behind.
	clear(p.stack)
	p.stack = p.stack[:0]
	if !p.splitLines() {
		return nil, false
	}
	p.skipBlank()
	if p.i == len(p.lines) {
		return nil, false
	}
	col := p.lines[p.i].indent
	if !p.startsItem(p.i, col) {
		return nil, false
	}
	seq, ok := p.blockSeq(col)
	if !ok {
		return nil, false
	}
	if p.skipBlank(); p.i != len(p.lines) {
		return nil, false
	}
	return seq, true
}

// plainLine is one line of the text: where it starts and ends (without the line break)
// and how many spaces it starts with; a blank line has indent -1.
type plainLine struct {
	start, end, indent int
	ascii              bool
}

type plainParser struct {
	text     []byte
	lines    []plainLine
	i        int // the line being read
	lineBase int
	depth    int // the collections being read, one in another
	nodes    slab[yaml.Node]
	ptrs     slab[*yaml.Node] // the Content slices
	stack    []*yaml.Node     // a collection's children while it is read
	keys     map[string]string

	// Byte colByte of line colLine is character colRunes: where column last counted to.
	colLine, colByte, colRunes int
}

// yaml.v3 refuses a text nested more than 10000 deep or with a key whose ':' is more
// than 1024 characters from its start; the plain form stays well inside both, which
// also keeps the parser's recursion shallow.
const (
	plainMaxDepth  = 1000
	plainMaxKeyLen = 1024
)

// enter counts a collection being read, and reports false when it is nested too deep;
// leave uncounts it once read. A refused text resets the count, in parse.
func (p *plainParser) enter() bool {
	p.depth++
	return p.depth <= plainMaxDepth
}

func (p *plainParser) leave() { p.depth-- }

// slab hands out runs of elements from large blocks, so that a tree of tens of
// thousands of nodes is a few allocations, and the same ones for the next tree.
type slab[T any] struct {
	blocks [][]T
	cur    int // the block being handed out from
}

// take returns n zeroed elements that stay where they are until reset.
func (s *slab[T]) take(n int) []T {
	for s.cur < len(s.blocks) && cap(s.blocks[s.cur])-len(s.blocks[s.cur]) < n {
		s.cur++
	}
	if s.cur == len(s.blocks) {
		s.blocks = append(s.blocks, make([]T, 0, max(1024, n)))
	}
	b := s.blocks[s.cur]
	s.blocks[s.cur] = b[:len(b)+n]
	return b[len(b) : len(b)+n : len(b)+n]
}

// reset zeroes what was handed out, to be handed out again.
func (s *slab[T]) reset() {
	for i, b := range s.blocks {
		clear(b)
		s.blocks[i] = b[:0]
	}
	s.cur = 0
}

// splitLines indexes the lines and refuses a text with a character the plain form does
// not allow.
func (p *plainParser) splitLines() bool {
	p.lines = p.lines[:0]
	for start := 0; start < len(p.text); {
		end := bytes.IndexByte(p.text[start:], '\n')
		next := start + end + 1
		if end < 0 {
			end, next = len(p.text), len(p.text)
		} else {
			end += start
		}
		ln := plainLine{start: start, end: end, indent: -1, ascii: true}
		for j := start; j < end; {
			c := p.text[j]
			switch {
			case c >= 0x80:
				r, size := utf8.DecodeRune(p.text[j:end])
				// YAML's printable characters, less the ones it reads as line breaks
				// and the byte order mark.
				if !(r >= 0xA0 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) ||
					r == 0x2028 || r == 0x2029 || r == 0xFEFF || r == utf8.RuneError && size == 1 {
					return false
				}
				ln.ascii = false
				if ln.indent < 0 {
					ln.indent = j - start
				}
				j += size
				continue
			case c < 0x20 || c == 0x7F || c == '#':
				return false
			case c != ' ' && ln.indent < 0:
				ln.indent = j - start
			}
			j++
		}
		p.lines = append(p.lines, ln)
		start = next
	}
	return true
}

// skipBlank moves to the next line with text on it.
func (p *plainParser) skipBlank() {
	for p.i < len(p.lines) && p.lines[p.i].indent < 0 {
		p.i++
	}
}

// line is the text of line i from column col.
func (p *plainParser) line(i, col int) []byte {
	ln := p.lines[i]
	return p.text[ln.start+col : ln.end]
}

// startsItem reports whether line i has "- " at column col.
func (p *plainParser) startsItem(i, col int) bool {
	rest := p.line(i, col)
	return len(rest) >= 2 && rest[0] == '-' && rest[1] == ' '
}

// newNode takes a node from the current block.
func (p *plainParser) newNode(kind yaml.Kind, i, col int) *yaml.Node {
	n := &p.nodes.take(1)[0]
	n.Kind, n.Line, n.Column = kind, p.lineBase+i, p.column(i, col)
	return n
}

// column is the 1-based column of byte col of line i, in characters as yaml.v3 counts.
// Nodes are made in the order they stand on a line, so it counts on from the last
// node's column: counting from the line's start each time takes seconds on a long flow
// list with a non-ASCII character.
func (p *plainParser) column(i, col int) int {
	ln := p.lines[i]
	if ln.ascii {
		return col + 1
	}
	if i != p.colLine || col < p.colByte {
		p.colLine, p.colByte, p.colRunes = i, 0, 0
	}
	p.colRunes += utf8.RuneCount(p.text[ln.start+p.colByte : ln.start+col])
	p.colByte = col
	return p.colRunes + 1
}

// finish gives n the children pushed since mark, in a slice cut from the current block.
func (p *plainParser) finish(n *yaml.Node, mark int) {
	kids := p.stack[mark:]
	n.Content = p.ptrs.take(len(kids))
	copy(n.Content, kids)
	clear(kids)
	p.stack = p.stack[:mark]
}

// blockSeq reads the block sequence whose first "- " is on the current line at col.
func (p *plainParser) blockSeq(col int) (*yaml.Node, bool) {
	if !p.enter() {
		return nil, false
	}
	seq := p.newNode(yaml.SequenceNode, p.i, col)
	seq.Tag = "!!seq"
	mark := len(p.stack)
	for {
		// The item's text starts after "- " and any more spaces.
		rest := p.line(p.i, col+2)
		itemCol := col + 2 + len(rest) - len(bytes.TrimLeft(rest, " "))
		var item *yaml.Node
		var ok bool
		switch rest := p.line(p.i, itemCol); {
		case len(rest) == 0, rest[0] == '-' && (len(rest) == 1 || rest[1] == ' '):
			return nil, false // an empty item, or a sequence in a sequence
		case p.keyEnd(rest) > 0:
			item, ok = p.blockMap(itemCol)
		default:
			item, ok = p.inlineLine(p.i, itemCol)
			p.i++
		}
		if !ok {
			return nil, false
		}
		p.stack = append(p.stack, item)
		p.skipBlank()
		if p.i == len(p.lines) || p.lines[p.i].indent < col {
			break
		}
		if p.lines[p.i].indent > col {
			return nil, false
		}
		if !p.startsItem(p.i, col) {
			// The next key of the mapping this list is a value of, when the list
			// is written at the key's indentation; the mapping checks it.
			break
		}
	}
	p.finish(seq, mark)
	p.leave()
	return seq, true
}

// keyEnd returns the length of a mapping key at the start of rest, up to its colon, when
// rest is "key:" or "key: value" with a key of letters, digits, '_' and '-', no longer
// than yaml.v3 allows; else 0.
func (p *plainParser) keyEnd(rest []byte) int {
	for j, c := range rest {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', j > 0 && (c >= '0' && c <= '9' || c == '-'):
		case c == ':' && j > 0 && j <= plainMaxKeyLen && (j+1 == len(rest) || rest[j+1] == ' '):
			return j
		default:
			return 0
		}
	}
	return 0
}

// blockMap reads the block mapping whose first key is on the current line at col.
func (p *plainParser) blockMap(col int) (*yaml.Node, bool) {
	if !p.enter() {
		return nil, false
	}
	m := p.newNode(yaml.MappingNode, p.i, col)
	m.Tag = "!!map"
	mark := len(p.stack)
	for {
		rest := p.line(p.i, col)
		n := p.keyEnd(rest)
		if n == 0 {
			return nil, false
		}
		key := p.newNode(yaml.ScalarNode, p.i, col)
		key.Value = p.intern(rest[:n])
		key.Tag = key.ShortTag()
		if key.Value == "<<" {
			return nil, false
		}
		after := rest[n+1:]
		valCol := col + n + 1 + len(after) - len(bytes.TrimLeft(after, " "))
		var val *yaml.Node
		var ok bool
		if valCol < len(p.line(p.i, 0)) {
			val, ok = p.inlineLine(p.i, valCol)
			p.i++
		} else {
			// The value is a block on the lines below: further in, or a list at
			// the key's indentation.
			p.i++
			p.skipBlank()
			switch {
			case p.i < len(p.lines) && p.lines[p.i].indent > col:
				val, ok = p.blockNode(p.lines[p.i].indent)
			case p.i < len(p.lines) && p.lines[p.i].indent == col && p.startsItem(p.i, col):
				val, ok = p.blockSeq(col)
			default:
				return nil, false // an empty value
			}
		}
		if !ok {
			return nil, false
		}
		p.stack = append(p.stack, key, val)
		p.skipBlank()
		if p.i == len(p.lines) || p.lines[p.i].indent < col {
			break
		}
		if p.lines[p.i].indent > col {
			return nil, false
		}
	}
	p.finish(m, mark)
	p.leave()
	return m, true
}

// blockNode reads the block collection starting on the current line at col.
func (p *plainParser) blockNode(col int) (*yaml.Node, bool) {
	rest := p.line(p.i, col)
	switch {
	case p.startsItem(p.i, col):
		return p.blockSeq(col)
	case p.keyEnd(rest) > 0:
		return p.blockMap(col)
	}
	return nil, false // a scalar on a line of its own: a multi-line scalar, maybe
}

// inlineLine reads the value that fills line i from col: a scalar or a one-line flow
// collection, with nothing after it but spaces.
func (p *plainParser) inlineLine(i, col int) (*yaml.Node, bool) {
	line := p.line(i, 0)
	var n *yaml.Node
	end := col
	var ok bool
	switch line[col] {
	case '[', '{':
		n, end, ok = p.flow(i, col)
	case '"', '\'':
		n, end, ok = p.quoted(i, col)
	default:
		text := bytes.TrimRight(line[col:], " ")
		if !plainBlockScalar(text) {
			return nil, false
		}
		n = p.newNode(yaml.ScalarNode, i, col)
		n.Value = string(text)
		n.Tag = n.ShortTag()
		end, ok = col+len(text), true
	}
	if !ok || len(bytes.TrimLeft(line[end:], " ")) > 0 {
		return nil, false
	}
	return n, true
}

// plainBlockScalar reports whether s reads as one plain scalar on a block line.
func plainBlockScalar(s []byte) bool {
	if len(s) == 0 || bytes.Equal(s, []byte("<<")) || bytes.IndexByte(s, ':') >= 0 && (bytes.Contains(s, []byte(": ")) || s[len(s)-1] == ':') {
		return false
	}
	switch s[0] {
	case ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		return false
	case '-', '?', ':':
		return len(s) > 1 && s[1] != ' '
	}
	return true
}

// quoted reads a quoted scalar without escapes starting at col; it returns the column
// after the closing quote.
func (p *plainParser) quoted(i, col int) (*yaml.Node, int, bool) {
	line := p.line(i, 0)
	q := line[col]
	closing := bytes.IndexByte(line[col+1:], q)
	if closing < 0 {
		return nil, 0, false
	}
	body := line[col+1 : col+1+closing]
	end := col + 2 + closing
	if q == '"' && bytes.IndexByte(body, '\\') >= 0 || q == '\'' && end < len(line) && line[end] == '\'' {
		return nil, 0, false
	}
	n := p.newNode(yaml.ScalarNode, i, col)
	n.Value = string(body)
	n.Style = yaml.DoubleQuotedStyle
	if q == '\'' {
		n.Style = yaml.SingleQuotedStyle
	}
	n.Tag = "!!str"
	return n, end, true
}

// flow reads a one-line flow sequence [a, b] or mapping {k: v} of scalars starting at
// col; it returns the column after the closing bracket.
func (p *plainParser) flow(i, col int) (*yaml.Node, int, bool) {
	if !p.enter() {
		return nil, 0, false
	}
	line := p.line(i, 0)
	isMap := line[col] == '{'
	closer := byte(']')
	n := p.newNode(yaml.SequenceNode, i, col)
	n.Tag, n.Style = "!!seq", yaml.FlowStyle
	if isMap {
		closer = '}'
		n.Kind, n.Tag = yaml.MappingNode, "!!map"
	}
	mark := len(p.stack)
	j := skipSpaces(line, col+1)
	if j < len(line) && line[j] == closer {
		p.finish(n, mark)
		p.leave()
		return n, j + 1, true
	}
	for {
		var s *yaml.Node
		var ok bool
		start := j
		if s, j, ok = p.flowScalar(i, j); !ok {
			return nil, 0, false
		}
		p.stack = append(p.stack, s)
		if isMap {
			// "key: value"; a key without a value is refused, and so is a long one
			// (its length in bytes is at least its length in characters).
			if j+1 >= len(line) || line[j] != ':' || line[j+1] != ' ' || s.Style != 0 || j-start > plainMaxKeyLen {
				return nil, 0, false
			}
			if s, j, ok = p.flowScalar(i, skipSpaces(line, j+1)); !ok {
				return nil, 0, false
			}
			p.stack = append(p.stack, s)
		}
		j = skipSpaces(line, j)
		if j == len(line) {
			return nil, 0, false
		}
		switch line[j] {
		case ',':
			j = skipSpaces(line, j+1)
			if j == len(line) || line[j] == closer {
				return nil, 0, false // a trailing comma
			}
			continue
		case closer:
			p.finish(n, mark)
			p.leave()
			return n, j + 1, true
		}
		return nil, 0, false
	}
}

// flowScalar reads a plain or quoted scalar, or a flow collection, inside a flow
// collection at col; it returns the column after it (before any spaces).
func (p *plainParser) flowScalar(i, col int) (*yaml.Node, int, bool) {
	line := p.line(i, 0)
	if col >= len(line) {
		return nil, 0, false
	}
	switch line[col] {
	case '"', '\'':
		return p.quoted(i, col)
	case '[', '{':
		return p.flow(i, col)
	}
	// yaml.v3 ends a plain scalar in a flow collection at '?' too, and reads it as
	// the key indicator.
	end := col
	for end < len(line) {
		c := line[end]
		if c == ',' || c == ']' || c == '}' || c == ':' || c == '[' || c == '{' || c == '?' {
			break
		}
		end++
	}
	text := bytes.TrimRight(line[col:end], " ")
	if len(text) == 0 || !plainBlockScalar(text) || text[0] == '-' || text[0] == '?' {
		return nil, 0, false
	}
	n := p.newNode(yaml.ScalarNode, i, col)
	n.Value = string(text)
	n.Tag = n.ShortTag()
	return n, col + len(text), true
}

func skipSpaces(line []byte, j int) int {
	for j < len(line) && line[j] == ' ' {
		j++
	}
	return j
}

// intern returns key as a string, the same string for the same key: a file of a million
// cardholders has a handful of different keys.
func (p *plainParser) intern(key []byte) string {
	if s, ok := p.keys[string(key)]; ok {
		return s
	}
	if p.keys == nil {
		p.keys = map[string]string{}
	}
	s := string(key)
	if len(p.keys) < 256 {
		p.keys[s] = s
	}
	return s
}
