package rack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// scriptResolver runs a topology script (Hadoop's ScriptBasedMapping): the
// hosts are its arguments, it prints one rack path per argument separated
// by white space. A batch fails as a whole on a non-zero exit, a timeout, a
// wrong number of answers or a malformed rack path; the failure is logged
// once and the batch maps to DefaultRack.
type scriptResolver struct {
	script  string
	maxArgs int
	timeout time.Duration
	log     logrus.FieldLogger
}

// maxReasonBytes bounds how much of the script's stderr a warning quotes.
const maxReasonBytes = 512

// waitDelay is how long Wait may still take once the script's process group
// has been killed (its pipes close with it, so this is a backstop).
const waitDelay = 500 * time.Millisecond

func newScriptMapper(script string, maxArgs int, timeout time.Duration, log logrus.FieldLogger) Mapper {
	if st, err := os.Stat(script); err != nil {
		log.WithFields(logrus.Fields{"script": script, "reason": err.Error()}).
			Warn("topology script not usable; its hosts will map to " + DefaultRack)
	} else if st.IsDir() {
		log.WithFields(logrus.Fields{"script": script, "reason": "is a directory"}).
			Warn("topology script not usable; its hosts will map to " + DefaultRack)
	}
	return newCachedMapper(&scriptResolver{script: script, maxArgs: maxArgs, timeout: timeout, log: log})
}

func (s *scriptResolver) batchSize() int { return s.maxArgs }

func (s *scriptResolver) resolveBatch(hosts []string) ([]string, error) {
	racks, err := s.run(hosts)
	if err != nil {
		s.log.WithFields(logrus.Fields{"script": s.script, "hosts": hosts, "reason": err.Error()}).
			Warn("topology script failed; mapping these hosts to " + DefaultRack)
	}
	return racks, err
}

// run executes the script once and validates its answer.
func (s *scriptResolver) run(hosts []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.script, hosts...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	// Own process group, so a timeout kills whatever the script started
	// too (a forked sleep would otherwise hold the output pipe open).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("timed out after %v", s.timeout)
	}
	if err != nil {
		var ee *exec.ExitError
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > maxReasonBytes {
			msg = msg[:maxReasonBytes] + "..."
		}
		if errors.As(err, &ee) {
			if msg != "" {
				return nil, fmt.Errorf("%v: %s", err, msg)
			}
			return nil, err
		}
		return nil, fmt.Errorf("cannot run: %v", err)
	}
	racks := strings.Fields(stdout.String())
	if len(racks) != len(hosts) {
		return nil, fmt.Errorf("printed %d rack paths for %d hosts", len(racks), len(hosts))
	}
	for _, r := range racks {
		if err := CheckRackPath(r); err != nil {
			return nil, err
		}
	}
	return racks, nil
}
