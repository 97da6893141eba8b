package storage

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// Volume choosing policies (dfs.datanode.fsdataset.volume.choosing.policy).
const (
	// PolicyRoundRobin takes volumes in turn, skipping those without room
	// (Hadoop's RoundRobinVolumeChoosingPolicy, the default).
	PolicyRoundRobin = "round-robin"
	// PolicyAvailableSpace prefers volumes with much more free space when
	// the volumes are unbalanced (Hadoop's AvailableSpaceVolumeChoosingPolicy).
	PolicyAvailableSpace = "available-space"
)

// candidate is a volume with its available space.
type candidate struct {
	v     *volume
	avail uint64
}

// usable tells whether a volume may take a new replica at all.
func (s *Store) usable(v *volume, exclude map[*volume]bool) bool {
	if v.failed.Load() || exclude[v] || v.lay.rbw == "" {
		return false
	}
	if at := v.fullAt.Load(); at != 0 && time.Since(time.Unix(0, at)) < s.opts.FullRetryInterval {
		return false
	}
	return true
}

// candidates lists the volumes of a type (any type when typ is 0) with
// room for a block, and explains the others.
func (s *Store) candidates(typ StorageType, exclude map[*volume]bool, why *[]string) []candidate {
	var out []candidate
	for _, v := range s.vols {
		if typ != 0 && v.typ != typ {
			continue
		}
		if !s.usable(v, exclude) {
			if !v.failed.Load() {
				*why = append(*why, v.path+": full")
			}
			continue
		}
		_, avail, _, err := v.space()
		if err != nil {
			*why = append(*why, fmt.Sprintf("%s: %v", v.path, err))
			continue
		}
		if avail < uint64(s.opts.BlockSize) {
			*why = append(*why, fmt.Sprintf("%s: %d bytes available, %d needed", v.path, avail, s.opts.BlockSize))
			continue
		}
		out = append(out, candidate{v, avail})
	}
	return out
}

// choose picks the volume for a new replica: one of the wanted type with
// room, else (noted in the log) any volume with room, else ErrNoSpace.
func (s *Store) choose(want StorageType, exclude map[*volume]bool) (*volume, error) {
	if want == 0 {
		want = StorageDisk
	}
	var why []string
	cands := s.candidates(want, exclude, &why)
	key := want
	if len(cands) == 0 {
		cands = s.candidates(0, exclude, &why)
		if len(cands) == 0 {
			return nil, fmt.Errorf("storage: no volume has room for a %d-byte block (%s): %w", s.opts.BlockSize, strings.Join(why, "; "), ErrNoSpace)
		}
		key = 0
		s.log.WithFields(logrus.Fields{"wanted": want, "using": cands[0].v.typ}).Info("no volume of the wanted storage type has room; falling back to another type")
	}
	s.policyMu.Lock()
	defer s.policyMu.Unlock()
	if s.opts.Policy == PolicyAvailableSpace {
		return s.chooseAvailable(key, cands), nil
	}
	return s.roundRobin(key, cands), nil
}

// roundRobin takes the next candidate in turn (caller holds policyMu).
func (s *Store) roundRobin(key StorageType, cands []candidate) *volume {
	i := s.rr[key] % len(cands)
	s.rr[key] = i + 1
	return cands[i].v
}

// chooseAvailable is Hadoop's available-space policy: when the volumes'
// free space differs by less than the threshold, round-robin; otherwise
// pick among the roomier volumes with the preference probability (scaled
// by how many there are), round-robin within the chosen group.
func (s *Store) chooseAvailable(key StorageType, cands []candidate) *volume {
	lo, hi := cands[0].avail, cands[0].avail
	for _, c := range cands {
		lo, hi = min(lo, c.avail), max(hi, c.avail)
	}
	th := uint64(s.opts.AvailableSpaceThreshold)
	if hi-lo < th {
		return s.roundRobin(key, cands)
	}
	var high, low []candidate
	for _, c := range cands {
		if c.avail > lo+th {
			high = append(high, c)
		} else {
			low = append(low, c)
		}
	}
	p := s.opts.AvailableSpacePreference
	scaled := p * float64(len(high)) / (p*float64(len(high)) + (1-p)*float64(len(low)))
	if rand.Float64() < scaled {
		return s.roundRobin(key+100, high)
	}
	return s.roundRobin(key+200, low)
}
