package main

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fileOffset returns the file offset perf script prints for a frame inside
// function name of the ELF binary at path, the way perf maps it.
func fileOffset(t *testing.T, path, name string) uint64 {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name != name {
			continue
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && s.Value >= p.Vaddr && s.Value < p.Vaddr+p.Filesz {
				return s.Value + 1 - p.Vaddr + p.Off // inside, not at the entry
			}
		}
	}
	t.Fatalf("%s not found in %s", name, path)
	return 0
}

// build builds this command with its symbol table (go test strips the
// test binary's), to stand for the profiled binary.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "perfreport")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Frames are offsets of perfreport's own functions in a built binary.
func TestReportNamesGoFramesAndGroups(t *testing.T) {
	bin := build(t)
	leaf := fileOffset(t, bin, "main.(*symtab).lookup")
	caller := fileOffset(t, bin, "main.run")
	// Three samples: two in lookup called from run, one in the kernel.
	in := fmt.Sprintf("x 1\n\t%x\n\t%x\n\nx 2\n\t%x\n\t%x\n\nx 3\n\tffffffff81000e06\n\t%x\n\n", leaf, caller, leaf, caller, caller)
	var out bytes.Buffer
	groups := []group{{"lookups", regexp.MustCompile(`lookup$`)}, {"none", regexp.MustCompile(`^nothing$`)}}
	if err := run(strings.NewReader(in), &out, bin, 10, groups); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"3 samples",
		"| lookups | 66.7 % |",
		"| none | 0.0 % |",
		"| 100.0 | 0.0 | main.run |",
		"| 66.7 | 66.7 | main.(*symtab).lookup |",
		"| 33.3 | 33.3 | [kernel] |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

func TestReportRefusesEmptyInput(t *testing.T) {
	bin := build(t)
	if err := run(strings.NewReader(""), &bytes.Buffer{}, bin, 10, nil); err == nil {
		t.Fatal("no samples reported without error")
	}
	if err := run(strings.NewReader(""), &bytes.Buffer{}, "", 10, nil); err == nil {
		t.Fatal("missing --bin accepted")
	}
}
