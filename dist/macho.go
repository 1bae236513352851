package main

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"fmt"
)

// fatAlign is the slice alignment lipo uses for arm64 and x86_64: 2^14 (16 KiB pages).
const fatAlign = 14

// fatMachO joins thin Mach-O binaries into one universal (fat) binary, as
// lipo -create does: a big-endian fat header, one fat_arch per slice, and
// each slice at an offset aligned to 16 KiB.
func fatMachO(thin [][]byte) ([]byte, error) {
	if len(thin) == 0 {
		return nil, fmt.Errorf("no binaries")
	}
	type arch struct{ cpu, sub uint32 }
	archs := make([]arch, len(thin))
	seen := map[macho.Cpu]bool{}
	for i, b := range thin {
		f, err := macho.NewFile(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("slice %d: %w", i, err)
		}
		if seen[f.Cpu] {
			return nil, fmt.Errorf("slice %d: %v twice", i, f.Cpu)
		}
		seen[f.Cpu] = true
		archs[i] = arch{uint32(f.Cpu), f.SubCpu}
	}
	const align = 1 << fatAlign
	roundUp := func(n int) int { return (n + align - 1) &^ (align - 1) }
	headerSize := 8 + 20*len(thin)
	var out bytes.Buffer
	be := binary.BigEndian
	var hdr []byte
	hdr = be.AppendUint32(hdr, macho.MagicFat)
	hdr = be.AppendUint32(hdr, uint32(len(thin)))
	offset := roundUp(headerSize)
	offsets := make([]int, len(thin))
	for i, b := range thin {
		offsets[i] = offset
		if offset+len(b) > 1<<32-1 {
			return nil, fmt.Errorf("too large for a 32-bit fat header")
		}
		hdr = be.AppendUint32(hdr, archs[i].cpu)
		hdr = be.AppendUint32(hdr, archs[i].sub)
		hdr = be.AppendUint32(hdr, uint32(offset))
		hdr = be.AppendUint32(hdr, uint32(len(b)))
		hdr = be.AppendUint32(hdr, fatAlign)
		offset = roundUp(offset + len(b))
	}
	out.Write(hdr)
	for i, b := range thin {
		out.Write(make([]byte, offsets[i]-out.Len()))
		out.Write(b)
	}
	return out.Bytes(), nil
}
