package namenode

import (
	pb "github.com/avatarfs/avatarfs/internal/wire/hadooppb"
	"google.golang.org/protobuf/proto"
)

// Hadoop's built-in block storage policies (BlockStoragePolicySuite): ids,
// names and storage types are wire contract. The memory tier will act on
// them; the namespace only records the id per inode (0 = unspecified,
// inherit from the parent, HOT at the root).
type storagePolicy struct {
	id                    uint8
	name                  string
	storage, create, repl []pb.StorageTypeProto
	copyOnCreate          bool
}

const policyHot = 7

var (
	stDisk    = pb.StorageTypeProto_DISK
	stSSD     = pb.StorageTypeProto_SSD
	stArchive = pb.StorageTypeProto_ARCHIVE
	stRAM     = pb.StorageTypeProto_RAM_DISK
	stProv    = pb.StorageTypeProto_PROVIDED
)

var storagePolicies = []storagePolicy{
	{id: 1, name: "PROVIDED", storage: []pb.StorageTypeProto{stProv, stDisk}, create: []pb.StorageTypeProto{stProv, stDisk}, repl: []pb.StorageTypeProto{stProv, stDisk}},
	{id: 2, name: "COLD", storage: []pb.StorageTypeProto{stArchive}},
	{id: 5, name: "WARM", storage: []pb.StorageTypeProto{stDisk, stArchive}, create: []pb.StorageTypeProto{stDisk, stArchive}, repl: []pb.StorageTypeProto{stDisk, stArchive}},
	{id: 7, name: "HOT", storage: []pb.StorageTypeProto{stDisk}, repl: []pb.StorageTypeProto{stArchive}},
	{id: 10, name: "ONE_SSD", storage: []pb.StorageTypeProto{stSSD, stDisk}, create: []pb.StorageTypeProto{stSSD, stDisk}, repl: []pb.StorageTypeProto{stSSD, stDisk}},
	{id: 12, name: "ALL_SSD", storage: []pb.StorageTypeProto{stSSD}, create: []pb.StorageTypeProto{stDisk}, repl: []pb.StorageTypeProto{stDisk}},
	{id: 15, name: "LAZY_PERSIST", storage: []pb.StorageTypeProto{stRAM, stDisk}, create: []pb.StorageTypeProto{stDisk}, repl: []pb.StorageTypeProto{stDisk}, copyOnCreate: true},
}

func storagePolicyByName(name string) (storagePolicy, bool) {
	for _, p := range storagePolicies {
		if p.name == name {
			return p, true
		}
	}
	return storagePolicy{}, false
}

func storagePolicyByID(id uint8) (storagePolicy, bool) {
	for _, p := range storagePolicies {
		if p.id == id {
			return p, true
		}
	}
	return storagePolicy{}, false
}

func (p storagePolicy) toPB() *pb.BlockStoragePolicyProto {
	return &pb.BlockStoragePolicyProto{PolicyId: proto.Uint32(uint32(p.id)), Name: proto.String(p.name),
		CreationPolicy:            &pb.StorageTypesProto{StorageTypes: p.storage},
		CreationFallbackPolicy:    &pb.StorageTypesProto{StorageTypes: p.create},
		ReplicationFallbackPolicy: &pb.StorageTypesProto{StorageTypes: p.repl}}
}
