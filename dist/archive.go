package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// file is one entry of an archive, with a slash-separated relative name.
type file struct {
	Name string
	Data []byte
	Mode fs.FileMode // 0o755 for executables, 0o644 for the rest
}

// sortedWithDirs returns the entries sorted by name, each folder listed once
// before its contents, so the bytes never depend on the order of the caller.
func sortedWithDirs(files []file) (dirs []string, sorted []file) {
	sorted = append([]file(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	seen := map[string]bool{}
	for _, f := range sorted {
		for d := path.Dir(f.Name); d != "." && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	return dirs, sorted
}

// tarGz writes a reproducible .tar.gz: tarFiles' entries, and a gzip
// header without name or time of its own.
func tarGz(prefix string, files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.ModTime = mtime.UTC().Truncate(time.Second)
	if err := tarFiles(zw, prefix, files, mtime); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarFiles writes a reproducible tar: sorted entries under prefix, one
// fixed time, owner 0:0 without names. An empty prefix puts the files at
// the top.
func tarFiles(w io.Writer, prefix string, files []file, mtime time.Time) error {
	tw := tar.NewWriter(w)
	mtime = mtime.UTC().Truncate(time.Second)
	dirs, sorted := sortedWithDirs(files)
	var entries []string
	if prefix != "" && prefix != "package/" { // npm's tarballs list no folders
		entries = append(entries, strings.TrimSuffix(prefix, "/"))
	}
	if prefix != "package/" {
		for _, d := range dirs {
			entries = append(entries, prefix+d)
		}
	}
	for _, d := range entries {
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatUSTAR,
		}); err != nil {
			return err
		}
	}
	for _, f := range sorted {
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: prefix + f.Name, Mode: int64(f.Mode.Perm()), Size: int64(len(f.Data)),
			ModTime: mtime, Format: tar.FormatUSTAR,
		}); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// zipFiles writes a reproducible zip: sorted entries under prefix, one fixed
// time, Unix modes in the external attributes (so executables stay
// executable when unpacked by unzip or Claude Desktop).
func zipFiles(prefix string, files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})
	mtime = mtime.UTC().Truncate(time.Second)
	dirs, sorted := sortedWithDirs(files)
	// Folder entries only inside a top folder: the bundle has none, as
	// mcpb pack writes it (mcpb unpack fails on folder entries).
	var entries []string
	if prefix != "" {
		entries = append(entries, strings.TrimSuffix(prefix, "/"))
		for _, d := range dirs {
			entries = append(entries, prefix+d)
		}
	}
	for _, d := range entries {
		h := &zip.FileHeader{Name: d + "/", Method: zip.Store, Modified: mtime}
		h.SetMode(fs.ModeDir | 0o755)
		if _, err := zw.CreateHeader(h); err != nil {
			return nil, err
		}
	}
	for _, f := range sorted {
		h := &zip.FileHeader{Name: prefix + f.Name, Method: zip.Deflate, Modified: mtime}
		h.SetMode(f.Mode.Perm())
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
