package storage

import (
	"path/filepath"
	"strconv"
	"strings"
)

// Hadoop's DataNode layout (BLOCKID_BASED_LAYOUT_32_by_32):
//
//	<vol>/current/VERSION
//	<vol>/current/<bpid>/current/VERSION
//	<vol>/current/<bpid>/current/finalized/subdir<N>/subdir<M>/blk_<id>
//	<vol>/current/<bpid>/current/finalized/subdir<N>/subdir<M>/blk_<id>_<gs>.meta
//	<vol>/current/<bpid>/current/rbw/blk_<id>, blk_<id>_<gs>.meta
//	<vol>/current/<bpid>/tmp/
//
// with N = (id>>16)&31 and M = (id>>8)&31, so consecutive block ids fill
// one leaf directory 256 at a time and no directory holds millions of
// files.
const (
	dirCurrent   = "current"
	dirFinalized = "finalized"
	dirRBW       = "rbw"
	dirTmp       = "tmp"
	fileVersion  = "VERSION"
	fileLock     = "in_use.lock"

	blockPrefix   = "blk_"
	metaSuffix    = ".meta"
	corruptSuffix = ".corrupt"

	// numLeaves is the number of finalized leaf directories (32 x 32).
	numLeaves = 1024

	// dataNodeLayoutVersion is Hadoop 3's DataNode layout version, written
	// to VERSION files for tools that read them.
	dataNodeLayoutVersion = -57
)

// leafOf is the finalized leaf directory index (0..1023) of a block id.
func leafOf(id uint64) uint16 {
	return uint16(((id>>16)&0x1f)<<5 | (id>>8)&0x1f)
}

// leafRel is a leaf directory's path below finalized/.
func leafRel(leaf uint16) string {
	return filepath.Join("subdir"+strconv.Itoa(int(leaf>>5)), "subdir"+strconv.Itoa(int(leaf&0x1f)))
}

// parseSubdir reads "subdir<N>" with N in 0..31.
func parseSubdir(name string) (uint16, bool) {
	n, ok := strings.CutPrefix(name, "subdir")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(n, 10, 8)
	if err != nil || v > 31 || strconv.FormatUint(v, 10) != n {
		return 0, false
	}
	return uint16(v), true
}

// blockName is a block file's name. Hadoop's ids are signed longs, so the
// name carries the signed form.
func blockName(id uint64) string { return blockPrefix + strconv.FormatInt(int64(id), 10) }

// metaName is a meta file's name.
func metaName(id, gs uint64) string {
	return blockPrefix + strconv.FormatInt(int64(id), 10) + "_" + strconv.FormatUint(gs, 10) + metaSuffix
}

// parseBlockName reads "blk_<id>".
func parseBlockName(name string) (uint64, bool) {
	n, ok := strings.CutPrefix(name, blockPrefix)
	if !ok || strings.IndexByte(n, '_') >= 0 || strings.IndexByte(n, '.') >= 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil {
		return 0, false
	}
	return uint64(v), true
}

// parseMetaName reads "blk_<id>_<gs>.meta".
func parseMetaName(name string) (id, gs uint64, ok bool) {
	n, ok := strings.CutPrefix(name, blockPrefix)
	if !ok {
		return 0, 0, false
	}
	n, ok = strings.CutSuffix(n, metaSuffix)
	if !ok {
		return 0, 0, false
	}
	i := strings.LastIndexByte(n, '_')
	if i <= 0 {
		return 0, 0, false
	}
	v, err := strconv.ParseInt(n[:i], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	g, err := strconv.ParseUint(n[i+1:], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return uint64(v), g, true
}

// bpLayout holds a volume's paths for one block pool.
type bpLayout struct {
	bpDir     string // <vol>/current/<bpid>
	current   string // <vol>/current/<bpid>/current
	finalized string
	rbw       string
	tmp       string
}

func newBPLayout(vol, bpid string) bpLayout {
	bp := filepath.Join(vol, dirCurrent, bpid)
	cur := filepath.Join(bp, dirCurrent)
	return bpLayout{
		bpDir:     bp,
		current:   cur,
		finalized: filepath.Join(cur, dirFinalized),
		rbw:       filepath.Join(cur, dirRBW),
		tmp:       filepath.Join(bp, dirTmp),
	}
}

// leafDir is a leaf directory's full path.
func (l bpLayout) leafDir(leaf uint16) string { return filepath.Join(l.finalized, leafRel(leaf)) }

// dirOf is the directory holding a replica in the given state.
func (l bpLayout) dirOf(id uint64, st State) string {
	if st == StateFinalized {
		return l.leafDir(leafOf(id))
	}
	return l.rbw
}
