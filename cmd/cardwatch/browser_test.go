package main

import (
	"bytes"
	"context"
	"flag"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var update = flag.Bool("update", false, "rewrite the reference screenshot in testdata/")

// chromium finds Debian's chromium. CI installs it (.ci/run), so there a missing browser
// fails the test; elsewhere the test says what to install and skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on this CI machine: .ci/run should have installed it")
	}
	t.Skip("no chromium: apt-get install chromium to run the browser test")
	return ""
}

func TestReportPageInARealBrowser(t *testing.T) {
	exe := chromium(t)
	e := newEnv(t)
	r := e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	link := localLink(t, r, e.alertOf(t))

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844), // a phone
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("button.fraud"))); err != nil {
		t.Fatalf("open the report link: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("button.fraud")), chromedp.WaitVisible(chromedp.CSS("p.answer"))); err != nil {
		t.Fatalf("tap Report fraud: %v", err)
	}
	confirmation, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("p.answer")))
	if err != nil {
		t.Fatalf("read the confirmation: %v", err)
	}
	if !strings.Contains(confirmation, "Your bank has been told; the card will be blocked") {
		t.Errorf("confirmation %q", confirmation)
	}
	reps := e.reports(t)
	if len(reps) != 1 || reps[0].Verdict != "fraud" || reps[0].Channel != "web" || reps[0].CardToken != testCardToken {
		t.Errorf("reports on NATS: %+v", reps)
	}
	compareScreenshot(t, shot, filepath.Join("testdata", "report-page.png"))
}

// compareScreenshot holds the page's look against the reference: same size, and at most
// 3% of the pixels different, which lets font antialiasing vary and catches a missing
// style sheet, a lost button or a changed layout.
func compareScreenshot(t *testing.T, got []byte, ref string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(ref, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(ref)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/cardwatch -run Browser -update writes it)", err)
	}
	a, err := png.Decode(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	b, err := png.Decode(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	if a.Bounds() != b.Bounds() {
		t.Fatalf("screenshot is %v, the reference %v", a.Bounds(), b.Bounds())
	}
	if d := differing(a, b); d > 0.03 {
		out := filepath.Join(t.TempDir(), "report-page.png")
		_ = os.WriteFile(out, got, 0o644)
		t.Errorf("%.1f%% of the pixels differ from %s; this run's screenshot is %s", d*100, ref, out)
	}
}

func differing(a, b image.Image) float64 {
	r := a.Bounds()
	diff := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if absDiff(r1, r2)+absDiff(g1, g2)+absDiff(b1, b2) > 3*0x2000 {
				diff++
			}
		}
	}
	return float64(diff) / float64(r.Dx()*r.Dy())
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}
