package main

// Serving multi-GiB disk files read once: O_DIRECT keeps them out of the page cache, which on
// VMs costs more CPU than the transfer, and keeps every export paying the same (a cached file
// would make the second export of a disk cheaper than the first).

import (
	"errors"
	"io"
	"os"
	"syscall"
	"unsafe"
)

const directAlign = 4096

// directFile reads a file sequentially with O_DIRECT into an aligned buffer; where O_DIRECT is
// refused (tmpfs) it reads normally.
type directFile struct {
	f      *os.File
	direct bool
	buf    []byte
}

func openDirect(path string, bufSize int) (*directFile, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECT, 0)
	direct := err == nil
	if !direct {
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
	}
	raw := make([]byte, bufSize+directAlign)
	skip := int((directAlign - uintptr(unsafe.Pointer(&raw[0]))%directAlign) % directAlign)
	return &directFile{f: f, direct: direct, buf: raw[skip : skip+bufSize]}, nil
}

// Read returns the next bytes of the file in d.buf (valid until the next call).
func (d *directFile) Read() ([]byte, error) {
	n, err := d.f.Read(d.buf)
	if err != nil && d.direct && errors.Is(err, syscall.EINVAL) {
		// The file system accepted the flag but not the read: continue without it.
		pos, serr := d.f.Seek(0, io.SeekCurrent)
		if serr != nil {
			return nil, err
		}
		plain, oerr := os.Open(d.f.Name())
		if oerr != nil {
			return nil, err
		}
		if _, serr = plain.Seek(pos, io.SeekStart); serr != nil {
			plain.Close()
			return nil, err
		}
		d.f.Close()
		d.f, d.direct = plain, false
		n, err = d.f.Read(d.buf)
	}
	return d.buf[:n], err
}

func (d *directFile) Stat() (os.FileInfo, error) { return d.f.Stat() }

func (d *directFile) Close() error { return d.f.Close() }
