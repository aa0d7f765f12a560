package main

import (
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geminihook/geminihook/internal/soak"
	"github.com/geminihook/geminihook/verify"
)

// readmeExample is one geminihook command line from a README code block.
type readmeExample struct {
	line int
	text string
	args []string // after "geminihook"
}

// shellSplit splits a command line the way a POSIX shell would for the
// literal forms README uses: words, '…' and "…" quoting, backslash escapes
// and a trailing # comment. Expansions ($, backquotes) and redirections
// are refused: a README example must be literal to be checked.
func shellSplit(s string) ([]string, string) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, "unterminated '"
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, `unterminated "`
			}
			q := s[i+1 : i+1+j]
			if strings.ContainsAny(q, "$`\\") {
				return nil, "expansion inside double quotes"
			}
			cur.WriteString(q)
			i += j + 1
			inWord = true
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			i++
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words, ""
		case strings.IndexByte("$`<>|;&(){}", c) >= 0:
			return nil, "shell syntax " + string(c)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, ""
}

// readmeExamples returns the geminihook command lines of README.md's sh
// blocks ("go run ./cmd/geminihook" counts as geminihook), joining
// backslash continuations.
func readmeExamples(t *testing.T) []readmeExample {
	t.Helper()
	root, err := soak.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []readmeExample
	inBlock := false
	lines := strings.Split(string(raw), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "```") {
			inBlock = !inBlock && strings.TrimPrefix(l, "```") == "sh"
			continue
		}
		if !inBlock {
			continue
		}
		start := i
		for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(l, "\\") + " " + strings.TrimSpace(lines[i])
		}
		text := strings.TrimSpace(l)
		var rest string
		switch {
		case strings.HasPrefix(text, "geminihook "), text == "geminihook":
			rest = strings.TrimPrefix(text, "geminihook")
		case strings.HasPrefix(text, "go run ./cmd/geminihook "):
			rest = strings.TrimPrefix(text, "go run ./cmd/geminihook")
		case strings.HasPrefix(text, "go install "):
			if !strings.Contains(text, "github.com/geminihook/geminihook/cmd/geminihook@") {
				t.Errorf("README.md:%d installs something other than the module's command: %s", start+1, text)
			}
			continue
		default:
			continue
		}
		words, problem := shellSplit(rest)
		if problem != "" {
			t.Errorf("README.md:%d: %s in %q: README examples must be literal command lines", start+1, problem, text)
			continue
		}
		out = append(out, readmeExample{line: start + 1, text: text, args: words})
	}
	return out
}

// notOffline lists the commands whose README examples cannot run without a
// cloud project, a Gemini API key or a long-running server, with why. Their
// examples are still checked offline: the command must exist and accept
// every flag and argument shown (a flag that rots fails the test).
var notOffline = map[string]string{
	"serve":    "serves until interrupted and needs a project's Pub/Sub and Secret Manager",
	"dev":      "serves until interrupted (dev --demo runs in TestDevDemo)",
	"send":     "needs a running dev server or function",
	"tail":     "needs Pub/Sub (tests: TestUserTailFindsTheDevEmulator, stream tests)",
	"replay":   "needs Pub/Sub (tests: replay tests)",
	"register": "needs a Gemini API key and Secret Manager (tests: register tests against the fakes)",
	"rotate":   "needs a Gemini API key and Secret Manager (tests: rotate tests against the fakes)",
	"list":     "needs a Gemini API key (tests: list tests against the fake)",
	"ping":     "needs a Gemini API key and Pub/Sub (tests: ping tests against the fakes)",
	"delete":   "needs a Gemini API key (tests: delete tests against the fake)",
}

// sentinelFlag is appended to an example that cannot run: a command that
// accepts every flag before it stops at this one and names it.
const sentinelFlag = "--readme-check-sentinel"

func TestReadmeExamples(t *testing.T) {
	u := newUser(t)
	// What the offline examples need: a dev state file (as a running
	// 'geminihook dev' leaves) and the body.json the README signs.
	secret, err := verify.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	u.writeDevState(devState{URL: "http://127.0.0.1:9", Secret: secret, KeyID: "dev-key", KeyPEM: encodeRSAKey(priv)})
	if err := os.WriteFile(filepath.Join(u.dir, "body.json"), []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/b1"}}`), 0o600); err != nil {
		t.Fatal(err)
	}

	examples := readmeExamples(t)
	seen := map[string]bool{}
	for _, ex := range examples {
		if len(ex.args) == 0 {
			t.Errorf("README.md:%d: %q names no command", ex.line, ex.text)
			continue
		}
		name := ex.args[0]
		seen[name] = true
		if _, ok := commands[name]; !ok && name != "help" {
			t.Errorf("README.md:%d: unknown command %q in %q", ex.line, name, ex.text)
			continue
		}
		if why, ok := notOffline[name]; ok {
			t.Logf("README.md:%d not run (%s); flags checked: %s", ex.line, why, ex.text)
			code, out, errOut := u.run(append(ex.args, sentinelFlag)...)
			if code != 2 || !strings.Contains(errOut, "flag provided but not defined: "+strings.TrimPrefix(sentinelFlag, "-")) {
				t.Errorf("README.md:%d: %q does not parse: exit %d\nstdout:\n%s\nstderr:\n%s", ex.line, ex.text, code, out, errOut)
			}
			continue
		}
		code, out, errOut := u.run(ex.args...)
		if code != 0 {
			t.Errorf("README.md:%d: %q exited %d\nstdout:\n%s\nstderr:\n%s", ex.line, ex.text, code, out, errOut)
		}
		if strings.Contains(out+errOut, secret) || strings.Contains(out+errOut, strings.TrimPrefix(secret, "whsec_")) {
			t.Errorf("README.md:%d: %q printed the signing secret", ex.line, ex.text)
		}
	}
	// The README shows every command that needs no cloud to run at least
	// once, and the examples cover the management commands.
	for _, name := range []string{"help", "version", "sign", "dev", "send", "register", "rotate", "list", "ping", "tail", "replay"} {
		if !seen[name] {
			t.Errorf("README.md has no example of %s", name)
		}
	}
}

// TestEveryCommandHasHelp keeps helpFor and the command table in step,
// and checks that every help example parses.
func TestEveryCommandHasHelp(t *testing.T) {
	u := newUser(t)
	for name := range commands {
		h, ok := helpFor[name]
		if !ok || !strings.HasPrefix(h.usage, name) || !strings.HasPrefix(h.example, "geminihook "+name) {
			t.Errorf("command %s: help %+v", name, h)
			continue
		}
		for _, line := range strings.Split(h.example, "\n") {
			words, problem := shellSplit(strings.TrimPrefix(line, "geminihook"))
			if problem != "" || len(words) == 0 || words[0] != name {
				t.Errorf("help example of %s: %q: %s", name, line, problem)
				continue
			}
			code, out, errOut := u.run(append(words, sentinelFlag)...)
			if code != 2 || !strings.Contains(errOut, "flag provided but not defined: "+strings.TrimPrefix(sentinelFlag, "-")) {
				t.Errorf("help example %q does not parse: exit %d\nstdout:\n%s\nstderr:\n%s", line, code, out, errOut)
			}
		}
	}
	for name := range helpFor {
		if _, ok := commands[name]; !ok {
			t.Errorf("help for unknown command %s", name)
		}
	}
}

func TestShellSplit(t *testing.T) {
	for _, tc := range []struct {
		in, want, problem string
	}{
		{` sign --body body.json --curl   # comment`, "sign|--body|body.json|--curl", ""},
		{` a 'b c' "d e" f\ g`, "a|b c|d e|f g", ""},
		{` a "$(x)"`, "", "expansion inside double quotes"},
		{` a $HOME`, "", "shell syntax $"},
		{` ping <id>`, "", "shell syntax <"},
	} {
		words, problem := shellSplit(tc.in)
		if got := strings.Join(words, "|"); got != tc.want || problem != tc.problem {
			t.Errorf("shellSplit(%q) = %q, %q", tc.in, got, problem)
		}
	}
}
