// Command perfreport turns the call chains of `perf script -F comm,ip`
// (a `perf record -g` of one Go process) into a ranked profile, naming
// frames with the binary's own ELF symbol table; perf's own symbol lookup
// does not resolve Go binaries on every system. It prints the share of
// samples under each function (children included) and in it (self), and
// the share under each --group, a regular expression matched against
// every frame of a sample (a sample counts once per group).
//
//	perf script -i perf.data -F comm,ip | perfreport --bin geminihook \
//	    --group 'log line=log/slog|\(\*function\)\.finish' --top 40
package main

import (
	"bufio"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// group is a named set of frames.
type group struct {
	name string
	re   *regexp.Regexp
}

// groupFlags collects repeated --group name=regexp flags.
type groupFlags []group

func (g *groupFlags) String() string { return fmt.Sprint(len(*g)) }

func (g *groupFlags) Set(v string) error {
	name, expr, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return errors.New("want name=regexp")
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return fmt.Errorf("group %s: %w", name, err)
	}
	*g = append(*g, group{name, re})
	return nil
}

func main() {
	bin := flag.String("bin", "", "the profiled Go binary (required)")
	top := flag.Int("top", 40, "functions to list")
	var groups groupFlags
	flag.Var(&groups, "group", "name=regexp: share of samples with a frame matching regexp (repeatable)")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *bin, *top, groups); err != nil {
		fmt.Fprintln(os.Stderr, "perfreport:", err)
		os.Exit(1)
	}
}

// symtab maps addresses of a non-PIE Go binary to function names.
type symtab struct {
	progs []*elf.Prog
	addr  []uint64
	name  []string
}

func loadSymtab(path string) (*symtab, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("symbols of %s: %w", path, err)
	}
	t := &symtab{}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			t.progs = append(t.progs, p)
		}
	}
	slices.SortFunc(syms, func(a, b elf.Symbol) int { return int(a.Value>>1) - int(b.Value>>1) })
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			t.addr = append(t.addr, s.Value)
			t.name = append(t.name, s.Name)
		}
	}
	return t, nil
}

// lookup names the function at off, a file offset as perf script prints
// it for a mapped binary.
func (t *symtab) lookup(off uint64) string {
	for _, p := range t.progs {
		if off >= p.Off && off < p.Off+p.Filesz {
			addr := off - p.Off + p.Vaddr
			i, found := slices.BinarySearch(t.addr, addr)
			if !found {
				i--
			}
			if i >= 0 {
				return t.name[i]
			}
		}
	}
	return "[unknown]"
}

func run(in io.Reader, out io.Writer, bin string, top int, groups []group) error {
	if bin == "" {
		return errors.New("--bin is required")
	}
	st, err := loadSymtab(bin)
	if err != nil {
		return err
	}
	incl := map[string]int{}
	self := map[string]int{}
	grp := make([]int, len(groups))
	samples := 0
	var stack []string
	flush := func() {
		if len(stack) == 0 {
			return
		}
		samples++
		self[stack[0]]++
		seen := map[string]bool{}
		for _, fn := range stack {
			if !seen[fn] {
				seen[fn] = true
				incl[fn]++
			}
		}
		for i, g := range groups {
			if slices.ContainsFunc(stack, g.re.MatchString) {
				grp[i]++
			}
		}
		stack = stack[:0]
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "\t") {
			flush() // a new sample's header, or the blank line after one
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(line), 16, 64)
		if err != nil {
			continue
		}
		if v >= 0xffff_0000_0000_0000 {
			stack = append(stack, "[kernel]")
			continue
		}
		stack = append(stack, st.lookup(v))
	}
	flush()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read perf script: %w", err)
	}
	if samples == 0 {
		return errors.New("no samples")
	}
	pct := func(n int) float64 { return 100 * float64(n) / float64(samples) }
	fmt.Fprintf(out, "%d samples\n\n", samples)
	if len(groups) > 0 {
		fmt.Fprintf(out, "| group | share of samples |\n|---|---|\n")
		for i, g := range groups {
			fmt.Fprintf(out, "| %s | %.1f %% |\n", g.name, pct(grp[i]))
		}
		fmt.Fprintln(out)
	}
	names := make([]string, 0, len(incl))
	for n := range incl {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return incl[b] - incl[a] })
	fmt.Fprintf(out, "| children %% | self %% | function |\n|---|---|---|\n")
	for _, n := range names[:min(top, len(names))] {
		fmt.Fprintf(out, "| %.1f | %.1f | %s |\n", pct(incl[n]), pct(self[n]), n)
	}
	return nil
}
