package client

// QueuedSubmits is the number of submits waiting in c's coalescers, not yet
// sent: tests hold the requests in flight until every submit is either in
// one of them or queued.
func QueuedSubmits(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.coalescers {
		k.mu.Lock()
		n += len(k.queue)
		k.mu.Unlock()
	}
	return n
}
