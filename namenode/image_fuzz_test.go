package namenode

import (
	"bytes"
	"testing"

	"github.com/avatarfs/avatarfs/internal/vfs"
)

// FuzzLoadImage feeds arbitrary bytes to the fsimage decoder: it must
// reject them with an error or load a consistent tree, never panic.
func FuzzLoadImage(f *testing.F) {
	ns, _ := newTestNS(f)
	ns.Mkdirs(root, "/a/b", 0o755, true)
	mustCreate(f, ns, root, "/a/f")
	ns.SetXAttr(root, "/a/f", XAttr{NS: XAttrUser, Name: "k", Value: []byte("v")}, XAttrCreate)
	dir := f.TempDir()
	if err := ns.SaveImage(vfs.Default, dir, ImageMeta{TxID: 7}); err != nil {
		f.Fatal(err)
	}
	good, _ := vfs.ReadFile(vfs.Default, dir+"/"+ImageName(7))
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(imageMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		ns := NewNamespace(DefaultSettings(), nil)
		if _, err := ns.decodeImage(data); err != nil {
			return
		}
		// A tree that loaded must save and load back to the same bytes' meaning.
		d := t.TempDir()
		if err := ns.SaveImage(vfs.Default, d, ImageMeta{TxID: ns.lastTxID}); err != nil {
			t.Fatalf("save of a loaded image: %v", err)
		}
		ns2 := NewNamespace(DefaultSettings(), nil)
		if _, err := ns2.LoadImage(vfs.Default, d+"/"+ImageName(ns.lastTxID)); err != nil {
			t.Fatalf("reload: %v", err)
		}
		if !bytes.Equal([]byte(dump(ns)), []byte(dump(ns2))) {
			t.Fatal("round trip differs")
		}
	})
}
