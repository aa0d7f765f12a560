package main

import "testing"

func TestProviderName(t *testing.T) {
	tests := []struct {
		arg0, want string
		wantErr    bool
	}{
		{"/x/terraform-provider-google", "google", false},
		{"terraform-provider-archive_v2.8.0", "archive", false},
		{"/x/terraform-provider-random.exe", "random", false},
		{"/x/tfschemaprovider", "", true},
		{"terraform-provider-", "", true},
	}
	for _, tt := range tests {
		got, err := providerName(tt.arg0)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("providerName(%q) = %q, %v; want %q, error %v", tt.arg0, got, err, tt.want, tt.wantErr)
		}
	}
}
