package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/genai/interactions"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihook/geminihook/internal/geminiapi"
)

// This file holds what the webhook-management commands (register, rotate,
// list, ping, delete) share: the Gemini API and Secret Manager flags, the
// API key lookup, Secret Manager helpers and Terraform outputs. Signing
// secrets pass through here only on their way from the Gemini API's answer
// to Secret Manager; nothing here prints, logs or stores them elsewhere.

// apiKeyEnv names the environment variable that holds the Gemini API key.
const apiKeyEnv = "GEMINI_API_KEY"

// mgmtOptions are the flags shared by the management commands.
type mgmtOptions struct {
	apiBase      string
	apiVersion   string
	apiTimeout   time.Duration
	apiKeySecret string
	smEndpoint   string
}

// flags registers the shared flags on fs.
func (o *mgmtOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.apiBase, "api-base", geminiapi.DefaultBaseURL, "Gemini API base URL")
	fs.StringVar(&o.apiVersion, "api-version", geminiapi.DefaultAPIVersion, "Gemini API version: "+strings.Join(geminiapi.APIVersions, ", "))
	fs.DurationVar(&o.apiTimeout, "api-timeout", geminiapi.DefaultTimeout, "bound on each Gemini API call, retries included")
	fs.StringVar(&o.apiKeySecret, "api-key-secret", "", "read the API key from this Secret Manager secret (projects/P/secrets/K[/versions/V]) instead of $"+apiKeyEnv)
	fs.StringVar(&o.smEndpoint, "secretmanager-endpoint", "", "Secret Manager host:port reached without TLS or credentials (emulators and tests only)")
}

// check refuses option values that can be refused before any call.
func (o *mgmtOptions) check(fs *flag.FlagSet) error {
	if err := geminiapi.CheckAPIVersion(o.apiVersion); err != nil {
		fmt.Fprintf(fs.Output(), "--api-version %q is not one the Gemini API serves: use one of %s\n", o.apiVersion, strings.Join(geminiapi.APIVersions, ", "))
		return errUsage
	}
	if o.apiTimeout <= 0 {
		fmt.Fprintln(fs.Output(), "--api-timeout must be positive")
		return errUsage
	}
	if o.apiKeySecret != "" {
		if _, _, err := parseSecretName(o.apiKeySecret); err != nil {
			fmt.Fprintf(fs.Output(), "--api-key-secret: %v\n", err)
			return errUsage
		}
	}
	return nil
}

// secretManager returns a Secret Manager client; the caller closes it.
func (o *mgmtOptions) secretManager(ctx context.Context) (*secretmanager.Client, error) {
	var opts []option.ClientOption
	if o.smEndpoint != "" {
		opts = append(opts,
			option.WithEndpoint(o.smEndpoint),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	c, err := secretmanager.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("secret manager client: %w", err)
	}
	return c, nil
}

// errNoAPIKey explains where the API key comes from.
var errNoAPIKey = errors.New("no Gemini API key: set " + apiKeyEnv + " or pass --api-key-secret projects/P/secrets/K")

// geminiClient opens the SDK's webhook service. The key comes from $GEMINI_API_KEY or,
// when --api-key-secret is set, from Secret Manager (sm is then required).
func (o *mgmtOptions) geminiClient(ctx context.Context, sm *secretmanager.Client) (*interactions.Webhooks, error) {
	var key string
	if o.apiKeySecret != "" {
		name, err := secretVersionName(o.apiKeySecret)
		if err != nil {
			return nil, fmt.Errorf("--api-key-secret: %w", err)
		}
		if sm == nil {
			return nil, errors.New("--api-key-secret needs Secret Manager")
		}
		b, err := accessSecret(ctx, sm, name)
		if err != nil {
			return nil, fmt.Errorf("read API key: %w", err)
		}
		key = strings.TrimSpace(string(b))
	} else {
		key = os.Getenv(apiKeyEnv)
	}
	if strings.TrimSpace(key) == "" {
		return nil, errNoAPIKey
	}
	return geminiapi.New(ctx, key, geminiapi.Options{BaseURL: o.apiBase, APIVersion: o.apiVersion, Timeout: o.apiTimeout})
}

// Secret Manager resource name parts, matched by hand: compiled at
// start-up, the equivalent regexps (their counted repetitions expand to
// hundreds of instructions) cost every command about a millisecond.

// isProjectPart reports whether s is a project id or number: 1-100
// lowercase letters, digits and hyphens, starting with a letter or digit;
// legacy domain-scoped ids add "." and ":".
func isProjectPart(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == ':' || c == '-')
		if !ok {
			return false
		}
	}
	return true
}

// isSecretPart reports whether s is a secret id: 1-255 letters, digits,
// hyphens and underscores.
func isSecretPart(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isVersionPart reports whether s is "latest" or a version number: 1-19
// digits without a leading zero.
func isVersionPart(s string) bool {
	if s == "latest" {
		return true
	}
	if s == "" || len(s) > 19 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// errSecretName explains the accepted forms.
var errSecretName = errors.New("not a Secret Manager name: want projects/PROJECT/secrets/SECRET or projects/PROJECT/secrets/SECRET/versions/VERSION")

// parseSecretName checks projects/P/secrets/S[/versions/V] and returns the
// secret's name and the version ("" if none). The value is quoted in the
// error only when it cannot be a literal signing secret.
func parseSecretName(s string) (secret, version string, err error) {
	p := strings.Split(strings.TrimSpace(s), "/")
	ok := (len(p) == 4 || len(p) == 6) && p[0] == "projects" && isProjectPart(p[1]) && p[2] == "secrets" && isSecretPart(p[3])
	if ok && len(p) == 6 {
		ok = p[4] == "versions" && isVersionPart(p[5])
	}
	if !ok {
		if strings.HasPrefix(strings.TrimSpace(s), "projects/") {
			return "", "", fmt.Errorf("%q is %w", s, errSecretName)
		}
		return "", "", errSecretName
	}
	if len(p) == 6 {
		return strings.Join(p[:4], "/"), p[5], nil
	}
	return strings.Join(p, "/"), "", nil
}

// secretVersionName returns the version name for s, using latest when s
// names only the secret.
func secretVersionName(s string) (string, error) {
	secret, v, err := parseSecretName(s)
	if err != nil {
		return "", err
	}
	if v == "" {
		v = "latest"
	}
	return secret + "/versions/" + v, nil
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// accessSecret reads a secret version and checks its CRC32C.
func accessSecret(ctx context.Context, sm *secretmanager.Client, versionName string) ([]byte, error) {
	resp, err := sm.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: versionName})
	if err != nil {
		return nil, fmt.Errorf("access secret version %s: %w", versionName, err)
	}
	data := resp.GetPayload().GetData()
	if c := resp.GetPayload().DataCrc32C; c != nil && *c != int64(crc32.Checksum(data, crcTable)) {
		return nil, fmt.Errorf("access secret version %s: payload checksum mismatch", versionName)
	}
	return data, nil
}

// checkSecret confirms the secret exists before anything irreversible (a
// signing secret shown only once) happens.
func checkSecret(ctx context.Context, sm *secretmanager.Client, secret string) error {
	if _, err := sm.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: secret}); err != nil {
		return fmt.Errorf("get secret %s: %w", secret, err)
	}
	return nil
}

// storeSigningSecret adds value as a new version of secret, with a checksum,
// and returns the version's name.
func storeSigningSecret(ctx context.Context, sm *secretmanager.Client, secret, value string) (string, error) {
	data := []byte(value)
	crc := int64(crc32.Checksum(data, crcTable))
	v, err := sm.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{
		Parent:  secret,
		Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &crc},
	})
	clear(data)
	if err != nil {
		return "", fmt.Errorf("add secret version to %s: %w", secret, err)
	}
	return v.GetName(), nil
}

// enabledVersions lists the ENABLED versions of secret, newest first.
func enabledVersions(ctx context.Context, sm *secretmanager.Client, secret string) ([]*secretmanagerpb.SecretVersion, error) {
	it := sm.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: secret, Filter: "state:ENABLED"})
	var out []*secretmanagerpb.SecretVersion
	for {
		v, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list secret versions of %s: %w", secret, err)
		}
		if v.GetState() == secretmanagerpb.SecretVersion_ENABLED {
			out = append(out, v)
		}
	}
	// Newest first by version number, whatever order the service used.
	sortVersionsNewestFirst(out)
	return out, nil
}

// versionNumber returns the numeric version of a version name, or 0.
func versionNumber(name string) int {
	i := strings.LastIndexByte(name, '/')
	n := 0
	for _, r := range name[i+1:] {
		if r < '0' || r > '9' {
			return 0
		}
		n = n*10 + int(r-'0')
	}
	return n
}

func sortVersionsNewestFirst(vs []*secretmanagerpb.SecretVersion) {
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0 && versionNumber(vs[j].GetName()) > versionNumber(vs[j-1].GetName()); j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
}

// disableOlder disables every ENABLED version of secret older than keep
// (a version name) and returns the names it disabled.
func disableOlder(ctx context.Context, sm *secretmanager.Client, secret, keep string) ([]string, error) {
	vs, err := enabledVersions(ctx, sm, secret)
	if err != nil {
		return nil, err
	}
	keepN := versionNumber(keep)
	var done []string
	for _, v := range vs {
		if versionNumber(v.GetName()) >= keepN {
			continue
		}
		if _, err := sm.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: v.GetName()}); err != nil {
			return done, fmt.Errorf("disable secret version %s: %w", v.GetName(), err)
		}
		done = append(done, v.GetName())
	}
	return done, nil
}

// terraformOutputTimeout bounds one tofu/terraform output run.
const terraformOutputTimeout = time.Minute

// errNoTerraformOutput is wrapped when Terraform cannot supply a default.
var errNoTerraformOutput = errors.New("no Terraform output")

// terraformOutput reads output name from the state in dir, with tofu if it
// is installed, else terraform. It trusts only a zero exit status and a
// single line of printable text: with no state, tofu prints a coloured
// "No outputs found" warning, which must never be taken for a value.
func terraformOutput(ctx context.Context, dir, name string) (string, error) {
	var bin string
	for _, b := range []string{"tofu", "terraform"} {
		if p, err := exec.LookPath(b); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		return "", fmt.Errorf("%w %s: neither tofu nor terraform is installed", errNoTerraformOutput, name)
	}
	ctx, cancel := context.WithTimeout(ctx, terraformOutputTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "output", "-no-color", "-raw", name)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.Join(strings.Fields(stripANSI(stderr.String())), " ")
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return "", fmt.Errorf("%w %s in %s: %s output failed (%w): %s", errNoTerraformOutput, name, dir, bin, err, msg)
	}
	v := strings.TrimSpace(string(out))
	if v == "" || strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) {
		return "", fmt.Errorf("%w %s in %s: %s printed no value (is there Terraform state in that directory?)", errNoTerraformOutput, name, dir, bin)
	}
	return v, nil
}

// stripANSI removes terminal colour sequences.
func stripANSI(s string) string {
	if !strings.Contains(s, "\x1b[") {
		return s
	}
	return ansiEscape().ReplaceAllString(s, "")
}

// ansiEscape matches a terminal colour sequence; compiled on first use.
var ansiEscape = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]") })

// checkHookURL accepts an absolute http(s) URL with a host.
func checkHookURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("webhook URL %q is not an http(s) URL", s)
	}
	return nil
}

// resolveWebhookURL returns url, or the Terraform output webhook_url.
func resolveWebhookURL(ctx context.Context, url, tfDir string) (string, error) {
	if url == "" {
		v, err := terraformOutput(ctx, tfDir, "webhook_url")
		if err != nil {
			return "", fmt.Errorf("no --url given and %w; pass --url https://YOUR-FUNCTION-URL, or --terraform-dir DIR where you ran terraform apply", err)
		}
		if checkHookURL(v) != nil {
			return "", fmt.Errorf("no --url given and Terraform output webhook_url in %s is not a URL; pass --url https://YOUR-FUNCTION-URL", tfDir)
		}
		return v, nil
	}
	if err := checkHookURL(url); err != nil {
		return "", err
	}
	return url, nil
}

// resolveSecretName returns the function's secret: the flag, else
// $GEMINI_WEBHOOK_SECRET when it names a secret, else the Terraform output
// secret_id. A version is refused: new versions are added to the secret.
func resolveSecretName(ctx context.Context, flagValue, tfDir string) (string, error) {
	v, from := flagValue, "--secret"
	if strings.HasPrefix(strings.TrimSpace(v), "whsec_") {
		return "", errors.New("--secret takes the Secret Manager secret the function reads (projects/P/secrets/S), not a signing secret: the signing secret comes from Gemini and is stored there")
	}
	if v == "" {
		if env := strings.TrimSpace(os.Getenv("GEMINI_WEBHOOK_SECRET")); env != "" {
			if strings.HasPrefix(env, "whsec_") {
				return "", errors.New("GEMINI_WEBHOOK_SECRET holds literal secrets, not a Secret Manager name: pass --secret projects/P/secrets/S")
			}
			v, from = env, "GEMINI_WEBHOOK_SECRET"
		}
	}
	if v == "" {
		out, err := terraformOutput(ctx, tfDir, "secret_id")
		if err != nil {
			return "", fmt.Errorf("no --secret or GEMINI_WEBHOOK_SECRET given and %w; pass --secret projects/PROJECT/secrets/SECRET", err)
		}
		v, from = out, "Terraform output secret_id"
	}
	secret, version, err := parseSecretName(v)
	if err != nil {
		return "", fmt.Errorf("%s: %w", from, err)
	}
	if version != "" {
		return "", fmt.Errorf("%s names one version (%s); give the secret (projects/P/secrets/S) so that new versions can be added", from, v)
	}
	return secret, nil
}
