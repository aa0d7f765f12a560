package tfinventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const moduleDir = "../../terraform"

func TestRepositoryModulePasses(t *testing.T) {
	blocks, err := Inventory(moduleDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(blocks); err != nil {
		t.Fatalf("terraform/: %v", err)
	}
	var fn bool
	for _, b := range blocks {
		if b.Address() == "google_cloudfunctions2_function.webhook" {
			fn = true
		}
	}
	if !fn {
		t.Fatal("inventory lacks google_cloudfunctions2_function.webhook")
	}
}

// copyModule copies the module's .tf files to a temporary directory, with
// the first occurrence of old in file replaced by new.
func copyModule(t *testing.T, file, old, new string) string {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob(filepath.Join(moduleDir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	replaced := false
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(src)
		if filepath.Base(path) == file {
			if !strings.Contains(text, old) {
				t.Fatalf("%s no longer contains %q: update this case", file, old)
			}
			text = strings.Replace(text, old, new, 1)
			replaced = true
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(path)), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !replaced {
		t.Fatalf("no file %s in the module", file)
	}
	return dir
}

func TestBrokenCopiesFail(t *testing.T) {
	tests := []struct {
		name, file, old, new, wantError string
	}{
		{
			name: "extra project grant",
			file: "iam.tf",
			old:  "# Log writing has no resource-level grant",
			new: `resource "google_project_iam_member" "runtime_editor" {
  project = var.project_id
  role    = "roles/editor"
  member  = google_service_account.runtime.member
}

# Log writing has no resource-level grant`,
			wantError: "google_project_iam_member.runtime_editor is not in the least-privilege set",
		},
		{
			name:      "widened role",
			file:      "iam.tf",
			old:       `role    = "roles/pubsub.publisher"`,
			new:       `role    = "roles/pubsub.editor"`,
			wantError: `grants "roles/pubsub.editor", want "roles/pubsub.publisher"`,
		},
		{
			name:      "role chosen by a variable",
			file:      "iam.tf",
			old:       `role      = "roles/secretmanager.viewer"`,
			new:       `role      = var.secret_role`,
			wantError: `runtime_viewer grants "", want "roles/secretmanager.viewer"`,
		},
		{
			name:      "binding instead of member",
			file:      "iam.tf",
			old:       `resource "google_storage_bucket_iam_member" "build_source_reader"`,
			new:       `resource "google_storage_bucket_iam_binding" "build_source_reader"`,
			wantError: "google_storage_bucket_iam_binding.build_source_reader is not in the least-privilege set",
		},
		{
			name:      "grant removed",
			file:      "iam.tf",
			old:       `resource "google_secret_manager_secret_iam_member" "runtime_viewer"`,
			new:       `resource "google_secret_manager_secret_iam_member" "runtime_viewer2"`,
			wantError: "google_secret_manager_secret_iam_member.runtime_viewer is missing",
		},
		{
			name:      "project-level grant without its condition",
			file:      "iam.tf",
			old:       "  condition {\n    title       = \"${var.name}-firestore-${var.firestore_database}\"",
			new:       "  dynamic \"condition\" {\n    for_each = []\n    content {}\n  }\n  unconditioned {\n    title       = \"${var.name}-firestore-${var.firestore_database}\"",
			wantError: "runtime_firestore_user is a project-level grant and must carry a condition",
		},
		{
			name:      "function does not wait for its grants",
			file:      "function.tf",
			old:       "depends_on = [time_sleep.iam_propagation]",
			new:       "depends_on = []",
			wantError: "google_cloudfunctions2_function.webhook must wait for time_sleep.iam_propagation",
		},
		{
			name:      "wait forgets a grant",
			file:      "iam.tf",
			old:       "    google_project_iam_member.build_gcf_sources_reader,\n",
			new:       "",
			wantError: "time_sleep.iam_propagation must wait for google_project_iam_member.build_gcf_sources_reader",
		},
		{
			name: "secret version in state",
			file: "secret.tf",
			old:  "resource \"google_secret_manager_secret\" \"webhook\" {",
			new: `resource "google_secret_manager_secret_version" "webhook" {
  secret      = google_secret_manager_secret.webhook.id
  secret_data = "whsec_dGVzdA=="
}

resource "google_secret_manager_secret" "webhook" {`,
			wantError: "google_secret_manager_secret_version.webhook would store the secret's value in state",
		},
		{
			name: "secret version read as data",
			file: "secret.tf",
			old:  "resource \"google_secret_manager_secret\" \"webhook\" {",
			new: `data "google_secret_manager_secret_version" "webhook" {
  secret = "gemini-webhook-secret"
}

resource "google_secret_manager_secret" "webhook" {`,
			wantError: "data.google_secret_manager_secret_version.webhook would store",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyModule(t, tt.file, tt.old, tt.new)
			blocks, err := Inventory(dir)
			if err != nil {
				t.Fatal(err)
			}
			err = Check(blocks)
			if err == nil {
				t.Fatal("Check accepted the broken copy")
			}
			if !strings.Contains(err.Error(), tt.wantError) {
				t.Fatalf("Check error = %v, want one containing %q", err, tt.wantError)
			}
		})
	}
}

func TestInventoryErrors(t *testing.T) {
	if _, err := Inventory(t.TempDir()); err == nil {
		t.Error("Inventory of an empty directory succeeded")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte("resource \"x\" {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Inventory(dir); err == nil {
		t.Error("Inventory of malformed HCL succeeded")
	}
}

func TestAddress(t *testing.T) {
	if got := (Block{Kind: "data", Type: "google_project", Name: "this"}).Address(); got != "data.google_project.this" {
		t.Errorf("Address = %q", got)
	}
	if got := (Block{Kind: "resource", Type: "google_pubsub_topic", Name: "family"}).Address(); got != "google_pubsub_topic.family" {
		t.Errorf("Address = %q", got)
	}
}
