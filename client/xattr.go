package client

import (
	"sort"
	"strings"

	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// XAttr flags of setXAttr.
const (
	XAttrCreate  = 1
	XAttrReplace = 2
)

// XAttr is one extended attribute; Name carries its namespace prefix
// ("user.color").
type XAttr struct {
	Name  string
	Value []byte
}

// ArgumentError is a request the client refuses before calling the
// NameNode (Hadoop's HadoopIllegalArgumentException).
type ArgumentError struct{ Message string }

func (e *ArgumentError) Error() string { return e.Message }

var xattrNamespaces = map[string]pb.XAttrProto_XAttrNamespaceProto{
	"user": pb.XAttrProto_USER, "trusted": pb.XAttrProto_TRUSTED, "security": pb.XAttrProto_SECURITY,
	"system": pb.XAttrProto_SYSTEM, "raw": pb.XAttrProto_RAW,
}

// xattrPB splits a prefixed name as Hadoop's XAttrHelper does (the prefix
// in any case).
func xattrPB(name string, value []byte) (*pb.XAttrProto, error) {
	i := strings.Index(name, ".")
	if i < 3 {
		return nil, &ArgumentError{"An XAttr name must be prefixed with user/trusted/security/system/raw, followed by a '.'"}
	}
	if i == len(name)-1 {
		return nil, &ArgumentError{"XAttr name cannot be empty."}
	}
	ns, ok := xattrNamespaces[strings.ToLower(name[:i])]
	if !ok {
		return nil, &ArgumentError{"An XAttr name must be prefixed with user/trusted/security/system/raw, followed by a '.'"}
	}
	return &pb.XAttrProto{Namespace: ns.Enum(), Name: proto.String(name[i+1:]), Value: value}, nil
}

func xattrName(x *pb.XAttrProto) string {
	return strings.ToLower(x.GetNamespace().String()) + "." + x.GetName()
}

// GetXAttrs returns the named xattrs of p with their values, or all of them
// when no name is given, sorted by name. A missing name is the NameNode's
// "At least one of the attributes provided was not found." error.
func (c *Client) GetXAttrs(p string, names ...string) ([]XAttr, error) {
	req := &pb.GetXAttrsRequestProto{Src: proto.String(p)}
	for _, n := range names {
		x, err := xattrPB(n, nil)
		if err != nil {
			return nil, err
		}
		req.XAttrs = append(req.XAttrs, x)
	}
	resp := &pb.GetXAttrsResponseProto{}
	if err := c.call("getXAttrs", req, resp); err != nil {
		return nil, err
	}
	out := make([]XAttr, 0, len(resp.GetXAttrs()))
	for _, x := range resp.GetXAttrs() {
		out = append(out, XAttr{Name: xattrName(x), Value: x.GetValue()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ListXAttrs returns the names of p's xattrs, sorted.
func (c *Client) ListXAttrs(p string) ([]string, error) {
	resp := &pb.ListXAttrsResponseProto{}
	if err := c.call("listXAttrs", &pb.ListXAttrsRequestProto{Src: proto.String(p)}, resp); err != nil {
		return nil, err
	}
	var out []string
	for _, x := range resp.GetXAttrs() {
		out = append(out, xattrName(x))
	}
	sort.Strings(out)
	return out, nil
}

// SetXAttr sets xattr name on p; flag is XAttrCreate|XAttrReplace for
// Hadoop's default (create or replace). A nil value sets an empty one.
func (c *Client) SetXAttr(p, name string, value []byte, flag uint32) error {
	x, err := xattrPB(name, value)
	if err != nil {
		return err
	}
	return c.call("setXAttr", &pb.SetXAttrRequestProto{Src: proto.String(p), XAttr: x, Flag: proto.Uint32(flag)}, &pb.SetXAttrResponseProto{})
}

// RemoveXAttr removes xattr name from p.
func (c *Client) RemoveXAttr(p, name string) error {
	x, err := xattrPB(name, nil)
	if err != nil {
		return err
	}
	return c.call("removeXAttr", &pb.RemoveXAttrRequestProto{Src: proto.String(p), XAttr: x}, &pb.RemoveXAttrResponseProto{})
}
