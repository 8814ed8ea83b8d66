package client

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/granary-rt/granary/cluster/api"
)

// backupPath is node.BackupPath (the client does not import the node).
const backupPath = "/v1/admin/backup"

// Backup streams an embedded node's online backup (GET /v1/admin/backup:
// a consistent copy of its database) into w and returns the bytes
// written. An answer cut short of its Content-Length is an error, not a
// backup. It needs a write token when the node checks tokens; a cluster
// member refuses with api.ErrInvalidArgument (its data lives in Consul).
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	node, err := c.node(ctx)
	if err != nil {
		return 0, err
	}
	u := at(node, backupPath, nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", api.ErrInvalidArgument, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: GET %s: %w", api.ErrUnavailable, u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return 0, wireErr(resp.StatusCode, data)
	}
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("the node sent %d of %d bytes", n, resp.ContentLength)
	}
	if err != nil {
		return n, fmt.Errorf("%w: backup from %s cut short: %w", api.ErrUnavailable, u, err)
	}
	return n, nil
}
