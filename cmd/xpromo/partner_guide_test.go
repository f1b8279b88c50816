package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/http/postback"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestPartnerGuideExamples runs the curl and Go senders of
// docs/partner-guide.md against a real tracker: an outbound click, then
// the partner reports a signup and a purchase (and the purchase again),
// signed with its secret; attribution credits them to the partnership.
func TestPartnerGuideExamples(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required to run the guide's curl example: %v", tool, err)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	guide, err := os.ReadFile(filepath.Join(root, "docs/partner-guide.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"docs/examples/postback.sh", "docs/examples/postback-go/main.go"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(guide), strings.TrimSpace(string(b))) {
			t.Fatalf("docs/partner-guide.md does not show %s as it is", f)
		}
	}

	key, _ := setServerKey(t)
	s := startSeeded(t)
	db := s.db
	ctx := context.Background()
	secret, err := postback.NewStore(pgOf(db).Pool, key, testenv.Logger(t)).Rotate(ctx, "acme", "test")
	if err != nil {
		t.Fatal(err)
	}
	click := clickID(t, get(t, noRedirect, "GET", s.base+"/r/out", "8.8.8.8", browserUA))

	base := []string{"XPROMO_URL=" + s.base + "/v1/postback/acme", "XPROMO_SECRET=" + secret, "CLICK_ID=" + click}
	run := func(name string, cmd *exec.Cmd, env ...string) (string, error) {
		t.Helper()
		cmd.Dir = root
		cmd.Env = append(append(os.Environ(), base...), env...)
		out, err := cmd.CombinedOutput()
		t.Logf("%s: %s", name, strings.TrimSpace(string(out)))
		return string(out), err
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	steps := []struct {
		name string
		cmd  func() *exec.Cmd
		env  []string
		ok   bool
		want string
	}{
		{"curl signup", func() *exec.Cmd { return exec.Command("bash", "docs/examples/postback.sh") }, []string{"TYPE=signup", "USER_ID=p-u1"}, true, `"duplicate":false`},
		{"go purchase", func() *exec.Cmd { return exec.Command(goBin, "run", "./docs/examples/postback-go") }, []string{"ORDER_ID=P-1", "AMOUNT=30.00", "USER_ID=p-u1"}, true, `"duplicate":false`},
		{"go purchase again", func() *exec.Cmd { return exec.Command(goBin, "run", "./docs/examples/postback-go") }, []string{"ORDER_ID=P-1", "AMOUNT=30.00", "USER_ID=p-u1"}, true, `"duplicate":true`},
		{"curl refund of the whole order", func() *exec.Cmd { return exec.Command("bash", "docs/examples/postback.sh") }, []string{"TYPE=refund", "ORDER_ID=P-1", "USER_ID=p-u1"}, true, `"duplicate":false`},
		{"curl with a wrong secret", func() *exec.Cmd { return exec.Command("bash", "docs/examples/postback.sh") }, []string{"XPROMO_SECRET=xps_wrong", "ORDER_ID=P-2", "AMOUNT=1"}, false, ""},
		{"go with a wrong secret", func() *exec.Cmd { return exec.Command(goBin, "run", "./docs/examples/postback-go") }, []string{"XPROMO_SECRET=xps_wrong", "ORDER_ID=P-3", "AMOUNT=1"}, false, "bad signature"},
	}
	for _, st := range steps {
		// Each step is a new request: signed a second later, so with a new
		// ts (an identical resend is answered as the first and not stored
		// again: http/postback's TestHandlerAccepts).
		time.Sleep(1100 * time.Millisecond)
		out, err := run(st.name, st.cmd(), st.env...)
		if st.ok != (err == nil) || !strings.Contains(out, st.want) {
			t.Fatalf("%s: err %v, output %q; want ok=%v and %q", st.name, err, out, st.ok, st.want)
		}
	}
	waitCount(t, db, "postbacks stored", 4, "SELECT count() FROM conversions WHERE source = 'partner:acme'")
	attributeToday(t, db)
	wantCounts(t, db, map[string]uint64{
		"SELECT count() FROM attributions FINAL WHERE outcome = 'new_user' AND partnership = 'acme-de' AND direction = 'outbound' AND match = 'click_id'": 1,
		"SELECT count() FROM attributions FINAL WHERE outcome = 'credited' AND partnership = 'acme-de' AND revenue = 30":                                  1,
		"SELECT count() FROM attributions FINAL WHERE outcome = 'duplicate'":                                                                              1,
		// The refund without an amount takes back the whole order.
		"SELECT count() FROM attributions FINAL WHERE outcome = 'credited' AND partnership = 'acme-de' AND revenue = -30": 1,
	})
}
