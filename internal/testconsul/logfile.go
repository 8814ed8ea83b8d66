package testconsul

import (
	"io"
	"os"
	"strings"
)

const (
	// tailLines is how much of the agent's log a failed test shows: enough
	// to see an election or a crash, short enough to read in CI output.
	tailLines = 50

	// tailWindow is how many bytes from the end lastLines reads; 50 log
	// lines fit comfortably.
	tailWindow = 64 << 10
)

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom returns the file's content from offset on, or "" on error.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// lastLines returns up to n final lines of the file, or a note saying why
// it could not.
func lastLines(path string, n int) string {
	if _, err := os.Stat(path); err != nil {
		return "(no agent log: " + err.Error() + ")"
	}
	text := strings.TrimRight(readFrom(path, max(0, fileSize(path)-tailWindow)), "\n")
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
