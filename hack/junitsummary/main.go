// Command junitsummary sums up the JUnit reports of a conformance run
// (e2e.test --report-dir writes junit_01.xml): how many specs ran, passed,
// failed and were skipped, how long they took, and which failed and why.
//
//	go run ./hack/junitsummary [-json FILE] parallel/junit_01.xml serial/junit_01.xml
//
// Ginkgo's suite-level nodes ([SynchronizedBeforeSuite], [ReportAfterSuite]…)
// are reported apart: they are not tests, but a failure there fails the run.
// Specs the focus or label filter left out (Ginkgo writes them as skipped with
// the bare message "skipped") are counted as not selected; a spec that skipped
// itself at run time (a missing provider, a feature the cluster lacks) is
// skipped, with its reason listed.
package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

type junitSuites struct {
	Suites []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name  string      `xml:"name,attr"`
	Time  float64     `xml:"time,attr"`
	Cases []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name    string        `xml:"name,attr"`
	Status  string        `xml:"status,attr"`
	Time    float64       `xml:"time,attr"`
	Skipped *junitMessage `xml:"skipped"`
	Failure *junitMessage `xml:"failure"`
	Error   *junitMessage `xml:"error"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// Failure is one failed spec and the first line of why.
type Failure struct {
	Name    string  `json:"name"`
	Reason  string  `json:"reason"`
	Seconds float64 `json:"seconds"`
	Report  string  `json:"report"` // the file it was read from
}

// Summary is what the run's summary.txt and summary.json say.
type Summary struct {
	Run           int       `json:"run"`
	Passed        int       `json:"passed"`
	Failed        int       `json:"failed"`
	Skipped       int       `json:"skipped"`     // selected, but skipped at run time
	NotSelected   int       `json:"notSelected"` // left out by the focus and label filter
	Seconds       float64   `json:"seconds"`     // the reports' suite times, added up
	Failures      []Failure `json:"failures"`
	Skips         []Failure `json:"skips,omitempty"`
	SuiteFailures []Failure `json:"suiteFailures,omitempty"`
	Reports       []string  `json:"reports"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "junitsummary:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("junitsummary", flag.ContinueOnError)
	jsonOut := fs.String("json", "", "also write the summary as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("give the JUnit files to sum up")
	}
	var s Summary
	for _, f := range fs.Args() {
		if err := s.add(f); err != nil {
			return err
		}
	}
	s.write(out)
	if *jsonOut != "" {
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", *jsonOut, err)
		}
	}
	return nil
}

// add reads one JUnit file into s.
func (s *Summary) add(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("reading the JUnit report: %w", err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(data, &suites); err != nil {
		// A file with one <testsuite> at its root.
		var one junitSuite
		if err2 := xml.Unmarshal(data, &one); err2 != nil {
			return fmt.Errorf("parsing %s: %w", file, err)
		}
		suites.Suites = []junitSuite{one}
	}
	s.Reports = append(s.Reports, file)
	for _, su := range suites.Suites {
		s.Seconds += su.Time
		for _, c := range su.Cases {
			failed := c.Failure != nil || c.Error != nil || c.Status == "failed" || c.Status == "panicked" ||
				c.Status == "interrupted" || c.Status == "timedout" || c.Status == "aborted"
			if suiteNode(c.Name) {
				if failed {
					s.SuiteFailures = append(s.SuiteFailures, Failure{Name: c.Name, Reason: reason(c), Seconds: c.Time, Report: file})
				}
				continue
			}
			switch {
			case failed:
				s.Run++
				s.Failed++
				s.Failures = append(s.Failures, Failure{Name: c.Name, Reason: reason(c), Seconds: c.Time, Report: file})
			case c.Skipped != nil && strings.TrimSpace(c.Skipped.Message) == "skipped",
				c.Status == "pending":
				s.NotSelected++
			case c.Skipped != nil || c.Status == "skipped":
				s.Skipped++
				why := "(no message)"
				if c.Skipped != nil {
					why = firstLine(c.Skipped.Message, c.Skipped.Text)
				}
				s.Skips = append(s.Skips, Failure{Name: c.Name, Reason: why, Seconds: c.Time, Report: file})
			default:
				s.Run++
				s.Passed++
			}
		}
	}
	sort.Slice(s.Failures, func(i, j int) bool { return s.Failures[i].Name < s.Failures[j].Name })
	sort.Slice(s.Skips, func(i, j int) bool { return s.Skips[i].Name < s.Skips[j].Name })
	return nil
}

// suiteNode tells Ginkgo's suite-level nodes from specs.
func suiteNode(name string) bool {
	for _, p := range []string{"[SynchronizedBeforeSuite]", "[SynchronizedAfterSuite]", "[BeforeSuite]",
		"[AfterSuite]", "[ReportBeforeSuite]", "[ReportAfterSuite]", "[DeferCleanup (Suite)]"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// reason is the first non-empty line of a failure's message.
func reason(c junitCase) string {
	for _, m := range []*junitMessage{c.Failure, c.Error} {
		if m != nil {
			return firstLine(m.Message, m.Text)
		}
	}
	return "(no message)"
}

// firstLine is the first non-empty line of the texts, cut at 300 bytes.
func firstLine(texts ...string) string {
	for _, t := range texts {
		for _, l := range strings.Split(t, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				if len(l) > 300 {
					l = l[:300] + "…"
				}
				return l
			}
		}
	}
	return "(no message)"
}

func (s *Summary) write(out io.Writer) {
	fmt.Fprintf(out, "run %d, passed %d, failed %d, skipped %d (specs; %d more not selected); %s in the suites\n",
		s.Run, s.Passed, s.Failed, s.Skipped, s.NotSelected, (time.Duration(s.Seconds) * time.Second).String())
	for _, f := range s.SuiteFailures {
		fmt.Fprintf(out, "suite node failed: %s: %s\n", f.Name, f.Reason)
	}
	if len(s.Failures) > 0 {
		fmt.Fprintln(out, "failures:")
		for _, f := range s.Failures {
			fmt.Fprintf(out, "  ✗ %s (%.0f s)\n      %s\n", f.Name, f.Seconds, f.Reason)
		}
	}
	if len(s.Skips) > 0 {
		fmt.Fprintln(out, "skips:")
		for _, f := range s.Skips {
			fmt.Fprintf(out, "  - %s\n      %s\n", f.Name, f.Reason)
		}
	}
	// The plain closing line test runners print.
	fmt.Fprintf(out, "conformance: %d passed, %d failed, %d skipped\n", s.Passed, s.Failed, s.Skipped)
}
