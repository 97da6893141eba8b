package namenode

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"

	"github.com/avatarfs/avatarfs/internal/vfs"
	"github.com/avatarfs/avatarfs/namenode/nnpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The fsimage file: magic, then sections (1-byte kind, 8-byte length,
// body of varint-delimited protobuf messages), then a CRC32C of all
// previous bytes. A side file fsimage_<txid>.md5 holds the MD5 in Hadoop's
// "<hex> *<name>" form, so operators can check images with md5sum.
const (
	imageMagic         = "AVFSIMG1"
	imageLayoutVersion = 1
	sectionHeader      = 1
	sectionStrings     = 2
	sectionInodes      = 3
	maxImageMessage    = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrImageCorrupt marks an fsimage that fails its checks.
var ErrImageCorrupt = errors.New("fsimage corrupt")

// ImageMeta is what an image says about the cluster besides the tree.
type ImageMeta struct {
	TxID        uint64
	NamespaceID uint32
	ClusterID   string
	BlockPoolID string
}

// ImageName is the file name of the image at txid.
func ImageName(txid uint64) string { return fmt.Sprintf("fsimage_%019d", txid) }

type imageWriter struct {
	w   *bufio.Writer
	sum hash.Hash32
	md5 hash.Hash
	buf []byte
}

func (iw *imageWriter) write(p []byte) error {
	iw.sum.Write(p)
	iw.md5.Write(p)
	_, err := iw.w.Write(p)
	return err
}

func (iw *imageWriter) section(kind byte, msgs func(emit func(proto.Message) error) error) error {
	var body []byte
	emit := func(m proto.Message) error {
		var err error
		iw.buf, err = proto.MarshalOptions{}.MarshalAppend(iw.buf[:0], m)
		if err != nil {
			return err
		}
		body = protowire.AppendVarint(body, uint64(len(iw.buf)))
		body = append(body, iw.buf...)
		return nil
	}
	if err := msgs(emit); err != nil {
		return err
	}
	var hdr [9]byte
	hdr[0] = kind
	binary.BigEndian.PutUint64(hdr[1:], uint64(len(body)))
	if err := iw.write(hdr[:]); err != nil {
		return err
	}
	return iw.write(body)
}

// SaveImage writes the namespace as fsimage_<txid> into dir: to a
// temporary name, fsynced, renamed, directory fsynced; then the .md5 file.
// The caller holds at least the read lock or owns ns exclusively.
func (ns *Namespace) SaveImage(fsys vfs.FS, dir string, meta ImageMeta) error {
	name := filepath.Join(dir, ImageName(meta.TxID))
	tmp := filepath.Join(dir, "fsimage.ckpt_"+fmt.Sprintf("%019d", meta.TxID))
	f, err := fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("save fsimage %s: %w", tmp, err)
	}
	iw := &imageWriter{w: bufio.NewWriterSize(f, 1<<20), sum: crc32.New(castagnoli), md5: md5.New()}
	err = ns.encodeImage(iw, meta)
	if err == nil {
		var tail [4]byte
		binary.BigEndian.PutUint32(tail[:], iw.sum.Sum32())
		iw.md5.Write(tail[:])
		_, err = iw.w.Write(tail[:])
	}
	if err == nil {
		err = iw.w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, name)
	}
	if err == nil {
		err = fsys.SyncDir(dir)
	}
	if err != nil {
		fsys.Remove(tmp)
		return fmt.Errorf("save fsimage %s: %w", name, err)
	}
	md := hex.EncodeToString(iw.md5.Sum(nil)) + " *" + filepath.Base(name) + "\n"
	if err := vfs.WriteFileAtomic(fsys, name+".md5", []byte(md)); err != nil {
		return fmt.Errorf("save fsimage checksum %s.md5: %w", name, err)
	}
	return nil
}

func (ns *Namespace) encodeImage(iw *imageWriter, meta ImageMeta) error {
	if err := iw.write([]byte(imageMagic)); err != nil {
		return err
	}
	hdr := &nnpb.ImageHeader{LayoutVersion: imageLayoutVersion, Txid: meta.TxID,
		NamespaceId: meta.NamespaceID, ClusterId: meta.ClusterID, BlockPoolId: meta.BlockPoolID,
		LastInodeId: ns.lastInodeID, LastBlockId: ns.lastBlockID, GenStamp: ns.genStamp,
		NumInodes: uint64(len(ns.inodes))}
	if err := iw.section(sectionHeader, func(emit func(proto.Message) error) error { return emit(hdr) }); err != nil {
		return err
	}
	if err := iw.section(sectionStrings, func(emit func(proto.Message) error) error {
		return emit(&nnpb.ImageStrings{S: ns.names.list})
	}); err != nil {
		return err
	}
	return iw.section(sectionInodes, func(emit func(proto.Message) error) error {
		var m nnpb.ImageInode
		var walk func(n *INode, parent uint64) error
		walk = func(n *INode, parent uint64) error {
			m = nnpb.ImageInode{Id: n.id, Parent: parent, Name: n.name, IsDir: n.isDir,
				Owner: n.owner, Group: n.group, Mode: uint32(n.mode), Mtime: n.mtime, Atime: n.atime,
				Replication: uint32(n.replication), BlockSize: uint64(n.blockSize), StoragePolicy: uint32(n.policy)}
			for _, b := range n.blocks {
				m.Blocks = append(m.Blocks, &nnpb.Block{Id: b.ID, GenStamp: b.GenStamp, NumBytes: b.NumBytes})
			}
			for _, x := range n.getXAttrs() {
				m.Xattrs = append(m.Xattrs, xattrToPB(x))
			}
			if n.uc != nil {
				m.UnderConstruction, m.UcClientName, m.UcClientMachine = true, n.uc.clientName, n.uc.clientMachine
			}
			if err := emit(&m); err != nil {
				return err
			}
			for _, c := range n.children {
				if err := walk(c, n.id); err != nil {
					return err
				}
			}
			return nil
		}
		return walk(ns.root, 0)
	})
}

// LoadImage replaces the namespace's tree with the image in file, checking
// the .md5 side file (when present) and the trailing CRC.
func (ns *Namespace) LoadImage(fsys vfs.FS, file string) (ImageMeta, error) {
	data, err := vfs.ReadFile(fsys, file)
	if err != nil {
		return ImageMeta{}, fmt.Errorf("load fsimage %s: %w", file, err)
	}
	if md, err := vfs.ReadFile(fsys, file+".md5"); err == nil {
		want := strings.Fields(string(md))
		got := md5.Sum(data)
		if len(want) == 0 || want[0] != hex.EncodeToString(got[:]) {
			return ImageMeta{}, fmt.Errorf("load fsimage %s: md5 mismatch: %w", file, ErrImageCorrupt)
		}
	} else if !os.IsNotExist(err) {
		return ImageMeta{}, fmt.Errorf("load fsimage %s: %w", file, err)
	}
	meta, err := ns.decodeImage(data)
	if err != nil {
		return ImageMeta{}, fmt.Errorf("load fsimage %s: %w", file, err)
	}
	return meta, nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrImageCorrupt)
}

// decodeImage parses an image; it never panics on bad bytes.
func (ns *Namespace) decodeImage(data []byte) (ImageMeta, error) {
	if len(data) < len(imageMagic)+4 || string(data[:len(imageMagic)]) != imageMagic {
		return ImageMeta{}, corrupt("bad magic")
	}
	body, tail := data[:len(data)-4], data[len(data)-4:]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(tail) {
		return ImageMeta{}, corrupt("checksum mismatch")
	}
	rest := body[len(imageMagic):]
	var hdr nnpb.ImageHeader
	var strs nnpb.ImageStrings
	seen := map[byte]bool{}
	for len(rest) > 0 {
		if len(rest) < 9 {
			return ImageMeta{}, corrupt("truncated section header")
		}
		kind, l := rest[0], binary.BigEndian.Uint64(rest[1:9])
		rest = rest[9:]
		if l > uint64(len(rest)) {
			return ImageMeta{}, corrupt("section %d length %d past end", kind, l)
		}
		sec := rest[:l]
		rest = rest[l:]
		seen[kind] = true
		var err error
		switch kind {
		case sectionHeader:
			err = eachMessage(sec, func(b []byte) error { return proto.Unmarshal(b, &hdr) })
		case sectionStrings:
			err = eachMessage(sec, func(b []byte) error { return proto.Unmarshal(b, &strs) })
		case sectionInodes:
			if !seen[sectionHeader] || !seen[sectionStrings] {
				return ImageMeta{}, corrupt("inode section before header")
			}
			err = ns.loadInodes(sec, &hdr, strs.S)
		}
		if err != nil {
			return ImageMeta{}, err
		}
	}
	if !seen[sectionInodes] || ns.root == nil {
		return ImageMeta{}, corrupt("no inode section or no root")
	}
	if hdr.LayoutVersion != imageLayoutVersion {
		return ImageMeta{}, corrupt("layout version %d, want %d", hdr.LayoutVersion, imageLayoutVersion)
	}
	ns.lastInodeID = max(ns.lastInodeID, hdr.LastInodeId)
	ns.lastBlockID = max(ns.lastBlockID, hdr.LastBlockId)
	ns.genStamp = max(ns.genStamp, hdr.GenStamp)
	ns.lastTxID = hdr.Txid
	return ImageMeta{TxID: hdr.Txid, NamespaceID: hdr.NamespaceId, ClusterID: hdr.ClusterId, BlockPoolID: hdr.BlockPoolId}, nil
}

func eachMessage(sec []byte, fn func([]byte) error) error {
	for len(sec) > 0 {
		l, n := protowire.ConsumeVarint(sec)
		if n < 0 || l > maxImageMessage || l > uint64(len(sec)-n) {
			return corrupt("bad message length")
		}
		if err := fn(sec[n : n+int(l)]); err != nil {
			return corrupt("decode: %v", err)
		}
		sec = sec[n+int(l):]
	}
	return nil
}

func (ns *Namespace) loadInodes(sec []byte, hdr *nnpb.ImageHeader, strs []string) error {
	ns.names = newStringTable()
	for _, s := range strs {
		ns.names.id(s)
	}
	nstr := uint32(len(strs))
	if hdr.NumInodes > 0 && hdr.NumInodes < 1<<32 {
		ns.inodes = make(map[uint64]*INode, hdr.NumInodes)
	} else {
		ns.inodes = map[uint64]*INode{}
	}
	ns.blocks = map[uint64]*BlockInfo{}
	ns.leases = newLeaseManager()
	ns.root = nil
	var m nnpb.ImageInode
	now := ns.now()
	return eachMessage(sec, func(b []byte) error {
		m.Reset()
		if err := proto.Unmarshal(b, &m); err != nil {
			return err
		}
		if m.Owner >= nstr || m.Group >= nstr {
			return fmt.Errorf("inode %d: owner/group index out of range", m.Id)
		}
		if _, dup := ns.inodes[m.Id]; dup {
			return fmt.Errorf("inode %d twice", m.Id)
		}
		n := &INode{id: m.Id, name: m.Name, isDir: m.IsDir, owner: m.Owner, group: m.Group,
			mode: uint16(m.Mode & modeMask), mtime: m.Mtime, atime: m.Atime,
			replication: uint16(m.Replication), blockSize: int64(m.BlockSize), policy: uint8(m.StoragePolicy)}
		if m.Parent == 0 {
			if ns.root != nil || m.Id != RootInodeID {
				return fmt.Errorf("inode %d: second root", m.Id)
			}
			ns.root = n
		} else {
			p := ns.inodes[m.Parent]
			if p == nil || !p.isDir || m.Name == "" || strings.ContainsRune(m.Name, '/') {
				return fmt.Errorf("inode %d: bad parent %d or name", m.Id, m.Parent)
			}
			if p.child(m.Name) != nil {
				return fmt.Errorf("inode %d: duplicate name %q", m.Id, m.Name)
			}
			// Children arrive in name order: append keeps them sorted.
			if k := len(p.children); k > 0 && p.children[k-1].name > m.Name {
				p.addChild(n)
			} else {
				p.children = append(p.children, n)
				n.parent = p
			}
		}
		if len(m.Blocks) > 0 {
			n.blocks = make([]*BlockInfo, len(m.Blocks))
			for i, pb := range m.Blocks {
				bi := &BlockInfo{ID: pb.Id, GenStamp: pb.GenStamp, NumBytes: pb.NumBytes, inode: n}
				if m.UnderConstruction && i == len(m.Blocks)-1 {
					bi.State = BlockUnderConstruction
				}
				n.blocks[i] = bi
				ns.blocks[pb.Id] = bi
			}
		}
		for _, x := range m.Xattrs {
			setXAttr(n, xattrFromPB(x))
		}
		if m.UnderConstruction {
			n.uc = &underConstruction{clientName: m.UcClientName, clientMachine: m.UcClientMachine}
			ns.leases.add(m.UcClientName, n.id, now)
		}
		ns.inodes[n.id] = n
		return nil
	})
}
